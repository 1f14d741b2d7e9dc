#!/usr/bin/python3
"""Multi-Similarity + Metrix/feature in a plain PyTorch training loop, with metrix from Python.

torchvision's ResNet-18 (random init, 1-channel stem; no downloads) learns 128-d embeddings of
Fashion-MNIST classes 0-4 (Debian's dataset-fashion-mnist, training file) and is evaluated on
classes 5-9 (test file), which it never sees: the split of `metrix train`'s embedded default.
The Metrix part is the five marked lines: sample the pairs, mix the feature maps of the last
stage, embed them with the same head, and give them to the loss with their soft labels.

    PYTHONPATH=python /usr/bin/python3 examples/pytorch_metrix.py           # ~2-3 min on 2 cores
    PYTHONPATH=python /usr/bin/python3 examples/pytorch_metrix.py --short   # a few steps (CI)
"""
import argparse
import gzip
import os
import sys
import time

import numpy as np

try:
    import torch
    import torchvision
except ImportError:
    print("SKIP: needs python3-torch and python3-torchvision")
    sys.exit(77)

import metrix
import metrix.losses

FMNIST = "/usr/share/datasets/fashion-mnist"  # Debian's dataset-fashion-mnist
MEAN, STD = 0.2860, 0.3530                     # metrix's Fashion-MNIST normalisation


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * k:8 + 4 * k], "big") for k in range(ndim)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(split, classes):
    x = read_idx(os.path.join(FMNIST, "%s-images-idx3-ubyte.gz" % split))
    y = read_idx(os.path.join(FMNIST, "%s-labels-idx1-ubyte.gz" % split)).astype(np.int64)
    keep = np.isin(y, classes)
    x = (torch.from_numpy(x[keep].copy()).float().div_(255) - MEAN) / STD
    return x[:, None], torch.from_numpy(y[keep])


class Net(torch.nn.Module):
    """ResNet-18 trunk (feature maps after layer4) and an embedding head (pool + linear)."""

    def __init__(self, dim=128):
        super().__init__()
        r = torchvision.models.resnet18(weights=None)
        r.conv1 = torch.nn.Conv2d(1, 64, 7, 2, 3, bias=False)  # grey images
        self.trunk = torch.nn.Sequential(r.conv1, r.bn1, r.relu, r.maxpool, r.layer1, r.layer2,
                                         r.layer3, r.layer4)
        self.head = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                                        torch.nn.Linear(512, dim))

    def forward(self, x):
        return self.head(self.trunk(x))


def augment(x, gen):
    """pad 2 + random 28x28 crop + horizontal flip (metrix's Fashion-MNIST training transform)"""
    n = x.shape[0]
    p = torch.nn.functional.pad(x, (2, 2, 2, 2), value=-MEAN / STD)
    ox, oy = torch.randint(0, 5, (n,), generator=gen), torch.randint(0, 5, (n,), generator=gen)
    out = torch.stack([p[i, :, oy[i]:oy[i] + 28, ox[i]:ox[i] + 28] for i in range(n)])
    flip = torch.rand(n, generator=gen) < 0.5
    out[flip] = out[flip].flip(-1)
    return out


@torch.no_grad()
def embed(net, x, batch=500):
    net.eval()
    e = torch.cat([net(x[i:i + batch]) for i in range(0, x.shape[0], batch)])
    net.train()
    return e


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--short", action="store_true", help="a few steps on a small test set (CI)")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--steps", type=int, default=100, help="steps per epoch")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    if not os.path.isdir(FMNIST):
        print("SKIP: %s not found (apt-get install dataset-fashion-mnist)" % FMNIST)
        sys.exit(77)
    if a.short:
        a.epochs, a.steps = 1, 3
    torch.manual_seed(a.seed)
    gen = torch.Generator().manual_seed(a.seed)
    xtr, ytr = load("train", [0, 1, 2, 3, 4])
    xte, yte = load("t10k", [5, 6, 7, 8, 9])
    if a.short:
        xte, yte = xte[:500], yte[:500]

    net = Net()
    criterion = metrix.losses.MultiSimilarityLoss()        # the paper's MS (17.97, 75.66, 0.77)
    mixer = metrix.Metrix(alpha=2.0, weight=0.4, pairs="official", negatives="random", k=5,
                          seed=a.seed)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, weight_decay=1e-4)
    print("metrix %s | ResNet-18 (random init), MS + Metrix/feature | train %d images "
          "(classes 0-4), test %d (classes 5-9)" % (metrix.__version__, len(ytr), len(yte)))
    t0 = time.time()
    for epoch in range(1, a.epochs + 1):
        tot = 0.0
        for step in range(a.steps):
            idx = torch.randint(0, len(ytr), (a.batch,), generator=gen)
            images, labels = augment(xtr[idx], gen), ytr[idx]
            feats = net.trunk(images)
            emb = net.head(feats)
            pairs = mixer.sample(labels)                           # Metrix: pairs and lambda
            mixed = net.head(metrix.Metrix.mix(feats, pairs))      # mixed feature maps -> head
            loss = criterion(emb, labels, mixed=mixed, pairs=pairs)  # clean + 0.4 * mixed
            opt.zero_grad()
            loss.backward()
            opt.step()
            tot += float(loss)
        r = metrix.evaluate(embed(net, xte), yte, k=(1, 2, 4, 8))
        print("epoch %d  loss %.4f (mixed part %.4f)  R@1 %.2f  R@2 %.2f  R@4 %.2f  R@8 %.2f  "
              "MAP@R %.2f  NMI %.2f  (%.0f s)" %
              (epoch, tot / a.steps, criterion.last["mixed"], 100 * r["recall"][1],
               100 * r["recall"][2], 100 * r["recall"][4], 100 * r["recall"][8],
               100 * r["map_at_r"], 100 * r["nmi"], time.time() - t0))
    ok = np.isfinite(tot) and 0 <= r["recall"][1] <= 1
    if a.short:  # the untrained test set is 5 balanced classes: chance Recall@1 is ~0.2
        ok = ok and r["recall"][8] >= r["recall"][1] and r["n_query"] == len(yte)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
