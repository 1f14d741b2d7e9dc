#!/usr/bin/python3
"""metrix.losses against an independent formulation: values and gradients of every loss, clean
and with Metrix pairs of every kind, compared with the float64 torch-autograd reference of
tests/ref/loss_torch_ref.py (written from method.md, not from the C code) and with the C double
reference mx_loss_compute_ref; the full chain Metrix.mix -> network -> loss against plain torch
autograd; dtype conversion and input errors."""
import numpy as np

from common import Checks, need_torch

need_torch()
import torch  # noqa: E402

import loss_torch_ref as ref  # noqa: E402
import metrix  # noqa: E402
from metrix import losses as L  # noqa: E402

ck = Checks("test_losses")
torch.manual_seed(0)
rng = np.random.default_rng(7)


def modules(C, d):
    """(module, reference cfg) pairs covering every loss and option"""
    out = []
    for form, kind in (("distance", "contrastive"), ("cosine", "contrastive_cos")):
        out.append((L.ContrastiveLoss(form=form), ref.default_cfg(kind)))
    cfg = ref.default_cfg("contrastive")
    cfg.update(pos_margin=0.1, neg_margin=0.9)
    out.append((L.ContrastiveLoss(pos_margin=0.1, neg_margin=0.9), cfg))
    out.append((L.MultiSimilarityLoss(), ref.default_cfg("ms")))
    cfg = ref.default_cfg("ms")
    cfg.update(ms_beta=2.0, ms_gamma=50.0, ms_margin=0.5, ms_eps=0.1)
    out.append((L.MultiSimilarityLoss(alpha=2.0, beta=50.0, base=0.5, epsilon=0.1), cfg))
    cfg = dict(cfg, ms_miner=0)
    out.append((L.MultiSimilarityLoss(alpha=2.0, beta=50.0, base=0.5, miner=False), cfg))
    for mining, code in (("all", 0), ("semihard", 1), ("hardest", 2)):
        cfg = ref.default_cfg("triplet")
        cfg.update(triplet_mining=code, triplet_margin=0.2 if code == 1 else 0.05)
        out.append((L.TripletLoss(margin=cfg["triplet_margin"], mining=mining), cfg))
    out.append((L.ProxyAnchorLoss(C, d), ref.default_cfg("proxy_anchor")))
    cfg = ref.default_cfg("proxy_anchor")
    cfg.update(pa_alpha=16.0, pa_delta=0.2)
    out.append((L.ProxyAnchorLoss(C, d, margin=0.2, alpha=16.0), cfg))
    out.append((L.ProxyNCALoss(C, d), ref.default_cfg("proxy_nca")))
    cfg = ref.default_cfg("proxy_nca")
    cfg.update(nca_scale=3.0)
    out.append((L.ProxyNCALoss(C, d, softmax_scale=3.0), cfg))
    return out


def reference(cfg, emb, labels, prox, mixed, plist, w):
    """float64 autograd of the reference formulation -> total, grads (numpy)"""
    cfg = dict(cfg, kind=cfg["kind"], w=w)
    E = torch.tensor(emb.detach().numpy(), dtype=torch.float64, requires_grad=True)
    P = torch.tensor(prox.detach().numpy(), dtype=torch.float64, requires_grad=True) \
        if prox is not None else torch.zeros(1, E.shape[1], dtype=torch.float64)
    V = torch.tensor(mixed.detach().numpy(), dtype=torch.float64, requires_grad=True) \
        if mixed is not None else torch.zeros(0, E.shape[1], dtype=torch.float64)
    tot, _, _ = ref.loss(cfg, E, [int(v) for v in labels], P, V, plist)
    tot.backward()
    g = lambda t: (t.grad if t.grad is not None else torch.zeros_like(t)).numpy()  # noqa: E731
    return float(tot), g(E), g(V) if mixed is not None else None, \
        g(P) if prox is not None else None


