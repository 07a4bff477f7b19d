using System.Diagnostics;
using MlNetTransfer.Backbones.Onnx;
using MlNetTransfer.Backbones.Onnx.Proto;
using MlNetTransfer.FineTuning;
using TorchSharp;
using TransferabilityStudy;

// TransferabilityStudy: how transferable are a small CNN's features from Fashion-MNIST classes 0–4 (task A) to classes 5–9
// (task B)? Yosinski et al. 2014's AnB / AnB+ networks against training on B alone, at several labelled-set sizes; the
// measures are the start, slope and asymptote of the test-accuracy learning curve. Writes RESULTS.md, results.json and
// plots into --output. The conditions are in Condition.cs, the data split in StudyData.cs, the measures in Measures.cs.
//
//   dotnet run -c Release --project bench/TransferabilityStudy -- [--sizes 10,50,200] [--epochs 24,12,8] [--seeds 1,2,3,4,5]
//       [--channels 16,32,64,64] [--base-per-class 1000] [--base-epochs 4] [--test-per-class 200] [--batch 16] [--lr 0.002]
//       [--threads 2] [--source /usr/share/datasets/fashion-mnist] [--output bench/TransferabilityStudy]
var options = StudyOptions.Parse(args);
torch.set_num_threads(options.Threads);
var loadAtStart = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : "n/a";
var clock = Stopwatch.StartNew();

var data = new StudyData(options.Source);
using var testB = data.TargetTest(options.TestPerClass);
using var testA = data.BaseTest(options.TestPerClass);
var training = new Training(options);
var blocks = options.Channels.Length;
var conditions = Condition.All(blocks);
Console.WriteLine($"{conditions.Count} conditions × {options.Sizes.Length} sizes × {options.Seeds.Length} seeds; test set {testB.Count} images of classes 5–9");

var baseRuns = new List<BaseRun>();
var runs = new List<StudyRun>();
foreach (var seed in options.Seeds)
{
    // Network A: the SmallCnn with a fresh 5-way classifier on its pooled features, trained on classes 0–4.
    ModelProto baseNetwork;
    using (var trainA = data.BaseTraining(options.BasePerClass, seed))
    using (var a = OnnxTorchModule.FromOnnx(
               OnnxModelBuilder.SmallCnn(inputSize: 28, channels: options.Channels, classes: StudyData.ClassesA.Length, seed: seed),
               new OnnxTorchModuleOptions { EmbeddingTensor = "head/flatten", NumClasses = StudyData.ClassesA.Length, Seed = seed }))
    {
        var curve = training.Run(a, trainA, testA, options.BaseEpochs, seed);
        baseRuns.Add(new BaseRun(seed, curve));
        Console.WriteLine($"seed {seed}: A trained on {trainA.Count} images of classes 0–4 in {curve.Seconds:0.0}s, test accuracy per epoch {Curve(curve)}");
        baseNetwork = a.ToOnnx();
    }
    for (int s = 0; s < options.Sizes.Length; s++)
    {
        using var trainB = data.TargetTraining(options.Sizes[s], seed);
        foreach (var condition in conditions)
        {
            using var module = condition.Build(baseNetwork, seed, blocks);
            var curve = training.Run(module, trainB, testB, options.Epochs[s], seed);
            runs.Add(new StudyRun(condition, options.Sizes[s], seed, curve, Measures.Of(curve)));
            Console.WriteLine($"seed {seed} {options.Sizes[s],4}/class {condition.Name,-5} {curve.Seconds,6:0.0}s  {Curve(curve)}");
        }
    }
}

var study = new StudyResult(options, args, baseRuns, runs, clock.Elapsed.TotalSeconds, loadAtStart);
Directory.CreateDirectory(options.Output);
StudyReport.Write(study, conditions);
StudyPlots.Write(study, conditions);
Console.WriteLine($"done in {clock.Elapsed.TotalMinutes:0.0} min; wrote {Path.Combine(options.Output, "RESULTS.md")}");
return 0;

static string Curve(LearningCurve c) => string.Join(" ", c.TestAccuracy.Select(a => (100 * a).ToString("0.0", System.Globalization.CultureInfo.InvariantCulture)));
