#!/usr/bin/env bash
# Why does (or doesn't) Metrix beat its baseline on Fashion-MNIST? Multi-Similarity with
# Metrix/feature against its baseline while varying one knob at a time: the mixing weight w, the
# Beta(alpha, alpha) of lambda, which pairs are mixed, which negatives, the mixing level.
# Each variant runs for every seed; two runs at a time (1 thread each). The table goes to
# docs/investigation.md through experiments/investigation.py.
#   bash experiments/investigate.sh [--seeds "1 2"] [--out DIR] [-- extra flags for every run]
set -euo pipefail
cd "$(dirname "$0")/.."
seeds="1 2"
out=runs/investigate-sweep
extra=()
all_args="$*"
while [ $# -gt 0 ]; do
    case "$1" in
    --seeds) seeds="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
bin=${METRIX_BIN:-./build/metrix}
mkdir -p "$out"
echo "bash experiments/investigate.sh $all_args" > "$out/command.txt"
variants=(
    "baseline|--mix none"
    "default|"
    "w=0.1|--mix_weight 0.1"
    "w=1.0|--mix_weight 1.0"
    "alpha=0.4|--mix_alpha 0.4"
    "negatives=random|--mix_negatives random"
    "negatives=all|--mix_negatives all"
    "pairs=posneg|--mix_pairs posneg"
    "pairs=anchorneg|--mix_pairs anchorneg"
    "level=embed|--mix embed"
    "level=input|--mix input"
)
jobs_list=()
for v in "${variants[@]}"; do
    for seed in $seeds; do jobs_list+=("$v|$seed"); done
done
run_one() {
    IFS='|' read -r name flags seed <<< "$1"
    dir="$out/$name-s$seed"
    [ -f "$dir/report.json" ] && return 0
    rm -rf "$dir"
    # shellcheck disable=SC2086
    OMP_WAIT_POLICY=PASSIVE "$bin" train --loss ms $flags --seed "$seed" --threads 1 --quiet \
        --eval_every 0 --output "$dir" "${extra[@]}" > "$dir.log" 2>&1 || echo "FAILED: $dir" >&2
}
for ((i = 0; i < ${#jobs_list[@]}; i += 2)); do
    run_one "${jobs_list[i]}" &
    if [ $((i + 1)) -lt ${#jobs_list[@]} ]; then run_one "${jobs_list[i + 1]}" & fi
    wait
done
python3 experiments/investigation.py "$out" > docs/investigation.md.tmp
mv docs/investigation.md.tmp docs/investigation.md
echo "done: $out; wrote docs/investigation.md"
