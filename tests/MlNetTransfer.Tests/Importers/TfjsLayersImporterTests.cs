using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using MlNetTransfer.Backbones.Importers;
using MlNetTransfer.Backbones.Onnx;
using Xunit.Abstractions;

namespace MlNetTransfer.Tests.Importers;

/// <summary>
/// Small models built and run by TensorFlow.js (tests/js/tfjs-reference.cjs), imported to ONNX and run by ONNX Runtime:
/// every layer's output must match tfjs'.
/// </summary>
public sealed class TfjsLayersImporterTests(TfjsTinyModelsFixture models, ITestOutputHelper log) : IClassFixture<TfjsTinyModelsFixture>
{
    private const double Tolerance = 1e-4;

    /// <summary>Imports a case and compares each layer tfjs reported (outputs and intermediates) with ORT's.</summary>
    private TfjsImportResult CompareWithTfjs(string modelPath, TfjsReference reference)
    {
        var result = TfjsLayersImporter.Import(modelPath);
        Assert.Equal("", result.Model.OpsetImport.Single().Domain);
        Assert.Equal(13, result.Model.OpsetImport.Single().Version);
        var byName = result.Layers.GroupBy(l => l.LayerName).ToDictionary(g => g.Key, g => g.First());
        foreach (var name in reference.Outputs.Keys)
            Assert.True(byName.ContainsKey(name), $"layer '{name}' has no tensor in the imported graph");
        var actual = OnnxEval.Run(result.Model, result.InputNames[0], reference.Input, reference.Outputs.Keys.Select(n => byName[n].TensorName));
        foreach (var (name, expected) in reference.Outputs)
        {
            var layer = byName[name];
            var diff = OnnxEval.MaxAbsDiff(expected, OnnxEval.InKerasLayout(layer, actual[layer.TensorName]), $"layer '{name}'");
            log.WriteLine($"{Path.GetFileName(Path.GetDirectoryName(modelPath))}/{name} ({layer.ClassName}, {layer.Layout}): max |Δ| = {diff:G3}");
            Assert.True(diff <= Tolerance, $"layer '{name}' ({layer.ClassName}) differs from TensorFlow.js by {diff:G4}");
        }
        return result;
    }

    [Theory]
    [InlineData("same_padding")]       // stride-2 'same' conv on odd/even sizes, even kernel, dilation, same pooling, Flatten → Dense
    [InlineData("depthwise")]          // depthwise with depth_multiplier 2, batch norm, ReLU max_value, relu6, global pooling
    [InlineData("separable")]          // separable conv with multiplier, asymmetric ZeroPadding2D, Dense on 3-D, 2 shards
    [InlineData("functional")]         // branches, Add/Multiply/Average/Concatenate, channel softmax on 4-D, Reshape → 1×1 conv head, two outputs
    [InlineData("nested")]             // a Sequential inside a functional Model; a 4-D graph output
    [InlineData("extras")]             // Rescaling, UpSampling2D, Cropping2D, LeakyReLU, ELU, Maximum/Minimum, concat on H, Softmax layer, more activations
    [InlineData("same_padding_uint8")] // uint8 weights with min/scale
    [InlineData("depthwise_float16")]  // float16 weights
    [InlineData("separable_uint16")]   // uint16 weights with min/scale
    public void Matches_tfjs_layer_by_layer(string name)
    {
        CompareWithTfjs(models.ModelJson(name), models.Reference(name));
    }

    [Fact]
    public void Keras3_dict_inbound_nodes_under_model_config_match_the_list_form()
    {
        // model.json of this case: Keras 3's {"args": [keras tensors]} inbound nodes, class "Functional", flat input_layers,
        // under modelTopology.model_config; the reference is tfjs' run of the same model in list form.
        var json = File.ReadAllText(models.ModelJson("functional_keras3"));
        Assert.Contains("keras_history", json);
        Assert.Contains("model_config", json);
        var result = CompareWithTfjs(models.ModelJson("functional_keras3"), models.Reference("functional"));
        Assert.Equal(["reshape_2", "dense_tanh"], result.OutputNames);
    }

