#!/bin/sh
# Side-by-side training throughput: metrix vs PyTorch 1.13 (2 threads each), same workload.
# Usage: bench/bench_train.sh [BUILD_DIR] [smallcnn|resnet18|resnet50|all] [STEPS] [ROUNDS]
# Each round runs metrix then PyTorch back to back and prints their ratio; with ROUNDS > 1 the
# last line per workload is the median of the rounds' ratios. The machine is shared: compare
# ratios, not absolute numbers. Extra metrix options (e.g. "--conv-algo direct") can be passed
# in MX_BENCH_ARGS; BN=frozen runs both sides with frozen batch norm (the Metrix protocol).
set -eu
BUILD=${1:-build}
WHICH=${2:-all}
STEPS=${3:-}
ROUNDS=${4:-1}
HERE=$(cd "$(dirname "$0")" && pwd)
METRIX="$BUILD/metrix"
[ -x "$METRIX" ] || { echo "bench_train.sh: $METRIX not built" >&2; exit 1; }
echo "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-(unset)} (not used in a training step: the GEMMs run on oneDNN)"

run() { # backbone batch input default_steps
    s=${STEPS:-$4}
    echo "== $1 batch $2 input $3 steps $s rounds $ROUNDS bn ${BN:-train} ${MX_BENCH_ARGS:-}"
    ratios=""
    r=1
    while [ "$r" -le "$ROUNDS" ]; do
        # shellcheck disable=SC2086 # MX_BENCH_ARGS is a list of options
        m=$("$METRIX" bench train --backbone "$1" --batch "$2" --input "$3" --steps "$s" --warmup 2 \
            --threads 2 --bn "${BN:-train}" ${MX_BENCH_ARGS:-} | tail -1 | sed 's/.*: //')
        t=$(/usr/bin/python3 "$HERE/bench_train.py" --backbone "$1" --batch "$2" --input "$3" \
            --steps "$s" --warmup 2 --threads 2 --bn "${BN:-train}" | tail -1 | sed 's/.*: //')
        if [ -z "$m" ] || [ -z "$t" ]; then echo "bench_train.sh: a run failed" >&2; exit 1; fi
        q=$(echo "$m $t" | awk '{printf "%.2f", $1 / $2}')
        echo "round $r (load $(cut -d' ' -f1 /proc/loadavg)): metrix $m, torch $t images/s, ratio $q"
        ratios="$ratios $q"
        r=$((r + 1))
    done
    echo "metrix train images/s: $m"
    echo "torch  train images/s: $t"
    echo "ratio metrix/torch: $(echo "$ratios" | tr ' ' '\n' | sed '/^$/d' | sort -g |
        awk '{a[NR] = $1} END {print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2)}')$(
        [ "$ROUNDS" -gt 1 ] && echo " (median of $ROUNDS rounds)")"
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
