using MlNetTransfer.Backbones.Onnx;
using MlNetTransfer.Backbones.Onnx.Proto;
using Microsoft.ML.OnnxRuntime.Tensors;
using DataType = MlNetTransfer.Backbones.Onnx.Proto.TensorProto.Types.DataType;
using MlNetTransfer.Tests.Backbones;

namespace MlNetTransfer.Tests.Dequantize;

public class DequantizerTests
{
    private static readonly QuantizedModelBuilderOptions Options = new();
    private static readonly Lazy<QuantizedModels> Models = new(() => QuantizedModelBuilder.Build(Options));

    /// <summary>Inputs like the calibration ones, plus a batch 1.5× wider so the input quantization saturates.</summary>
    private static DenseTensor<float> TestInputs()
    {
        var inputs = QuantizedModelBuilder.RandomInputs(Options, 48, seed: 7);
        for (var i = (int)(inputs.Length * 2 / 3); i < inputs.Length; i++) inputs.SetValue(i, inputs.GetValue(i) * 1.5f);
        return inputs;
    }

    public static TheoryData<string> Forms => new() { "QOperator", "QDQ" };

    private static ModelProto Quantized(string form) => form == "QOperator" ? Models.Value.QOperator : Models.Value.Qdq;

    [Theory]
    [MemberData(nameof(Forms))]
    public void Dequantized_model_computes_what_the_int8_model_computes(string form)
    {
        var quantized = Quantized(form);
        var dequantized = Dequantizer.Dequantize(quantized);
        var inputs = TestInputs();

        var expected = OrtRunner.Output(quantized, QuantizedModelBuilder.InputName, inputs, QuantizedModelBuilder.OutputName);
        var actual = OrtRunner.Output(dequantized, QuantizedModelBuilder.InputName, inputs, QuantizedModelBuilder.OutputName);

        // The float graph only skips the rounding of each activation to its grid: a few output steps at most.
        var step = Models.Value.LogitsScale;
        var worst = expected.Zip(actual, (e, a) => Math.Abs(e - a)).Max();
        Assert.True(worst <= 3 * step, $"{form}: largest logit difference {worst} is more than 3 quantization steps ({3 * step}).");
        Assert.Equal(OrtRunner.ArgMaxRows(expected, Options.Classes), OrtRunner.ArgMaxRows(actual, Options.Classes));
    }

    [Theory]
    [MemberData(nameof(Forms))]
    public void Simulated_activation_quantization_follows_the_int8_model_much_more_tightly_than_pure_float(string form)
    {
        var quantized = Quantized(form);
        var pure = Dequantizer.Dequantize(quantized);
        var simulated = Dequantizer.Dequantize(quantized, new DequantizeOptions { SimulateActivationQuantization = true });
        var inputs = TestInputs();

        var expected = OrtRunner.Output(quantized, QuantizedModelBuilder.InputName, inputs, QuantizedModelBuilder.OutputName);
        var pureOutput = OrtRunner.Output(pure, QuantizedModelBuilder.InputName, inputs, QuantizedModelBuilder.OutputName);
        var simulatedOutput = OrtRunner.Output(simulated, QuantizedModelBuilder.InputName, inputs, QuantizedModelBuilder.OutputName);

        // Logits are on the int8 model's output grid; count how many land on another grid point.
        var step = Models.Value.LogitsScale;
        int Off(float[] actual) => expected.Zip(actual, (e, a) => Math.Abs(e - a) > step / 2 ? 1 : 0).Sum();
        var pureOff = Off(pureOutput);
        var simulatedOff = Off(simulatedOutput);
        var simulatedWorst = expected.Zip(simulatedOutput, (e, a) => Math.Abs(e - a)).Max();
        Assert.True(pureOff >= expected.Length / 10, $"{form}: pure float moved only {pureOff} of {expected.Length} logits; the comparison would prove nothing.");
        if (form == "QOperator")
        {
            // Integer-valued Conv/MatMul and the same rounding: the int8 model's logits exactly.
            Assert.Equal(0, simulatedOff);
            Assert.True(simulatedWorst <= 1e-5f * step, $"largest logit difference {simulatedWorst} (step {step}).");
        }
        else
        {
            // QDQ: the float Conv between the exact rounding points sums dequantized products; at most one step off, rarely.
            Assert.True(simulatedWorst <= 1.01f * step, $"{form}: largest logit difference {simulatedWorst} is more than one step ({step}).");
            Assert.True(simulatedOff * 10 <= pureOff, $"{form}: simulated {simulatedOff} vs pure float {pureOff} logits off the int8 grid point.");
        }

        // Still a float model: no quantized operators, no integer initializers, float weights in the file.
        Assert.DoesNotContain(simulated.Graph.Node, Dequantizer.IsQuantizedOp);
        Assert.DoesNotContain(simulated.Graph.Initializer, t => (DataType)t.DataType is DataType.Int8 or DataType.Uint8 or DataType.Int32);
        Assert.Equal(3, simulated.Graph.Node.Count(n => n.OpType == "Conv"));
    }

