#!/bin/sh
# Side-by-side training throughput: metrix vs PyTorch 1.13 (2 threads each), same workload.
# Usage: bench/bench_train.sh [BUILD_DIR] [smallcnn|resnet18|resnet50|all] [STEPS] [ROUNDS]
# Each round runs metrix then PyTorch back to back and prints their ratio; with ROUNDS > 1 the
# last line per workload is the median of the rounds' ratios. The machine is shared: compare
# ratios, not absolute numbers. Extra metrix options (e.g. "--conv-algo direct") can be passed
# in MX_BENCH_ARGS; BN=frozen runs both sides with frozen batch norm (the Metrix protocol).
# PREC=bf16: the bf16 trio instead, per round metrix --precision bf16, PyTorch fp32 and PyTorch
# bf16 autocast (channels_last), in an order that alternates between rounds; each round prints
# the three images/s, the two ratios and the peak RSS of each; the last lines give the medians.
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

med() { # median of the numbers on stdin
    sort -g | awk '{a[NR] = $1} END {print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2)}'
}

run_bf16() { # backbone batch input default_steps
    s=${STEPS:-$4}
    echo "== bf16 trio: $1 batch $2 input $3 steps $s rounds $ROUNDS bn ${BN:-train} ${MX_BENCH_ARGS:-}"
    out=$(mktemp)
    r=1
    while [ "$r" -le "$ROUNDS" ]; do
        mx() {
            # shellcheck disable=SC2086
            "$METRIX" bench train --backbone "$1" --batch "$2" --input "$3" --steps "$s" \
                --warmup 2 --threads 2 --bn "${BN:-train}" --precision bf16 ${MX_BENCH_ARGS:-} >"$out.m"
        }
        tp() { # fp32 | bf16
            /usr/bin/python3 "$HERE/bench_train.py" --backbone "$1" --batch "$2" --input "$3" \
                --steps "$s" --warmup 2 --threads 2 --bn "${BN:-train}" --precision "$4" >"$out.$4"
        }
        if [ $((r % 2)) -eq 1 ]; then
            mx "$1" "$2" "$3"; tp "$1" "$2" "$3" fp32; tp "$1" "$2" "$3" bf16
        else
            tp "$1" "$2" "$3" bf16; tp "$1" "$2" "$3" fp32; mx "$1" "$2" "$3"
        fi
        m=$(tail -1 "$out.m" | sed 's/.*: //')
        t=$(tail -1 "$out.fp32" | sed 's/.*: //')
        b=$(tail -1 "$out.bf16" | sed 's/.*: //')
        rm_=$(grep 'peak RSS' "$out.m" | sed 's/.*: //; s/ MiB//')
        rt=$(grep 'peak RSS' "$out.fp32" | sed 's/.*: //; s/ MiB//')
        rb=$(grep 'peak RSS' "$out.bf16" | sed 's/.*: //; s/ MiB//')
        if [ -z "$m" ] || [ -z "$t" ] || [ -z "$b" ]; then echo "bench_train.sh: a run failed" >&2; exit 1; fi
        q1=$(echo "$m $t" | awk '{printf "%.2f", $1 / $2}')
        q2=$(echo "$m $b" | awk '{printf "%.2f", $1 / $2}')
        q3=$(echo "$rm_ $rt" | awk '{printf "%.2f", $1 / $2}')
        echo "round $r (load $(cut -d' ' -f1 /proc/loadavg)): metrix bf16 $m, torch fp32 $t, torch bf16 $b images/s; metrix/torch-fp32 $q1, metrix/torch-bf16 $q2; peak RSS MiB metrix $rm_, torch fp32 $rt, torch bf16 $rb (metrix/torch-fp32 $q3)"
        echo "$q1 $q2 $q3" >>"$out.ratios"
        r=$((r + 1))
    done
    echo "median metrix-bf16/torch-fp32: $(cut -d' ' -f1 "$out.ratios" | med)"
    echo "median metrix-bf16/torch-bf16: $(cut -d' ' -f2 "$out.ratios" | med)"
    echo "median peak RSS metrix-bf16/torch-fp32: $(cut -d' ' -f3 "$out.ratios" | med)"
    rm -f "$out" "$out.m" "$out.fp32" "$out.bf16" "$out.ratios"
}

if [ "${PREC:-fp32}" = bf16 ]; then
    run() { run_bf16 "$@"; }
fi

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
