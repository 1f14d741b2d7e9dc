#!/usr/bin/python3
"""PyTorch reference for tests/test_train_torch_steps.c: S optimizer steps of a whole network.

Builds the network of nn_torch_ref.py (same seed, weights written to OUT/weights.safetensors),
then from those weights runs S steps of Adam (lr 1e-3, L2 weight decay 1e-4, as torch.optim.Adam)
and, from the same weights again, S steps of SGD (lr 0.05, momentum 0.9, Nesterov, weight decay
1e-4) on one fixed batch with the loss L = sum_ij (E E^T)_ij R_ij, BN in training mode. Writes
OUT/steps.safetensors: input, R, loss.adam (S), loss.sgd (S): the loss before each step.
Usage: /usr/bin/python3 train_torch_steps.py --backbone smallcnn --out DIR [--steps 5]
"""
import argparse, copy, os, sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nn_torch_ref import Net, write_safetensors  # noqa: E402


def run(net, x, R, opt, steps):
    losses = []
    net.train(True)
    for _ in range(steps):
        opt.zero_grad()
        e = net(x)
        loss = ((e @ e.t()) * R).sum()
        losses.append(loss.item())
        loss.backward()
        opt.step()
    return torch.tensor(losses, dtype=torch.float32)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--backbone", default="smallcnn")
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=5)
    a = ap.parse_args()
    small = a.backbone == "smallcnn"
    n, s, d = (8, 28, 32) if small else (4, 64, 64)
    torch.manual_seed(4321)
    net = Net(a.backbone, d)
    os.makedirs(a.out, exist_ok=True)
    write_safetensors(os.path.join(a.out, "weights.safetensors"),
                      {k: v.clone() for k, v in net.state_dict().items()})
    x = torch.randn(n, 1 if small else 3, s, s)
    R = torch.randn(n, n)
    net_a, net_s = copy.deepcopy(net), copy.deepcopy(net)
    la = run(net_a, x, R, torch.optim.Adam(net_a.parameters(), lr=1e-3, weight_decay=1e-4), a.steps)
    ls = run(net_s, x, R, torch.optim.SGD(net_s.parameters(), lr=0.05, momentum=0.9, nesterov=True,
                                          weight_decay=1e-4), a.steps)
    write_safetensors(os.path.join(a.out, "steps.safetensors"),
                      {"input": x, "R": R, "loss.adam": la, "loss.sgd": ls})
    print(f"{a.backbone}: adam {la.tolist()} sgd {ls.tolist()}")


if __name__ == "__main__":
    main()
