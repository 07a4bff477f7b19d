using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace TransferabilityStudy;

/// <summary>Writes RESULTS.md (tables and a verdict per claim, computed from the runs) and results.json (every curve).</summary>
public static class StudyReport
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static void Write(StudyResult study, IReadOnlyList<Condition> conditions)
    {
        var o = study.Options;
        File.WriteAllText(Path.Combine(o.Output, "results.json"), Json(study, conditions));
        var md = new StringBuilder();
        var b = conditions[0];
        md.AppendLine("# Transferability study: Fashion-MNIST classes 0–4 → 5–9");
        md.AppendLine();
        md.AppendLine("Yosinski et al. (2014), *How transferable are features in deep neural networks?*, on a small scale: a CNN trained on");
        md.AppendLine("task A (Fashion-MNIST classes 0–4: t-shirt, trouser, pullover, dress, coat) is transferred to task B (classes 5–9:");
        md.AppendLine("sandal, shirt, sneaker, bag, ankle boot) at every cut depth, frozen (**AnB**: blocks 1..n copied from A and frozen, the");
        md.AppendLine("rest re-initialised and trained) and fine-tuned (**AnB+**: the same start, everything trained), against **B** (the same");
        md.AppendLine("network from random initialisation, trained on B alone), at several labelled-set sizes. Everything here is written by");
        md.AppendLine("the bench from the run below; nothing is edited by hand.");
        md.AppendLine();
        md.AppendLine("## Set-up");
        md.AppendLine();
        md.AppendLine($"- Network: `OnnxModelBuilder.SmallCnn(inputSize: 28, channels: [{string.Join(", ", o.Channels)}])` — {o.Channels.Length} blocks of");
        md.AppendLine("  Conv 3×3 → BatchNorm → ReLU (→ MaxPool 2×2), then global average pool → linear classifier — trained as an");
        md.AppendLine("  `OnnxTorchModule` (the project's ONNX→TorchSharp engine). A cut depth n copies blocks 1..n; the classifier is always fresh,");
        md.AppendLine($"  so A{o.Channels.Length}B (every block copied and frozen) is a linear probe on A's features and A{o.Channels.Length}B+ plain fine-tuning with a new classifier.");
        md.AppendLine($"- A: {o.BasePerClass} training images per class of 0–4, {o.BaseEpochs} epochs; its test accuracy on 0–4 (first {o.TestPerClass} test images per class):");
        md.AppendLine($"  {string.Join(", ", study.BaseRuns.Select(r => $"seed {r.Seed} {P(r.Curve.TestAccuracy[^1])}%"))}.");
        md.AppendLine($"- B: {string.Join(", ", o.Sizes.Select((s, i) => $"{s} labelled images per class ({o.Epochs[i]} epochs)"))}, drawn from the official training split");
        md.AppendLine($"  (per seed; a smaller set is a subset of a larger one). Test set: the first {o.TestPerClass} images per class of 5–9 in the");
        md.AppendLine($"  official test split ({5 * o.TestPerClass} images), the same for every run.");
        md.AppendLine($"- Recipe, identical for every network: AdamW, peak rate {o.LearningRate.ToString(Inv)}, weight decay {o.WeightDecay.ToString(Inv)} on weights, cosine decay to 0 over");
        md.AppendLine($"  the run, batch {o.BatchSize}, no augmentation; grey images repeated to 3 channels, normalised with Fashion-MNIST's mean and std.");
        md.AppendLine("  Re-initialised layers: He-uniform weights, zero biases, identity batch norm (`WeightReinitializer.Reinitialize(model, seed, fromNode)`),");
        md.AppendLine("  so for a seed the fresh layers of B, AnB and AnB+ hold the same values. Frozen batch norms keep A's running statistics.");
        md.AppendLine($"- Seeds: {string.Join(", ", o.Seeds)} — each draws its own labelled sets, trains its own A and initialises its own fresh layers.");
        md.AppendLine("  Values are mean ± sample standard deviation over the seeds, in % test accuracy.");
        md.AppendLine();
        md.AppendLine("## Command and machine");
        md.AppendLine();
        md.AppendLine("```");
        md.AppendLine($"dotnet run -c Release --project bench/TransferabilityStudy --{string.Concat(study.Arguments.Select(a => " " + a))}");
        md.AppendLine("```");
        md.AppendLine();
        md.AppendLine($"{Environment.ProcessorCount} cores ({RuntimeInformation.OSDescription.Trim()}, {RuntimeInformation.ProcessArchitecture}, .NET {Environment.Version}), TorchSharp on CPU with");
        md.AppendLine($"{o.Threads} threads, shared with other jobs (load average at start: {study.LoadAverageAtStart}). Wall time of the whole study:");
        md.AppendLine($"{(study.WallSeconds / 60).ToString("0.0", Inv)} minutes.");
        md.AppendLine();
        md.AppendLine("## Start and final accuracy");
        md.AppendLine();
        md.AppendLine("Start = test accuracy after the first epoch; final = after the last epoch (the asymptote). An epoch is one pass over");
        md.AppendLine($"the labelled set: {string.Join(", ", o.Sizes.Select(sz => $"{Training.BatchesPerEpoch(StudyData.ClassesB.Length * sz, o.BatchSize)} steps at {sz}/class"))}.");
        md.AppendLine();
        md.AppendLine(Table(study, conditions, ("start", study.Start), ("final", study.Final)));
        md.AppendLine("## Early slope");
        md.AppendLine();
        md.AppendLine($"Test accuracy gained per epoch from epoch 1 to epoch {string.Join(" / ", o.Epochs.Select(e => Measures.SlopeEpochs(e)))} (a quarter of each size's run), in points per epoch.");
        md.AppendLine();
        md.AppendLine(Table(study, conditions, ("slope", study.Slope)));
        md.AppendLine("## The three claims");
        md.AppendLine();
        md.AppendLine("Judged on the fine-tuned transfers AnB+ at every depth (not on the best of the eight transferred networks, which would");
        md.AppendLine("pick noise) against B, paired by seed (a seed's networks share its labelled set and fresh initial weights). Each gap is");
        md.AppendLine("AnB+ − B averaged over the seeds, `*` when a paired t-test finds it significant at 5%, then (seeds where AnB+ won / seeds).");
        md.AppendLine("A claim *holds* at a size when every AnB+ is ahead of B and at least one significantly; *not significant* when every");
        md.AppendLine("AnB+ is ahead but none significantly; *partly* when some are ahead; *does not hold* when none is. The slope is read with");
        md.AppendLine("its ceiling in mind: a network that starts higher has less left to gain, so a higher start tends to come with a lower slope.");
        md.AppendLine();
        md.AppendLine($"- **Higher start.** {Claim(study, conditions, study.Start, "pts")}");
        md.AppendLine($"- **Higher slope.** {Claim(study, conditions, study.Slope, "pts/epoch")}");
        md.AppendLine($"- **Higher asymptote.** {Claim(study, conditions, study.Final, "pts")}");
        md.AppendLine($"- **Frozen vs fine-tuned (Yosinski's Figure 2).** {Frozen(study, conditions)}");
        md.AppendLine();
        md.AppendLine("## Plots");
        md.AppendLine();
        md.AppendLine("Final accuracy against cut depth (depth 0 is B), like Yosinski et al.'s Figure 2:");
        md.AppendLine();
        md.AppendLine($"![final accuracy vs cut depth]({StudyPlots.DepthFile})");
        md.AppendLine();
        md.AppendLine("Learning curves (mean test accuracy per epoch over the seeds):");
        md.AppendLine();
        foreach (var size in o.Sizes) md.AppendLine($"![learning curves, {size} per class]({StudyPlots.CurvesFile(size)})");
        md.AppendLine();
        md.AppendLine("Every run's per-epoch training loss and test accuracy is in `results.json`.");
        File.WriteAllText(Path.Combine(o.Output, "RESULTS.md"), md.ToString());
    }

    /// <summary>The README's headline: start and final per condition and size.</summary>
    public static string Table(StudyResult study, IReadOnlyList<Condition> conditions, params (string Name, Func<Condition, int, Spread> Measure)[] measures)
    {
        var sb = new StringBuilder();
        var columns = study.Options.Sizes.SelectMany(s => measures.Select(m => $"{s}/class {m.Name}")).ToList();
        sb.AppendLine($"| network | {string.Join(" | ", columns)} |");
        sb.AppendLine($"|---|{string.Concat(columns.Select(_ => "---:|"))}");
        foreach (var c in conditions)
            sb.AppendLine($"| {c.Name} | {string.Join(" | ", study.Options.Sizes.SelectMany(s => measures.Select(m => m.Measure(c, s).Percent(m.Name == "slope" ? "0.00" : "0.0"))))} |");
        return sb.ToString();
    }

    /// <summary>
    /// The verdict of one claim per size, judged on the fine-tuned transfers AnB+ at every depth (not the best one, which
    /// would pick noise out of eight comparisons) against B, paired by seed: <i>holds</i> when every AnB+ is ahead of B on
    /// average and at least one significantly (paired t-test, 5%); <i>not significant</i> when every AnB+ is ahead but none
    /// significantly; <i>partly</i> when some are ahead; <i>does not hold</i> when none is.
    /// </summary>
    private static string Claim(StudyResult study, IReadOnlyList<Condition> conditions, Func<Condition, int, Spread> measure, string unit)
    {
        var format = unit == "pts" ? "0.0" : "0.00";
        var parts = new List<string>();
        var verdicts = new List<string>();
        foreach (var size in study.Options.Sizes)
        {
            var baseline = measure(conditions[0], size);
            var gaps = conditions.Where(c => c.CutDepth > 0 && c.FineTuneCopied).Select(c => measure(c, size).Minus(baseline)).ToList();
            var ahead = gaps.Count(g => g.Mean > 0);
            var significant = gaps.Count(g => g.Mean > 0 && g.Significant);
            var verdict = ahead == gaps.Count ? significant > 0 ? "holds" : "not significant" : ahead > 0 ? "partly" : "does not hold";
            verdicts.Add(verdict);
            string Gap(Spread g) => $"{(g.Mean >= 0 ? "+" : "")}{(100 * g.Mean).ToString(format, Inv)}{(g.Significant ? "*" : "")} " +
                                    $"({g.Values.Count(v => v > 0)}/{g.Values.Length})";
            parts.Add($"{size}/class **{verdict}**: B {baseline.Percent(format)}; AnB+ − B at depth 1–{gaps.Count}: {string.Join(", ", gaps.Select(Gap))} {unit}");
        }
        var summary = verdicts.All(v => v == "holds") ? "Held at every size." : verdicts.All(v => v == "does not hold") ? "Did not hold at any size." : "Mixed.";
        return $"{summary} {string.Join("; ", parts)}.";
    }

    private static string Frozen(StudyResult study, IReadOnlyList<Condition> conditions)
    {
        var parts = new List<string>();
        foreach (var size in study.Options.Sizes)
        {
            string Row(bool plus) => string.Join(" → ", conditions.Skip(1).Where(c => c.FineTuneCopied == plus).Select(c => P(study.Final(c, size).Mean)));
            parts.Add($"{size}/class, final accuracy by depth 1 → {conditions.Max(c => c.CutDepth)}: AnB {Row(false)}, AnB+ {Row(true)}, B {P(study.Final(conditions[0], size).Mean)}");
        }
        return string.Join("; ", parts) + ".";
    }

    private static string P(double accuracy) => (100 * accuracy).ToString("0.0", Inv);

    private static string Json(StudyResult study, IReadOnlyList<Condition> conditions)
    {
        var o = study.Options;
        var document = new
        {
            command = $"dotnet run -c Release --project bench/TransferabilityStudy --{string.Concat(study.Arguments.Select(a => " " + a))}",
            options = o,
            machine = new { cores = Environment.ProcessorCount, os = RuntimeInformation.OSDescription.Trim(), loadAverageAtStart = study.LoadAverageAtStart },
            wallSeconds = study.WallSeconds,
            baseNetworks = study.BaseRuns.Select(r => new { seed = r.Seed, testAccuracyPerEpoch = r.Curve.TestAccuracy, trainLossPerEpoch = r.Curve.TrainLoss, seconds = r.Curve.Seconds }),
            summary = conditions.SelectMany(c => o.Sizes.Select(s => new
            {
                condition = c.Name, cutDepth = c.CutDepth, fineTuneCopied = c.FineTuneCopied, perClass = s,
                start = study.Start(c, s), slope = study.Slope(c, s), final = study.Final(c, s), meanTestAccuracyPerEpoch = study.MeanCurve(c, s),
            })),
            runs = study.Runs.Select(r => new
            {
                condition = r.Condition.Name, perClass = r.PerClass, seed = r.Seed, start = r.Measures.Start, slope = r.Measures.Slope, final = r.Measures.Final,
                testAccuracyPerEpoch = r.Curve.TestAccuracy, trainLossPerEpoch = r.Curve.TrainLoss, seconds = r.Curve.Seconds,
            }),
        };
        return JsonSerializer.Serialize(document, new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase });
    }
}
