using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace MlNetTransfer.FineTuning;

// Convolution, pooling, normalisation and dense layers.
internal static partial class OnnxTorchOps
{
    /// <summary>Per spatial dimension: padding before and after, and the extra trailing padding ceil_mode needs.</summary>
    private readonly record struct SpatialPads(long[] Begin, long[] End)
    {
        public bool Symmetric => Begin.SequenceEqual(End);
        public bool IsZero => Begin.All(p => p == 0) && End.All(p => p == 0);

        /// <summary>In F.pad's order: last dimension first, (before, after) pairs.</summary>
        public long[] ForTorchPad()
        {
            var r = new long[Begin.Length * 2];
            for (int d = 0; d < Begin.Length; d++)
            {
                r[2 * d] = Begin[Begin.Length - 1 - d];
                r[2 * d + 1] = End[Begin.Length - 1 - d];
            }
            return r;
        }
    }

    /// <summary>The window settings of a Conv / MaxPool / AveragePool node, resolved per input size.</summary>
    private sealed class Window
    {
        public required long[] Kernel, Strides, Dilations;
        public required long[]? Pads;
        public required string AutoPad;
        public required bool CeilMode;

        public static Window Read(OnnxOpContext ctx, long[]? kernel, int spatialRank)
        {
            var k = kernel ?? ctx.Ints("kernel_shape") ?? throw new MlNetTransferException($"{ctx.Describe}: kernel_shape is missing.");
            var w = new Window
            {
                Kernel = k,
                Strides = ctx.Ints("strides") ?? Enumerable.Repeat(1L, k.Length).ToArray(),
                Dilations = ctx.Ints("dilations") ?? Enumerable.Repeat(1L, k.Length).ToArray(),
                Pads = ctx.Ints("pads"),
                AutoPad = ctx.String("auto_pad", "NOTSET"),
                CeilMode = ctx.Int("ceil_mode", 0) == 1,
            };
            if (spatialRank > 0 && k.Length != spatialRank || w.Strides.Length != k.Length || w.Dilations.Length != k.Length
                || w.Pads is not null && w.Pads.Length != 2 * k.Length)
                throw new MlNetTransferException($"{ctx.Describe}: kernel_shape, strides, dilations and pads disagree on the number of spatial dimensions.");
            if (w.AutoPad is not ("NOTSET" or "SAME_UPPER" or "SAME_LOWER" or "VALID"))
                throw ctx.Unsupported($"auto_pad '{w.AutoPad}'");
            return w;
        }

        /// <summary>Explicit padding for an input of the given spatial size, including the extra end padding ceil_mode implies.</summary>
        public SpatialPads Resolve(long[] spatial)
        {
            int n = Kernel.Length;
            var begin = new long[n];
            var end = new long[n];
            for (int d = 0; d < n; d++)
            {
                var effective = (Kernel[d] - 1) * Dilations[d] + 1;
                if (AutoPad is "SAME_UPPER" or "SAME_LOWER")
                {
                    var outSize = (spatial[d] + Strides[d] - 1) / Strides[d];
                    var total = Math.Max(0, (outSize - 1) * Strides[d] + effective - spatial[d]);
                    begin[d] = AutoPad == "SAME_UPPER" ? total / 2 : total - total / 2;
                    end[d] = total - begin[d];
                }
                else if (AutoPad == "NOTSET" && Pads is not null)
                {
                    begin[d] = Pads[d];
                    end[d] = Pads[n + d];
                }
                if (CeilMode)
                {
                    var span = spatial[d] + begin[d] + end[d] - effective;
                    var outSize = (span + Strides[d] - 1) / Strides[d] + 1; // ceil(span / stride) + 1
                    var extra = (outSize - 1) * Strides[d] + effective - (spatial[d] + begin[d] + end[d]);
                    if (extra > 0) end[d] += extra;
                }
            }
            return new SpatialPads(begin, end);
        }
    }

    private static long[] Spatial(Tensor x) => x.shape.Skip(2).ToArray();

