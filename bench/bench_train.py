#!/usr/bin/python3
"""PyTorch 1.13 side of `metrix bench train`: the same training step on random inputs
(zero_grad, forward with training-mode BN (--bn frozen: eval-mode BN, affine still trained), the Metrix head GAP+GMP -> Linear -> L2 norm, the same
pair loss as tools/bench_train.c, backward, Adam with weight decay 1e-4).
--precision bf16: forward under torch.autocast("cpu", dtype=torch.bfloat16) (PyTorch's own CPU
mixed precision, float master weights; the loss in float), channels_last.
Last line: "train images/s: X". Usage:
  /usr/bin/python3 bench/bench_train.py --backbone resnet50 --batch 32 --input 3x224x224 --steps 5
"""
import argparse, resource, time

import torch
import torch.nn as nn
import torchvision


class Net(nn.Module):
    def __init__(self, backbone, c_in, d):
        super().__init__()
        if backbone == "smallcnn":
            def blk(i, o, pool):
                layers = [nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True)]
                return layers + ([nn.MaxPool2d(2)] if pool else [])
            self.trunk = nn.Sequential(*blk(c_in, 32, True), *blk(32, 64, True), *blk(64, 128, False))
            c = 128
        else:
            r = getattr(torchvision.models, backbone)(weights=None)
            self.trunk = nn.Sequential(r.conv1, r.bn1, r.relu, r.maxpool, r.layer1, r.layer2, r.layer3, r.layer4)
            c = 512 if backbone == "resnet18" else 2048
        self.embedding = nn.Linear(c, d)

    def forward(self, x):
        x = self.trunk(x)
        p = x.mean((2, 3)) + x.amax((2, 3))
        return nn.functional.normalize(self.embedding(p), dim=1, eps=1e-6)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--backbone", default="smallcnn")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--input", default="1x28x28")
    ap.add_argument("--dim", type=int, default=0)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--bn", choices=("train", "frozen"), default="train",
                    help="frozen: BN modules in eval mode, affine parameters still trained")
    ap.add_argument("--channels-last", type=int, default=-1, help="-1: auto (ResNets, or bf16)")
    ap.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    c, h, w = (int(v) for v in a.input.split("x"))
    d = a.dim or (128 if a.backbone == "smallcnn" else 512)
    bf16 = a.precision == "bf16"
    cl = a.channels_last if a.channels_last >= 0 else int(a.backbone != "smallcnn" or bf16)
    net = Net(a.backbone, c, d).train()
    if a.bn == "frozen":
        for mod in net.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.eval()
    x = torch.randn(a.batch, c, h, w)
    if cl:
        net = net.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    n = a.batch
    lab = torch.arange(n) // 4
    W = torch.where(lab[:, None] == lab[None, :], -1.0, 1.0) / (n * (n - 1))
    W.fill_diagonal_(0)
    opt = torch.optim.Adam(net.parameters(), lr=1e-4, weight_decay=1e-4)
    for it in range(a.warmup + a.steps):
        if it == a.warmup:
            t0 = time.perf_counter()
        opt.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            e = net(x)
        e = e.float()
        loss = ((e @ e.t()) * W).sum()
        loss.backward()
        opt.step()
    dt = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"torch {torch.__version__}: {a.backbone} batch {n} input {a.input} threads {a.threads} "
          f"channels_last {cl} bn {a.bn} precision {a.precision}: {a.steps} steps in {dt:.3f} s, loss {loss.item():.6f}")
    print(f"peak RSS: {rss:.1f} MiB")
    print(f"train images/s: {a.steps * n / dt:.2f}")


if __name__ == "__main__":
    main()
