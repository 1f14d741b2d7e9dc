#!/usr/bin/python3
"""PyTorch side of bench/bench_optim.sh: SGD (momentum), Adam, AdamW (single-tensor and foreach
paths) and clip_grad_value_ on one tensor of N parameters; median ms per step.

    /usr/bin/python3 bench/bench_optim.py [N] [REPEATS] [THREADS]
"""
import sys
import time

import torch


def median_ms(fn, reps):
    fn()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return 1e3 * sorted(ts)[reps // 2]


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 25_600_000
    reps = int(sys.argv[2]) if len(sys.argv) > 2 else 15
    threads = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    torch.set_num_threads(threads)
    print(f"torch {torch.__version__}: n={n} threads={threads} repeats={reps}")
    p = torch.nn.Parameter(torch.rand(n) - 0.5)
    p.grad = 0.01 * (torch.rand(n) - 0.5)
    for name, make in [
        ("sgd_momentum", lambda fe: torch.optim.SGD([p], lr=1e-6, momentum=0.9, weight_decay=1e-4,
                                                    foreach=fe)),
        ("adam", lambda fe: torch.optim.Adam([p], lr=1e-6, weight_decay=1e-4, foreach=fe)),
        ("adamw", lambda fe: torch.optim.AdamW([p], lr=1e-6, weight_decay=1e-4, foreach=fe)),
    ]:
        for fe in (False, True):
            opt = make(fe)
            print(f"{name}{'_foreach' if fe else ''} ms: {median_ms(opt.step, reps):.2f}")
    print(f"clip_value ms: {median_ms(lambda: torch.nn.utils.clip_grad_value_([p], 10.0), reps):.2f}")


if __name__ == "__main__":
    main()
