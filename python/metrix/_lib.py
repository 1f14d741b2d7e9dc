"""ctypes binding of libmetrix.so: finding the library, the C structs, status checking.

Search order for the library (the first that exists is loaded; a failure to load it is an error):
  1. $METRIX_LIBRARY (a path to libmetrix.so*),
  2. the installed location recorded at `cmake --install` time (_install.py: libdir relative to
     this package),
  3. next to the package (python/metrix/libmetrix.so*),
  4. the build tree when running from the source tree with PYTHONPATH=python (build*/ at the
     repository root),
  5. the dynamic loader's search path (libmetrix.so.0: /usr/lib/..., ldconfig, LD_LIBRARY_PATH).
"""
import ctypes
import glob
import os

import numpy as np

_HERE = os.path.dirname(os.path.abspath(__file__))
_SONAME = "libmetrix.so.0"


class MetrixError(RuntimeError):
    """A libmetrix call failed; .status is the mx_status code, the message is mx_errmsg()."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def _candidates():
    try:
        from . import _install  # written by cmake --install
        yield os.path.normpath(os.path.join(_HERE, _install.LIBDIR_FROM_PACKAGE, _SONAME))
    except ImportError:
        pass
    for name in (_SONAME, "libmetrix.so"):
        yield os.path.join(_HERE, name)
    root = os.path.dirname(os.path.dirname(_HERE))  # python/metrix -> repository root
    for d in ["build"] + sorted(glob.glob(os.path.join(root, "build*"))):
        yield os.path.join(root, d, "libmetrix.so")


def _load():
    env = os.environ.get("METRIX_LIBRARY")
    if env:
        try:
            return ctypes.CDLL(env), env
        except OSError as e:
            raise ImportError("metrix: METRIX_LIBRARY=%s cannot be loaded: %s" % (env, e)) from None
    tried = []
    for path in _candidates():
        if os.path.exists(path):
            try:
                return ctypes.CDLL(path), path
            except OSError as e:
                raise ImportError("metrix: %s cannot be loaded: %s" % (path, e)) from None
        tried.append(path)
    try:
        return ctypes.CDLL(_SONAME), _SONAME
    except OSError:
        tried.append(_SONAME + " (dynamic loader search path)")
    raise ImportError("metrix: libmetrix.so not found; tried:\n  " + "\n  ".join(tried) +
                      "\nBuild it (cmake --build build) or set METRIX_LIBRARY=/path/to/libmetrix.so")


lib, path = _load()

# ---- C types (include/metrix/*.h; ctypes applies the platform's natural alignment) -------------
i64 = ctypes.c_int64
f32p = ctypes.POINTER(ctypes.c_float)
f64p = ctypes.POINTER(ctypes.c_double)
i64p = ctypes.POINTER(ctypes.c_int64)
vp = ctypes.c_void_p

MAX_K = 16  # MX_EVAL_MAX_K


class LossConfig(ctypes.Structure):  # mx_loss_config
    _fields_ = [("kind", ctypes.c_int), ("mix_weight", ctypes.c_float),
                ("pos_margin", ctypes.c_float), ("neg_margin", ctypes.c_float),
                ("ms_beta", ctypes.c_float), ("ms_gamma", ctypes.c_float),
                ("ms_margin", ctypes.c_float), ("ms_eps", ctypes.c_float),
                ("ms_miner", ctypes.c_int), ("pa_alpha", ctypes.c_float),
                ("pa_delta", ctypes.c_float), ("triplet_margin", ctypes.c_float),
                ("triplet_mining", ctypes.c_int), ("nca_scale", ctypes.c_float)]


class LossResult(ctypes.Structure):  # mx_loss_result
    _fields_ = [("total", ctypes.c_double), ("clean", ctypes.c_double),
                ("mixed", ctypes.c_double), ("n_clean_terms", i64), ("n_mixed_terms", i64)]


class MixConfig(ctypes.Structure):  # mx_mix_config
    _fields_ = [("alpha", ctypes.c_float), ("lambda_per_pair", ctypes.c_int),
                ("strategy", ctypes.c_int), ("neg_select", ctypes.c_int), ("k", i64),
                ("all_positives", ctypes.c_int), ("anchor_all", ctypes.c_int)]


class Rng(ctypes.Structure):  # mx_rng
    _fields_ = [("s", ctypes.c_uint64 * 4)]


class EvalConfig(ctypes.Structure):  # mx_eval_config
    _fields_ = [("n_k", ctypes.c_int), ("k", i64 * MAX_K), ("map_at_r", ctypes.c_int),
                ("nmi", ctypes.c_int), ("nmi_max_iter", ctypes.c_int),
                ("align_uniform", ctypes.c_int), ("uniformity_t", ctypes.c_double),
                ("stop", ctypes.c_void_p), ("knn", ctypes.c_void_p), ("knn_ctx", ctypes.c_void_p)]


class EvalReport(ctypes.Structure):  # mx_eval_report
    _fields_ = [("query_gallery", ctypes.c_int), ("n_query", i64), ("n_gallery", i64),
                ("dim", i64), ("n_classes", i64), ("n_k", ctypes.c_int), ("k", i64 * MAX_K),
                ("recall", ctypes.c_double * MAX_K), ("n_candidates", i64), ("n_lone", i64),
                ("has_map_at_r", ctypes.c_int), ("map_at_r", ctypes.c_double),
                ("r_precision", ctypes.c_double), ("has_nmi", ctypes.c_int),
                ("nmi", ctypes.c_double), ("has_align_uniform", ctypes.c_int),
                ("alignment", ctypes.c_double), ("uniformity", ctypes.c_double),
                ("has_utilization", ctypes.c_int), ("utilization", ctypes.c_double),
                ("n_train", i64)]


# mx_mix_pair {int64 i, j; float lambda; int64 anchor}: 32 bytes, anchor at offset 24
PAIR_DTYPE = np.dtype({"names": ["i", "j", "lambda", "anchor"],
                       "formats": ["<i8", "<i8", "<f4", "<i8"],
                       "offsets": [0, 8, 16, 24], "itemsize": 32})

_SIGS = {
    "mx_errmsg": (ctypes.c_char_p, []),
    "mx_status_str": (ctypes.c_char_p, [ctypes.c_int]),
    "mx_version": (ctypes.c_char_p, []),
    "mx_build_info": (ctypes.c_char_p, []),
    "mx_threads_set": (ctypes.c_int, [ctypes.c_int]),
    "mx_threads_get": (ctypes.c_int, []),
    "mx_rng_seed": (None, [ctypes.POINTER(Rng), ctypes.c_uint64]),
    "mx_loss_config_default": (LossConfig, [ctypes.c_int]),
    "mx_loss_create": (ctypes.c_int, [ctypes.POINTER(LossConfig), i64, i64, i64, i64,
                                      ctypes.POINTER(vp)]),
    "mx_loss_free": (None, [vp]),
    "mx_loss_set_config": (ctypes.c_int, [vp, ctypes.POINTER(LossConfig)]),
    "mx_loss_compute": (ctypes.c_int, [vp, i64, f32p, i64p, f32p, i64, f32p, vp,
                                       ctypes.POINTER(LossResult), f32p, f32p, f32p]),
    "mx_loss_compute_ref": (ctypes.c_int, [ctypes.POINTER(LossConfig), i64, i64, f64p, i64p, i64,
                                           f64p, i64, f64p, vp, ctypes.POINTER(LossResult), f64p,
                                           f64p, f64p]),
    "mx_loss_proxy_init": (None, [f32p, i64, i64, ctypes.POINTER(Rng)]),
    "mx_mix_config_default": (MixConfig, []),
    "mx_mixer_create": (ctypes.c_int, [ctypes.POINTER(MixConfig), i64, ctypes.POINTER(vp)]),
    "mx_mixer_free": (None, [vp]),
    "mx_mixer_sample": (ctypes.c_int, [vp, i64, i64p, f32p, ctypes.POINTER(Rng), i64, vp,
                                       ctypes.POINTER(i64)]),
    "mx_mix_cosine": (None, [i64, i64, f32p, f32p, f32p]),
    "mx_mix_rows_forward": (None, [i64, i64, f32p, vp, f32p]),
    "mx_mix_rows_backward": (None, [i64, i64, f32p, vp, f32p]),
    "mx_knn": (ctypes.c_int, [f32p, i64, f32p, i64, i64, i64, ctypes.c_int, i64p, f32p]),
    "mx_eval_normalize": (ctypes.c_int, [f32p, i64, i64]),
    "mx_eval_config_default": (EvalConfig, []),
    "mx_eval_run": (ctypes.c_int, [f32p, i64p, i64, i64, f32p, i64, ctypes.POINTER(EvalConfig),
                                   ctypes.POINTER(Rng), ctypes.POINTER(EvalReport)]),
    "mx_eval_run_qg": (ctypes.c_int, [f32p, i64p, i64, f32p, i64p, i64, i64, f32p, i64,
                                      ctypes.POINTER(EvalConfig), ctypes.POINTER(Rng),
                                      ctypes.POINTER(EvalReport)]),
}
for _name, (_res, _args) in _SIGS.items():
    _fn = getattr(lib, _name)
    _fn.restype, _fn.argtypes = _res, _args

MX_ERR_SHAPE = 4


def check(status):
    """Raises MetrixError with mx_errmsg() when a call did not return MX_OK (0)."""
    if status != 0:
        msg = lib.mx_errmsg().decode("utf-8", "replace")
        raise MetrixError(status, "metrix: %s (%s)" % (msg, lib.mx_status_str(status).decode()))


def ptr(a, ctype):
    """Pointer to a C-contiguous numpy array's data (None for None)."""
    if a is None:
        return None
    return a.ctypes.data_as(ctypes.POINTER(ctype))


def rng(seed):
    r = Rng()
    lib.mx_rng_seed(ctypes.byref(r), ctypes.c_uint64(int(seed) & 0xFFFFFFFFFFFFFFFF))
    return r
