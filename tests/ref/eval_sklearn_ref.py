#!/usr/bin/python3
"""Reference values for the eval module (run with /usr/bin/python3: numpy + scikit-learn).

Writes tests/fixtures/eval/eval_ref.txt: whitespace-separated tokens read in order by
tests/test_eval.c. Every metric is recomputed here independently in float64 from its
definition (pytorch-metric-learning semantics for MAP@R / R-Precision, DML-paper Recall@K,
scikit-learn's normalized_mutual_info_score for NMI, Wang & Isola for alignment/uniformity).

    /usr/bin/python3 tests/ref/eval_sklearn_ref.py
"""
import os

import numpy as np
from sklearn.metrics import normalized_mutual_info_score

KS = [1, 2, 4, 8]


def ranking(q, g, exclude_self):
    """Neighbour order per query: similarity descending, equal similarity -> smaller index."""
    s = q.astype(np.float64) @ g.astype(np.float64).T
    out = []
    for i in range(q.shape[0]):
        cand = [j for j in range(g.shape[0]) if not (exclude_self and j == i)]
        cand.sort(key=lambda j: (-s[i, j], j))
        out.append(cand)
    return out


def retrieval(q, ql, g, gl, exclude_self):
    order = ranking(q, g, exclude_self)
    recall = []
    for k in KS:
        recall.append(np.mean([any(gl[j] == ql[i] for j in order[i][:k]) for i in range(len(q))]))
    aps, rps = [], []
    for i in range(len(q)):
        r = int(np.sum(gl == ql[i])) - (1 if exclude_self else 0)
        if r == 0:
            continue
        top = order[i][:r]
        correct, ap = 0, 0.0
        for t, j in enumerate(top):
            if gl[j] == ql[i]:
                correct += 1
                ap += correct / (t + 1)
        aps.append(ap / r)
        rps.append(correct / r)
    return recall, float(np.mean(aps)), float(np.mean(rps))


def align_uniform(x, lab, t=2.0):
    x = x.astype(np.float64)
    n = len(x)
    d2 = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    iu = np.triu_indices(n, 1)
    pos = lab[iu[0]] == lab[iu[1]]
    return float(d2[iu][pos].mean()), float(np.log(np.exp(-t * d2[iu]).mean()))


def tied_set(rng, n, d):
    """Rows with one entry +-1 or all entries +-1/2: unit norm exactly, inner products exact
    multiples of 1/4, so ties are exact in float32 too."""
    x = np.zeros((n, d), np.float32)
    for i in range(n):
        if rng.random() < 0.5:
            x[i, rng.integers(d)] = rng.choice([-1.0, 1.0])
        else:
            x[i] = rng.choice([-0.5, 0.5], size=d)
    return x


def emit(f, name, arr, fmt):
    arr = np.asarray(arr).ravel()
    f.write(name + " " + str(arr.size) + "\n" + " ".join(fmt % v for v in arr) + "\n")


def main():
    rng = np.random.default_rng(20221)
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, "..", "fixtures", "eval", "eval_ref.txt")
    with open(path, "w") as f:
        # 1. leave-one-out, exact ties
        n, d = 48, 4
        x = tied_set(rng, n, d)
        lab = rng.integers(0, 6, n).astype(np.int64)
        rec, mapr, rp = retrieval(x, lab, x, lab, True)
        al, un = align_uniform(x, lab)
        emit(f, "loo_x", x, "%.9g")
        emit(f, "loo_labels", lab, "%d")
        emit(f, "loo_recall", rec, "%.17g")
        emit(f, "loo_map_r_rp", [mapr, rp], "%.17g")
        emit(f, "loo_align_uniform", [al, un], "%.17g")
        # utilization against a random train set (squared Euclidean, as given)
        t = rng.standard_normal((30, d)).astype(np.float32)
        t /= np.linalg.norm(t, axis=1, keepdims=True)
        d2 = ((x.astype(np.float64)[:, None, :] - t.astype(np.float64)[None]) ** 2).sum(-1)
        emit(f, "train_x", t, "%.9g")
        emit(f, "utilization", [d2.min(1).mean()], "%.17g")
        # 2. query / gallery, exact ties, some queries without a match
        q, g = tied_set(rng, 20, d), tied_set(rng, 40, d)
        ql = rng.integers(0, 8, 20).astype(np.int64)
        gl = rng.integers(0, 7, 40).astype(np.int64)
        rec, mapr, rp = retrieval(q, ql, g, gl, False)
        emit(f, "qg_q", q, "%.9g")
        emit(f, "qg_ql", ql, "%d")
        emit(f, "qg_g", g, "%.9g")
        emit(f, "qg_gl", gl, "%d")
        emit(f, "qg_recall", rec, "%.17g")
        emit(f, "qg_map_r_rp", [mapr, rp], "%.17g")
        emit(f, "qg_lone", [int(sum(1 for v in ql if v not in set(gl.tolist())))], "%d")
        # 3. NMI of label pairs (sklearn, arithmetic normalisation)
        for i, (m, ka, kb) in enumerate([(50, 5, 7), (200, 10, 10), (31, 1, 4), (64, 3, 3)]):
            a = rng.integers(0, ka, m).astype(np.int64) * 7 - 3  # arbitrary label values
            b = rng.integers(0, kb, m).astype(np.int64)
            if i == 3:
                b = (a // 7) % 3  # a permutation of the same partition: NMI 1
            emit(f, "nmi_a", a, "%d")
            emit(f, "nmi_b", b, "%d")
            emit(f, "nmi", [normalized_mutual_info_score(a, b)], "%.17g")
    print("wrote", os.path.normpath(path))


if __name__ == "__main__":
    main()
