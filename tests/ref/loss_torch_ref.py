#!/usr/bin/python3
"""Independent PyTorch autograd reference of the metrix losses (clean + Metrix mixed form), written
from method.md / ecosystem.md §1.9, not from the C code. Writes tests/fixtures/loss/torch_ref.txt:
random batches of several sizes, every loss, every mixing type; loss values and gradients w.r.t.
embeddings, mixed embeddings and proxies (float64).

Run: /usr/bin/python3 tests/ref/loss_torch_ref.py [OUT]   (bench/bench_loss.py imports it)"""
import sys

import numpy as np
import torch

KINDS = {"contrastive": 0, "contrastive_cos": 1, "ms": 2, "proxy_anchor": 3, "triplet": 4,
         "proxy_nca": 5}


def default_cfg(kind):
    return dict(kind=kind, w=0.4, pos_margin=0.0, neg_margin=0.5, ms_beta=17.97, ms_gamma=75.66,
                ms_margin=0.77, ms_eps=0.39, ms_miner=1, pa_alpha=32.0, pa_delta=0.1,
                triplet_margin=0.05, triplet_mining=0, nca_scale=1.0)


def soft_label(p, labels, c):
    i, j, lam, _ = p
    return lam * float(labels[i] == c) + (1 - lam) * float(labels[j] == c)


def dist(a, b):
    return (a - b).norm()


def log1p_wsum_exp(w, z):
    """log(1 + sum w e^z) for w >= 0, via logsumexp with an extra zero logit."""
    keep = w > 0
    if not bool(keep.any()):
        return z.sum() * 0
    zz = torch.cat([z[keep] + torch.log(w[keep]), z.new_zeros(1)])
    return torch.logsumexp(zz, 0)


def anchor_terms(cfg, labels, E, V, pairs):
    """per anchor: clean list [(s, d, y)] and mixed list [(s, d, y)] as tensors"""
    n = E.shape[0]
    clean, mixed = [], []
    for a in range(n):
        cl = [(E[a] @ E[j], dist(E[a], E[j]), float(labels[j] == labels[a]))
              for j in range(n) if j != a]
        mx = [(E[a] @ V[k], dist(E[a], V[k]), soft_label(p, labels, labels[a]))
              for k, p in enumerate(pairs) if p[3] == a or p[3] < 0]
        clean.append(cl)
        mixed.append(mx)
    return clean, mixed


def contrastive(cfg, terms):
    ps, pc, ns, nc = 0, 0, 0, 0
    for lst in terms:
        for s, d, y in lst:
            vp, vn = d - cfg["pos_margin"], cfg["neg_margin"] - d
            if y > 0 and vp > 0:
                ps, pc = ps + y * vp, pc + 1
            if y < 1 and vn > 0:
                ns, nc = ns + (1 - y) * vn, nc + 1
    return (ps / pc if pc else 0) + (ns / nc if nc else 0)


def contrastive_cos(cfg, terms):
    tot = 0
    for lst in terms:
        for s, d, y in lst:
            tot = tot - y * s + (1 - y) * torch.relu(s - cfg["neg_margin"])
    return tot / len(terms)


def ms(cfg, terms, mine):
    b, g, m, eps = cfg["ms_beta"], cfg["ms_gamma"], cfg["ms_margin"], cfg["ms_eps"]
    tot = 0
    for lst in terms:
        if not lst:
            continue
        s = torch.stack([t[0] for t in lst])
        y = torch.tensor([t[2] for t in lst], dtype=s.dtype)
        wp, wn = y.clone(), 1 - y
        if mine:
            sd = s.detach()
            pos, neg = y >= 1, y < 1
            maxneg = sd[neg].max() if bool(neg.any()) else torch.tensor(-float("inf"))
            minpos = sd[pos].min() if bool(pos.any()) else torch.tensor(float("inf"))
            wp = wp * (sd - eps < maxneg).to(s.dtype)
            wn = wn * (sd + eps > minpos).to(s.dtype)
        tot = tot + log1p_wsum_exp(wp, -b * (s - m)) / b + log1p_wsum_exp(wn, g * (s - m)) / g
    return tot / len(terms)


