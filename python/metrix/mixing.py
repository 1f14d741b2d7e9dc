"""Metrix mixing for PyTorch loops (include/metrix/mix.h): which pairs are mixed and with which
lambda (Metrix.sample, the trainer's mx_mixer_sample), and the row mixing with autograd
(Metrix.mix: images, feature maps or embeddings).

    mx = metrix.Metrix(seed=0)
    pairs = mx.sample(labels)                  # (i, j, lambda, anchor) per mixed example
    feats = trunk(images)
    mixed = head(mx.mix(feats, pairs))         # Metrix/feature; mix images for /input
    loss = criterion(head(feats), labels, mixed=mixed, pairs=pairs)
"""
import ctypes

import numpy as np
import torch

from . import _lib
from ._lib import lib

_STRATEGIES = {"official": 0, "posneg_or_anchorneg": 0, "posneg": 1, "anchorneg": 2, "both": 3,
               "negneg": 4, "pospos": 5}
_NEGATIVES = {"all": 0, "hardest": 1, "random": 2}


class Pairs:
    """Mixed examples: row r is lambda[r] * x[i[r]] + (1 - lambda[r]) * x[j[r]], scored against
    batch anchor anchor[r] (-1: every anchor / proxy), its soft label for anchor a being
    lambda [y_i = y_a] + (1 - lambda) [y_j = y_a]. weight is w in loss = clean + w * mixed.
    .array is the numpy structured array (mx_mix_pair layout) handed to the C library."""

    def __init__(self, i, j, lam, anchor=None, weight=0.4):
        i = np.asarray(i, dtype=np.int64).reshape(-1)
        j = np.asarray(j, dtype=np.int64).reshape(-1)
        lam = np.asarray(lam, dtype=np.float32).reshape(-1)
        anchor = (np.full(i.shape, -1, np.int64) if anchor is None else
                  np.asarray(anchor, dtype=np.int64).reshape(-1))
        if not (i.shape == j.shape == lam.shape == anchor.shape):
            raise ValueError("metrix.Pairs: i, j, lam, anchor must have the same length, got "
                             "%d, %d, %d, %d" % (i.size, j.size, lam.size, anchor.size))
        if lam.size and not (np.all(lam >= 0) and np.all(lam <= 1)):
            raise ValueError("metrix.Pairs: lambda must lie in [0, 1]")
        a = np.zeros(i.size, _lib.PAIR_DTYPE)
        a["i"], a["j"], a["lambda"], a["anchor"] = i, j, lam, anchor
        self.array, self.weight = a, float(weight)

    @classmethod
    def _wrap(cls, array, weight):
        p = cls.__new__(cls)
        p.array, p.weight = array, float(weight)
        return p

    def __len__(self):
        return self.array.shape[0]

    @property
    def i(self):
        return torch.from_numpy(self.array["i"].copy())

    @property
    def j(self):
        return torch.from_numpy(self.array["j"].copy())

    @property
    def lam(self):
        return torch.from_numpy(self.array["lambda"].copy())

    @property
    def anchor(self):
        return torch.from_numpy(self.array["anchor"].copy())

    def check(self, n, where):
        """Raises ValueError unless every index refers to a batch of n rows."""
        a = self.array
        if len(a) and (a["i"].min() < 0 or a["j"].min() < 0 or max(a["i"].max(), a["j"].max()) >= n
                       or a["anchor"].min() < -1 or a["anchor"].max() >= n):
            raise ValueError("%s: pairs index rows outside the batch of %d" % (where, n))

    def __repr__(self):
        return "metrix.Pairs(%d mixed, weight %g)" % (len(self), self.weight)


class _MixRows(torch.autograd.Function):
    """out[r] = lam_r x[i_r] + (1 - lam_r) x[j_r] with the C kernels (CPU float32)."""

    @staticmethod
    def forward(ctx, x, pairs_array):
        n, m = x.shape[0], len(pairs_array)
        xc = x.detach().contiguous().reshape(n, -1)
        out = torch.empty((m, xc.shape[1]), dtype=torch.float32)
        lib.mx_mix_rows_forward(m, xc.shape[1], _lib.ptr(xc.numpy(), ctypes.c_float),
                                pairs_array.ctypes.data, _lib.ptr(out.numpy(), ctypes.c_float))
        ctx.pairs, ctx.shape = pairs_array, x.shape
        return out.reshape((m,) + tuple(x.shape[1:]))

    @staticmethod
    def backward(ctx, grad):
        m, n = len(ctx.pairs), ctx.shape[0]
        g = grad.contiguous().reshape(m, -1)
        dx = torch.zeros((n, g.shape[1]), dtype=torch.float32)
        lib.mx_mix_rows_backward(m, g.shape[1], _lib.ptr(g.numpy(), ctypes.c_float),
                                 ctx.pairs.ctypes.data, _lib.ptr(dx.numpy(), ctypes.c_float))
        return dx.reshape(ctx.shape), None


