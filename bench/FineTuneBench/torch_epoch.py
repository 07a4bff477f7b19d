"""PyTorch side of FineTuneBench: the same network, weights, batches and optimizer as the C# side, timed.

Reads the ONNX model the C# side exported (the prepared backbone with its new head, pixels -> logits) and builds the
same network as a torch.nn.Module whose forward runs the graph's nodes with torch.nn.functional, every float weight an
nn.Parameter. Then trains on the exported batches (raw float32 pixels and int64 labels, already augmented by the C#
reader, so both sides see identical inputs) with AdamW, the same parameter groups, learning rates, weight decay and label
smoothing, and prints the first batch's loss (to prove both sides compute the same thing) and images per second.

PyTorch at its best CPU settings (its performance-tuning guide): channels_last memory format for the input and every
4-d weight, the frozen prefix (every node before the first trainable one) run under torch.no_grad(), the thread count
given. `--nchw` keeps the default NCHW layout instead (the configuration earlier benches compared against).

Usage: torch_epoch.py DIR THREADS FREEZE_FROM_GROUP [--nchw]
  DIR holds model.onnx, batches.bin, labels.bin, meta.txt (batch count, batch size, image size, lr, factor, decay, smoothing).
"""
import sys
import time

import numpy as np
import onnx
from onnx import numpy_helper
import torch
import torch.nn.functional as F


class OnnxNet(torch.nn.Module):
    """Runs an ONNX graph of Slice/Conv/Clip/Add/Mul/GlobalAveragePool/Flatten/Gemm nodes with torch ops."""

    def __init__(self, model, constant_nodes):
        super().__init__()
        self.nodes = list(model.graph.node)
        self.input = model.graph.input[0].name
        self.output = model.graph.output[0].name
        inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
        self.params = torch.nn.ParameterDict()
        self.consts = {}
        self.slot = {}
        self.groups = []  # per weighted node, in graph order: list of parameter keys
        for node in self.nodes:
            keys = []
            for i, name in enumerate(node.input):
                if name not in inits or name in self.slot or name in self.consts:
                    continue
                value = torch.from_numpy(np.array(inits[name], copy=True))
                learned = node.op_type in ("Conv", "Gemm") and i in (1, 2) or \
                    node.op_type in ("Add", "Mul") and value.numel() > 1 and node.name not in constant_nodes
                if learned and value.dtype == torch.float32:
                    key = "p%d" % len(self.params)
                    self.params[key] = torch.nn.Parameter(value)
                    self.slot[name] = key
                    keys.append(key)
                else:
                    self.consts[name] = value
            if keys:
                self.groups.append(keys)

    def value(self, env, name):
        if name in env:
            return env[name]
        if name in self.slot:
            return self.params[self.slot[name]]
        return self.consts[name]

    def first_trainable_node(self):
        """Index of the first node reading a parameter that requires grad (len(nodes): only the head trains)."""
        for k, n in enumerate(self.nodes):
            if any(i in self.slot and self.params[self.slot[i]].requires_grad for i in n.input):
                return k
        return len(self.nodes)

    def forward(self, x, prefix_end=0):
        env = {self.input: x}
        if prefix_end > 0:
            with torch.no_grad():
                self.run(env, self.nodes[:prefix_end])
        self.run(env, self.nodes[prefix_end:])
        return env[self.output]

    def run(self, env, nodes):
        for n in nodes:
            a = {at.name: at for at in n.attribute}
            ins = [self.value(env, i) if i else None for i in n.input]
            op = n.op_type
            if op == "Conv":
                pads = list(a["pads"].ints) if "pads" in a else [0, 0, 0, 0]
                assert pads[0] == pads[2] and pads[1] == pads[3], "asymmetric padding"
                y = F.conv2d(ins[0], ins[1], ins[2] if len(ins) > 2 else None,
                             stride=list(a["strides"].ints) if "strides" in a else 1,
                             padding=pads[:2], dilation=list(a["dilations"].ints) if "dilations" in a else 1,
                             groups=a["group"].i if "group" in a else 1)
            elif op == "Clip":
                lo = float(ins[1]) if len(ins) > 1 and ins[1] is not None else None
                hi = float(ins[2]) if len(ins) > 2 and ins[2] is not None else None
                y = torch.clamp(ins[0], lo, hi)
            elif op == "Add":
                y = ins[0] + ins[1]
            elif op == "Mul":
                y = ins[0] * ins[1]
            elif op == "GlobalAveragePool":
                y = ins[0].mean(dim=(2, 3), keepdim=True)
            elif op == "Flatten":
                y = torch.flatten(ins[0], a["axis"].i if "axis" in a else 1)
            elif op == "Gemm":
                assert a["transB"].i == 1
                y = F.linear(ins[0], ins[1], ins[2])
            elif op == "Slice":  # the baked-in centre crop
                if len(ins) > 1:
                    starts, ends = ins[1].tolist(), ins[2].tolist()
                    axes = ins[3].tolist() if len(ins) > 3 and ins[3] is not None else list(range(len(starts)))
                    steps = ins[4].tolist() if len(ins) > 4 and ins[4] is not None else [1] * len(starts)
                else:
                    starts, ends = list(a["starts"].ints), list(a["ends"].ints)
                    axes = list(a["axes"].ints) if "axes" in a else list(range(len(starts)))
                    steps = [1] * len(starts)
                index = [slice(None)] * ins[0].dim()
                for s0, e0, ax, st in zip(starts, ends, axes, steps):
                    index[ax] = slice(s0, e0, st)
                y = ins[0][tuple(index)]
            else:
                raise NotImplementedError(op)
            env[n.output[0]] = y


