using MlNetTransfer.Backbones.Onnx.Proto;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;
using AttrType = MlNetTransfer.Backbones.Onnx.Proto.AttributeProto.Types.AttributeType;

namespace MlNetTransfer.FineTuning;

// Shape manipulation, indexing and constants.
internal static partial class OnnxTorchOps
{
    private static OnnxKernel Flatten(OnnxOpContext ctx)
    {
        ctx.Handles("axis");
        var axis = ctx.Int("axis", 1);
        return (i, _) =>
        {
            var x = Required(i, 0, ctx);
            var rank = x.dim();
            var a = axis < 0 ? axis + rank : axis;
            if (a < 0 || a > rank) throw new MlNetTransferException($"{ctx.Describe}: axis {axis} is out of range for rank {rank}.");
            var outer = x.shape.Take((int)a).Aggregate(1L, (p, d) => p * d);
            var inner = x.shape.Skip((int)a).Aggregate(1L, (p, d) => p * d);
            return One(x.reshape(outer, inner));
        };
    }

    private static OnnxKernel Reshape(OnnxOpContext ctx)
    {
        ctx.Handles("allowzero", "shape", "consumed_inputs");
        var allowZero = ctx.Int("allowzero", 0) == 1;
        var attrShape = ctx.Opset < 5 ? ctx.Ints("shape") : null;
        return (i, _) =>
        {
            var x = Required(i, 0, ctx);
            var shape = attrShape ?? ReadLongs(Required(i, 1, ctx));
            var target = (long[])shape.Clone();
            // 0 copies the input's dimension (unless allowzero, where it is a real zero); -1 is inferred by torch.
            if (!allowZero)
                for (int d = 0; d < target.Length; d++)
                    if (target[d] == 0)
                    {
                        if (d >= x.dim()) throw new MlNetTransferException($"{ctx.Describe}: shape [{string.Join(",", shape)}] copies dimension {d} of a rank-{x.dim()} input.");
                        target[d] = x.shape[d];
                    }
            return One(x.reshape(target));
        };
    }

    private static OnnxKernel Transpose(OnnxOpContext ctx)
    {
        ctx.Handles("perm");
        var perm = ctx.Ints("perm");
        return (i, _) =>
        {
            var x = Required(i, 0, ctx);
            var p = perm ?? Enumerable.Range(0, (int)x.dim()).Reverse().Select(d => (long)d).ToArray();
            return One(x.permute(p));
        };
    }

    /// <summary>Axes from the attribute (before opset 13) or the optional second input (opset 13 on).</summary>
    private static long[]? Axes(OnnxOpContext ctx, Tensor?[] inputs, long[]? attrAxes) =>
        ctx.Opset >= 13 ? (Optional(inputs, 1) is { } t ? ReadLongs(t) : null) : attrAxes;

    private static OnnxKernel Squeeze(OnnxOpContext ctx)
    {
        ctx.Handles("axes");
        var attrAxes = ctx.Ints("axes");
        return (i, _) =>
        {
            var x = Required(i, 0, ctx);
            var axes = Axes(ctx, i, attrAxes);
            if (axes is null) return One(x.squeeze());
            var dims = axes.Select(a => NormalizeAxis(a, x.dim(), ctx)).ToHashSet();
            foreach (var d in dims)
                if (x.shape[d] != 1) throw new MlNetTransferException($"{ctx.Describe}: cannot squeeze axis {d} of size {x.shape[d]}.");
            return One(x.reshape(x.shape.Where((_, d) => !dims.Contains(d)).ToArray()));
        };
    }

    private static OnnxKernel Unsqueeze(OnnxOpContext ctx)
    {
        ctx.Handles("axes");
        var attrAxes = ctx.Ints("axes");
        return (i, _) =>
        {
            var x = Required(i, 0, ctx);
            var axes = Axes(ctx, i, attrAxes) ?? throw new MlNetTransferException($"{ctx.Describe}: axes are missing.");
            var outRank = x.dim() + axes.Length;
            var dims = axes.Select(a => NormalizeAxis(a, outRank, ctx)).ToHashSet();
            var shape = new long[outRank];
            for (int d = 0, src = 0; d < outRank; d++) shape[d] = dims.Contains(d) ? 1 : x.shape[src++];
            return One(x.reshape(shape));
        };
    }

