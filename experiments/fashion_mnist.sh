#!/usr/bin/env bash
# The baseline-vs-Metrix experiment on Fashion-MNIST (class-disjoint: train classes 0-4, test 5-9):
# {baseline, Metrix/input, Metrix/feature, Metrix/embed} x {contrastive, ms, proxy-anchor} x seeds,
# then docs/results.md from the runs' report.json and log.csv (experiments/summarize.py).
#
#   bash experiments/fashion_mnist.sh [--seeds "1 2 3"] [--epochs N] [--out DIR] [-- extra flags]
#
# MX_INVESTIGATION=DIR appends the one-knob-at-a-time table of experiments/investigate.sh.
# Every run uses the same flags but --loss / --mix / --seed; runs that already finished (a
# report.json exists) are kept, so an interrupted experiment continues where it stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
seeds="1 2 3"
epochs=""
out=runs/experiment
extra=()
all_args="$*"
while [ $# -gt 0 ]; do
    case "$1" in
    --seeds) seeds="$2"; shift 2 ;;
    --epochs) epochs="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
bin=${METRIX_BIN:-./build/metrix}
[ -x "$bin" ] || { echo "build first: cmake -B build && cmake --build build -j" >&2; exit 1; }
mkdir -p "$out"
echo "bash experiments/fashion_mnist.sh $all_args" > "$out/command.txt"
for loss in contrastive ms proxy-anchor; do
    for mix in none input feature embed; do
        for seed in $seeds; do
            dir="$out/$loss-$mix-s$seed"
            if [ -f "$dir/report.json" ]; then echo "done: $dir"; continue; fi
            rm -rf "$dir"
            args=(--loss "$loss" --mix "$mix" --seed "$seed" --output "$dir" --quiet)
            [ -n "$epochs" ] && args+=(--epochs "$epochs")
            echo "run: $loss $mix seed $seed"
            "$bin" train "${args[@]}" "${extra[@]}" > "$out/$loss-$mix-s$seed.log" 2>&1 ||
                { echo "FAILED: see $out/$loss-$mix-s$seed.log" >&2; exit 1; }
        done
    done
done
python3 experiments/summarize.py "$out" ${MX_INVESTIGATION:-} > docs/results.md
echo "wrote docs/results.md"