    private static OnnxKernel Conv(OnnxOpContext ctx)
    {
        ctx.Handles("auto_pad", "dilations", "group", "kernel_shape", "pads", "strides");
        var group = ctx.Int("group", 1);
        return (i, _) =>
        {
            var x = Required(i, 0, ctx);
            var w = Required(i, 1, ctx);
            var b = Optional(i, 2);
            var kernel = w.shape.Skip(2).ToArray();
            var win = Window.Read(ctx, kernel, (int)x.dim() - 2);
            if (ctx.Ints("kernel_shape") is { } ks && !ks.SequenceEqual(kernel))
                throw new MlNetTransferException($"{ctx.Describe}: kernel_shape [{string.Join(",", ks)}] does not match weight shape [{string.Join(",", w.shape)}].");
            var pads = win.Resolve(Spatial(x));
            var padding = pads.Begin;
            if (!pads.Symmetric)
            {
                x = F.pad(x, pads.ForTorchPad());
                padding = new long[kernel.Length];
            }
            return One(kernel.Length switch
            {
                1 => F.conv1d(x, w, b, win.Strides[0], padding[0], win.Dilations[0], group),
                2 => F.conv2d(x, w, b, win.Strides, padding, win.Dilations, group),
                3 => F.conv3d(x, w, b, win.Strides, padding, win.Dilations, group),
                _ => throw ctx.Unsupported($"a {kernel.Length}-D convolution"),
            });
        };
    }

    private static OnnxKernel MaxPool(OnnxOpContext ctx)
    {
        ctx.Handles("auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads", "storage_order", "strides");
        var win = Window.Read(ctx, null, 0);
        var columnMajor = ctx.Int("storage_order", 0) == 1;
        var wantIndices = ctx.Node.Output.Count > 1 && ctx.Node.Output[1].Length > 0;
        if (win.Kernel.Length is < 1 or > 3) throw ctx.Unsupported($"{win.Kernel.Length}-D pooling");
        return (i, _) =>
        {
            var x = Required(i, 0, ctx);
            var spatial = Spatial(x);
            var pads = win.Resolve(spatial);
            // Lift 1-D pooling to 2-D so one code path serves all ranks.
            var lifted = win.Kernel.Length == 1;
            var k = lifted ? [1, win.Kernel[0]] : win.Kernel;
            var s = lifted ? [1, win.Strides[0]] : win.Strides;
            var d = lifted ? [1, win.Dilations[0]] : win.Dilations;
            var padded = pads.IsZero ? x : F.pad(x, pads.ForTorchPad(), value: LowestValue(x.dtype));
            var input = lifted ? padded.unsqueeze(2) : padded;
            Tensor y, idx;
            if (k.Length == 2) (y, idx) = F.max_pool2d_with_indices(input, k, s, new long[2], d);
            else (y, idx) = F.max_pool3d_with_indices(input, k, s, new long[3], d);
            if (lifted) { y = y.squeeze(2); idx = idx.squeeze(2); }
            if (!wantIndices) return One(y);
            return [y, OnnxIndices(idx, x.shape, Spatial(padded), pads.Begin, columnMajor)];
        };
    }

    /// <summary>torch gives each window's argmax as an offset within its (padded) plane; ONNX wants it within the whole
    /// unpadded tensor, row- or column-major.</summary>
    private static Tensor OnnxIndices(Tensor planeIndex, long[] inputShape, long[] paddedSpatial, long[] padBegin, bool columnMajor)
    {
        var spatial = inputShape.Skip(2).ToArray();
        var planeSize = spatial.Aggregate(1L, (a, v) => a * v);
        var result = torch.zeros_like(planeIndex);
        var rest = planeIndex;
        // Unravel in the padded plane (row-major), shift by the padding, ravel in the original plane.
        var coords = new Tensor[spatial.Length];
        for (int dim = spatial.Length - 1; dim >= 0; dim--)
        {
            coords[dim] = rest.remainder(paddedSpatial[dim]) - padBegin[dim];
            rest = rest.div(paddedSpatial[dim], RoundingMode.floor);
        }
        long stride = 1;
        var order = columnMajor ? Enumerable.Range(0, spatial.Length) : Enumerable.Range(0, spatial.Length).Reverse();
        foreach (var dim in order)
        {
            result = result + coords[dim] * stride;
            stride *= spatial[dim];
        }
        var planes = torch.arange(inputShape[0] * inputShape[1], dtype: ScalarType.Int64, device: planeIndex.device)
            .reshape(new long[] { inputShape[0], inputShape[1] }.Concat(Enumerable.Repeat(1L, spatial.Length)).ToArray());
        return result + planes * planeSize;
    }