# ---- every loss x every pair kind, against both references ---------------------------------------
n_cases = 0
for n, d, C in ((10, 6, 3), (20, 8, 5)):
    for crit, cfg in modules(C, d):
        name = "%s(%s)" % (type(crit).__name__, cfg)
        for kind in ("none", "posneg", "anchorneg", "negneg", "pospos", "all"):
            labels = [int(v) for v in rng.integers(C, size=n)]
            y = torch.tensor(labels)
            emb = torch.tensor(rng.standard_normal((n, d)), dtype=torch.float32,
                               requires_grad=True)
            plist = [] if kind == "none" else ref.make_pairs(rng, labels, kind, n)
            mixed = pairs = None
            if kind != "none":
                pairs = metrix.Pairs([p[0] for p in plist], [p[1] for p in plist],
                                     [p[2] for p in plist], [p[3] for p in plist], weight=0.4)
                base = metrix.Metrix.mix(emb.detach(), pairs)
                mixed = (base + 0.05 * torch.randn(base.shape)).requires_grad_(True)
                plist = [(int(a["i"]), int(a["j"]), float(a["lambda"]), int(a["anchor"]))
                         for a in pairs.array]
            prox = crit.proxies if hasattr(crit, "proxies") else None
            if prox is not None:
                prox.grad = None
            out = crit(emb, y, mixed=mixed, pairs=pairs)
            out.backward()
            w_tot, w_de, w_dv, w_dp = reference(cfg, emb, labels, prox, mixed, plist, 0.4)
            what = "%s n%d %s" % (name, n, kind)
            ck.close(float(out), w_tot, 2e-5, 1e-5, what + ": loss")
            scale = max(1e-3, float(np.abs(w_de).max()))
            ck.close(emb.grad, w_de, 1e-3, 2e-4 * scale, what + ": d_embeddings")
            if mixed is not None:
                ck.close(mixed.grad, w_dv, 1e-3, 2e-4 * max(1e-3, float(np.abs(w_dv).max())),
                         what + ": d_mixed")
            if prox is not None:
                ck.close(prox.grad, w_dp, 1e-3, 2e-4 * max(1e-3, float(np.abs(w_dp).max())),
                         what + ": d_proxies")
            c_tot, c_de, _, _ = L.loss_reference(crit, emb, y, mixed, pairs)
            ck.close(c_tot, w_tot, 1e-7, 1e-9, what + ": C double reference (float32 config) vs torch")
            ck.close(emb.grad, c_de, 1e-3, 2e-4 * max(1e-3, float(np.abs(c_de).max())),
                     what + ": d_embeddings vs mx_loss_compute_ref")
            n_cases += 1
print("%d loss cases" % n_cases)

# ---- the full chain: Metrix.mix at feature level, a shared head, the loss ------------------------
# metrix: x -> trunk (linear) -> features; mixed = head(Metrix.mix(features)); loss(head(features))
# reference: the same network in float64 with plain-torch mixing and the reference loss.
n, f, d, C = 16, 12, 6, 4
labels = [int(v) for v in np.arange(n) % C]
y = torch.tensor(labels)
x = torch.randn(n, 10)
trunk, head = torch.nn.Linear(10, f), torch.nn.Linear(f, d)
mxr = metrix.Metrix(seed=3, negatives="random", k=3)
pairs = mxr.sample(y)
ck.ok(len(pairs) > 0, "Metrix.sample drew pairs")
crit = L.MultiSimilarityLoss()
feats = torch.relu(trunk(x))
loss = crit(head(feats), y, mixed=head(metrix.Metrix.mix(feats, pairs)), pairs=pairs)
loss.backward()
got = [p.grad.clone() for p in (*trunk.parameters(), *head.parameters())]
t64, h64 = [torch.nn.Linear(a, b).double() for a, b in ((10, f), (f, d))]
with torch.no_grad():
    for dst, src in zip((*t64.parameters(), *h64.parameters()),
                        (*trunk.parameters(), *head.parameters())):
        dst.copy_(src.double())
