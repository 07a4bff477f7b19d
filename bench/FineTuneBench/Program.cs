using System.Diagnostics;
using System.Globalization;
using MlNetTransfer.Backbones;
using MlNetTransfer.Backbones.Onnx;
using MlNetTransfer.Data;
using MlNetTransfer.FineTuning;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

// FineTuneBench: the speed of fine-tuning here against PyTorch, and the bottleneck cache's speed-up. See RESULTS.md.
//
//   speed  --data DIR [--backbone mobilenet_v2] [--mirror DIR] [--batch 16] [--batches 6] [--threads 2] [--freeze 1,0.7,0.4,0] [--rounds 2] [--work DIR]
//          [--nchw] [--prefix onnxruntime|onnxruntime-int8|torchsharp] [--release-memory]   (our side: NCHW layout, libtorch prefix, glibc's default heap)
//          [--peer-nchw] [--peer-retain-memory]                             (PyTorch: NCHW layout, the heap settings our side uses)
//          One fine-tuning pass over the same batches here (TorchSharp) and in PyTorch (/usr/bin/python3 torch_epoch.py):
//          same network and initial weights (exported ONNX), same augmented pixels (decoded and augmented here, written to
//          a file both sides read), batch size, AdamW settings, thread count. Prints both images/s and the ratio.
//   cache  --data DIR [--backbone ...] [--mirror DIR] [--batch 16] [--epochs 3] [--threads 2] [--freeze 0.7]
//          Trains the same suffix with and without the bottleneck cache (no augmentation) and prints the speed-up.
//   predict --model A.zip --model B.zip [--threads 2] [--rounds 3] [--batch 16]
//          The ONNX graph inside each saved model zip (what prediction runs) on ONNX Runtime, batch 1 and --batch, rounds
//          alternating between the zips, median images/s: e.g. a zip keeping the int8 prefix against one that is all float.
var argsList = args.ToList();
if (argsList.Count == 0 || argsList[0] is not ("speed" or "cache" or "predict"))
{
    Console.Error.WriteLine("usage: FineTuneBench speed|cache --data DIR [options] | predict --model A.zip --model B.zip  (see the top of Program.cs)");
    return 2;
}
var inv = CultureInfo.InvariantCulture;
if (argsList[0] == "predict") return PredictSpeed.Run(
    argsList.Select((a, i) => (a, i)).Where(p => p.a == "--model" && p.i + 1 < argsList.Count).Select(p => argsList[p.i + 1]).ToList(),
    int.Parse(argsList.Arg("--threads", "2"), inv), int.Parse(argsList.Arg("--rounds", "3"), inv), int.Parse(argsList.Arg("--batch", "16"), inv));
var data = argsList.Arg("--data", "/work/shared/data/hymenoptera/train");
var backboneName = argsList.Arg("--backbone", "mobilenet_v2");
var mirror = argsList.Arg("--mirror", "/work/shared/models");
var batch = int.Parse(argsList.Arg("--batch", "16"), inv);
var threads = int.Parse(argsList.Arg("--threads", "2"), inv);
torch.set_num_threads(threads);

var examples = Directory.GetDirectories(data).Order(StringComparer.Ordinal)
    .SelectMany(d => Directory.GetFiles(d).Where(f => !f.EndsWith(".gif", StringComparison.OrdinalIgnoreCase)).Order(StringComparer.Ordinal)
        .Select(f => new ImageExample(f, Path.GetFileName(d))))
    .ToList();
var classes = examples.Select(e => e.Label).Distinct().Order(StringComparer.Ordinal).ToList();
var resolved = BackboneResolver.Resolve(backboneName, new BackboneResolveOptions { Mirrors = [mirror] });
var prefixEngine = FrozenPrefixEngines.Parse(argsList.Arg("--prefix", "onnxruntime"));
// The int8 featurizer too, for --prefix onnxruntime-int8 (the backbone's own int8 layers as the frozen prefix).
var prepared = FineTuningTrainer.PrepareBackbone(resolved, keepInt8: prefixEngine == FrozenPrefixEngine.OnnxRuntimeInt8);
var reader = new ImagePixelReader(prepared.ImageWidth, prepared.ImageHeight);
Console.WriteLine($"backbone {prepared.Spec.Name} ({prepared.Spec.InputWidth}x{prepared.Spec.InputHeight}), {examples.Count} images in {classes.Count} classes, batch {batch}, {threads} threads");
return argsList[0] == "speed" ? Speed() : Cache();

