"""Input conversion shared by the numpy-facing functions (evaluate, knn): accepts numpy arrays,
lists and CPU torch tensors; returns C-contiguous float32 / int64 numpy arrays or raises a
TypeError / ValueError naming the argument."""
import numpy as np


def to_numpy(x, name):
    if hasattr(x, "detach") and hasattr(x, "device"):  # a torch tensor, without importing torch
        if x.device.type != "cpu":
            raise ValueError("metrix: %s is on %s; metrix runs on the CPU (pass %s.cpu())" %
                             (name, x.device, name))
        x = x.detach().numpy()
    return np.asarray(x)


def f32_matrix(x, name):
    """(N, D) float array -> C-contiguous float32 (a copy only if needed); finite values only."""
    a = to_numpy(x, name)
    if a.dtype.kind not in "fiu":
        raise TypeError("metrix: %s must hold real numbers, got dtype %s" % (name, a.dtype))
    if a.ndim != 2 or a.shape[0] < 1 or a.shape[1] < 1:
        raise ValueError("metrix: %s must have shape (N, D) with N, D >= 1, got %s" %
                         (name, tuple(a.shape)))
    a = np.ascontiguousarray(a, dtype=np.float32)
    bad = ~np.isfinite(a)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise ValueError("metrix: %s row %d, column %d: %r is not finite" % (name, r, c, a[r, c]))
    return a


def i64_labels(y, n, name):
    """(N,) integer labels -> C-contiguous int64."""
    a = to_numpy(y, name)
    if a.dtype.kind not in "iu":
        raise TypeError("metrix: %s must be integer class ids, got dtype %s" % (name, a.dtype))
    if a.ndim != 1 or a.shape[0] != n:
        raise ValueError("metrix: %s must have shape (%d,), got %s" % (name, n, tuple(a.shape)))
    return np.ascontiguousarray(a, dtype=np.int64)