def main():
    folder, threads, freeze_from = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    channels_last = "--nchw" not in sys.argv[4:]
    torch.set_num_threads(threads)
    meta = dict(line.split("=", 1) for line in open(folder + "/meta.txt").read().split())
    batches, batch, size = int(meta["batches"]), int(meta["batch"]), int(meta["size"])
    lr, factor, decay, smoothing = float(meta["lr"]), float(meta["factor"]), float(meta["decay"]), float(meta["smoothing"])
    constant_nodes = set(meta.get("constant_nodes", "").split(",")) - {""}

    net = OnnxNet(onnx.load(folder + "/model.onnx"), constant_nodes)
    pixels = torch.from_numpy(np.fromfile(folder + "/batches.bin", dtype=np.float32).reshape(batches, batch, 3, size, size))
    layout = torch.channels_last if channels_last else torch.contiguous_format
    if channels_last:
        for p in net.params.values():
            if p.dim() == 4:
                p.data = p.data.contiguous(memory_format=torch.channels_last)
    labels = np.fromfile(folder + "/labels.bin", dtype=np.int64).reshape(batches, batch)

    # Freeze the groups before freeze_from; the head is the last group.
    head = set(net.groups[-1])
    trainable = [k for g in net.groups[freeze_from:] for k in g]
    for k, p in net.params.items():
        p.requires_grad = k in trainable
    groups = []
    for is_head in (True, False):
        ps = [net.params[k] for k in trainable if (k in head) == is_head]
        rate = lr if is_head else lr * factor
        w = [p for p in ps if p.dim() > 1]
        o = [p for p in ps if p.dim() <= 1]
        if w:
            groups.append({"params": w, "lr": rate, "weight_decay": decay})
        if o:
            groups.append({"params": o, "lr": rate, "weight_decay": 0.0})
    opt = torch.optim.AdamW(groups, lr=lr)

    net.train()
    prefix_end = net.first_trainable_node()
    with torch.no_grad():
        first = F.cross_entropy(net(pixels[0].contiguous(memory_format=layout)), torch.from_numpy(labels[0]), label_smoothing=smoothing).item()
    print("first_batch_loss=%.6f" % first)

    def step(b):
        x = pixels[b].contiguous(memory_format=layout)  # the layout change is part of the timed step, as on the C# side
        y = torch.from_numpy(labels[b])
        loss = F.cross_entropy(net(x, prefix_end), y, label_smoothing=smoothing)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    step(0)  # warm-up (allocations, kernel selection), not timed, as on the C# side
    start, cpu = time.perf_counter(), time.process_time()
    for b in range(1, batches):
        step(b)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
    print("images_per_second=%.3f" % ((batches - 1) * batch / seconds))
    print("images_per_cpu_second=%.3f" % ((batches - 1) * batch / cpu_seconds))
    print("seconds=%.3f" % seconds)


if __name__ == "__main__":
    main()
