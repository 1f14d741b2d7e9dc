"""metrix: deep metric learning with mixup (Metrix, ICLR 2022) from Python, over libmetrix.so.

    import metrix, metrix.losses
    criterion = metrix.losses.MultiSimilarityLoss()
    mx = metrix.Metrix(seed=0)
    pairs = mx.sample(labels)
    loss = criterion(emb, labels, mixed=head(mx.mix(feats, pairs)), pairs=pairs)
    report = metrix.evaluate(test_emb, test_labels)      # Recall@K, MAP@R, R-Precision, NMI

metrix.evaluate / metrix.knn need numpy only; metrix.losses and metrix.Metrix need torch (CPU
float32 tensors). The C library is found as described in metrix._lib (METRIX_LIBRARY overrides)."""
from ._lib import MetrixError, lib as _clib
from .evaluation import evaluate, knn

__version__ = _clib.mx_version().decode()
__all__ = ["Metrix", "Pairs", "losses", "evaluate", "knn", "set_threads", "build_info",
           "MetrixError", "__version__"]


def set_threads(n):
    """Threads of metrix's loops, oneDNN and OpenBLAS (one OpenMP pool); n <= 0: all cores."""
    return _clib.mx_threads_set(int(n))


def build_info():
    return _clib.mx_build_info().decode()


def __getattr__(name):  # torch-dependent parts load on first use, so evaluate() works without it
    import importlib
    if name in ("Metrix", "Pairs"):
        return getattr(importlib.import_module(".mixing", __name__), name)
    if name == "losses":
        return importlib.import_module(".losses", __name__)
    raise AttributeError("module 'metrix' has no attribute %r" % name)
