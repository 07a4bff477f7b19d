using System.Text;
using MlNetTransfer.Backbones.Onnx;
using MlNetTransfer.Backbones.Onnx.Proto;
using MlNetTransfer.FineTuning;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace MlNetTransfer.Tests.FineTuning;

/// <summary>
/// Runs ONNX's own operator conformance cases (the backend test data, Debian package libonnx-testdata) through
/// <see cref="OnnxTorchModule"/> and compares with the expected outputs, as ONNX's backend test runner does.
/// </summary>
public class OnnxConformanceTests(ITestOutputHelper output)
{
    private const string InstallHint = "Install ONNX's backend test data: apt-get install libonnx-testdata";

    private static readonly string[] DataRoots =
    [
        "/usr/share/libonnx-testdata/data",
        "/usr/include/onnx/backend/test/data",
    ];

    // The tolerances of onnx/backend/test/runner (assert_similar_outputs): numpy.testing.assert_allclose(rtol=1e-3, atol=1e-7).
    private const double Rtol = 1e-3, Atol = 1e-7;

    /// <summary>Cases made only of supported ops that are still expected not to pass, each with the reason.</summary>
    private static readonly Dictionary<string, string> Exclusions = new(StringComparer.Ordinal)
    {
        ["node/test_training_dropout"] = RandomMask,
        ["node/test_training_dropout_default"] = RandomMask,
        ["node/test_training_dropout_default_mask"] = RandomMask,
        ["node/test_training_dropout_mask"] = RandomMask,
        ["node/test_cast_FLOAT_to_BFLOAT16"] = Bfloat16Rounding,
        ["node/test_castlike_FLOAT_to_BFLOAT16_expanded"] = Bfloat16Rounding,
        ["node/test_cast_FLOAT_to_STRING"] = StringTensors,
        ["node/test_cast_STRING_to_FLOAT"] = StringTensors,
        ["node/test_castlike_FLOAT_to_STRING_expanded"] = StringTensors,
        ["node/test_castlike_STRING_to_FLOAT_expanded"] = StringTensors,
        ["node/test_identity_opt"] = "an optional-typed graph input: the module carries tensors only (refused at build)",
        ["node/test_identity_sequence"] = "a sequence-typed graph input: the module carries tensors only (refused at build)",
    };

    private const string RandomMask = "training-mode dropout with ratio > 0 draws a random mask; the expected output comes from numpy's generator";
    private const string Bfloat16Rounding = "ONNX 1.12's expected bfloat16 values truncate the float's low bits; libtorch rounds to nearest even (1 bfloat16 ulp apart)";
    private const string StringTensors = "string tensors: libtorch has no string type (refused at build)";

    private enum Outcome { Passed, PassedInNchwOnly, Unsupported, Mismatch }

    private sealed record CaseResult(string Name, string[] Ops, Outcome Outcome, string Detail);

    [Theory]
    [InlineData("node")]
    [InlineData("pytorch-converted")]
    [InlineData("pytorch-operator")]
    [InlineData("simple")]
    public void SupportedOpsPassOnnxBackendTests(string suite)
    {
        var root = DataRoots.Select(r => Path.Combine(r, suite)).FirstOrDefault(Directory.Exists);
        Assert.True(root is not null, $"ONNX backend test data '{suite}' not found in {string.Join(" or ", DataRoots)}. {InstallHint}");

        var supported = OnnxTorchOps.SupportedOps.ToHashSet(StringComparer.Ordinal);
        var inScope = new List<CaseResult>();
        var outOfScope = new List<(string Name, string[] Ops, string? Error)>();
        foreach (var dir in Directory.GetDirectories(root!).Order(StringComparer.Ordinal))
        {
            var modelPath = Path.Combine(dir, "model.onnx");
            if (!File.Exists(modelPath)) continue;
            var name = Path.GetFileName(dir);
            var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(modelPath));
            var ops = model.Graph.Node.Select(n => n.Domain is "" or "ai.onnx" ? n.OpType : $"{n.Domain}.{n.OpType}")
                .Distinct().Order(StringComparer.Ordinal).ToArray();
            if (ops.Length > 0 && ops.All(supported.Contains)) inScope.Add(RunCase(name, dir, model, ops));
            else outOfScope.Add((name, ops, BuildError(model)));
        }

        var report = Report(suite, inScope, outOfScope, supported);
        output.WriteLine(report);
        File.WriteAllText(Path.Combine(AppContext.BaseDirectory, $"onnx-conformance-{suite}.txt"), report);