    private static double LowestValue(ScalarType t) => t switch
    {
        ScalarType.Byte => byte.MinValue,
        ScalarType.Int8 => sbyte.MinValue,
        ScalarType.Int16 => short.MinValue,
        ScalarType.Int32 => int.MinValue,
        ScalarType.Int64 => long.MinValue,
        _ => double.NegativeInfinity,
    };

    private static OnnxKernel AveragePool(OnnxOpContext ctx)
    {
        ctx.Handles("auto_pad", "ceil_mode", "count_include_pad", "dilations", "kernel_shape", "pads", "strides");
        var win = Window.Read(ctx, null, 0);
        if (win.Dilations.Any(v => v != 1)) throw ctx.Unsupported("a dilated average pool");
        if (win.Kernel.Length is < 1 or > 3) throw ctx.Unsupported($"{win.Kernel.Length}-D pooling");
        var includePad = ctx.Int("count_include_pad", 0) == 1;
        return (i, _) =>
        {
            var x = Required(i, 0, ctx);
            var spatial = Spatial(x);
            var lifted = win.Kernel.Length == 1;
            var k = lifted ? [1, win.Kernel[0]] : win.Kernel;
            var s = lifted ? [1, win.Strides[0]] : win.Strides;
            var pads = win.Resolve(spatial);
            var noCeilPad = new Window { Kernel = win.Kernel, Strides = win.Strides, Dilations = win.Dilations, Pads = win.Pads, AutoPad = win.AutoPad, CeilMode = false }.Resolve(spatial);
            if (pads.IsZero)
            {
                var input = lifted ? x.unsqueeze(2) : x;
                var plain = k.Length == 2 ? F.avg_pool2d(input, k, s) : F.avg_pool3d(input, k, s);
                return One(lifted ? plain.squeeze(2) : plain);
            }
            // Sum over each window of the zero-padded input, divided by how many cells count: the real ones, plus the
            // explicit padding when count_include_pad (never the extra cells ceil_mode adds).
            var padded = F.pad(x, pads.ForTorchPad());
            using var ones = torch.ones(new long[] { 1, 1 }.Concat(spatial).ToArray(), dtype: x.dtype, device: x.device);
            using var counted = includePad ? F.pad(ones, noCeilPad.ForTorchPad(), value: 1) : ones.alias();
            var extra = new SpatialPads(
                includePad ? new long[spatial.Length] : pads.Begin,
                pads.End.Zip(includePad ? noCeilPad.End : new long[spatial.Length], (a, b) => a - b).ToArray());
            using var mask = F.pad(counted, extra.ForTorchPad());
            Tensor SumPool(Tensor t)
            {
                var u = lifted ? t.unsqueeze(2) : t;
                var r = k.Length == 2 ? F.avg_pool2d(u, k, s, divisor_override: 1) : F.avg_pool3d(u, k, s, divisor_override: 1);
                return lifted ? r.squeeze(2) : r;
            }
            using var count = SumPool(mask);
            return One(SumPool(padded) / count);
        };
    }

    private static OnnxKernel GlobalAveragePool(OnnxOpContext ctx)
    {
        ctx.Handles();
        return (i, _) =>
        {
            var x = Required(i, 0, ctx);
            var dims = Enumerable.Range(2, (int)x.dim() - 2).Select(d => (long)d).ToArray();
            return One(x.mean(dims, keepdim: true));
        };
    }