class Metrix:
    """The Metrix pair sampler with the trainer's defaults (train --mix_pairs official
    --mix_negatives random --mix_k 5 --mix_alpha 2 --mix_weight 0.4).

    alpha: lambda ~ Beta(alpha, alpha); weight: w in loss = clean + w * mixed (carried by the
    Pairs to the loss); pairs: official (positive-negative or anchor-negative, 50/50 per batch),
    posneg, anchorneg, both, negneg, pospos; negatives: all, hardest (needs embeddings in sample),
    random; k: negatives per anchor for hardest / random; seed: the sampler's own RNG (draws do
    not touch torch's RNG). For proxy losses (ProxyAnchor, ProxyNCA) the trainer uses k=1."""

    def __init__(self, alpha=2.0, weight=0.4, pairs="official", negatives="random", k=5, seed=0,
                 lambda_per_pair=False, all_positives=False):
        if pairs not in _STRATEGIES:
            raise ValueError("metrix.Metrix: pairs=%r, expected one of %s" %
                             (pairs, ", ".join(_STRATEGIES)))
        if negatives not in _NEGATIVES:
            raise ValueError("metrix.Metrix: negatives=%r, expected one of %s" %
                             (negatives, ", ".join(_NEGATIVES)))
        if not alpha > 0 or int(k) < 1 or not weight >= 0:
            raise ValueError("metrix.Metrix: need alpha > 0, k >= 1, weight >= 0")
        cfg = lib.mx_mix_config_default()
        cfg.alpha, cfg.lambda_per_pair = float(alpha), int(bool(lambda_per_pair))
        cfg.strategy, cfg.neg_select = _STRATEGIES[pairs], _NEGATIVES[negatives]
        cfg.k, cfg.all_positives, cfg.anchor_all = int(k), int(bool(all_positives)), 0
        self._cfg, self.weight, self.negatives = cfg, float(weight), negatives
        self._rng = _lib.rng(seed)
        self._mixer, self._max_n = ctypes.c_void_p(), 0

    def __del__(self):
        if getattr(self, "_mixer", None) and lib is not None:
            lib.mx_mixer_free(self._mixer)

    def sample(self, labels, embeddings=None):
        """Draws lambda and the mixed pairs of a batch (labels: (n,) ints). embeddings (n, d) is
        needed only for negatives="hardest" (clean cosine similarity). Returns Pairs."""
        y = labels.detach().cpu().numpy() if torch.is_tensor(labels) else np.asarray(labels)
        if y.dtype.kind not in "iu" or y.ndim != 1 or y.shape[0] < 1:
            raise ValueError("metrix.Metrix.sample: labels must be a 1-D integer tensor, got %s "
                             "of shape %s" % (y.dtype, tuple(y.shape)))
        y = np.ascontiguousarray(y, dtype=np.int64)
        n = y.shape[0]
        sim = None
        if self.negatives == "hardest":
            if embeddings is None:
                raise ValueError("metrix.Metrix.sample: negatives='hardest' needs the batch "
                                 "embeddings (sample(labels, embeddings))")
            from ._arrays import f32_matrix
            e = f32_matrix(embeddings, "embeddings")
            if e.shape[0] != n:
                raise ValueError("metrix.Metrix.sample: %d embeddings for %d labels" %
                                 (e.shape[0], n))
            unit = np.empty_like(e)
            sim = np.empty((n, n), np.float32)
            F = ctypes.c_float
            lib.mx_mix_cosine(n, e.shape[1], _lib.ptr(e, F), _lib.ptr(unit, F), _lib.ptr(sim, F))
        if n > self._max_n:
            if self._mixer:
                lib.mx_mixer_free(self._mixer)
                self._mixer = ctypes.c_void_p()
            _lib.check(lib.mx_mixer_create(ctypes.byref(self._cfg), n, ctypes.byref(self._mixer)))
            self._max_n = n
        cap = n * (n if self._cfg.neg_select == 0 or self._cfg.strategy == 5 else
                   self._cfg.k + 1)
        m = ctypes.c_int64(0)
        for _ in range(2):
            out = np.zeros(max(cap, 1), _lib.PAIR_DTYPE)
            rng_before = _lib.Rng.from_buffer_copy(self._rng)
            st = lib.mx_mixer_sample(self._mixer, n, _lib.ptr(y, ctypes.c_int64),
                                     _lib.ptr(sim, ctypes.c_float), ctypes.byref(self._rng), cap,
                                     out.ctypes.data, ctypes.byref(m))
            if st != _lib.MX_ERR_SHAPE:
                break
            self._rng, cap = rng_before, m.value  # replay the same draw with room for it
        _lib.check(st)
        return Pairs._wrap(out[:m.value].copy(), self.weight)

    @staticmethod
    def mix(x, pairs):
        """Mixed rows (m, ...) of x (n, ...): lambda x[i] + (1 - lambda) x[j] per pair, with
        autograd to x. CPU float32 runs the C kernels; other dtypes / devices use the same
        expression in torch."""
        if not torch.is_tensor(x) or x.dim() < 1:
            raise TypeError("metrix.Metrix.mix: x must be a tensor of shape (n, ...)")
        pairs.check(x.shape[0], "metrix.Metrix.mix")
        if len(pairs) == 0:
            return x[:0]
        if x.device.type == "cpu" and x.dtype == torch.float32:
            return _MixRows.apply(x, pairs.array)
        i, j = pairs.i.to(x.device), pairs.j.to(x.device)
        lam = pairs.lam.to(device=x.device, dtype=x.dtype).reshape((-1,) + (1,) * (x.dim() - 1))
        return lam * x[i] + (1 - lam) * x[j]