        Assert.True(inScope.Count > 0, $"Only {inScope.Count} in-scope cases found under {root}; is the test data complete? {InstallHint}");
        var failing = inScope.Where(c => c.Outcome is not (Outcome.Passed or Outcome.PassedInNchwOnly) && !Exclusions.ContainsKey($"{suite}/{c.Name}"))
            .Select(c => $"{c.Name} [{string.Join(",", c.Ops)}] {c.Outcome}: {c.Detail}").ToList();
        Assert.True(failing.Count == 0, "Cases of supported ops that neither pass nor are excluded:\n" + string.Join("\n", failing));
        var stale = Exclusions.Keys.Where(k => k.StartsWith(suite + "/", StringComparison.Ordinal))
            .Where(k => inScope.FirstOrDefault(c => $"{suite}/{c.Name}" == k) is not { Outcome: not Outcome.Passed }).ToList();
        Assert.True(stale.Count == 0, "Excluded cases that pass or are not in scope (drop them from the list): " + string.Join(", ", stale));
        // Every graph with an op the converter lacks must be refused loudly at build time, never run half-way.
        var silent = outOfScope.Where(c => c.Error is null || !c.Ops.Any(op => !supported.Contains(op) && c.Error.Contains($"({op})")))
            .Select(c => $"{c.Name} [{string.Join(",", c.Ops)}]: {c.Error ?? "built without an error"}").ToList();
        Assert.True(silent.Count == 0, "Graphs with unsupported ops not refused with the op named:\n" + string.Join("\n", silent));
    }

    private static string? BuildError(ModelProto model)
    {
        try
        {
            using var m = OnnxTorchModule.FromOnnx(model);
            return null;
        }
        catch (MlNetTransferException e)
        {
            return e.Message;
        }
    }

    /// <summary>Runs a case in channels-last order, the fine-tuning default. A mismatch there is run again in NCHW order: when
    /// that passes, the op is converted right and libtorch's channels-last kernel computes other values on this machine, which
    /// fine-tuning detects on its own network and avoids (ChannelsLastCheck); the case counts as passed and the report lists it.</summary>
    private static CaseResult RunCase(string name, string dir, ModelProto model, string[] ops)
    {
        var result = RunGuarded(name, dir, model, ops, channelsLast: true);
        if (result.Outcome != Outcome.Mismatch || RunGuarded(name, dir, model, ops, channelsLast: false).Outcome != Outcome.Passed) return result;
        return result with { Outcome = Outcome.PassedInNchwOnly, Detail = "passes in NCHW order; in channels-last order libtorch here gives " + result.Detail };
    }

    private static CaseResult RunGuarded(string name, string dir, ModelProto model, string[] ops, bool channelsLast)
    {
        try
        {
            return RunCaseUnguarded(name, dir, model, ops, channelsLast);
        }
        catch (MlNetTransferException e)
        {
            return new CaseResult(name, ops, Outcome.Unsupported, e.Message);
        }
        catch (Exception e)
        {
            return new CaseResult(name, ops, Outcome.Mismatch, $"crashed: {e.GetType().Name}: {e.Message}");
        }
    }

    private static CaseResult RunCaseUnguarded(string name, string dir, ModelProto model, string[] ops, bool channelsLast)
    {
        using var scope = torch.NewDisposeScope();
        OnnxTorchModule module;
        try
        {
            module = OnnxTorchModule.FromOnnx(model, new OnnxTorchModuleOptions { ChannelsLast = channelsLast });
        }
        catch (MlNetTransferException e)
        {
            return new CaseResult(name, ops, Outcome.Unsupported, e.Message);
        }
        using (module)
        {
            module.eval();
            foreach (var set in Directory.GetDirectories(dir, "test_data_set_*").Order(StringComparer.Ordinal))
            {
                IReadOnlyDictionary<string, Tensor> actual;
                try
                {
                    var inputs = new Dictionary<string, Tensor>(StringComparer.Ordinal);
                    for (int k = 0; k < module.InputNames.Count; k++)
                        inputs[module.InputNames[k]] = OnnxTorchTensors.ToTorch(ReadTensor(Path.Combine(set, $"input_{k}.pb"), model, module.InputNames[k]));
                    using var noGrad = torch.no_grad();
                    actual = module.Forward(inputs);
                }
                catch (MlNetTransferException e)
                {
                    return new CaseResult(name, ops, Outcome.Unsupported, e.Message);
                }
                for (int k = 0; k < module.OutputNames.Count; k++)
                {
                    var expected = OnnxTorchTensors.ToTorch(ReadTensor(Path.Combine(set, $"output_{k}.pb"), model, module.OutputNames[k]));
                    var problem = Compare(actual[module.OutputNames[k]], expected);
                    if (problem is not null)
                        return new CaseResult(name, ops, Outcome.Mismatch, $"{Path.GetFileName(set)} output '{module.OutputNames[k]}': {problem}");
                }
            }
        }
        return new CaseResult(name, ops, Outcome.Passed, "");
    }

    private static TensorProto ReadTensor(string path, ModelProto model, string valueName)
    {
        var tensor = TensorProto.Parser.ParseFrom(File.ReadAllBytes(path));
        // numpy has no bfloat16, so ONNX's generator saves bfloat16 data as uint16 bit patterns; read them as the graph declares.
        var declared = model.Graph.Input.Concat(model.Graph.Output).FirstOrDefault(v => v.Name == valueName)?.Type?.TensorType?.ElemType;
        if (tensor.DataType == (int)TensorProto.Types.DataType.Uint16 && declared == (int)TensorProto.Types.DataType.Bfloat16)
            tensor.DataType = (int)TensorProto.Types.DataType.Bfloat16;
        return tensor;
    }

    private static string? Compare(Tensor actual, Tensor expected)
    {
        if (actual.dtype != expected.dtype) return $"type {actual.dtype}, expected {expected.dtype}";
        if (!actual.shape.SequenceEqual(expected.shape))
            return $"shape [{string.Join(",", actual.shape)}], expected [{string.Join(",", expected.shape)}]";
        if (actual.dtype is ScalarType.Float32 or ScalarType.Float64 or ScalarType.Float16 or ScalarType.BFloat16)
        {
            using var a = actual.to_type(ScalarType.Float64);
            using var e = expected.to_type(ScalarType.Float64);
            if (torch.allclose(a, e, Rtol, Atol, equal_nan: true)) return null;
            var av = a.flatten().data<double>().ToArray();
            var ev = e.flatten().data<double>().ToArray();
            var bad = Enumerable.Range(0, av.Length)
                .Where(n => !(double.IsNaN(av[n]) && double.IsNaN(ev[n])) && !(Math.Abs(av[n] - ev[n]) <= Atol + Rtol * Math.Abs(ev[n])) && av[n] != ev[n])
                .ToList();
            return $"{bad.Count} of {av.Length} values outside rtol {Rtol}, atol {Atol}; first at {bad[0]}: {av[bad[0]]:G9} vs expected {ev[bad[0]]:G9}";
        }
        using var same = actual.eq(expected).all();
        return same.item<bool>() ? null : "values differ";
    }

    private static string Report(string suite, List<CaseResult> inScope, List<(string Name, string[] Ops, string? Error)> outOfScope, HashSet<string> supported)
    {
        var sb = new StringBuilder();
        sb.AppendLine($"ONNX backend test data '{suite}' through OnnxTorchModule (rtol {Rtol}, atol {Atol})");
        sb.AppendLine($"{"op",-20} {"cases",5} {"pass",5} {"unsup",5} {"fail",5} {"mixed",5}   (mixed: cases that also use an unsupported op; refused at build)");
        foreach (var op in supported.Order(StringComparer.Ordinal))
        {
            var cases = inScope.Where(c => c.Ops.Contains(op)).ToList();
            sb.AppendLine($"{op,-20} {cases.Count,5} {cases.Count(c => c.Outcome == Outcome.Passed),5} " +
                          $"{cases.Count(c => c.Outcome == Outcome.Unsupported),5} {cases.Count(c => c.Outcome == Outcome.Mismatch),5} " +
                          $"{outOfScope.Count(c => c.Ops.Contains(op)),5}");
        }
        sb.AppendLine($"in scope: {inScope.Count} cases, {inScope.Count(c => c.Outcome == Outcome.Passed)} pass; " +
                      $"out of scope: {outOfScope.Count} cases, {outOfScope.Count(c => c.Error is not null)} refused with an error");
        foreach (var c in inScope.Where(c => c.Outcome != Outcome.Passed))
            sb.AppendLine($"  {c.Name}: {c.Outcome}{(Exclusions.TryGetValue($"{suite}/{c.Name}", out var why) ? $" (excluded: {why})" : "")}: {c.Detail}");
        return sb.ToString();
    }
}