    [Fact]
    public void Simulated_quantization_rounds_half_to_even_and_saturates_like_QuantizeLinear()
    {
        // QuantizeLinear(x, 0.5, 10) as uint8 then DequantizeLinear: x = 0.25 is 0.5 steps (rounds to 0), 0.75 is 1.5 (to 2),
        // −6 saturates at q = 0, 200 at q = 255.
        var g = new GraphProto { Name = "q" };
        g.Input.Add(OnnxNodes.TensorValue("x", DataType.Float, 6));
        g.Output.Add(OnnxNodes.TensorValue("y", DataType.Float, 6));
        g.Initializer.Add(OnnxTensors.FromFloats("s", [0.5f]));
        g.Initializer.Add(QuantizedTensors.FromIntegers("zp", DataType.Uint8, [10]));
        g.Node.Add(OnnxNodes.Node("QuantizeLinear", "q", ["x", "s", "zp"], ["xq"]));
        g.Node.Add(OnnxNodes.Node("DequantizeLinear", "dq", ["xq", "s", "zp"], ["y"]));
        var model = new ModelProto { IrVersion = 8, Graph = g };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 13 });
        var input = new DenseTensor<float>(new float[] { 0.25f, 0.75f, -1.25f, -6f, 200f, 3.1f }, [6]);

        var expected = OrtRunner.Output(model, "x", input, "y");
        var simulated = OrtRunner.Output(Dequantizer.Dequantize(model, new DequantizeOptions { SimulateActivationQuantization = true }), "x", input, "y");
        var pure = OrtRunner.Output(Dequantizer.Dequantize(model), "x", input, "y");

        Assert.Equal(new[] { 0f, 1f, -1f, -5f, 122.5f, 3f }, expected);
        Assert.Equal(expected, simulated);
        Assert.Equal(new[] { 0.25f, 0.75f, -1.25f, -5f, 122.5f, 3.1f }, pure);
    }

    [Theory]
    [MemberData(nameof(Forms))]
    public void Dequantized_model_has_no_quantized_ops_and_float_weights(string form)
    {
        var quantized = Quantized(form);
        Assert.True(Dequantizer.IsQuantized(quantized));

        var dequantized = Dequantizer.Dequantize(quantized);

        Assert.False(Dequantizer.IsQuantized(dequantized));
        Assert.DoesNotContain(dequantized.Graph.Node, n => n.Domain != "");
        Assert.DoesNotContain(dequantized.OpsetImport, o => o.Domain == "com.microsoft");
        var initializers = dequantized.Graph.Initializer.ToDictionary(t => t.Name);
        var weightInputs = dequantized.Graph.Node.Where(n => n.OpType is "Conv" or "MatMul" or "Gemm" or "Add")
            .SelectMany(n => n.Input).Where(initializers.ContainsKey).ToList();
        Assert.NotEmpty(weightInputs);
        Assert.All(weightInputs, name => Assert.Equal(DataType.Float, (DataType)initializers[name].DataType));
        Assert.DoesNotContain(dequantized.Graph.Initializer, t => (DataType)t.DataType is DataType.Int8 or DataType.Uint8 or DataType.Int32);
        Assert.Equal(3, dequantized.Graph.Node.Count(n => n.OpType == "Conv"));
        // Input and output keep their names and float types.
        Assert.Equal(QuantizedModelBuilder.InputName, Assert.Single(dequantized.Graph.Input).Name);
        var output = Assert.Single(dequantized.Graph.Output);
        Assert.Equal(QuantizedModelBuilder.OutputName, output.Name);
        Assert.Equal((int)DataType.Float, output.Type.TensorType.ElemType);
        // The source model is left as it was.
        Assert.True(Dequantizer.IsQuantized(quantized));
    }

    [Fact]
    public void Dequantized_weights_are_the_int8_values_times_their_per_channel_scales()
    {
        var quantized = Models.Value.QOperator;
        var dequantized = Dequantizer.Dequantize(quantized);
        var q = quantized.Graph.Initializer.ToDictionary(t => t.Name);
        var f = dequantized.Graph.Initializer.ToDictionary(t => t.Name);

        var conv = dequantized.Graph.Node.First(n => n.OpType == "Conv");
        var weight = f[conv.Input[1]];
        Assert.Equal(new long[] { Options.Channels, 3, 3, 3 }, weight.Dims.ToArray());
        var ints = OnnxTensors.ToFloats(q["conv1.weight_quantized"]);
        var scales = OnnxTensors.ToFloats(q["conv1.weight_scale"]);
        var floats = OnnxTensors.ToFloats(weight);
        for (var i = 0; i < floats.Length; i++) Assert.Equal(ints[i] * scales[i / 27], floats[i]);

        // The int32 bias carries scale input_scale * weight_scale[channel].
        var inputScale = OnnxTensors.ToFloats(q["input_scale"])[0];
        var bias = OnnxTensors.ToFloats(f[conv.Input[2]]);
        var biasInts = OnnxTensors.ToFloats(q["conv1.bias_quantized"]);
        for (var c = 0; c < bias.Length; c++) Assert.Equal(biasInts[c] * (inputScale * scales[c]), bias[c], 5);
    }

    [Fact]
    public void Output_range_of_a_quantized_conv_becomes_a_clip_that_acts_as_its_folded_relu()
    {
        var dequantized = Dequantizer.Dequantize(Models.Value.QOperator);
        var initializers = dequantized.Graph.Initializer.ToDictionary(t => t.Name);
        var conv = dequantized.Graph.Node.First(n => n.OpType == "Conv");
        var clip = dequantized.Graph.Node.Single(n => n.OpType == "Clip" && n.Input[0] == conv.Output[0]);

        // r1 was calibrated after a ReLU: uint8 with zero point 0, so the float range starts at exactly 0.
        var scale = OnnxTensors.ToFloats(Models.Value.QOperator.Graph.Initializer.Single(t => t.Name == "r1_scale"))[0];
        Assert.Equal(0f, OnnxTensors.ToFloats(initializers[clip.Input[1]])[0]);
        Assert.Equal(255 * scale, OnnxTensors.ToFloats(initializers[clip.Input[2]])[0], 5);

        // Without the Clips, negative pre-activations leak through and the model no longer matches.
        var unclipped = dequantized.Clone();
        foreach (var node in unclipped.Graph.Node.Where(n => n.OpType == "Clip").ToList())
        {
            node.OpType = "Identity";
            while (node.Input.Count > 1) node.Input.RemoveAt(1);
        }
        var inputs = TestInputs();
        var expected = OrtRunner.Output(Models.Value.QOperator, QuantizedModelBuilder.InputName, inputs, QuantizedModelBuilder.OutputName);
        var withoutClips = OrtRunner.Output(unclipped, QuantizedModelBuilder.InputName, inputs, QuantizedModelBuilder.OutputName);
        Assert.True(expected.Zip(withoutClips, (e, a) => Math.Abs(e - a)).Max() > 10 * Models.Value.LogitsScale);
    }

    [Fact]
    public void Int8_models_stay_close_to_the_float_model_they_were_calibrated_from()
    {
        // Checks the builder itself: its quantization is a faithful one, so the dequantizer is tested on realistic models.
        var inputs = QuantizedModelBuilder.RandomInputs(Options, 32, seed: 11);
        var reference = OrtRunner.Output(Models.Value.Float, QuantizedModelBuilder.InputName, inputs, QuantizedModelBuilder.OutputName);
        var spread = reference.Max() - reference.Min();
        foreach (var model in new[] { Models.Value.QOperator, Models.Value.Qdq })
        {
            var int8 = OrtRunner.Output(model, QuantizedModelBuilder.InputName, inputs, QuantizedModelBuilder.OutputName);
            Assert.True(reference.Zip(int8, (r, q) => Math.Abs(r - q)).Max() < 0.05 * spread);
        }
    }
}
