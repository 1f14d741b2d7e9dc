#!/usr/bin/python3
"""PyTorch autograd reference of the fused mixed head (src/nn/mix_head.c), written from the maths of
the Metrix embedding head, not from the C code: M mixed feature maps lambda h_i + (1 - lambda) h_j
are pooled (GAP + GMP summed), passed through Linear(C, d) and L2-normalised (x / sqrt(sum x^2 +
1e-12)); the loss is L = sum(E * R) for a fixed random R. Writes the clean maps (NCHW), the head
parameters, the pairs, R and, from float64 autograd, the mixed embeddings and the gradients of L
w.r.t. W, b and the clean maps to tests/fixtures/nn/mix_head_ref.txt (test_nn_mixhead.c).

Run: /usr/bin/python3 tests/ref/mix_head_ref.py [OUT]"""
import os
import sys

import numpy as np
import torch

N, C, H, W, D = 5, 16, 3, 4, 8


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "fixtures", "nn",
                                                             "mix_head_ref.txt")
    rng = np.random.default_rng(14)
    # float32 inputs (the C side stores floats), computed on in float64
    feat = rng.standard_normal((N, C, H, W)).astype(np.float32)
    wt = (0.3 * rng.standard_normal((D, C))).astype(np.float32)
    b = (0.1 * rng.standard_normal(D)).astype(np.float32)
    # pairs sharing components (every example appears several times), lambda at both ends,
    # one half and random values
    lams = [0.0, 1.0, 0.5] + list(rng.uniform(0, 1, 11))
    pairs = []
    for k, lam in enumerate(lams):
        i = k % N
        j = (i + 1 + (k // N)) % N
        pairs.append((i, j, np.float32(lam)))
    M = len(pairs)
    R = rng.standard_normal((M, D)).astype(np.float32)

    h = torch.tensor(feat, dtype=torch.float64, requires_grad=True)
    wt_t = torch.tensor(wt, dtype=torch.float64, requires_grad=True)
    b_t = torch.tensor(b, dtype=torch.float64, requires_grad=True)
    ii = torch.tensor([p[0] for p in pairs])
    jj = torch.tensor([p[1] for p in pairs])
    lam = torch.tensor([float(p[2]) for p in pairs], dtype=torch.float64).view(M, 1, 1, 1)
    mixed = lam * h[ii] + (1 - lam) * h[jj]  # M x C x H x W
    flat = mixed.flatten(2)
    pooled = flat.mean(2) + flat.max(2).values
    y = pooled @ wt_t.T + b_t
    e = y / torch.sqrt((y * y).sum(1, keepdim=True) + 1e-12)
    loss = (e * torch.tensor(R, dtype=torch.float64)).sum()
    loss.backward()

    def row(a):
        return " ".join("%.17g" % float(v) for v in np.asarray(a, dtype=np.float64).ravel())

    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out + ".tmp", "w") as f:
        f.write("# mix_head_ref.py: n C H W d M, feat (NCHW), W (d x C), b, pairs (i j lambda), R,\n"
                "# emb (M x d), dW, db, dfeat (NCHW); float64 autograd\n")
        f.write("%d %d %d %d %d %d\n" % (N, C, H, W, D, M))
        f.write(row(feat) + "\n" + row(wt) + "\n" + row(b) + "\n")
        for i, j, l in pairs:
            f.write("%d %d %.9g\n" % (i, j, float(l)))
        f.write(row(R) + "\n")
        f.write(row(e.detach().numpy()) + "\n")
        f.write(row(wt_t.grad.numpy()) + "\n" + row(b_t.grad.numpy()) + "\n")
        f.write(row(h.grad.numpy()) + "\n")
    os.replace(out + ".tmp", out)


if __name__ == "__main__":
    main()
