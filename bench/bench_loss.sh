#!/bin/sh
# Metric loss forward+backward side by side: metrix bench loss vs PyTorch autograd on the same
# embeddings, labels and mixed pairs, in one run. Prints both times and the ratios.
#   bench/bench_loss.sh [METRIX_BINARY] [N] [DIM] [LOSS] [K] [ITERS] [THREADS]
# LOSS: ms or contrastive (the losses with a vectorised torch peer). Mixing: pos-neg, k hardest
# negatives per anchor, one random positive, one lambda per batch.
set -eu
BIN=${1:-build/metrix}
N=${2:-1000}
D=${3:-512}
LOSS=${4:-ms}
K=${5:-5}
IT=${6:-10}
T=${7:-2}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
"$BIN" bench loss --n "$N" --dim "$D" --loss "$LOSS" --mix posneg --neg hard --k "$K" \
    --iters "$IT" --threads "$T" --save "$TMP/b" | tee "$TMP/mx.txt"
env -u OPENBLAS_CORETYPE /usr/bin/python3 "$(dirname "$0")/bench_loss.py" "$TMP/b" "$N" "$D" \
    "$LOSS" "$K" "$IT" "$T" | tee "$TMP/pt.txt"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
MC=$(sed -n 's/^clean seconds: //p' "$TMP/mx.txt")
MM=$(sed -n 's/^metrix seconds: //p' "$TMP/mx.txt")
PC=$(sed -n 's/^torch clean seconds: //p' "$TMP/pt.txt")
PM=$(sed -n 's/^torch metrix seconds: //p' "$TMP/pt.txt")
if [ -z "$MC" ] || [ -z "$PC" ]; then echo "bench_loss.sh: a run failed" >&2; exit 1; fi
awk -v a="$MC" -v b="$PC" -v c="$MM" -v d="$PM" 'BEGIN {
    printf "clean:  metrix %.4f s, pytorch %.4f s, ratio metrix/pytorch %.3f\n", a, b, a / b
    printf "metrix: metrix %.4f s, pytorch %.4f s, ratio metrix/pytorch %.3f\n", c, d, c / d }'