    [Fact]
    public void Graph_takes_nhwc_input_and_names_outputs_after_keras_layers()
    {
        var result = TfjsLayersImporter.Import(models.ModelJson("same_padding"));
        var input = result.Model.Graph.Input.Single();
        Assert.Equal("conv_s2_input", input.Name);
        Assert.Equal([-1L, 11, 10, 3], OnnxNodes.Dims(input)!);
        Assert.Equal(["probs"], result.Model.Graph.Output.Select(o => o.Name));
        // Every layer's tensor is in the graph under the layer's name.
        var produced = result.Model.Graph.Node.SelectMany(n => n.Output).ToHashSet();
        foreach (var layer in result.Layers.Where(l => l.ClassName != "InputLayer"))
        {
            Assert.Equal(layer.LayerName, layer.TensorName);
            Assert.Contains(layer.TensorName, produced);
        }
        // 'same' 3×3 stride 2 on 11×10: TF pads 1 top/1 bottom and 0 left/1 right (the extra pixel goes right).
        var conv = result.Model.Graph.Node.Single(n => n.OpType == "Conv" && n.Output[0] == "conv_s2/preact");
        Assert.Equal([1L, 0, 1, 1], OnnxNodes.GetInts(conv, "pads", []));
        // One transpose to NCHW at the start, one back before Flatten.
        Assert.Equal(2, result.Model.Graph.Node.Count(n => n.OpType == "Transpose"));
    }

    [Fact]
    public void Suggested_spec_names_input_embedding_and_classifier()
    {
        var dw = TfjsLayersImporter.Import(models.ModelJson("depthwise"));
        Assert.Equal("gap", dw.EmbeddingTensor);
        Assert.Equal("logits", dw.ClassifierTensor);
        Assert.Equal("NHWC", dw.Spec.Layout);
        Assert.Equal((9, 9), (dw.Spec.InputWidth, dw.Spec.InputHeight));
        Assert.Equal("dw_m2_input", dw.Spec.InputName);
        Assert.Equal("gap", dw.Spec.EmbeddingTensor);
        Assert.False(dw.Spec.ClassifierOutputsProbabilities);
        dw.Spec.Validate();

        var sp = TfjsLayersImporter.Import(models.ModelJson("same_padding"));
        Assert.Equal("flatten", sp.EmbeddingTensor); // no global pooling: the layer that turns the map into a vector
        Assert.True(sp.Spec.ClassifierOutputsProbabilities);

        var fn = TfjsLayersImporter.Import(models.ModelJson("functional"), new TfjsImportOptions { InputName = "input", ModelName = "tiny" });
        Assert.Equal("input", fn.Spec.InputName);
        Assert.Equal("tiny", fn.Spec.Name);
        Assert.Equal("reshape_2", fn.ClassifierTensor);
    }

    [Fact]
    public void Unsupported_layer_is_refused_by_name_and_class()
    {
        var e = Assert.Throws<MlNetTransferException>(() => TfjsLayersImporter.Import(models.ModelJson("unsupported")));
        Assert.Contains("'deconv'", e.Message);
        Assert.Contains("Conv2DTranspose", e.Message);
    }

    [Fact]
    public void Relu_layer_honours_negative_slope_threshold_and_max_value()
    {
        // tfjs' ReLU ignores negative_slope and threshold, so the Keras formula is the reference here.
        var dir = models.CopyCase("depthwise");
        var path = Path.Combine(dir, "model.json");
        var json = JsonNode.Parse(File.ReadAllText(path))!;
        var relu = json["modelTopology"]!["config"]!["layers"]!.AsArray().Single(l => (string?)l!["class_name"] == "ReLU")!;
        relu["config"]!["max_value"] = 0.8;
        relu["config"]!["negative_slope"] = 0.1;
        relu["config"]!["threshold"] = 0.3;
        File.WriteAllText(path, json.ToJsonString());

        var result = TfjsLayersImporter.Import(path);
        var input = models.Reference("depthwise").Input;
        var outs = OnnxEval.Run(result.Model, result.InputNames[0], input, ["bn", "relu6"]);
        var x = outs["bn"].Data;
        var y = outs["relu6"].Data;
        Assert.Equal(x.Length, y.Length);
        int below = 0, capped = 0;
        for (int i = 0; i < x.Length; i++)
        {
            double v = x[i];
            double expected = v > 0.3 ? Math.Min(v, 0.8) : 0.1 * (v - 0.3);
            if (v <= 0.3) below++;
            if (v > 0.8) capped++;
            Assert.True(Math.Abs(expected - y[i]) < 1e-6, $"ReLU({v}) = {y[i]}, Keras gives {expected}");
        }
        Assert.True(below > 0 && capped > 0, "the test input should reach all three pieces of the ReLU");
    }

