"""Accuracy peer: a plain PyTorch fine-tune of the same network on the same split, to tell whether a gap between auto and
"a plain PyTorch fine-tune" comes from too few epochs or from the recipe.

The network is the one FineTuneBench exports (`speed --work DIR`: the dequantized backbone with a new random head, pixels
0..255 at the exported size -> logits, normalisation and centre crop baked in), run by torch_epoch.OnnxNet. Images come
from DATA/train and DATA/val (and DATA/test when present) as class folders, the split our CLI uses for pre-split data.

Recipes (PyTorch's own transfer-learning tutorial is the plain one):
  tutorial  SGD lr 0.001 momentum 0.9, StepLR(step 7, gamma 0.1), RandomResizedCrop + horizontal flip, plain cross-entropy,
            every layer after the freeze point at the same rate, no head warm-up.
  adamw     AdamW lr 3e-4 (weight decay 0.01) for every trainable layer, cosine to 0 over the epochs, label smoothing 0.1.
PyTorch at its CPU best: channels_last input and weights, the frozen prefix under no_grad, THREADS intra-op threads,
DataLoader workers decoding in parallel.

Usage: torch_finetune.py MODEL_DIR DATA FREEZE EPOCHS [--recipe tutorial|adamw] [--threads 2] [--seed 42] [--batch 32]
Prints one line per epoch (train loss, validation accuracy, seconds) and a final JSON line.
"""
import argparse
import json
import math
import os
import sys
import time

import onnx
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_epoch import OnnxNet  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model_dir")
    ap.add_argument("data")
    ap.add_argument("freeze", type=float)
    ap.add_argument("epochs", type=int)
    ap.add_argument("--recipe", choices=["tutorial", "adamw"], default="tutorial")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)

    meta = dict(line.split("=", 1) for line in open(os.path.join(a.model_dir, "meta.txt")).read().split())
    size = int(meta["size"])
    constant_nodes = set(meta.get("constant_nodes", "").split(",")) - {""}
    net = OnnxNet(onnx.load(os.path.join(a.model_dir, "model.onnx")), constant_nodes)
    for p in net.params.values():
        if p.dim() == 4:
            p.data = p.data.contiguous(memory_format=torch.channels_last)

    to255 = transforms.Lambda(lambda t: t * 255.0)  # the graph normalises 0..255 pixels itself
    train_tf = transforms.Compose([transforms.RandomResizedCrop(size), transforms.RandomHorizontalFlip(), transforms.ToTensor(), to255])
    eval_tf = transforms.Compose([transforms.Resize(size), transforms.CenterCrop(size), transforms.ToTensor(), to255])
    rgb = lambda path: datasets.folder.pil_loader(path)  # noqa: E731
    train = datasets.ImageFolder(os.path.join(a.data, "train"), train_tf, loader=rgb)
    splits = {s: datasets.ImageFolder(os.path.join(a.data, s), eval_tf, loader=rgb)
              for s in ("val", "test") if os.path.isdir(os.path.join(a.data, s))}
    g = torch.Generator().manual_seed(a.seed)
    train_loader = DataLoader(train, batch_size=a.batch, shuffle=True, num_workers=a.workers, generator=g, persistent_workers=a.workers > 0)
    eval_loaders = {s: DataLoader(d, batch_size=64, num_workers=a.workers) for s, d in splits.items()}

    # Freeze like FineTuneBench: parameter groups input side first, the head is the last group.
    freeze_from = int(math.floor(a.freeze * (len(net.groups) - 1) + 1e-9))
    trainable = {k for grp in net.groups[freeze_from:] for k in grp}
    for k, p in net.params.items():
        p.requires_grad = k in trainable
    params = [p for p in net.params.values() if p.requires_grad]
    steps = a.epochs * len(train_loader)
    if a.recipe == "tutorial":
        opt = torch.optim.SGD(params, lr=0.001, momentum=0.9)
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=7 * len(train_loader), gamma=0.1)
        smoothing = 0.0
    else:
        decay = [p for p in params if p.dim() > 1]
        rest = [p for p in params if p.dim() <= 1]
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": rest, "weight_decay": 0.0}], lr=3e-4)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
        smoothing = 0.1
    prefix_end = net.first_trainable_node()

    def evaluate(loader):
        correct = total = 0
        with torch.no_grad():
            for x, y in loader:
                pred = net(x.contiguous(memory_format=torch.channels_last)).argmax(1)
                correct += (pred == y).sum().item()
                total += len(y)
        return correct / total

    history, start = [], time.perf_counter()
    for epoch in range(1, a.epochs + 1):
        began, losses = time.perf_counter(), []
        for x, y in train_loader:
            loss = F.cross_entropy(net(x.contiguous(memory_format=torch.channels_last), prefix_end), y, label_smoothing=smoothing)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
        val = evaluate(eval_loaders["val"]) if "val" in eval_loaders else None
        row = {"epoch": epoch, "trainLoss": sum(losses) / len(losses), "validationAccuracy": val,
               "seconds": time.perf_counter() - began}
        history.append(row)
        print(json.dumps(row), flush=True)
    result = {"recipe": a.recipe, "freeze": a.freeze, "trainableGroups": len(net.groups) - freeze_from, "epochs": a.epochs,
              "seed": a.seed, "seconds": time.perf_counter() - start, "validationAccuracy": history[-1]["validationAccuracy"]}
    if "test" in eval_loaders:
        result["testAccuracy"] = evaluate(eval_loaders["test"])
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