def triplet(cfg, clean, mixed):
    mg, mode = cfg["triplet_margin"], cfg["triplet_mining"]

    def one(wt, dp, dn, acc):
        dpv, dnv = float(dp), float(dn)
        if mode == 1 and not (dnv > dpv and dnv <= dpv + mg):
            return
        v = dp - dn + mg
        if float(v) > 0 and wt > 0:
            acc[0] = acc[0] + wt * v
            acc[1] += 1

    def hardest(cl):
        ps = [t for t in cl if t[2] >= 1]
        ns = [t for t in cl if t[2] < 1]
        hp = max(ps, key=lambda t: float(t[1])) if ps else None
        hn = min(ns, key=lambda t: float(t[1])) if ns else None
        return hp, hn

    accc, accm = [0, 0], [0, 0]
    for a in range(len(clean)):
        cl = clean[a]
        if mode == 2:
            hp, hn = hardest(cl)
            if hp is not None and hn is not None:
                one(1.0, hp[1], hn[1], accc)
            part = [t for t in (hp, hn) if t is not None]
        else:
            for p in cl:
                if p[2] >= 1:
                    for q in cl:
                        if q[2] < 1:
                            one(1.0, p[1], q[1], accc)
            part = cl
        for v in mixed[a]:
            for q in part:
                if q[2] >= 1:
                    one(1 - v[2], q[1], v[1], accm)   # v as a negative of positive q
                else:
                    one(v[2], v[1], q[1], accm)       # v as a positive against negative q
    c = accc[0] / accc[1] if accc[1] else 0
    m = accm[0] / accm[1] if accm[1] else 0
    return c, m


def proxy_anchor(cfg, S, Y):
    """S: (rows, C) similarities, Y: (rows, C) labels in [0, 1]"""
    al, de = cfg["pa_alpha"], cfg["pa_delta"]
    C = S.shape[1]
    has_pos = (Y > 0).any(0)
    pos = sum(log1p_wsum_exp(Y[:, c], -al * (S[:, c] - de)) for c in range(C) if has_pos[c])
    neg = sum(log1p_wsum_exp(1 - Y[:, c], al * (S[:, c] + de)) for c in range(C))
    npos = int(has_pos.sum())
    return (pos / npos if npos else 0) + neg / C


def proxy_nca(cfg, S, Y):
    z = -cfg["nca_scale"] * (2 - 2 * S)
    return -(Y * torch.log_softmax(z, 1)).sum(1).mean()


def loss(cfg, emb, labels, prox, mixed, pairs):
    """returns (total, clean, mixed) as torch scalars"""
    E = torch.nn.functional.normalize(emb, dim=1)
    V = torch.nn.functional.normalize(mixed, dim=1) if len(pairs) else mixed
    k = cfg["kind"]
    zero = emb.sum() * 0
    if k in ("proxy_anchor", "proxy_nca"):
        P = torch.nn.functional.normalize(prox, dim=1)
        C = P.shape[0]
        Yc = torch.nn.functional.one_hot(torch.tensor(labels), C).to(E.dtype)
        Ym = torch.tensor([[soft_label(p, labels, c) for c in range(C)] for p in pairs],
                          dtype=E.dtype).reshape(len(pairs), C)
        f = proxy_anchor if k == "proxy_anchor" else proxy_nca
        lc = f(cfg, E @ P.T, Yc)
        lm = f(cfg, V @ P.T, Ym) if len(pairs) else zero
    else:
        clean, mix = anchor_terms(cfg, labels, E, V, pairs)
        if k == "contrastive":
            lc, lm = contrastive(cfg, clean), contrastive(cfg, mix)
        elif k == "contrastive_cos":
            lc, lm = contrastive_cos(cfg, clean), contrastive_cos(cfg, mix)
        elif k == "ms":
            lc, lm = ms(cfg, clean, cfg["ms_miner"]), ms(cfg, mix, 0)
        else:
            lc, lm = triplet(cfg, clean, mix)
    lc = lc + zero
    lm = lm + zero
    return lc + cfg["w"] * lm, lc, lm


