#!/usr/bin/python3
"""scikit-learn k-means from given initial centres, where plain Lloyd leaves a cluster empty
(run with /usr/bin/python3: numpy + scikit-learn).

Writes tests/fixtures/eval/kmeans_relocate.txt, read by tests/test_eval_kmeans_relocate.c:
per case, the points (float32), their true labels, the initial centres, scikit-learn's final
labels and NMI(true, sklearn). Separated Gaussian blobs; the initial centres put two on the same
point (ties go to the smaller index: the second stays empty) or one far from every point.
scikit-learn (Lloyd, tol 0) relocates an empty cluster to the point farthest from its centre.

    /usr/bin/python3 tests/ref/eval_kmeans_relocate_ref.py
"""
import os

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import normalized_mutual_info_score


def emit(f, name, arr, fmt):
    arr = np.asarray(arr).ravel()
    f.write(name + " " + str(arr.size) + "\n" + " ".join(fmt % v for v in arr) + "\n")


def blobs(rng, k, per, d, sep):
    mu = rng.standard_normal((k, d))
    mu *= sep / np.linalg.norm(mu, axis=1, keepdims=True)
    lab = np.repeat(np.arange(k), per)
    x = (mu[lab] + 0.3 * rng.standard_normal((k * per, d))).astype(np.float32)
    return x, lab.astype(np.int64)


def main():
    rng = np.random.default_rng(4242)
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, "..", "fixtures", "eval", "kmeans_relocate.txt")
    cases = []
    # 1. 6 blobs, the 5th initial centre duplicates the 4th: blob 5 gets no centre of its own
    x, lab = blobs(rng, 6, 25, 5, 6.0)
    init = x[[0, 25, 50, 75, 75, 100]].copy()
    cases.append((x, lab, init))
    # 2. 8 blobs of uneven sizes, one initial centre far from every point
    x, lab = blobs(rng, 8, 20, 3, 5.0)
    sizes = [20, 20, 6, 20, 9, 20, 14, 20]
    keep = np.concatenate([np.arange(c * 20, c * 20 + sizes[c]) for c in range(8)])
    x, lab = x[keep], lab[keep]
    starts = [int(np.flatnonzero(lab == c)[0]) for c in range(8)]
    init = x[starts].copy()
    init[2] = 50.0
    cases.append((x, lab, init))
    with open(path, "w") as f:
        emit(f, "cases", [len(cases)], "%d")
        for x, lab, init in cases:
            km = KMeans(n_clusters=init.shape[0], init=init, n_init=1, max_iter=300, tol=0.0,
                        algorithm="lloyd").fit(x)
            emit(f, "shape", [x.shape[0], x.shape[1], init.shape[0]], "%d")
            emit(f, "x", x, "%.9g")
            emit(f, "labels", lab, "%d")
            emit(f, "init", init, "%.9g")
            emit(f, "sklearn_labels", km.labels_, "%d")
            nmi = normalized_mutual_info_score(lab, km.labels_)
            emit(f, "sklearn_nmi", [nmi], "%.17g")
            print("case: n=%d k=%d sklearn NMI %.6f, %d clusters used"
                  % (x.shape[0], init.shape[0], nmi, len(set(km.labels_))))
    print("wrote", os.path.normpath(path))


if __name__ == "__main__":
    main()
