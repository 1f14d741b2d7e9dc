#!/usr/bin/env python3
"""Ring all-reduce model of data-parallel metrix training (docs/scaling.md).

Step time on N machines: T(N) = C / N + T_comm(N), no overlap of communication with compute
(metrix all-reduces after the backward pass). Per step, through each machine's link:
  all-reduce of the parameter gradients     2 (N-1)/N * P * 4 bytes   (ring)
  feature level: reduce-scatter of the map grads (N-1)/N * B * F * 4  (ring)
  feature level: all-gather of the maps       (N-1)/N * B * F * 4
  all-gather of clean + mixed embeddings      (N-1)/N * (B + M) * d * 4
plus latency: alpha per ring hop (2 (N-1) per all-reduce, N-1 per all-gather) and 8 small
agreements (failure / stop) of 2 log2(N) hops each. Efficiency = (C / N) / T(N).
Usage: scaling_model.py [--alpha-us 50]   (prints markdown tables)"""
import math
import sys

alpha = 50e-6
if len(sys.argv) > 2 and sys.argv[1] == "--alpha-us":
    alpha = float(sys.argv[2]) * 1e-6

workloads = {
    # name: params P, batch B, d, feature-map floats per example F (0: no feature-level mixing),
    # mixed pairs M, compute seconds per global step on one 2-core machine C
    "ResNet-50, CUB protocol (B 100, Metrix/feature after layer4, ~1000 mixed pairs)":
        dict(P=24557120, B=100, d=512, F=2048 * 7 * 7, M=1000, C=100 / 19.0 * 1.03),
    "ResNet-50, no mixing (B 100)": dict(P=24557120, B=100, d=512, F=0, M=0, C=100 / 19.0),
    "smallcnn (B 256, no mixing)": dict(P=109408, B=256, d=128, F=0, M=0, C=256 / 8800.0),
}
Ns = [2, 4, 8, 16, 32, 64]
bws = [10, 25, 100]  # Gb/s


def comm(w, N, gbps):
    bw = gbps * 1e9 / 8
    f = (N - 1) / N
    by = 2 * f * w["P"] * 4 + f * (w["B"] + w["M"]) * w["d"] * 4
    hops = 2 * (N - 1) + (N - 1)
    if w["F"]:
        by += 2 * f * w["B"] * w["F"] * 4
        hops += 2 * (N - 1)
    hops += 8 * 2 * math.log2(N)
    return by / bw + hops * alpha, by


for name, w in workloads.items():
    print(f"### {name}\n")
    print(f"compute per global step on one machine C = {w['C']*1e3:.0f} ms; "
          f"gradients {w['P']*4/1e6:.1f} MB\n")
    print("| N | " + " | ".join(f"{b} Gb/s: step ms (eff.)" for b in bws) + " | MB per step per link |")
    print("|---|" + "---|" * (len(bws) + 1))
    for N in Ns:
        cells = []
        for b in bws:
            t, by = comm(w, N, b)
            T = w["C"] / N + t
            cells.append(f"{T*1e3:.0f} ({100*w['C']/N/T:.0f} %)")
        print(f"| {N} | " + " | ".join(cells) + f" | {by/1e6:.0f} |")
    print()

# the paper's CUB protocol: 100 epochs of 58 steps + a test evaluation (5,924 images) per epoch
w = workloads["ResNet-50, CUB protocol (B 100, Metrix/feature after layer4, ~1000 mixed pairs)"]
E = 5924 / 57.0  # forward-only embedding of the test split on one machine, s (estimate)
print("### The CUB protocol (cub-ms-metrix: 100 epochs x 58 steps, test evaluation every epoch)\n")
print("| N | " + " | ".join(f"{b} Gb/s: hours" for b in bws) + " |")
print("|---|" + "---|" * len(bws))
for N in [1] + Ns:
    cells = []
    for b in bws:
        t = comm(w, N, b)[0] if N > 1 else 0.0
        hours = 100 * (58 * (w["C"] / N + t) + E / N) / 3600
        cells.append(f"{hours:.2f}")
    print(f"| {N} | " + " | ".join(cells) + " |")