    private static OnnxKernel Concat(OnnxOpContext ctx)
    {
        ctx.Handles("axis");
        if (!ctx.Has("axis") && ctx.Opset >= 4) throw new MlNetTransferException($"{ctx.Describe}: axis is missing.");
        var axis = ctx.Int("axis", 1);
        return (i, _) =>
        {
            var parts = i.Select((t, n) => t ?? throw new MlNetTransferException($"{ctx.Describe}: input {n} is missing.")).ToArray();
            return One(torch.cat(parts, NormalizeAxis(axis, parts[0].dim(), ctx)));
        };
    }

    private static OnnxKernel Shape(OnnxOpContext ctx)
    {
        ctx.Handles("start", "end");
        long start = ctx.Int("start", 0);
        long? end = ctx.Has("end") ? ctx.Int("end", 0) : null;
        return (i, _) =>
        {
            var shape = Required(i, 0, ctx).shape;
            long rank = shape.Length;
            long Clamp(long v) => Math.Clamp(v < 0 ? v + rank : v, 0, rank);
            long s = Clamp(start), e = end is { } ev ? Clamp(ev) : rank;
            var dims = shape.Skip((int)s).Take((int)Math.Max(0, e - s)).ToArray();
            return One(torch.tensor(dims, dtype: ScalarType.Int64, device: ctx.Device));
        };
    }

    private static OnnxKernel Gather(OnnxOpContext ctx)
    {
        ctx.Handles("axis");
        var axis = ctx.Int("axis", 0);
        return (i, _) =>
        {
            var x = Required(i, 0, ctx);
            var indices = Required(i, 1, ctx);
            var a = NormalizeAxis(axis, x.dim(), ctx);
            var size = x.shape[a];
            using var idx = indices.to(ScalarType.Int64, x.device, copy: true);
            using var negative = idx.lt(0);
            using var wrapped = torch.where(negative, idx + size, idx);
            using var flat = wrapped.flatten();
            using var picked = x.index_select(a, flat);
            var shape = x.shape.Take((int)a).Concat(indices.shape).Concat(x.shape.Skip((int)a + 1)).ToArray();
            return One(picked.reshape(shape));
        };
    }

    private static OnnxKernel Slice(OnnxOpContext ctx)
    {
        ctx.Handles("starts", "ends", "axes");
        long[]? attrStarts = ctx.Ints("starts"), attrEnds = ctx.Ints("ends"), attrAxes = ctx.Ints("axes");
        return (i, _) =>
        {
            var x = Required(i, 0, ctx);
            long[] starts, ends, axes, steps;
            if (ctx.Opset < 10)
            {
                starts = attrStarts ?? throw new MlNetTransferException($"{ctx.Describe}: starts are missing.");
                ends = attrEnds ?? throw new MlNetTransferException($"{ctx.Describe}: ends are missing.");
                axes = attrAxes ?? Enumerable.Range(0, starts.Length).Select(v => (long)v).ToArray();
                steps = Enumerable.Repeat(1L, starts.Length).ToArray();
            }
            else
            {
                starts = ReadLongs(Required(i, 1, ctx));
                ends = ReadLongs(Required(i, 2, ctx));
                axes = Optional(i, 3) is { } ax ? ReadLongs(ax) : Enumerable.Range(0, starts.Length).Select(v => (long)v).ToArray();
                steps = Optional(i, 4) is { } st ? ReadLongs(st) : Enumerable.Repeat(1L, starts.Length).ToArray();
            }
            var y = x;
            for (int n = 0; n < starts.Length; n++)
            {
                var a = NormalizeAxis(axes[n], x.dim(), ctx);
                long dim = x.shape[a], step = steps[n];
                if (step == 0) throw new MlNetTransferException($"{ctx.Describe}: slice step 0.");
                // Clamping per the spec: [0, dim] for positive steps, [-1, dim-1] for negative ones.
                long Adjust(long v, long lo, long hi) => Math.Clamp(v < 0 ? v + dim : v, lo, hi);
                long s = step > 0 ? Adjust(starts[n], 0, dim) : Adjust(starts[n], -1, dim - 1);
                long e = step > 0 ? Adjust(ends[n], 0, dim) : Adjust(ends[n], -1, dim - 1);
                if (step > 0) y = y.slice(a, s, Math.Max(s, e), step);
                else
                {
                    using var idx = torch.arange(s, e, step, dtype: ScalarType.Int64, device: x.device);
                    y = y.index_select(a, idx);
                }
            }
            return One(ReferenceEquals(y, x) ? x.alias() : y);
        };
    }

    private static OnnxKernel Cast(OnnxOpContext ctx)
    {
        ctx.Handles("to");
        var to = OnnxTorchTensors.ToScalarType((int)ctx.Int("to", 0), ctx.Describe);
        return (i, _) => One(Required(i, 0, ctx).to_type(to, copy: true));
    }