int Speed()
{
    var batches = int.Parse(argsList.Arg("--batches", "6"), inv);
    var freezes = argsList.Arg("--freeze", "1,0.7,0.4,0").Split(',').Select(f => double.Parse(f, inv)).ToArray();
    var rounds = int.Parse(argsList.Arg("--rounds", "2"), inv);
    var work = argsList.Arg("--work", Path.Combine(Path.GetTempPath(), "finetune-bench"));
    var channelsLast = !argsList.Contains("--nchw");
    var peerFlags = argsList.Contains("--peer-nchw") ? new[] { "--nchw" } : [];
    var peerRetain = argsList.Contains("--peer-retain-memory");
    Directory.CreateDirectory(work);
    // No head dropout: the PyTorch side has none, and the first-batch loss must match.
    var retain = !argsList.Contains("--release-memory");
    var options = new FineTuneOptions { Seed = 1, HeadDropout = 0, ChannelsLast = channelsLast, FrozenPrefixEngine = prefixEngine, RetainNativeMemory = retain };

    // The shared inputs: the network with its new head (initial weights) and augmented batches.
    string? fallback;
    using (var module = FineTuningTrainer.CreateModule(prepared, classes.Count, options))
    {
        OnnxModelFile.Save(module.ToOnnx(), Path.Combine(work, "model.onnx"));
        fallback = module.ChannelsLastFallback;
    }
    // What ran, not what was asked: the engine keeps NCHW order where libtorch's channels-last kernels fail its check.
    if (fallback is not null) channelsLast = false;
    var order = Enumerable.Range(0, examples.Count).ToArray();
    new Random(1).Shuffle(order);
    var pixels = new float[batches * batch * reader.Length];
    var labels = new long[batches * batch];
    Parallel.For(0, batches * batch, i =>
    {
        var e = examples[order[i % order.Length]];
        reader.ReadAugmented(e.Path, pixels.AsSpan(i * reader.Length, reader.Length), options.Augmentation, new Random(i));
        labels[i] = classes.IndexOf(e.Label);
    });
    File.WriteAllBytes(Path.Combine(work, "batches.bin"), System.Runtime.InteropServices.MemoryMarshal.AsBytes(pixels.AsSpan()).ToArray());
    File.WriteAllBytes(Path.Combine(work, "labels.bin"), System.Runtime.InteropServices.MemoryMarshal.AsBytes(labels.AsSpan()).ToArray());
    var constantNodes = prepared.FeaturizerModel.Graph.Node.Where(n => n.Name.StartsWith("preprocess/", StringComparison.Ordinal)).Select(n => n.Name);
    File.WriteAllText(Path.Combine(work, "meta.txt"), string.Join("\n",
        $"batches={batches}", $"batch={batch}", $"size={reader.Width}", $"lr={options.LearningRate.ToString(inv)}",
        $"factor={options.PretrainedLearningRateFactor.ToString(inv)}", $"decay=0.01", $"smoothing={options.LabelSmoothing.ToString(inv)}",
        $"constant_nodes={string.Join(",", constantNodes)}"));
    if (fallback is not null) Console.WriteLine($"ours: channels-last asked for, NCHW kept: {fallback}");
    Console.WriteLine($"ours: {(channelsLast ? "channels-last" : "NCHW")}, frozen prefix on {prefixEngine.Name()}, freed native memory {(retain ? "retained" : "released (glibc default)")}; PyTorch: {(peerFlags.Length > 0 ? "NCHW" : "channels_last")}, frozen prefix under no_grad, freed memory {(peerRetain ? "retained (MALLOC_MMAP_MAX_=0, MALLOC_TRIM_THRESHOLD_)" : "released (glibc default)")}, " +
                      $"OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE unset; {batches - 1} timed steps of {batch} images after one warm-up step, {rounds} alternating rounds, median");

    int groupCount;
    using (var probe = FineTuningTrainer.CreateModule(prepared, classes.Count, options))
        groupCount = probe.ParameterGroups.Count;
    var rows = new List<string>();
    foreach (var freeze in freezes)
    {
        var freezeFrom = (int)Math.Floor(freeze * (groupCount - 1) + 1e-9);
        var ours = new List<double>();
        var theirs = new List<double>();
        var oursCpu = new List<double>();
        var theirsCpu = new List<double>();
        double ourLoss = double.NaN, theirLoss = double.NaN;
        for (int r = 0; r < rounds; r++)
        {
            // Alternate the two sides: the machine is shared, so neither gets all the quiet moments.
            var (speed, cpuSpeed, loss) = TorchSharpSteps(options, pixels, labels, batches, freezeFrom);
            var python = RunPython(work, freezeFrom, peerFlags, peerRetain);
            ours.Add(speed);
            theirs.Add(python.Speed);
            oursCpu.Add(cpuSpeed);
            theirsCpu.Add(python.CpuSpeed);
            (ourLoss, theirLoss) = (loss, python.Loss);
            Console.WriteLine($"freeze {freeze} round {r + 1}: ours {speed:0.00} img/s ({cpuSpeed:0.00} per CPU-s), PyTorch {python.Speed:0.00} img/s ({python.CpuSpeed:0.00} per CPU-s)");
        }
        double Median(List<double> v) => v.Order().ElementAt(v.Count / 2);
        rows.Add($"| {freeze.ToString(inv)} | {groupCount - freezeFrom} of {groupCount} | {Median(ours):0.00} | {Median(theirs):0.00} | **{Median(ours) / Median(theirs):0.00}** | {Median(oursCpu) / Median(theirsCpu):0.00} | {ourLoss:0.000000} | {theirLoss:0.000000} |");
    }
    Console.WriteLine();
    Console.WriteLine("| freeze | trainable groups | ours img/s | PyTorch img/s | ratio | ratio per CPU-second | our first-batch loss | PyTorch first-batch loss |");
    Console.WriteLine("|---|---|---|---|---|---|---|---|");
    foreach (var row in rows) Console.WriteLine(row);
    return 0;
}

