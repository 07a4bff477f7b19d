using System.Diagnostics;
using System.IO.Compression;
using Microsoft.ML.OnnxRuntime;

/// <summary>How fast the graph a saved model zip predicts with runs on ONNX Runtime (the FineTuneBench "predict" mode).</summary>
internal static class PredictSpeed
{
    public static int Run(IReadOnlyList<string> zips, int threads, int rounds, int batch)
    {
        if (zips.Count == 0) { Console.Error.WriteLine("predict: give --model A.zip (repeatable)"); return 2; }
        var sessions = zips.Select(z => Open(z, threads)).ToList();
        var results = zips.Select(_ => new Dictionary<int, List<double>> { [1] = [], [batch] = [] }).ToList();
        for (int r = 0; r < rounds; r++)
            for (int m = 0; m < sessions.Count; m++)
                foreach (var n in new[] { 1, batch })
                    results[m][n].Add(ImagesPerSecond(sessions[m], n));
        Console.WriteLine($"| model zip | ONNX nodes (int8 ops) | batch 1 img/s | batch {batch} img/s |");
        Console.WriteLine("|---|---|---|---|");
        for (int m = 0; m < zips.Count; m++)
            Console.WriteLine($"| {zips[m]} | {sessions[m].Nodes} ({sessions[m].Int8Nodes}) | {Median(results[m][1]):0.0} | {Median(results[m][batch]):0.0} |");
        foreach (var s in sessions) s.Session.Dispose();
        return 0;
    }

    private sealed record Opened(InferenceSession Session, string Input, long[] Shape, int Nodes, int Int8Nodes);

    private static Opened Open(string zip, int threads)
    {
        using var archive = ZipFile.OpenRead(zip);
        var entry = archive.Entries.Single(e => e.Name == "OnnxModel");
        using var stream = entry.Open();
        using var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        // ML.NET's OnnxTransformer stores the graph as a byte array behind a 4-byte length.
        var bytes = buffer.ToArray()[4..];
        var model = MlNetTransfer.Backbones.Onnx.Proto.ModelProto.Parser.ParseFrom(bytes);
        var options = new SessionOptions { IntraOpNumThreads = threads, GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL, LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR };
        var session = new InferenceSession(bytes, options);
        var input = session.InputMetadata.Single();
        var shape = input.Value.Dimensions.Select(d => (long)Math.Max(d, 1)).ToArray();
        return new Opened(session, input.Key, shape, model.Graph.Node.Count, model.Graph.Node.Count(n => n.OpType.StartsWith("QLinear", StringComparison.Ordinal)));
    }

    /// <summary>Images per second over 3 s of runs after a warm-up, on fixed pseudo-random pixels.</summary>
    private static double ImagesPerSecond(Opened s, int n)
    {
        var shape = s.Shape.ToArray();
        shape[0] = n;
        var pixels = new float[shape.Aggregate(1L, (a, b) => a * b)];
        var random = new Random(1);
        for (int i = 0; i < pixels.Length; i++) pixels[i] = random.Next(256);
        using var value = OrtValue.CreateTensorValueFromMemory(pixels, shape);
        using var options = new RunOptions();
        void Once() { using var _ = s.Session.Run(options, [s.Input], [value], s.Session.OutputNames); }
        Once();
        var clock = Stopwatch.StartNew();
        int runs = 0;
        while (clock.Elapsed.TotalSeconds < 3 || runs < 2) { Once(); runs++; }
        return runs * n / clock.Elapsed.TotalSeconds;
    }

    private static double Median(List<double> xs) => xs.Order().ElementAt(xs.Count / 2);
}