def make_pairs(rng, labels, kind, m):
    n = len(labels)
    out = []
    for _ in range(1000 * m):
        if len(out) == m:
            break
        a = int(rng.integers(n))
        i, j = int(rng.integers(n)), int(rng.integers(n))
        lam = float(np.float32(rng.uniform()))
        ya, yi, yj = labels[a], labels[i], labels[j]
        ok = {"posneg": yi == ya and yj != ya and i != a,
              "anchorneg": i == a and yj != ya,
              "negneg": yi != ya and yj != ya and i != j,
              "pospos": yi == ya and yj == ya and i != a and j != a and i != j,
              "all": yi != yj}[kind]
        if ok:
            out.append((i, j, lam, -1 if kind == "all" else a))
    return out


CONFIGS = [("contrastive", {}), ("contrastive_cos", {}), ("ms", {}),
           ("ms", dict(ms_beta=2.0, ms_gamma=50.0, ms_margin=0.5, ms_eps=0.1)),
           ("ms", dict(ms_miner=0, ms_beta=2.0, ms_gamma=50.0, ms_margin=0.5)),
           ("proxy_anchor", {}), ("proxy_nca", {}), ("triplet", {}),
           ("triplet", dict(triplet_mining=1, triplet_margin=0.2)),
           ("triplet", dict(triplet_mining=2))]


def f32(a):
    """inputs are float32-representable so that the C side reads them exactly"""
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def fmt(a, digits=10):
    return " ".join("%.*g" % (digits, float(x)) for x in np.asarray(a, dtype=np.float64).ravel())


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/loss/torch_ref.txt"
    torch.set_default_dtype(torch.float64)
    rng = np.random.default_rng(2022)
    cases = []
    for ci, (name, over) in enumerate(CONFIGS):
        for n, d, C, mixes in ((10, 6, 3, ("posneg", "anchorneg", "negneg", "pospos", "all")),
                               (24, 8, 5, ("posneg", "all"))):
            for mk in mixes:
                cfg = default_cfg(name)
                cfg.update(over)
                labels = [int(x) for x in rng.integers(C, size=n)]
                emb = torch.tensor(f32(rng.standard_normal((n, d))), requires_grad=True)
                prox = torch.tensor(f32(rng.standard_normal((C, d))), requires_grad=True)
                pairs = make_pairs(rng, labels, mk, n)
                mixed = np.zeros((len(pairs), d))
                e = emb.detach().numpy()
                for k, (i, j, lam, _) in enumerate(pairs):
                    mixed[k] = lam * e[i] + (1 - lam) * e[j] + 0.05 * rng.standard_normal(d)
                mixed = torch.tensor(f32(mixed), requires_grad=True)
                tot, lc, lm = loss(cfg, emb, labels, prox, mixed, pairs)
                tot.backward()
                gm = mixed.grad if mixed.grad is not None else torch.zeros_like(mixed)
                gp = prox.grad if prox.grad is not None else torch.zeros_like(prox)
                cases.append("\n".join([
                    "case cfg%d_%s_%s_n%d kind %d n %d d %d C %d m %d" % (ci, name, mk, n, KINDS[name], n,
                                                                        d, C, len(pairs)),
                    "cfg " + fmt([cfg[x] for x in ("w", "pos_margin", "neg_margin", "ms_beta",
                                                   "ms_gamma", "ms_margin", "ms_eps", "ms_miner",
                                                   "pa_alpha", "pa_delta", "triplet_margin",
                                                   "triplet_mining", "nca_scale")]),
                    "emb " + fmt(emb.detach()), "labels " + " ".join(map(str, labels)),
                    "proxies " + fmt(prox.detach()),
                    "pairs " + " ".join("%d %d %.9g %d" % p for p in pairs),
                    "mixed " + fmt(mixed.detach()),
                    "loss " + fmt([float(tot), float(lc), float(lm)], 15),
                    "d_emb " + fmt(emb.grad), "d_mixed " + fmt(gm), "d_proxies " + fmt(gp)]))
    with open(out, "w") as f:
        f.write("# generated by tests/ref/loss_torch_ref.py (torch %s)\n%d\n" % (torch.__version__,
                                                                                len(cases)))
        f.write("\n".join(cases) + "\n")
    print("wrote %d cases to %s" % (len(cases), out))


if __name__ == "__main__":
    main()
