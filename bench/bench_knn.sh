#!/bin/sh
# Exact kNN side by side: metrix bench knn vs PyTorch chunked mm + topk on the same data, same run.
#   bench/bench_knn.sh [METRIX_BINARY] [N] [DIM] [K] [THREADS]
# PyTorch runs with OPENBLAS_CORETYPE unset (its fast AVX-512 kernels: the stronger peer);
# metrix uses oneDNN's sgemm, which ignores that variable.
set -eu
BIN=${1:-build/metrix}
N=${2:-60000}
D=${3:-512}
K=${4:-10}
T=${5:-2}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
"$BIN" bench knn --n "$N" --dim "$D" --k "$K" --threads "$T" \
    --save-data "$TMP/x.f32" --save-idx "$TMP/idx.i64" | tee "$TMP/mx.txt"
env -u OPENBLAS_CORETYPE /usr/bin/python3 "$(dirname "$0")/bench_knn.py" "$TMP/x.f32" "$N" "$D" \
    "$K" "$T" "$TMP/idx.i64" | tee "$TMP/pt.txt"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
MX=$(sed -n 's/^knn seconds: //p' "$TMP/mx.txt")
PT=$(sed -n 's/^torch seconds: //p' "$TMP/pt.txt")
if [ -z "$MX" ] || [ -z "$PT" ]; then echo "bench_knn.sh: a run failed" >&2; exit 1; fi
awk -v a="$MX" -v b="$PT" 'BEGIN { printf "metrix %.3f s, pytorch %.3f s, ratio metrix/pytorch %.3f\n", a, b, a / b }'