fe = torch.relu(t64(x.double()))
lam = pairs.lam.double()[:, None]
mixed64 = h64(lam * fe[pairs.i] + (1 - lam) * fe[pairs.j])
plist = [(int(a["i"]), int(a["j"]), float(a["lambda"]), int(a["anchor"])) for a in pairs.array]
tot, _, _ = ref.loss(dict(ref.default_cfg("ms"), w=0.4), h64(fe), labels, None, mixed64, plist)
tot.backward()
ck.close(float(loss), float(tot), 2e-5, 1e-5, "chain: loss")
for k, (g, p) in enumerate(zip(got, (*t64.parameters(), *h64.parameters()))):
    ck.close(g, p.grad, 2e-3, 2e-4 * float(p.grad.abs().max()), "chain: parameter %d grad" % k)

# ---- dtypes: float64 in, float64 gradients out; same values as float32 ---------------------------
e64 = torch.randn(12, 5, dtype=torch.float64, requires_grad=True)
y12 = torch.arange(12) % 3
l64 = crit(e64, y12)
l64.backward()
ck.ok(e64.grad is not None and e64.grad.dtype == torch.float64, "float64 input gets float64 grads")
e32 = e64.detach().float().requires_grad_(True)
crit(e32, y12).backward()
ck.close(e64.grad, e32.grad, 1e-6, 1e-7, "float64 input = float32 input")
ck.ok(crit.last["n_clean_terms"] > 0 and crit.last["mixed"] == 0, "last: clean-only call")
# labels of any integer dtype
crit(e32.detach(), y12.int())

# ---- errors: one clear exception naming the problem ----------------------------------------------
e = torch.randn(8, 4)
y8 = torch.arange(8) % 2
pa = L.ProxyAnchorLoss(3, 4)
ck.raises(ValueError, lambda: crit(torch.randn(8), y8), "1-D embeddings", "shape (n, d)")
ck.raises(ValueError, lambda: crit(e, torch.arange(7)), "label count", "shape (8,)")
ck.raises(TypeError, lambda: crit(e, y8.float()), "float labels", "integer tensor")
ck.raises(TypeError, lambda: crit(e.long(), y8), "integer embeddings", "floating-point")
ck.raises(TypeError, lambda: crit(e.numpy(), y8), "numpy embeddings", "torch.Tensor")
ck.raises(ValueError, lambda: crit(e.to("meta"), y8), "non-CPU embeddings", "CPU")
ck.raises(ValueError, lambda: crit(e, y8, mixed=e), "mixed without pairs", "both")
p8 = metrix.Metrix(seed=1).sample(y8)
ck.raises(ValueError, lambda: crit(e, y8, mixed=torch.randn(len(p8) + 1, 4), pairs=p8),
          "mixed rows != pairs", "one row per pair")
ck.raises(TypeError, lambda: crit(e, y8, mixed=e[:2], pairs=[(0, 1, 0.5, 0), (1, 0, 0.5, 1)]),
          "pairs not metrix.Pairs", "metrix.Pairs")
bad = metrix.Pairs([0], [9], [0.5], [0])
ck.raises(ValueError, lambda: crit(e, y8, mixed=e[:1], pairs=bad), "pair index out of batch",
          "outside the batch")
ck.raises(ValueError, lambda: metrix.Pairs([0], [1], [1.5]), "lambda > 1", "[0, 1]")
ck.raises(ValueError, lambda: pa(e, torch.tensor([0, 1, 2, 3, 0, 1, 2, 0])), "label >= C",
          "[0, 3)")
ck.raises(ValueError, lambda: pa(torch.randn(8, 5), y8), "d != embedding_size", "embedding_size")
nan = e.clone()
nan[3, 1] = float("nan")
ck.raises(metrix.MetrixError, lambda: crit(nan, y8), "NaN embeddings", "row 3")
ck.raises(ValueError, lambda: L.TripletLoss(mining="hard"), "unknown mining", "semihard")
ck.done()
