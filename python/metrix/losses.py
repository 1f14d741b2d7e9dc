"""Metric-learning losses as torch.nn.Modules over the C losses (include/metrix/loss.h), clean and
with the Metrix mixed terms:

    loss = criterion(embeddings, labels)                              # the clean loss
    loss = criterion(embeddings, labels, mixed=mixed, pairs=pairs)    # clean + w * mixed

embeddings (n, d) and mixed (m, d) are normalised inside the loss (with its backward); labels (n,)
class ids (in [0, num_classes) for proxy losses); pairs from metrix.Metrix.sample, mixed its rows
(mixed at any level: metrix.Metrix.mix on images, feature maps or embeddings, then the network),
weight w = pairs.weight. Mixed row r gets the soft label lambda [y_i = y_a] + (1 - lambda) [y_j = y_a]
against anchor a. Forward computes the gradients too (mx_loss_compute); backward scales them.

Tensors: CPU only (a CUDA tensor is an error: move it with .cpu()); float64 / float16 / bfloat16
inputs are converted to float32 (gradients flow back in the input's dtype). `last` holds the
clean / mixed parts and term counts of the latest call."""
import ctypes

import numpy as np
import torch

from . import _lib
from ._lib import lib
from .mixing import Pairs

__all__ = ["ContrastiveLoss", "MultiSimilarityLoss", "ProxyAnchorLoss", "TripletLoss",
           "ProxyNCALoss", "loss_reference"]

_KIND = {"contrastive": 0, "contrastive_cos": 1, "ms": 2, "proxy_anchor": 3, "triplet": 4,
         "proxy_nca": 5}
_MINING = {"all": 0, "semihard": 1, "hardest": 2}
_F, _I = ctypes.c_float, ctypes.c_int64


def _fptr(t):
    return ctypes.cast(t.data_ptr(), ctypes.POINTER(ctypes.c_float)) if t is not None else None


class _Handle:
    """An mx_loss planned for (max_n, max_m, d, C); re-planned when a batch outgrows it."""

    def __init__(self):
        self.p, self.dims, self.cfg = ctypes.c_void_p(), None, None

    def get(self, cfg, n, m, d, C):
        key = bytes(cfg)
        if self.p and self.dims[0] >= n and self.dims[1] >= m and self.dims[2:] == (d, C):
            if key != self.cfg:
                _lib.check(lib.mx_loss_set_config(self.p, ctypes.byref(cfg)))
                self.cfg = key
            return self.p
        self.free()
        dims = (max(n, self.dims[0] if self.dims else 0), max(m, n), d, C)
        _lib.check(lib.mx_loss_create(ctypes.byref(cfg), dims[0], dims[1], d, C,
                                      ctypes.byref(self.p)))
        self.dims, self.cfg = dims, key
        return self.p

    def free(self):
        if self.p:
            lib.mx_loss_free(self.p)
            self.p = ctypes.c_void_p()

    def __del__(self):
        if lib is not None:
            self.free()


class _LossFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, emb, mixed, proxies, handle, cfg, labels, pairs_array, result):
        n, d = emb.shape
        m = 0 if mixed is None else mixed.shape[0]
        C = 0 if proxies is None else proxies.shape[0]
        p = handle.get(cfg, n, m, d, C)
        emb = emb.detach().contiguous()
        mixed = None if mixed is None else mixed.detach().contiguous()
        proxies = None if proxies is None else proxies.detach().contiguous()
        g = [torch.zeros_like(t) if t is not None else None for t in (emb, mixed, proxies)]
        res = _lib.LossResult()
        _lib.check(lib.mx_loss_compute(p, n, _fptr(emb), _lib.ptr(labels, _I), _fptr(proxies), m,
                                       _fptr(mixed),
                                       pairs_array.ctypes.data if m else None,
                                       ctypes.byref(res), _fptr(g[0]), _fptr(g[1]), _fptr(g[2])))
        for k in ("total", "clean", "mixed", "n_clean_terms", "n_mixed_terms"):
            result[k] = getattr(res, k)
        ctx.grads = g
        return torch.tensor(res.total, dtype=torch.float32)

    @staticmethod
    def backward(ctx, grad):
        g = [None if t is None else grad * t for t in ctx.grads]
        return g[0], g[1], g[2], None, None, None, None, None


