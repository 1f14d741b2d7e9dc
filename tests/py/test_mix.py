#!/usr/bin/python3
"""metrix.Metrix: sampling follows the trainer's rules (official = positive-negative or
anchor-negative pairs, k random / hardest negatives, one lambda per batch, seeded and
reproducible), and Metrix.mix equals lambda x_i + (1 - lambda) x_j with the right gradients on
images, feature maps and embeddings (C kernels for float32, torch for other dtypes)."""
import numpy as np

from common import Checks, need_torch

need_torch()
import torch  # noqa: E402

import metrix  # noqa: E402

ck = Checks("test_mix")
torch.manual_seed(0)
n, C = 24, 6
y = torch.arange(n) % C
ya = y.numpy()

# ---- seeded and reproducible; independent of torch's RNG -----------------------------------------
a1, a2 = metrix.Metrix(seed=5).sample(y), metrix.Metrix(seed=5).sample(y)
ck.ok(np.array_equal(a1.array, a2.array), "same seed, same pairs")
torch.manual_seed(123)
a3 = metrix.Metrix(seed=5).sample(y)
ck.ok(np.array_equal(a1.array, a3.array), "torch's seed does not change the draw")
mxs = metrix.Metrix(seed=5)
draws = [mxs.sample(y) for _ in range(20)]
ck.ok(any(not np.array_equal(draws[0].array, d.array) for d in draws[1:]),
      "successive draws differ")

# ---- the official strategy with k random negatives -----------------------------------------------
# (18 rows in 6 classes of 3, 6 singletons: anchor-negative pairs exist for the singletons only)
y = torch.tensor([c // 3 for c in range(18)] + list(range(6, 12)))
ya = y.numpy()
k = 3
kinds = set()
m11 = metrix.Metrix(seed=11, k=k)
for t, p in enumerate(m11.sample(y) for _ in range(30)):
    a = p.array
    ck.ok(len(a) > 0, "draw %d: pairs" % t)
    ck.ok(len(set(a["lambda"].tolist())) == 1, "draw %d: one lambda per batch" % t)
    lam = float(a["lambda"][0])
    ck.ok(0 < lam < 1, "draw %d: lambda in (0, 1)" % t)
    ok_pn = all(ya[r["i"]] == ya[r["anchor"]] and r["i"] != r["anchor"] and
                ya[r["j"]] != ya[r["anchor"]] for r in a)
    ok_an = all(r["i"] == r["anchor"] and ya[r["j"]] != ya[r["anchor"]] for r in a)
    ck.ok(ok_pn or ok_an, "draw %d: all pairs positive-negative, or all anchor-negative" % t)
    kinds.add("posneg" if ok_pn else "anchorneg")
    per_anchor = np.bincount(a["anchor"], minlength=n)
    ck.ok(per_anchor.max() <= k, "draw %d: at most k negatives per anchor" % t)
    ck.ok(p.weight == 0.4, "default weight 0.4")
ck.ok(kinds == {"posneg", "anchorneg"}, "both branches of 'official' occur over 30 batches")

y = torch.arange(n) % C
ya = y.numpy()

# ---- all negatives: needs more room than the first guess of k per anchor --------------------------
pa = metrix.Metrix(seed=2, pairs="posneg", negatives="all").sample(y)
ck.ok(np.all(np.bincount(pa.array["anchor"], minlength=n) == n - n // C),
      "posneg + all negatives: every negative of every anchor")

# ---- hardest negatives: the k most similar ones ---------------------------------------------------
e = torch.randn(n, 8)
ck.raises(ValueError, lambda: metrix.Metrix(negatives="hardest").sample(y), "hardest needs emb",
          "embeddings")
ph = metrix.Metrix(seed=1, pairs="posneg", negatives="hardest", k=2).sample(y, e)
u = torch.nn.functional.normalize(e, dim=1)
s = (u @ u.T).numpy()
good = True
for a in range(n):
    js = sorted(ph.array["j"][ph.array["anchor"] == a].tolist())
    neg = [j for j in range(n) if ya[j] != ya[a]]
    want = sorted(sorted(neg, key=lambda j: -s[a, j])[:2])
    good &= js == want
ck.ok(good, "posneg + hardest: each anchor's 2 most similar negatives")

# ---- mixing at any level: forward and backward ---------------------------------------------------
p = metrix.Metrix(seed=9).sample(y)
lam = p.lam[:, None]
for shape in ((n, 3, 5, 5), (n, 16, 2, 2), (n, 8)):
    x = torch.randn(*shape, requires_grad=True)
    out = metrix.Metrix.mix(x, p)
    ck.ok(out.shape == (len(p),) + shape[1:], "mix shape %s" % (shape,))
    lamx = lam.reshape((-1,) + (1,) * (len(shape) - 1))
    want = lamx * x[p.i] + (1 - lamx) * x[p.j]
    ck.close(out.detach(), want.detach(), 1e-6, 1e-6, "mix forward %s" % (shape,))
    gout = torch.randn(out.shape)
    (out * gout).sum().backward()
    x2 = x.detach().clone().requires_grad_(True)
    (((lamx * x2[p.i] + (1 - lamx) * x2[p.j])) * gout).sum().backward()
    ck.close(x.grad, x2.grad, 1e-5, 1e-5, "mix backward %s" % (shape,))
x64 = torch.randn(n, 4, dtype=torch.float64, requires_grad=True)
o64 = metrix.Metrix.mix(x64, p)
ck.ok(o64.dtype == torch.float64, "float64 mixes in float64 (torch path)")
ck.close(o64.detach(), metrix.Metrix.mix(x64.detach().float(), p), 1e-6, 1e-6,
         "float64 path = float32 C path")
o64.sum().backward()
ck.ok(x64.grad is not None, "float64 path has gradients")
ck.ok(metrix.Metrix.mix(torch.randn(n, 2), metrix.Pairs([], [], [])).shape == (0, 2),
      "no pairs: empty mix")

# ---- errors ---------------------------------------------------------------------------------------
ck.raises(ValueError, lambda: metrix.Metrix(pairs="pn"), "unknown pairs", "official")
ck.raises(ValueError, lambda: metrix.Metrix(negatives="some"), "unknown negatives", "hardest")
ck.raises(ValueError, lambda: metrix.Metrix(alpha=0), "alpha 0", "alpha > 0")
ck.raises(ValueError, lambda: metrix.Metrix().sample(y.float()), "float labels", "integer")
ck.raises(ValueError, lambda: metrix.Metrix().sample(y.reshape(4, 6)), "2-D labels", "1-D")
ck.raises(ValueError, lambda: metrix.Metrix.mix(torch.randn(3, 2), p), "pairs beyond the batch",
          "outside the batch")
ck.raises(TypeError, lambda: metrix.Metrix.mix(np.zeros((n, 2)), p), "numpy input", "tensor")
ck.done()
