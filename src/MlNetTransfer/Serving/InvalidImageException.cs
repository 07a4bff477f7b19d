namespace MlNetTransfer.Serving;

/// <summary>An image given for prediction cannot be used. <see cref="Problem"/> says what kind of problem it is (so a
/// web endpoint can choose the status code without parsing text); the message says it in words, naming the file when
/// there is one.</summary>
public sealed class InvalidImageException : MlNetTransferException
{
    public InvalidImageException(ImageProblem problem, string reason, string? fileName = null)
        : base(fileName is null ? reason : $"{fileName}: {reason}")
    {
        Problem = problem;
        Reason = reason;
        FileName = fileName;
    }

    /// <summary>The kind of problem.</summary>
    public ImageProblem Problem { get; }

    /// <summary>The problem in words, without the file name ("corrupt or truncated JPEG: the image data ends early").</summary>
    public string Reason { get; }

    /// <summary>The file (or upload) name the image came from, if any.</summary>
    public string? FileName { get; }
}