def _as_cpu_f32(x, name, where):
    if not torch.is_tensor(x):
        raise TypeError("%s: %s must be a torch.Tensor, got %s" % (where, name, type(x).__name__))
    if x.device.type != "cpu":
        raise ValueError("%s: %s is on %s; metrix losses run on the CPU (pass %s.cpu())" %
                         (where, name, x.device, name))
    if not x.is_floating_point():
        raise TypeError("%s: %s must be a floating-point tensor, got %s" % (where, name, x.dtype))
    return x.float()  # differentiable cast (no-op for float32)


class _MetrixLoss(torch.nn.Module):
    kind = None

    def __init__(self):
        super().__init__()
        self._handle = _Handle()
        self.last = {}

    def _config(self):
        raise NotImplementedError

    def _proxies(self):
        return None

    def forward(self, embeddings, labels, mixed=None, pairs=None):
        where = "metrix.losses.%s" % type(self).__name__
        emb = _as_cpu_f32(embeddings, "embeddings", where)
        if emb.dim() != 2 or emb.shape[0] < 1 or emb.shape[1] < 1:
            raise ValueError("%s: embeddings must have shape (n, d), got %s" %
                             (where, tuple(emb.shape)))
        n, d = emb.shape
        if not torch.is_tensor(labels) or labels.is_floating_point() or labels.is_complex() or \
                labels.dtype == torch.bool:
            raise TypeError("%s: labels must be an integer tensor of class ids" % where)
        if labels.shape != (n,):
            raise ValueError("%s: labels must have shape (%d,), got %s" %
                             (where, n, tuple(labels.shape)))
        y = np.ascontiguousarray(labels.detach().cpu().numpy(), dtype=np.int64)
        if (mixed is None) != (pairs is None):
            raise ValueError("%s: give both mixed and pairs, or neither" % where)
        cfg = self._config()
        arr = None
        if mixed is not None:
            if not isinstance(pairs, Pairs):
                raise TypeError("%s: pairs must be metrix.Pairs (from Metrix.sample)" % where)
            mixed = _as_cpu_f32(mixed, "mixed", where)
            if mixed.dim() != 2 or mixed.shape != (len(pairs), d):
                raise ValueError("%s: mixed must have shape (%d, %d) (one row per pair), got %s" %
                                 (where, len(pairs), d, tuple(mixed.shape)))
            pairs.check(n, where)
            cfg.mix_weight = pairs.weight
            arr = pairs.array
            if len(pairs) == 0:
                mixed = None
        prox = self._proxies()
        if prox is not None:
            if prox.shape[1] != d:
                raise ValueError("%s: embeddings have dimension %d, the proxies %d "
                                 "(embedding_size)" % (where, d, prox.shape[1]))
            C = prox.shape[0]
            if y.min() < 0 or y.max() >= C:
                raise ValueError("%s: labels must lie in [0, %d) (num_classes), got [%d, %d]" %
                                 (where, C, y.min(), y.max()))
            prox = _as_cpu_f32(prox, "proxies", where)
        self.last = {}
        return _LossFunction.apply(emb, mixed, prox, self._handle, cfg, y, arr, self.last)


class ContrastiveLoss(_MetrixLoss):
    """Contrastive loss. form="distance" (the official Metrix code; PML's ContrastiveLoss):
    [d - pos_margin]_+ over positives and [neg_margin - d]_+ over negatives, d the Euclidean
    distance of unit vectors, each averaged over its non-zero terms; form="cosine" (the paper):
    -s over positives + [s - neg_margin]_+ over negatives, mean over anchors."""

    def __init__(self, pos_margin=0.0, neg_margin=0.5, form="distance"):
        super().__init__()
        if form not in ("distance", "cosine"):
            raise ValueError("ContrastiveLoss: form=%r, expected 'distance' or 'cosine'" % form)
        self.pos_margin, self.neg_margin, self.form = pos_margin, neg_margin, form

    def _config(self):
        c = lib.mx_loss_config_default(_KIND["contrastive" if self.form == "distance" else
                                             "contrastive_cos"])
        c.pos_margin, c.neg_margin = self.pos_margin, self.neg_margin
        return c


class MultiSimilarityLoss(_MetrixLoss):
    """Multi-Similarity loss (Wang et al. 2019) with PML's names: alpha the positive scale, beta
    the negative scale, base the margin; miner=True applies the MS miner (epsilon) to the clean
    pairs (never to mixed ones). Defaults are the Metrix paper's tuned values (17.97, 75.66,
    0.77, 0.39); the original / PML ones are alpha 2, beta 50, base 0.5, epsilon 0.1."""

    def __init__(self, alpha=17.97, beta=75.66, base=0.77, epsilon=0.39, miner=True):
        super().__init__()
        self.alpha, self.beta, self.base, self.epsilon, self.miner = alpha, beta, base, epsilon, \
            miner

    def _config(self):
        c = lib.mx_loss_config_default(_KIND["ms"])
        c.ms_beta, c.ms_gamma, c.ms_margin = self.alpha, self.beta, self.base
        c.ms_eps, c.ms_miner = self.epsilon, int(bool(self.miner))
        return c


