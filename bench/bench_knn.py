#!/usr/bin/python3
"""PyTorch side of bench/bench_knn.sh: exact top-k (self excluded) of every row of an N x D
float32 matrix by chunked mm + topk, the usual PyTorch recipe.

    /usr/bin/python3 bench/bench_knn.py DATA.f32 N D K [THREADS] [METRIX_IDX.i64]

DATA.f32 is the raw row-major matrix written by `metrix bench knn --save-data`. With
METRIX_IDX.i64 (from --save-idx) it also reports how many neighbour lists agree.
Last line: "torch seconds: X".
"""
import sys
import time

import numpy as np
import torch


def main():
    path, n, d, k = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    threads = int(sys.argv[5]) if len(sys.argv) > 5 else 2
    torch.set_num_threads(threads)
    x = torch.from_numpy(np.fromfile(path, dtype=np.float32).reshape(n, d))
    chunk = 1024
    idx = torch.empty((n, k), dtype=torch.int64)
    t0 = time.perf_counter()
    with torch.no_grad():
        for i0 in range(0, n, chunk):
            s = torch.mm(x[i0:i0 + chunk], x.t())
            r = torch.arange(s.shape[0])
            s[r, r + i0] = float("-inf")  # exclude self by index
            idx[i0:i0 + chunk] = torch.topk(s, k, dim=1).indices
    t = time.perf_counter() - t0
    print(f"torch {torch.__version__}: n={n} dim={d} k={k} threads={threads}")
    if len(sys.argv) > 6:
        mine = np.fromfile(sys.argv[6], dtype=np.int64).reshape(n, k)
        same = np.mean([set(a) == set(b) for a, b in zip(mine, idx.numpy())])
        print(f"neighbour sets equal to metrix's: {100 * same:.3f} % of rows")
    print(f"torch seconds: {t:.3f}")


if __name__ == "__main__":
    main()
