"""Retrieval evaluation (include/metrix/eval.h): exact kNN by cosine similarity and the report of
`metrix eval --json` (Recall@K, MAP@R, R-Precision, NMI, alignment / uniformity, utilization).
numpy only: works without torch (CPU torch tensors are accepted too)."""
import ctypes

import numpy as np

from . import _lib
from ._arrays import f32_matrix, i64_labels
from ._lib import lib


def _normalized(x, name):
    a = f32_matrix(x, name).copy()
    _lib.check(lib.mx_eval_normalize(_lib.ptr(a, ctypes.c_float), a.shape[0], a.shape[1]))
    return a


def knn(queries, gallery=None, k=8, normalize=True):
    """Exact k nearest neighbours by inner product (cosine when normalize, the default).

    queries (Nq, D); gallery (Ng, D), or None for leave-one-out within queries (each query's own
    row excluded). Returns (indices int64 (Nq, k), similarities float32 (Nq, k)), best first, ties
    to the smaller index; when fewer than k candidates exist the tail holds -1 / -inf."""
    k = int(k)
    if k < 1:
        raise ValueError("metrix.knn: k must be >= 1, got %d" % k)
    prep = _normalized if normalize else f32_matrix
    q = prep(queries, "queries")
    g = q if gallery is None else prep(gallery, "gallery")
    if g.shape[1] != q.shape[1]:
        raise ValueError("metrix.knn: queries have dimension %d, gallery %d" %
                         (q.shape[1], g.shape[1]))
    idx = np.empty((q.shape[0], k), np.int64)
    sim = np.empty((q.shape[0], k), np.float32)
    _lib.check(lib.mx_knn(_lib.ptr(q, ctypes.c_float), q.shape[0], _lib.ptr(g, ctypes.c_float),
                          g.shape[0], q.shape[1], k, int(gallery is None),
                          _lib.ptr(idx, ctypes.c_int64), _lib.ptr(sim, ctypes.c_float)))
    return idx, sim


def _report_dict(r):
    out = {"protocol": "query/gallery" if r.query_gallery else "leave-one-out",
           "n_query": r.n_query, "n_gallery": r.n_gallery, "dim": r.dim,
           "n_classes": r.n_classes, "n_lone": r.n_lone,
           "recall": {int(r.k[a]): r.recall[a] for a in range(r.n_k)}}
    if r.has_map_at_r:
        out["map_at_r"], out["r_precision"] = r.map_at_r, r.r_precision
    if r.has_nmi:
        out["nmi"] = r.nmi
    if r.has_align_uniform:
        out["alignment"], out["uniformity"] = r.alignment, r.uniformity
    if r.has_utilization:
        out["utilization"], out["n_train"] = r.utilization, r.n_train
    return out


def evaluate(embeddings, labels, k=(1, 2, 4, 8), gallery=None, gallery_labels=None, train=None,
             map_at_r=True, nmi=True, align_uniform=True, nmi_iters=100, seed=0):
    """Retrieval report of embeddings, as a dict with the keys of `metrix eval --json`:
    protocol, n_query, n_gallery, dim, n_classes, n_lone, recall {K: Recall@K}, map_at_r,
    r_precision, nmi, alignment, uniformity (and utilization, n_train when train is given).

    Leave-one-out (SOP / CUB / Cars protocol): evaluate(E, L). Query/gallery (In-Shop):
    evaluate(Q, QL, gallery=G, gallery_labels=GL). Rows are L2-normalised on a copy; neighbours
    by cosine similarity. seed seeds NMI's k-means++ (the CLI's --seed, default 0: the same
    numbers as `metrix eval --embeddings E.npy --labels L.npy --k 1,2,4,8 --json`)."""
    ks = [int(x) for x in (k if hasattr(k, "__iter__") else [k])]
    if not ks or len(ks) > _lib.MAX_K or ks[0] < 1 or any(b <= a for a, b in zip(ks, ks[1:])):
        raise ValueError("metrix.evaluate: k must be 1 to %d ascending positive integers, got %r" %
                         (_lib.MAX_K, k))
    if (gallery is None) != (gallery_labels is None):
        raise ValueError("metrix.evaluate: give both gallery and gallery_labels, or neither")
    cfg = lib.mx_eval_config_default()
    cfg.n_k = len(ks)
    for a, v in enumerate(ks):
        cfg.k[a] = v
    cfg.map_at_r, cfg.nmi, cfg.align_uniform = int(map_at_r), int(nmi), int(align_uniform)
    cfg.nmi_max_iter = int(nmi_iters)
    q = f32_matrix(embeddings, "embeddings")
    ql = i64_labels(labels, q.shape[0], "labels")
    t = None if train is None else f32_matrix(train, "train")
    if t is not None and t.shape[1] != q.shape[1]:
        raise ValueError("metrix.evaluate: train has dimension %d, embeddings %d" %
                         (t.shape[1], q.shape[1]))
    tp, nt = (_lib.ptr(t, ctypes.c_float), t.shape[0]) if t is not None else (None, 0)
    rng = _lib.rng(seed)
    rep = _lib.EvalReport()
    F, I = ctypes.c_float, ctypes.c_int64
    if gallery is None:
        st = lib.mx_eval_run(_lib.ptr(q, F), _lib.ptr(ql, I), q.shape[0], q.shape[1], tp, nt,
                             ctypes.byref(cfg), ctypes.byref(rng), ctypes.byref(rep))
    else:
        g = f32_matrix(gallery, "gallery")
        gl = i64_labels(gallery_labels, g.shape[0], "gallery_labels")
        if g.shape[1] != q.shape[1]:
            raise ValueError("metrix.evaluate: queries have dimension %d, gallery %d" %
                             (q.shape[1], g.shape[1]))
        st = lib.mx_eval_run_qg(_lib.ptr(q, F), _lib.ptr(ql, I), q.shape[0], _lib.ptr(g, F),
                                _lib.ptr(gl, I), g.shape[0], q.shape[1], tp, nt,
                                ctypes.byref(cfg), ctypes.byref(rng), ctypes.byref(rep))
    _lib.check(st)
    return _report_dict(rep)