class TripletLoss(_MetrixLoss):
    """Triplet margin loss on Euclidean distances of unit vectors, AvgNonZero; mining "all",
    "semihard" or "hardest" (batch-hard). Mixed rows act as weighted positives / negatives."""

    def __init__(self, margin=0.05, mining="all"):
        super().__init__()
        if mining not in _MINING:
            raise ValueError("TripletLoss: mining=%r, expected one of %s" %
                             (mining, ", ".join(_MINING)))
        self.margin, self.mining = margin, mining

    def _config(self):
        c = lib.mx_loss_config_default(_KIND["triplet"])
        c.triplet_margin, c.triplet_mining = self.margin, _MINING[self.mining]
        return c


class _ProxyLoss(_MetrixLoss):
    def __init__(self, num_classes, embedding_size):
        super().__init__()
        if int(num_classes) < 1 or int(embedding_size) < 1:
            raise ValueError("%s: num_classes and embedding_size must be >= 1" %
                             type(self).__name__)
        self.num_classes, self.embedding_size = int(num_classes), int(embedding_size)
        # PML / the official code: Kaiming normal, fan_out = num_classes (torch's RNG)
        self.proxies = torch.nn.Parameter(torch.empty(self.num_classes, self.embedding_size))
        torch.nn.init.kaiming_normal_(self.proxies, mode="fan_out")

    def _proxies(self):
        return self.proxies


class ProxyAnchorLoss(_ProxyLoss):
    """ProxyAnchor (Kim et al. 2020): proxies (num_classes, embedding_size) are a Parameter
    (give them their own learning rate, e.g. 100x). Mixed rows score against every proxy."""

    def __init__(self, num_classes, embedding_size, margin=0.1, alpha=32.0):
        super().__init__(num_classes, embedding_size)
        self.margin, self.alpha = margin, alpha

    def _config(self):
        c = lib.mx_loss_config_default(_KIND["proxy_anchor"])
        c.pa_alpha, c.pa_delta = self.alpha, self.margin
        return c


class ProxyNCALoss(_ProxyLoss):
    """ProxyNCA (PML semantics: softmax over all proxies of -softmax_scale ||x - p||^2)."""

    def __init__(self, num_classes, embedding_size, softmax_scale=1.0):
        super().__init__(num_classes, embedding_size)
        self.softmax_scale = softmax_scale

    def _config(self):
        c = lib.mx_loss_config_default(_KIND["proxy_nca"])
        c.nca_scale = self.softmax_scale
        return c


def loss_reference(criterion, embeddings, labels, mixed=None, pairs=None):
    """The naive double-precision C reference (mx_loss_compute_ref) of criterion's loss on the same
    inputs: returns (total, d_embeddings, d_mixed, d_proxies) as float64 numpy (for gradcheck-like
    tests; O(n^2 d), small batches)."""
    cfg = criterion._config()
    e = np.ascontiguousarray(embeddings.detach().cpu().numpy(), dtype=np.float64)
    n, d = e.shape
    y = np.ascontiguousarray(labels.detach().cpu().numpy(), dtype=np.int64)
    m = 0 if mixed is None else len(pairs)
    v = None if mixed is None else np.ascontiguousarray(mixed.detach().numpy(), np.float64)
    if pairs is not None:
        cfg.mix_weight = pairs.weight
    P = criterion._proxies()
    p = None if P is None else np.ascontiguousarray(P.detach().numpy(), np.float64)
    C = 0 if p is None else p.shape[0]
    de, dv = np.zeros_like(e), None if v is None else np.zeros_like(v)
    dp = None if p is None else np.zeros_like(p)
    res = _lib.LossResult()
    D = ctypes.c_double
    _lib.check(lib.mx_loss_compute_ref(ctypes.byref(cfg), n, d, _lib.ptr(e, D), _lib.ptr(y, _I),
                                       C, _lib.ptr(p, D), m, _lib.ptr(v, D),
                                       pairs.array.ctypes.data if m else None, ctypes.byref(res),
                                       _lib.ptr(de, D), _lib.ptr(dv, D), _lib.ptr(dp, D)))
    return res.total, de, dv, dp
