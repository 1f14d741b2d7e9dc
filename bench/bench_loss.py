#!/usr/bin/python3
"""PyTorch autograd peer of `metrix bench loss`: the same embeddings, labels and mixed pairs
(written by `metrix bench loss --save PREFIX`), vectorised torch code for MS (+ miner) and
contrastive (code form), clean and with embedding-level Metrix mixing (mix rows, renormalise,
soft-label mixed loss, backward to the embeddings). The Metrix step also recomputes the clean
similarity and a top-k over the negatives, as the C step does for its hard-negative selection.

usage: bench_loss.py PREFIX N DIM LOSS K ITERS THREADS"""
import sys
import time
import warnings

import numpy as np
import torch
import torch.nn.functional as F


def ms_clean(S, y, b=17.97, g=75.66, m=0.77, eps=0.39):
    n = S.shape[0]
    eye = torch.eye(n, dtype=torch.bool)
    same = y[:, None] == y[None, :]
    pos, neg = same & ~eye, ~same
    Sd = S.detach()
    inf = torch.tensor(float("inf"))
    maxneg = torch.where(neg, Sd, -inf).max(1).values
    minpos = torch.where(pos, Sd, inf).min(1).values
    pk = pos & (Sd - eps < maxneg[:, None])
    nk = neg & (Sd + eps > minpos[:, None])
    z0 = S.new_zeros(n, 1)
    lp = torch.logsumexp(torch.cat([torch.where(pk, -b * (S - m), -inf), z0], 1), 1) / b
    ln = torch.logsumexp(torch.cat([torch.where(nk, g * (S - m), -inf), z0], 1), 1) / g
    return (lp + ln).mean()


def scatter_log1p(w, z, a, n):
    """per anchor log(1 + sum_{k: a_k = a} w_k e^{z_k}), stable (shift detached)"""
    zm = torch.zeros(n).scatter_reduce(0, a, torch.where(w > 0, z, torch.zeros_like(z)).detach(),
                                       "amax", include_self=True)
    t = w * torch.exp(z - zm[a])
    den = torch.exp(-zm).index_add(0, a, t)
    return zm + torch.log(den)


def ms_mixed(E, V, a, yk, b=17.97, g=75.66, m=0.77):
    n = E.shape[0]
    s = (E[a] * V).sum(1)
    return (scatter_log1p(yk, -b * (s - m), a, n) / b
            + scatter_log1p(1 - yk, g * (s - m), a, n) / g).mean()


def avg_nonzero(v):
    nz = (v > 0).sum()
    return v.sum() / nz if int(nz) > 0 else v.sum() * 0


def cont_clean(S, y, nm=0.5):
    n = S.shape[0]
    eye = torch.eye(n, dtype=torch.bool)
    same = y[:, None] == y[None, :]
    D = torch.sqrt(torch.where(eye, torch.ones_like(S), 2 - 2 * S).clamp_min(1e-12))
    return (avg_nonzero(torch.where(same & ~eye, D, torch.zeros_like(D)))
            + avg_nonzero(torch.where(~same, torch.relu(nm - D), torch.zeros_like(D))))


def cont_mixed(E, V, a, yk, nm=0.5):
    d = (E[a] - V).norm(dim=1)
    return avg_nonzero(yk * d) + avg_nonzero((1 - yk) * torch.relu(nm - d))


def main():
    prefix, n, d, loss, k, iters, threads = sys.argv[1], *map(int, sys.argv[2:4]), sys.argv[4], \
        *map(int, sys.argv[5:8])
    torch.set_num_threads(threads)
    warnings.filterwarnings("ignore", message="scatter_reduce")
    e0 = torch.from_numpy(np.fromfile(prefix + ".emb.f32", dtype=np.float32).reshape(n, d))
    y = torch.from_numpy(np.fromfile(prefix + ".labels.i64", dtype=np.int64))
    pr = np.loadtxt(prefix + ".pairs.txt", ndmin=2)
    pi, pj = torch.tensor(pr[:, 0], dtype=torch.long), torch.tensor(pr[:, 1], dtype=torch.long)
    lam = torch.tensor(pr[:, 2], dtype=torch.float32)
    pa = torch.tensor(pr[:, 3], dtype=torch.long)
    yk = lam * (y[pi] == y[pa]).float() + (1 - lam) * (y[pj] == y[pa]).float()
    if loss == "ms":
        fc, fm = ms_clean, ms_mixed
    elif loss == "contrastive":
        fc, fm = cont_clean, cont_mixed
    else:
        print("bench_loss.py: only ms and contrastive have a torch peer", file=sys.stderr)
        sys.exit(2)
    tc, tm = [], []
    for it in range(iters + 1):
        e = e0.clone().requires_grad_(True)
        t0 = time.perf_counter()
        E = F.normalize(e, dim=1)
        lc = fc(E @ E.T, y)
        lc.backward()
        t1 = time.perf_counter()
        e = e0.clone().requires_grad_(True)
        with torch.no_grad():  # hard-negative selection cost (pairs themselves come from C)
            En = F.normalize(e, dim=1)
            Sn = En @ En.T
            Sn.masked_fill_(y[:, None] == y[None, :], -2.0)
            torch.topk(Sn, k, dim=1)
        E = F.normalize(e, dim=1)
        v = lam[:, None] * e[pi] + (1 - lam[:, None]) * e[pj]
        V = F.normalize(v, dim=1)
        lcc = fc(E @ E.T, y)
        lmm = fm(E, V, pa, yk)
        tot = lcc + 0.4 * lmm
        tot.backward()
        t2 = time.perf_counter()
        if it > 0:
            tc.append(t1 - t0)
            tm.append(t2 - t1)
    print("torch %s: clean loss %.6f; with mixing: total %.6f (clean %.6f, mixed %.6f)"
          % (loss, float(lc), float(tot), float(lcc), float(lmm)))
    print("torch clean seconds: %.6f" % float(np.median(tc)))
    print("torch metrix seconds: %.6f" % float(np.median(tm)))


if __name__ == "__main__":
    main()
