using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace MlNetTransfer.FineTuning;

// Element-wise operators and activations.
internal static partial class OnnxTorchOps
{
    private static OnnxKernel Relu(OnnxOpContext ctx)
    {
        ctx.Handles("consumed_inputs");
        return (i, _) => One(F.relu(Required(i, 0, ctx)));
    }

    private static OnnxKernel Sigmoid(OnnxOpContext ctx)
    {
        ctx.Handles("consumed_inputs");
        return (i, _) => One(torch.sigmoid(Required(i, 0, ctx)));
    }

    private static OnnxKernel HardSigmoid(OnnxOpContext ctx)
    {
        ctx.Handles("alpha", "beta", "consumed_inputs");
        Scalar alpha = ctx.Float("alpha", 0.2f), beta = ctx.Float("beta", 0.5f);
        return (i, _) => One(Required(i, 0, ctx).mul(alpha).add(beta, ScalarOne).clamp(Zero, ScalarOne));
    }

    private static OnnxKernel HardSwish(OnnxOpContext ctx)
    {
        ctx.Handles();
        return (i, _) => One(F.hardswish(Required(i, 0, ctx)));
    }

    private static OnnxKernel LeakyRelu(OnnxOpContext ctx)
    {
        ctx.Handles("alpha", "consumed_inputs");
        double alpha = ctx.Float("alpha", 0.01f);
        return (i, _) => One(F.leaky_relu(Required(i, 0, ctx), alpha));
    }

    private static OnnxKernel Clip(OnnxOpContext ctx)
    {
        ctx.Handles("min", "max", "consumed_inputs");
        if (ctx.Opset < 11)
        {
            // Opset 6: bounds are attributes, defaulting to the float range.
            Scalar min = ctx.Float("min", float.NegativeInfinity), max = ctx.Float("max", float.PositiveInfinity);
            return (i, _) => One(Required(i, 0, ctx).clamp(min, max));
        }
        return (i, _) =>
        {
            var x = Required(i, 0, ctx);
            Tensor? min = Optional(i, 1), max = Optional(i, 2);
            // min(max(x, lo), hi): when lo > hi every element becomes hi, as in the spec and torch.clamp.
            if (min is null && max is null) return One(x.alias());
            if (IsFloating(x) && x.device_type != DeviceType.CPU)
                return One(torch.clamp(x, min?.to_type(x.dtype), max?.to_type(x.dtype))); // reading bounds back would sync the GPU
            if (IsFloating(x))
            {
                // On the CPU scalar bounds are read back for free, and clamping by scalars is much faster (ReLU6 everywhere).
                using Scalar? fmin = min is null ? null : (Scalar)ReadScalar(min);
                using Scalar? fmax = max is null ? null : (Scalar)ReadScalar(max);
                return One(x.clamp(fmin, fmax));
            }
            // Integer tensors: clamp with integer scalars so no value goes through floating point.
            using Scalar? lo = min is null ? null : (Scalar)ReadLongs(min)[0];
            using Scalar? hi = max is null ? null : (Scalar)ReadLongs(max)[0];
            return One(x.clamp(lo, hi));
        };
    }

    /// <summary>Add/Sub/Mul/Div with numpy broadcasting; opset &lt; 7's broadcast/axis attributes are honoured too.</summary>
    private static OnnxKernel Binary(OnnxOpContext ctx, Func<Tensor, Tensor, Tensor> op)
    {
        ctx.Handles("broadcast", "axis", "consumed_inputs");
        var legacyAxis = ctx.Int("broadcast", 0) == 1 && ctx.Has("axis") ? ctx.Int("axis", 0) : (long?)null;
        return (i, _) =>
        {
            var a = Required(i, 0, ctx);
            var b = Required(i, 1, ctx);
            if (legacyAxis is { } axis)
            {
                // Old-style broadcast: B's dimensions line up with A's starting at axis.
                var start = axis < 0 ? axis + a.dim() : axis;
                var trailing = a.dim() - start - b.dim();
                if (trailing > 0) b = b.reshape(b.shape.Concat(Enumerable.Repeat(1L, (int)trailing)).ToArray());
            }
            return One(op(a, b));
        };
    }

