#!/usr/bin/python3
"""metrix.evaluate / metrix.knn: the same numbers as the C CLI (`metrix eval ... --json`) on the
same .npy files, leave-one-out and query/gallery; knn against brute force in numpy; errors.
Needs numpy only (not torch)."""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

from common import Checks

import metrix  # noqa: E402

ck = Checks("test_eval")
cli = os.environ.get("METRIX_CLI")
if not cli or not os.path.exists(cli):
    print("FAIL: METRIX_CLI must name the metrix binary")
    sys.exit(1)
rng = np.random.default_rng(3)


def clustered(n, d, C):
    y = rng.integers(C, size=n)
    centres = rng.standard_normal((C, d)) * 1.5
    return (centres[y] + rng.standard_normal((n, d))).astype(np.float32), y.astype(np.int64)


def cli_json(args):
    r = subprocess.run([cli, "eval", "--json"] + args, capture_output=True, text=True)
    ck.ok(r.returncode == 0, "metrix eval %s: exit %d (%s)" % (args, r.returncode, r.stderr))
    return json.loads(r.stdout) if r.returncode == 0 else {}


def compare(got, want, what):
    for key, v in want.items():
        if key == "recall":
            ck.ok(set(got["recall"]) == {int(k) for k in v}, what + ": recall cut-offs")
            for kk, r in v.items():
                ck.close(got["recall"][int(kk)], r, 2e-5, 1e-6, "%s: Recall@%s" % (what, kk))
        elif isinstance(v, str):
            ck.ok(got.get(key) == v, "%s: %s %r != %r" % (what, key, got.get(key), v))
        else:
            ck.ok(key in got, "%s: %s missing" % (what, key))
            if key in got:
                ck.close(got[key], v, 2e-5, 1e-6, "%s: %s" % (what, key))
    ck.ok(set(got) == set(want), "%s: keys %s != %s" % (what, sorted(got), sorted(want)))


with tempfile.TemporaryDirectory() as tmp:
    f = lambda name: os.path.join(tmp, name)  # noqa: E731
    e, y = clustered(300, 16, 12)
    t, _ = clustered(100, 16, 12)
    np.save(f("e.npy"), e), np.save(f("y.npy"), y), np.save(f("t.npy"), t)
    want = cli_json(["--embeddings", f("e.npy"), "--labels", f("y.npy"), "--k", "1,2,4,8"])
    got = metrix.evaluate(e, y)
    compare(got, want, "leave-one-out")
    ck.ok(0 < got["recall"][1] < 1 and got["recall"][8] >= got["recall"][1], "recall is sane")
    want = cli_json(["--embeddings", f("e.npy"), "--labels", f("y.npy"), "--k", "1,5,10",
                     "--train-embeddings", f("t.npy"), "--seed", "4"])
    compare(metrix.evaluate(e, y.astype(np.int32), k=(1, 5, 10), train=t, seed=4), want,
            "leave-one-out, utilization, seed 4, int32 labels")
    want = cli_json(["--embeddings", f("e.npy"), "--labels", f("y.npy"), "--k", "1", "--no-nmi",
                     "--no-map-r", "--no-align-uniform"])
    compare(metrix.evaluate(e, y, k=1, nmi=False, map_at_r=False, align_uniform=False), want,
            "metrics switched off")
    q, ql = clustered(120, 8, 10)
    g, gl = clustered(200, 8, 10)
    for name, a in (("q", q), ("ql", ql), ("g", g), ("gl", gl)):
        np.save(f(name + ".npy"), a)
    want = cli_json(["--query-embeddings", f("q.npy"), "--query-labels", f("ql.npy"),
                     "--gallery-embeddings", f("g.npy"), "--gallery-labels", f("gl.npy"),
                     "--k", "1,10,20"])
    compare(metrix.evaluate(q, ql, k=(1, 10, 20), gallery=g, gallery_labels=gl), want,
            "query/gallery")