    private static OnnxKernel BatchNormalization(OnnxOpContext ctx)
    {
        ctx.Handles("epsilon", "momentum", "training_mode", "spatial", "is_test", "consumed_inputs");
        if (ctx.Int("spatial", 1) != 1) throw ctx.Unsupported("spatial=0 (per-activation) batch normalization");
        double eps = ctx.Float("epsilon", 1e-5f);
        double momentum = ctx.Float("momentum", 0.9f);
        Scalar keep = momentum, take = 1 - momentum; // captured, so they outlive every call (see ScalarOne)
        var graphTraining = ctx.Int("training_mode", 0) == 1;
        var meanIsState = ctx.HasInput(3) && ctx.IsModuleState(ctx.Node.Input[3]);
        var varIsState = ctx.HasInput(4) && ctx.IsModuleState(ctx.Node.Input[4]);
        var extraOutputs = ctx.Node.Output.Skip(1).Any(o => o.Length > 0);
        return (i, run) =>
        {
            var x = Required(i, 0, ctx);
            var scale = Required(i, 1, ctx);
            var bias = Required(i, 2, ctx);
            var mean = Required(i, 3, ctx);
            var variance = Required(i, 4, ctx);
            var training = graphTraining || run.Training && !ctx.BatchNormFrozen();
            if (!training)
            {
                var y = F.batch_norm(x, mean, variance, scale, bias, training: false, eps: eps);
                return extraOutputs ? [y, mean.alias(), variance.alias()] : One(y);
            }
            // Normalise with the batch statistics (fused, differentiable), then update the running statistics the ONNX
            // way: running = running * momentum + batch * (1 - momentum), with the biased batch variance.
            var yTrain = F.batch_norm(x, null, null, scale, bias, training: true, eps: eps);
            Tensor newMean, newVar, batchMean, batchVar;
            using (torch.no_grad())
            {
                var dims = Enumerable.Range(0, (int)x.dim()).Where(d => d != 1).Select(d => (long)d).ToArray();
                (batchVar, batchMean) = torch.var_mean(x, dims, unbiased: false);
                newMean = (mean * keep).add(batchMean * take, ScalarOne);
                newVar = (variance * keep).add(batchVar * take, ScalarOne);
                if (meanIsState) mean.copy_(newMean);
                if (varIsState) variance.copy_(newVar);
            }
            return extraOutputs ? [yTrain, newMean, newVar, batchMean, batchVar] : One(yTrain);
        };
    }

    private static OnnxKernel Gemm(OnnxOpContext ctx)
    {
        ctx.Handles("alpha", "beta", "transA", "transB", "broadcast");
        float alpha = ctx.Float("alpha", 1f), beta = ctx.Float("beta", 1f);
        bool transA = ctx.Int("transA", 0) == 1, transB = ctx.Int("transB", 0) == 1;
        Scalar scaledBy = alpha;
        return (i, _) =>
        {
            var a = Required(i, 0, ctx);
            var b = Required(i, 1, ctx);
            var c = Optional(i, 2);
            if (a.dim() != 2 || b.dim() != 2)
                throw new MlNetTransferException($"{ctx.Describe}: Gemm needs 2-D A and B, got [{string.Join(",", a.shape)}] and [{string.Join(",", b.shape)}].");
            // The common dense layer y = x W^T + b maps straight onto linear().
            if (!transA && transB && alpha == 1 && beta == 1 && (c is null || c.dim() == 1 && c.shape[0] == b.shape[0]))
                return One(F.linear(a, b, c));
            var ta = transA ? a.t() : a;
            var tb = transB ? b.t() : b;
            if (c is null || beta == 0) return One(alpha == 1 ? torch.matmul(ta, tb) : torch.matmul(ta, tb) * scaledBy);
            return One(torch.addmm(c, ta, tb, beta, alpha));
        };
    }

    private static OnnxKernel MatMul(OnnxOpContext ctx)
    {
        ctx.Handles();
        return (i, _) => One(torch.matmul(Required(i, 0, ctx), Required(i, 1, ctx)));
    }
}
