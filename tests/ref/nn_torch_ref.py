#!/usr/bin/python3
"""PyTorch reference for the nn module (tests/test_nn_torch*.c).

Builds smallcnn / torchvision resnet18 / resnet50 with the Metrix head (GAP + GMP summed ->
Linear(C, d) -> x / sqrt(sum x^2 + 1e-12)), random weights and BN statistics from a fixed seed,
runs one training-mode forward (BN batch statistics, running stats updated with momentum 0.1;
or with --frozen-bn BN in eval mode) on a random batch, the loss L = sum_ij (E E^T)_ij R_ij with a fixed random R, and backward.
Writes OUT/weights.safetensors (torchvision names, including num_batches_tracked) and
OUT/ref.safetensors (input, R, emb, loss, grad.<name>, after.<running stat>).
--double runs the same weights and batch in float64 (ref.safetensors then holds F64 tensors;
weights.safetensors stays float32, identical to the float run): the ground truth against which
float32 gradients are judged. --input decorrelated draws each example with its own per-channel
offset and scale and smooth structure (default: i.i.d. N(0,1) pixels, which give near-identical
embeddings and ill-conditioned train-mode BN backward in deep nets).
Usage: /usr/bin/python3 nn_torch_ref.py --backbone resnet18 --out DIR [--batch 2 --size 64]
"""
import argparse, json, os, struct

import numpy as np
import torch
import torch.nn as nn
import torchvision


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        a = t.detach().cpu().contiguous().numpy()
        dt = {np.float32: "F32", np.float64: "F64", np.int64: "I64"}[a.dtype.type]
        b = a.tobytes()
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


class Net(nn.Module):
    def __init__(self, backbone, d):
        super().__init__()
        self.backbone = backbone
        if backbone == "smallcnn":
            self.conv1, self.bn1 = nn.Conv2d(1, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32)
            self.conv2, self.bn2 = nn.Conv2d(32, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64)
            self.conv3, self.bn3 = nn.Conv2d(64, 128, 3, padding=1, bias=False), nn.BatchNorm2d(128)
            c = 128
        else:
            r = getattr(torchvision.models, backbone)(weights=None)
            del r.fc
            for k in ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"]:
                setattr(self, k, getattr(r, k))
            c = 512 if backbone == "resnet18" else 2048
        self.embedding = nn.Linear(c, d)
        nn.init.kaiming_normal_(self.embedding.weight, mode="fan_out")
        nn.init.constant_(self.embedding.bias, 0)

    def forward(self, x):
        if self.backbone == "smallcnn":
            x = nn.functional.max_pool2d(torch.relu(self.bn1(self.conv1(x))), 2)
            x = nn.functional.max_pool2d(torch.relu(self.bn2(self.conv2(x))), 2)
            x = torch.relu(self.bn3(self.conv3(x)))
        else:
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        p = x.mean((2, 3)) + x.amax((2, 3))
        y = self.embedding(p)
        return y / torch.sqrt((y * y).sum(1, keepdim=True) + 1e-12)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--backbone", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--batch", type=int, default=0)
    ap.add_argument("--size", type=int, default=0)
    ap.add_argument("--dim", type=int, default=0)
    ap.add_argument("--frozen-bn", action="store_true", help="BN in eval mode (the Metrix default)")
    ap.add_argument("--double", action="store_true", help="forward/backward in float64")
    ap.add_argument("--input", default="iid", choices=["iid", "decorrelated"])
    a = ap.parse_args()
    small = a.backbone == "smallcnn"
    n = a.batch or (4 if small else 2)
    s = a.size or (28 if small else 64)
    d = a.dim or (32 if small else 64)
    torch.manual_seed(1234)
    net = Net(a.backbone, d)
    with torch.no_grad():  # non-trivial BN parameters and statistics
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.3, 0.3)
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    os.makedirs(a.out, exist_ok=True)
    sd = net.state_dict()
    write_safetensors(os.path.join(a.out, "weights.safetensors"), {k: v.clone() for k, v in sd.items()})
    x = torch.randn(n, 1 if small else 3, s, s)
    R = torch.randn(n, n)
    if a.input == "decorrelated":  # per-example offset, scale and low-frequency structure
        c = x.shape[1]
        g = torch.Generator().manual_seed(99)
        u = torch.linspace(-1, 1, s)
        f = torch.rand(n, c, 2, 2, generator=g) * 6
        ph = torch.rand(n, c, 2, generator=g) * 6.3
        smooth = (torch.sin(f[:, :, 0, 0, None, None] * u[:, None] + f[:, :, 0, 1, None, None] * u
                            + ph[:, :, 0, None, None])
                  + torch.cos(f[:, :, 1, 0, None, None] * u[:, None] - f[:, :, 1, 1, None, None] * u
                              + ph[:, :, 1, None, None]))
        off = torch.randn(n, c, 1, 1, generator=g)
        scale = 0.25 + 1.5 * torch.rand(n, 1, 1, 1, generator=g)
        x = off + scale * (smooth + 0.5 * x)
    if a.double:
        net.double()
        x, R = x.double(), R.double()
    net.train(not a.frozen_bn)
    e = net(x)
    loss = ((e @ e.t()) * R).sum()
    loss.backward()
    out = {"input": x.float() if a.double else x, "R": R.float() if a.double else R, "emb": e, "loss": loss.reshape(1)}
    for k, p in net.named_parameters():
        out["grad." + k] = p.grad
    for k, v in net.state_dict().items():
        if "running" in k:
            out["after." + k] = v
    write_safetensors(os.path.join(a.out, "ref.safetensors"), out)
    print(f"{a.backbone}: n={n} size={s} d={d} loss={loss.item():.6f} -> {a.out}")


if __name__ == "__main__":
    main()