    [Fact]
    public void Bundled_javascript_form_matches_model_json()
    {
        // Re-wrap a case the way nsfwjs ships models: a browserify bundle assigning a minified object literal
        // (bare keys, !0/!1, .5-style numbers) to exports, and a shard bundle exporting base64.
        var dir = models.CopyCase("depthwise_float16");
        var json = File.ReadAllText(Path.Combine(dir, "model.json"));
        var literal = Regex.Replace(json, "\"([A-Za-z_][A-Za-z0-9_]*)\":", "$1:");
        literal = literal.Replace(":true", ":!0").Replace(":false", ":!1");
        literal = Regex.Replace(literal, @"([:\[,])0\.(\d)", "$1.$2");
        Assert.Contains(":!0", literal);
        File.WriteAllText(Path.Combine(dir, "model.min.js"), Bundle("model", $"a.exports={literal}"));
        var shard = Convert.ToBase64String(File.ReadAllBytes(Path.Combine(dir, "group1-shard1of1.bin")));
        File.WriteAllText(Path.Combine(dir, "group1-shard1of1.min.js"), Bundle("group1_shard1of1", $"h.exports=\"{shard}\""));
        File.Delete(Path.Combine(dir, "model.json"));
        File.Delete(Path.Combine(dir, "group1-shard1of1.bin"));

        CompareWithTfjs(Path.Combine(dir, "model.min.js"), models.Reference("depthwise_float16"));
    }

    private static string Bundle(string global, string body) =>
        "!function(e){if(\"object\"==typeof exports&&\"undefined\"!=typeof module)module.exports=e();else{(\"undefined\"!=typeof window?window:this)."
        + global + "=e()}}(function(){return function e(a,n,i){return a[1][0].call(n,null,n={exports:{}},n.exports),n.exports}({1:[function(e,a,n){"
        + body + "},{}]},{},[1])(1)});";

    [Fact]
    public void Missing_shard_is_named()
    {
        var dir = models.CopyCase("separable");
        File.Delete(Path.Combine(dir, "group1-shard2of2.bin"));
        var e = Assert.Throws<MlNetTransferException>(() => TfjsLayersImporter.Import(Path.Combine(dir, "model.json")));
        Assert.Contains("group1-shard2of2.bin", e.Message);
    }

    [Fact]
    public void Weight_of_the_wrong_shape_is_named()
    {
        var dir = models.CopyCase("same_padding");
        var path = Path.Combine(dir, "model.json");
        var json = JsonNode.Parse(File.ReadAllText(path))!;
        var conv = json["modelTopology"]!["config"]!["layers"]!.AsArray().First(l => (string?)l!["config"]!["name"] == "conv_even_kernel")!;
        conv["config"]!["filters"] = 7;
        File.WriteAllText(path, json.ToJsonString());
        var e = Assert.Throws<MlNetTransferException>(() => TfjsLayersImporter.Import(path));
        Assert.Contains("conv_even_kernel", e.Message);
        Assert.Contains("kernel", e.Message);
    }

    [Fact]
    public void Graph_model_is_refused()
    {
        var dir = models.CopyCase("depthwise");
        var path = Path.Combine(dir, "model.json");
        File.WriteAllText(path, "{\"format\":\"graph-model\",\"modelTopology\":{\"node\":[]},\"weightsManifest\":[]}", Encoding.UTF8);
        var e = Assert.Throws<MlNetTransferException>(() => TfjsLayersImporter.Import(path));
        Assert.Contains("graph model", e.Message);
    }
}
