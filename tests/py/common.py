"""Shared set-up of the Python tests (run by ctest under /usr/bin/python3 with PYTHONPATH=python,
METRIX_LIBRARY and METRIX_CLI set): exit 77 (ctest: skipped) when numpy or torch is missing, the
independent torch reference of the losses (tests/ref/loss_torch_ref.py) importable, and a tiny
check counter that makes the script exit non-zero on any failure."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "ref"))
sys.path.insert(0, os.path.join(ROOT, "python"))
try:
    import numpy  # noqa: F401  (the package needs it)
except ImportError:
    print("SKIP: numpy is not installed (apt-get install python3-numpy)")
    sys.exit(77)


def need_torch():
    try:
        import torch  # noqa: F401
    except ImportError:
        print("SKIP: torch is not installed (apt-get install python3-torch)")
        sys.exit(77)


class Checks:
    def __init__(self, name):
        self.name, self.n, self.failed = name, 0, []

    def ok(self, cond, what):
        self.n += 1
        if not cond:
            self.failed.append(what)
            print("FAIL: " + what)

    def close(self, got, want, rtol, atol, what):
        import numpy as np
        got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
        if got.shape != want.shape:
            return self.ok(False, "%s: shape %s != %s" % (what, got.shape, want.shape))
        err = np.abs(got - want) - (atol + rtol * np.abs(want))
        bad = float(err.max()) if err.size else -1.0
        self.ok(bad <= 0, "%s: max |got - want| exceeds tolerance by %.3g (max |want| %.3g)" %
                (what, bad, float(np.abs(want).max()) if want.size else 0.0))

    def raises(self, exc, fn, what, match=None):
        try:
            fn()
        except exc as e:
            self.ok(match is None or match in str(e),
                    "%s: message %r lacks %r" % (what, str(e), match))
            return
        except Exception as e:  # noqa: BLE001
            return self.ok(False, "%s: raised %s (%s), expected %s" %
                           (what, type(e).__name__, e, exc.__name__))
        self.ok(False, "%s: no %s raised" % (what, exc.__name__))

    def done(self):
        print("%s: %d checks, %d failed" % (self.name, self.n, len(self.failed)))
        sys.exit(1 if self.failed else 0)