    private static OnnxKernel Pad(OnnxOpContext ctx)
    {
        ctx.Handles("mode", "pads", "paddings", "value");
        var mode = ctx.String("mode", "constant");
        if (mode is not ("constant" or "reflect" or "edge" or "wrap")) throw ctx.Unsupported($"pad mode '{mode}'");
        var attrPads = ctx.Opset < 11 ? ctx.Ints(ctx.Opset < 2 ? "paddings" : "pads") : null;
        double attrValue = ctx.Float("value", 0f);
        return (i, _) =>
        {
            var x = Required(i, 0, ctx);
            var rank = x.dim();
            var pads = attrPads ?? ReadLongs(Required(i, 1, ctx));
            double value = ctx.Opset >= 11 && Optional(i, 2) is { } v && v.numel() > 0 ? ReadScalar(v) : attrValue;
            var axes = ctx.Opset >= 18 && Optional(i, 3) is { } ax
                ? ReadLongs(ax).Select(a => NormalizeAxis(a, rank, ctx)).ToArray()
                : Enumerable.Range(0, (int)rank).Select(d => (long)d).ToArray();
            if (pads.Length != 2 * axes.Length)
                throw new MlNetTransferException($"{ctx.Describe}: {pads.Length} pads for {axes.Length} axes.");
            var begin = new long[rank];
            var end = new long[rank];
            for (int n = 0; n < axes.Length; n++) { begin[axes[n]] = pads[n]; end[axes[n]] = pads[axes.Length + n]; }
            if (mode == "constant")
                return One(F.pad(x, new SpatialPads(begin, end).ForTorchPad(), value: value));
            // reflect / edge / wrap: gather along each padded axis with the index pattern of the mode (any rank, differentiable).
            var y = x;
            for (int d = 0; d < rank; d++)
            {
                if (begin[d] == 0 && end[d] == 0) continue;
                long n = x.shape[d];
                if (begin[d] < 0 || end[d] < 0) throw ctx.Unsupported($"negative pads in '{mode}' mode");
                if (mode == "reflect" && (begin[d] >= n || end[d] >= n))
                    throw new MlNetTransferException($"{ctx.Describe}: reflect padding of {Math.Max(begin[d], end[d])} needs more than {n} elements on axis {d}.");
                var index = new long[begin[d] + n + end[d]];
                for (long k = 0; k < index.Length; k++)
                {
                    long src = k - begin[d];
                    index[k] = mode switch
                    {
                        "edge" => Math.Clamp(src, 0, n - 1),
                        "wrap" => ((src % n) + n) % n,
                        _ => src < 0 ? -src : src >= n ? 2 * (n - 1) - src : src,
                    };
                }
                using var idx = torch.tensor(index, dtype: ScalarType.Int64, device: x.device);
                y = y.index_select(d, idx);
            }
            return One(y);
        };
    }

    private static OnnxKernel Constant(OnnxOpContext ctx)
    {
        ctx.Handles("value", "value_float", "value_floats", "value_int", "value_ints");
        var a = ctx.Node.Attribute.SingleOrDefault()
            ?? throw new MlNetTransferException($"{ctx.Describe}: a Constant needs exactly one value attribute.");
        Tensor Make() => a.Name switch
        {
            "value" => OnnxTorchTensors.ToTorch(a.T, ctx.Device),
            "value_float" => torch.tensor(a.F, dtype: ScalarType.Float32, device: ctx.Device),
            "value_floats" => torch.tensor(a.Floats.ToArray(), dtype: ScalarType.Float32, device: ctx.Device),
            "value_int" => torch.tensor(a.I, dtype: ScalarType.Int64, device: ctx.Device),
            _ => torch.tensor(a.Ints.ToArray(), dtype: ScalarType.Int64, device: ctx.Device),
        };
        return (_, _) => One(Make());
    }

    private static OnnxKernel ConstantOfShape(OnnxOpContext ctx)
    {
        ctx.Handles("value");
        var proto = ctx.Attribute("value") is { Type: AttrType.Tensor } a ? a.T : null;
        return (i, _) =>
        {
            var shape = ReadLongs(Required(i, 0, ctx));
            if (proto is null) return One(torch.zeros(shape, dtype: ScalarType.Float32, device: ctx.Device));
            using var v = OnnxTorchTensors.ToTorch(proto, ctx.Device);
            if (v.numel() != 1) throw new MlNetTransferException($"{ctx.Describe}: value must hold one element.");
            return One(v.reshape(1).expand(shape.Length == 0 ? [1] : shape).reshape(shape).clone());
        };
    }
}
