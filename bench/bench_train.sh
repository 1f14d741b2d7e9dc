#!/bin/sh
# Side-by-side training throughput: metrix vs PyTorch 1.13 (2 threads each), same workload.
# Usage: bench/bench_train.sh [BUILD_DIR] [smallcnn|resnet18|resnet50|all] [STEPS]
# The machine is shared: run both back to back and compare the ratio, not the absolute numbers.
set -eu
BUILD=${1:-build}
WHICH=${2:-all}
STEPS=${3:-}
HERE=$(cd "$(dirname "$0")" && pwd)
METRIX="$BUILD/metrix"
[ -x "$METRIX" ] || { echo "bench_train.sh: $METRIX not built" >&2; exit 1; }
echo "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-(unset)}"

run() { # backbone batch input default_steps
    s=${STEPS:-$4}
    echo "== $1 batch $2 input $3 steps $s"
    m=$("$METRIX" bench train --backbone "$1" --batch "$2" --input "$3" --steps "$s" --warmup 2 --threads 2 \
        | tail -1 | sed 's/.*: //')
    t=$(/usr/bin/python3 "$HERE/bench_train.py" --backbone "$1" --batch "$2" --input "$3" --steps "$s" \
        --warmup 2 --threads 2 | tail -1 | sed 's/.*: //')
    echo "metrix train images/s: $m"
    echo "torch  train images/s: $t"
    echo "ratio metrix/torch: $(echo "$m $t" | awk '{printf "%.2f", $1 / $2}')"
}

case $WHICH in
smallcnn) run smallcnn 256 1x28x28 20 ;;
resnet18) run resnet18 64 3x224x224 3 ;;
resnet50) run resnet50 32 3x224x224 3 ;;
all)
    run smallcnn 256 1x28x28 20
    run resnet18 64 3x224x224 3
    run resnet50 32 3x224x224 3
    ;;
*) echo "bench_train.sh: unknown workload $WHICH" >&2; exit 2 ;;
esac