(double Speed, double CpuSpeed, double Loss) TorchSharpSteps(FineTuneOptions options, float[] pixels, long[] labels, int batches, int freezeFrom)
{
    // As FineTuner.Execute does for the whole run.
    using var heap = options.RetainNativeMemory ? NativeHeap.Retain() : null;
    using var module = FineTuningTrainer.CreateModule(prepared, classes.Count, options);
    module.FreezeBefore(freezeFrom);
    var sets = new List<AdamW.ParamGroup>();
    foreach (var isHead in new[] { true, false })
    {
        var ps = module.ParameterGroups.Where(g => g.IsHead == isHead && g.Trainable).SelectMany(g => g.Parameters).ToList();
        var rate = isHead ? options.LearningRate : options.LearningRate * options.PretrainedLearningRateFactor;
        if (ps.Any(p => p.dim() > 1)) sets.Add(new AdamW.ParamGroup(ps.Where(p => p.dim() > 1), lr: rate, weight_decay: 0.01));
        if (ps.Any(p => p.dim() <= 1)) sets.Add(new AdamW.ParamGroup(ps.Where(p => p.dim() <= 1), lr: rate, weight_decay: 0));
    }
    using var optimizer = torch.optim.AdamW(sets, options.LearningRate);
    module.train();
    // What FineTuner does with a frozen prefix: the prefix on its engine, the trainable rest in the module.
    using var prefix = FrozenPrefix.Create(module, module.SplitBefore(freezeFrom), options.FrozenPrefixEngine, threads, pretrained: true);
    var size = reader.Length * batch;
    Tensor Logits(int b)
    {
        var x = pixels.AsSpan(b * size, size).ToArray();
        return prefix.Engine != FrozenPrefixEngine.TorchSharp
            ? module.ForwardSuffix(prefix.Run(x, batch, reader.Height, reader.Width), prefix.Split)
            : module.forward(torch.tensor(x, [batch, 3, reader.Height, reader.Width]));
    }
    Tensor Y(int b) => torch.tensor(labels.AsSpan(b * batch, batch).ToArray());
    double first;
    using (var scope = torch.NewDisposeScope())
    using (torch.no_grad())
        first = F.cross_entropy(Logits(0), Y(0), label_smoothing: options.LabelSmoothing).item<float>();
    void Step(int b)
    {
        using var scope = torch.NewDisposeScope();
        var loss = F.cross_entropy(Logits(b), Y(b), label_smoothing: options.LabelSmoothing);
        optimizer.zero_grad();
        loss.backward();
        optimizer.step();
        loss.item<float>();
    }
    Step(0);
    var cpu = Process.GetCurrentProcess().TotalProcessorTime;
    var clock = Stopwatch.StartNew();
    for (int b = 1; b < batches; b++) Step(b);
    var cpuSeconds = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds;
    return ((batches - 1) * batch / clock.Elapsed.TotalSeconds, (batches - 1) * batch / cpuSeconds, first);
}

