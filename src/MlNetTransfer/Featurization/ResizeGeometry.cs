using Microsoft.ML.Transforms.Image;
using SkiaSharp;

namespace MlNetTransfer.Featurization;

/// <summary>Where ML.NET's <c>ResizeImages</c> (centre anchor) puts a source image inside the W × H network input: the one
/// home of that geometry, for the fine-tuning pixel reader (which must match it pixel for pixel) and for heat maps drawn
/// back onto the source image.</summary>
internal static class ResizeGeometry
{
    /// <summary>ML.NET's placement (MLImage.ResizeWithCrop / ResizeWithPadding, centre anchor): scale to cover (IsoCrop) or
    /// to fit (IsoPad), truncating to whole pixels; Fill stretches to the whole input.</summary>
    public static SKRect Destination(int sourceWidth, int sourceHeight, int width, int height, ImageResizingEstimator.ResizingKind resizing)
    {
        if (resizing == ImageResizingEstimator.ResizingKind.Fill) return new SKRect(0, 0, width, height);
        float widthAspect = (float)width / sourceWidth;
        float heightAspect = (float)height / sourceHeight;
        int destX = 0, destY = 0;
        float aspect;
        var crop = resizing == ImageResizingEstimator.ResizingKind.IsoCrop;
        if (heightAspect < widthAspect)
        {
            aspect = crop ? widthAspect : heightAspect;
            if (crop) destY = (int)((height - sourceHeight * aspect) / 2);
            else destX = (int)((width - sourceWidth * aspect) / 2);
        }
        else
        {
            aspect = crop ? heightAspect : widthAspect;
            if (crop) destX = (int)((width - sourceWidth * aspect) / 2);
            else destY = (int)((height - sourceHeight * aspect) / 2);
        }
        int destWidth = (int)(sourceWidth * aspect);
        int destHeight = (int)(sourceHeight * aspect);
        return new SKRect(destX, destY, destX + destWidth, destY + destHeight);
    }

    /// <summary>The network input's rectangle [0, W] × [0, H] in the source image's coordinates (the inverse of
    /// <see cref="Destination"/>); it reaches outside the source where IsoPad padded, and covers only the kept part where
    /// IsoCrop cropped.</summary>
    public static SKRect InputInSource(int sourceWidth, int sourceHeight, int width, int height, ImageResizingEstimator.ResizingKind resizing)
    {
        var d = Destination(sourceWidth, sourceHeight, width, height, resizing);
        float sx = sourceWidth / d.Width, sy = sourceHeight / d.Height;
        return new SKRect(-d.Left * sx, -d.Top * sy, (width - d.Left) * sx, (height - d.Top) * sy);
    }
}
