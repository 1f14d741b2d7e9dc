#!/bin/sh
# Optimizer step side by side: metrix (bench/bench_optim.c) vs PyTorch (bench/bench_optim.py) on
# one buffer of N parameters, same run.   bench/bench_optim.sh [BUILD_DIR] [N] [REPEATS] [THREADS]
# BUILD_DIR is a configured CMake build directory; the script builds mx_optim there.
set -eu
BUILD=${1:-build}
N=${2:-25600000}
R=${3:-15}
T=${4:-2}
SRC=$(cd "$(dirname "$0")/.." && pwd)
cmake --build "$BUILD" --target mx_optim >/dev/null
BIN="$BUILD/bench_optim"
cc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -fopenmp -I"$SRC/include" "$SRC/bench/bench_optim.c" \
    "$BUILD/libmx_optim.a" "$BUILD/libmx_core.a" -L/usr/lib/x86_64-linux-gnu/openblas-openmp \
    -lopenblas -ldnnl -lm -o "$BIN"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
"$BIN" "$N" "$R" "$T" | tee "$BUILD/bench_optim_mx.txt"
/usr/bin/python3 "$SRC/bench/bench_optim.py" "$N" "$R" "$T" | tee "$BUILD/bench_optim_pt.txt"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
for w in sgd_momentum adam adamw clip_value; do
    a=$(sed -n "s/^$w ms: //p" "$BUILD/bench_optim_mx.txt")
    b=$(sed -n "s/^$w ms: //p" "$BUILD/bench_optim_pt.txt")
    awk -v w="$w" -v a="$a" -v b="$b" \
        'BEGIN { printf "%-13s metrix %8.2f ms, pytorch %8.2f ms, ratio metrix/pytorch %.2f\n", w, a, b, a / b }'
done