    /// <summary>ONNX integer division truncates (as ONNX Runtime does); float division is true division.
    /// (The instance div: TorchSharp's static torch.div ignores the rounding mode.)</summary>
    private static Tensor Divide(Tensor a, Tensor b) =>
        IsFloating(a) || IsFloating(b) ? a / b : a.div(b, RoundingMode.trunc);

    private static OnnxKernel Softmax(OnnxOpContext ctx)
    {
        ctx.Handles("axis");
        if (ctx.Opset < 13)
        {
            // Before opset 13 the input is coerced to 2-D at axis (default 1) and normalised over the flattened tail.
            var axis = ctx.Int("axis", 1);
            return (i, _) =>
            {
                var x = Required(i, 0, ctx);
                var a = NormalizeAxis(axis, x.dim(), ctx);
                var shape = x.shape;
                var rows = shape.Take((int)a).Aggregate(1L, (p, d) => p * d);
                using var flat = x.reshape(rows, -1);
                using var soft = F.softmax(flat, 1);
                return One(soft.reshape(shape));
            };
        }
        var axis13 = ctx.Int("axis", -1);
        return (i, _) =>
        {
            var x = Required(i, 0, ctx);
            return One(F.softmax(x, NormalizeAxis(axis13, x.dim(), ctx)));
        };
    }

    private static OnnxKernel ReduceMean(OnnxOpContext ctx)
    {
        ctx.Handles("axes", "keepdims", "noop_with_empty_axes");
        var keep = ctx.Int("keepdims", 1) == 1;
        var noopWhenEmpty = ctx.Int("noop_with_empty_axes", 0) == 1;
        var attrAxes = ctx.Ints("axes");
        return (i, _) =>
        {
            var x = Required(i, 0, ctx);
            var axes = attrAxes ?? (Optional(i, 1) is { } t ? ReadLongs(t) : null);
            if (axes is null || axes.Length == 0)
            {
                if (noopWhenEmpty) return One(x.alias());
                axes = Enumerable.Range(0, (int)x.dim()).Select(d => (long)d).ToArray();
            }
            var dims = axes.Select(a => NormalizeAxis(a, x.dim(), ctx)).ToArray();
            return One(x.mean(dims, keep));
        };
    }

    private static OnnxKernel Identity(OnnxOpContext ctx)
    {
        ctx.Handles();
        return (i, _) => One(Required(i, 0, ctx).alias());
    }

    private static OnnxKernel Dropout(OnnxOpContext ctx)
    {
        ctx.Handles("ratio", "is_test", "seed");
        // A seed fixes this node's mask sequence (drawn on the CPU); numpy's masks are not reproduced, only the contract.
        var generator = ctx.Has("seed") ? new Generator((ulong)ctx.Int("seed", 0), CPU) : null;
        var attrRatio = ctx.Float("ratio", 0.5f);
        var isTest = ctx.Int("is_test", 0) == 1;
        var boolMask = ctx.Opset >= 10; // opsets 7-9 return the mask in the input's type
        return (i, run) =>
        {
            var x = Required(i, 0, ctx);
            double ratio = ctx.Opset >= 12 && Optional(i, 1) is { } r ? ReadScalar(r) : attrRatio;
            // The graph may ask for training-mode dropout (opset 12 training_mode input); otherwise the module's mode decides.
            var active = !isTest && (run.Training || (ctx.Opset >= 12 && Optional(i, 2) is { } tm && ReadScalar(tm) != 0));
            if (!active || ratio == 0)
            {
                var all = torch.ones_like(x, dtype: boolMask ? ScalarType.Bool : x.dtype);
                return [x.alias(), all];
            }
            if (ratio is < 0 or >= 1) throw new MlNetTransferException($"{ctx.Describe}: dropout ratio {ratio} is outside [0, 1).");
            using var uniform = generator is null ? torch.rand(x.shape, device: x.device) : torch.rand(x.shape, generator: generator).to(x.device);
            using var keep = uniform >= ratio;
            var y = x * keep.to_type(x.dtype) * (1.0 / (1.0 - ratio));
            return [y, boolMask ? keep.alias() : keep.to_type(x.dtype)];
        };
    }
}