(double Speed, double CpuSpeed, double Loss) RunPython(string work, int freezeFrom, string[] flags, bool retainMemory)
{
    var script = Path.Combine(AppContext.BaseDirectory, "torch_epoch.py");
    var psi = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true };
    foreach (var a in new[] { script, work, threads.ToString(inv), freezeFrom.ToString(inv) }.Concat(flags)) psi.ArgumentList.Add(a);
    // PyTorch at its best: these two pin an older, slower OpenBLAS kernel on this machine (set for other tools' sake).
    psi.Environment.Remove("OPENBLAS_CORETYPE");
    psi.Environment.Remove("OPENBLAS_L2_SIZE");
    if (retainMemory)
    {
        // The same glibc settings NativeHeap applies on our side, through glibc's environment variables.
        psi.Environment["MALLOC_MMAP_MAX_"] = "0";
        psi.Environment["MALLOC_TRIM_THRESHOLD_"] = int.MaxValue.ToString(inv);
    }
    using var p = Process.Start(psi)!;
    var output = p.StandardOutput.ReadToEnd();
    var error = p.StandardError.ReadToEnd();
    p.WaitForExit();
    if (p.ExitCode != 0) throw new InvalidOperationException($"torch_epoch.py failed: {error}");
    var values = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('=')).Where(kv => kv.Length == 2)
        .ToDictionary(kv => kv[0], kv => double.Parse(kv[1], inv));
    return (values["images_per_second"], values["images_per_cpu_second"], values["first_batch_loss"]);
}

int Cache()
{
    var epochs = int.Parse(argsList.Arg("--epochs", "3"), inv);
    var freeze = double.Parse(argsList.Arg("--freeze", "0.7"), inv);
    var results = new Dictionary<bool, FineTuneRun>();
    foreach (var cached in new[] { false, true })
    {
        var options = new FineTuneOptions
        {
            Epoch = epochs, HeadWarmupEpochs = 0, BatchSize = batch, FreezeFraction = freeze, NumberOfThreads = threads, Seed = 1, DecodeParallelism = threads,
            UseBottleneckCache = cached, Augmentation = { Enabled = false }, EarlyStoppingCriteria = null,
        };
        using var module = FineTuningTrainer.CreateModule(prepared, classes.Count, options);
        var run = new FineTuner(options).Train(module, reader, classes, examples, []);
        results[cached] = run;
        Console.WriteLine($"{(cached ? "bottleneck cache" : "naive          ")}: epochs {string.Join(", ", run.Epochs.Select(e => $"{e.Seconds:0.0}s"))}, total {run.Seconds:0.0}s" +
                          $"{(cached ? $" (cache built in {run.Seconds - run.Epochs.Sum(e => e.Seconds):0.0}s)" : "")}");
    }
    var naive = results[false].Epochs.Average(e => e.Seconds);
    var cachedEpoch = results[true].Epochs.Average(e => e.Seconds);
    Console.WriteLine($"freeze {freeze}: per epoch naive {naive:0.00}s, cached {cachedEpoch:0.00}s, speed-up {naive / cachedEpoch:0.0}x; " +
                      $"whole run ({epochs} epochs, cache building included) {results[false].Seconds / results[true].Seconds:0.0}x");
    return 0;
}