# ---- knn against brute force ----------------------------------------------------------------------
x = rng.standard_normal((50, 6)).astype(np.float32)
gq = rng.standard_normal((70, 6)).astype(np.float32)
idx, sim = metrix.knn(x, gq, k=5)
u = x / np.linalg.norm(x, axis=1, keepdims=True)
v = gq / np.linalg.norm(gq, axis=1, keepdims=True)
s = u.astype(np.float64) @ v.T.astype(np.float64)
want = np.argsort(-s, axis=1, kind="stable")[:, :5]
ck.ok(np.array_equal(idx, want), "knn query/gallery indices = brute force")
ck.close(sim, np.take_along_axis(s, want, 1), 1e-5, 1e-6, "knn similarities")
idx, _ = metrix.knn(x, k=3)
s = u.astype(np.float64) @ u.T.astype(np.float64)
np.fill_diagonal(s, -np.inf)
ck.ok(np.array_equal(idx, np.argsort(-s, axis=1, kind="stable")[:, :3]),
      "knn leave-one-out excludes self")
idx, sim = metrix.knn(x[:3], k=5)
ck.ok(np.all(idx[:, 2:] == -1) and np.all(np.isinf(sim[:, 2:])), "knn: missing tail is -1 / -inf")
idx, _ = metrix.knn(x, gq, k=4, normalize=False)
ck.ok(np.array_equal(idx, np.argsort(-(x.astype(np.float64) @ gq.T), 1, kind="stable")[:, :4]),
      "knn inner product without normalisation")

# ---- errors ---------------------------------------------------------------------------------------
ck.raises(ValueError, lambda: metrix.evaluate(x[0], np.zeros(6, int)), "1-D embeddings",
          "shape (N, D)")
ck.raises(ValueError, lambda: metrix.evaluate(x, np.zeros(49, int)), "label count", "(50,)")
ck.raises(TypeError, lambda: metrix.evaluate(x, np.zeros(50)), "float labels", "integer")
ck.raises(TypeError, lambda: metrix.evaluate(x.astype(str), np.zeros(50, int)), "string emb",
          "real numbers")
bad = x.copy()
bad[7, 2] = np.inf
ck.raises(ValueError, lambda: metrix.evaluate(bad, np.zeros(50, int)), "Inf", "row 7, column 2")
ck.raises(ValueError, lambda: metrix.evaluate(x, np.zeros(50, int), k=(4, 2)), "k order",
          "ascending")
ck.raises(ValueError, lambda: metrix.evaluate(x, np.zeros(50, int), gallery=gq), "gallery alone",
          "both")
ck.raises(ValueError, lambda: metrix.knn(x, gq[:, :5]), "dimension mismatch", "dimension")
ck.raises(ValueError, lambda: metrix.knn(x, k=0), "k 0", "k must be")
zero = x.copy()
zero[4] = 0
ck.raises(metrix.MetrixError, lambda: metrix.knn(zero), "zero row", "row 4")

# ---- the library is found, or a clear error ------------------------------------------------------
env = dict(os.environ, METRIX_LIBRARY="/nonexistent/libmetrix.so",
           PYTHONPATH=os.path.dirname(os.path.dirname(metrix.__file__)))
r = subprocess.run([sys.executable, "-c", "import metrix"], env=env, capture_output=True,
                   text=True)
ck.ok(r.returncode != 0 and "METRIX_LIBRARY=/nonexistent/libmetrix.so cannot be loaded" in
      r.stderr, "bad METRIX_LIBRARY: clear ImportError (%s)" % r.stderr.strip()[-200:])
try:
    import torch
    e_t = torch.from_numpy(e)
    ck.close(metrix.evaluate(e_t, torch.from_numpy(y))["recall"][1], got["recall"][1], 0, 0,
             "torch tensors accepted")
except ImportError:
    pass
ck.done()
