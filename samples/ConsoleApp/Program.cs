// Labels images with a model zip saved by `mlnet-transfer train`.
// Usage: dotnet run --project samples/ConsoleApp -- model.zip photo.jpg [more images...]
using MlNetTransfer;

if (args.Length < 2)
{
    Console.Error.WriteLine("usage: ConsoleApp model.zip image [image ...]");
    return 2;
}

using var classifier = ImageClassifier.Load(args[0]); // load once; Predict is thread-safe
var metadata = classifier.Metadata;                    // read from the zip, no prediction needed
Console.WriteLine($"{metadata.Backbone} {metadata.InputWidth}x{metadata.InputHeight}, classes: {string.Join(", ", classifier.Classes)}");

foreach (var path in args[1..])
{
    try
    {
        using var photo = File.OpenRead(path); // any stream works: an upload, a blob, a database column
        var prediction = classifier.Predict(photo, Path.GetFileName(path));
        var top = string.Join(", ", prediction.Top(3).Select(s => $"{s.Key} {s.Value:P0}"));
        Console.WriteLine($"{path}: {prediction.Label} ({prediction.Confidence:P1}); top: {top}");
    }
    catch (MlNetTransferException e) // not an image, truncated, unsupported format, ...: the message says which
    {
        Console.WriteLine($"skipped {e.Message}");
    }
}
return 0;
