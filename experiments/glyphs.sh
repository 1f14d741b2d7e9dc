#!/usr/bin/env bash
# The pre-registered experiment of experiments/PROTOCOL.md: does Metrix beat its baseline on the
# glyphs benchmark (many classes, few instances) and on Fashion-MNIST? Then docs/results.md, the
# paired-difference plots and the README's results block (experiments/results.py).
#
#   bash experiments/glyphs.sh [--out DIR] [--threads N] [--only tune|final|fmnist|report]
#                              [--extra "FLAGS"] [--fm-extra "FLAGS"]
#
# --extra / --fm-extra append flags to every glyphs / Fashion-MNIST run (e.g. --data_root for the
# glyph cache). The grid can be shrunk for a smoke test through the environment (LOSSES,
# BASE_LRS, METRIX_LRS, METRIX_WS, SEEDS_MAIN, SEEDS_EXTRA, FM_SEEDS; MX_RESULTS_DIR sends the
# report elsewhere and leaves docs/ and README.md alone); the protocol's run uses none of these.
#
# Every run has its own run directory under DIR (default runs/glyphs-experiment). Re-running the
# script resumes: finished runs (report.json present) are skipped, an interrupted one continues
# from its checkpoint (metrix train --resume), one that died before its first checkpoint starts
# again. The tuning choice of each loss is written to DIR/tune/chosen-<loss>.txt once all its
# tuning runs are done, and read back afterwards, so a resumed experiment never re-chooses.
# Planned cost on this 2-core machine alone: see PROTOCOL.md (about two hours).
set -euo pipefail
cd "$(dirname "$0")/.."
out=runs/glyphs-experiment
threads=2
only=""
extra=""
fm_extra=""
all_args=$(printf '%q ' "$@")
while [ $# -gt 0 ]; do
    case "$1" in
    --out) out="$2"; shift 2 ;;
    --extra) extra="$2"; shift 2 ;;
    --fm-extra) fm_extra="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    *) echo "unknown option $1 (see the header of $0)" >&2; exit 2 ;;
    esac
done
bin=${METRIX_BIN:-./build/metrix}
[ -x "$bin" ] || { echo "build first: cmake -B build && cmake --build build -j2" >&2; exit 1; }
[ -f "${METRIX_LIB:-build/libmetrix.so}" ] ||
    { echo "the report's plots need build/libmetrix.so (cmake --build build -j2)" >&2; exit 1; }
mkdir -p "$out/tune" "$out/final" "$out/fmnist"
export OMP_WAIT_POLICY=PASSIVE

# ---- the pre-registered grid (PROTOCOL.md) -------------------------------------------------
losses=${LOSSES:-"contrastive ms proxy-anchor"}
tune_seed=100
base_lrs=${BASE_LRS:-"2.5e-4 5e-4 1e-3 2e-3"} # baseline: 4 runs per loss
metrix_lrs=${METRIX_LRS:-"5e-4 1e-3"}         # Metrix/feature: 2 x 2 = 4 runs per loss
metrix_ws=${METRIX_WS:-"0.2 0.8"}
seeds_main=${SEEDS_MAIN:-"1 2 3 4 5"}         # baseline and Metrix/feature
seeds_extra=${SEEDS_EXTRA:-"1 2 3"}           # Metrix/input and Metrix/embed
fm_seeds=${FM_SEEDS:-"1 2 3 4 5"}
# shellcheck disable=SC2206 # word splitting of the extra flags is intended
fm_flags=(--epochs 3 --max_steps_per_epoch 60 --threads 1 $fm_extra)

preset_of() { # loss mix -> preset name (glyphs-<loss>, glyphs-<loss>-metrix)
    local p
    case "$1" in ms) p=glyphs-ms ;; contrastive) p=glyphs-contrastive ;; proxy-anchor) p=glyphs-pa ;; esac
    [ "$2" = none ] && echo "$p" || echo "$p-metrix"
}

# run DIR LOG ARGS...: one training run, resumed or skipped as the header says; wall-clock
# seconds of the finished run go to DIR.wall.
run() {
    local dir=$1 log=$2
    shift 2
    if [ -f "$dir/report.json" ]; then echo "done: $dir"; return 0; fi
    local t0 rc=0
    t0=$(date +%s)
    if [ -f "$dir/checkpoint_last.safetensors" ]; then
        echo "resume: $dir"
        "$bin" train --resume "$dir" --quiet >> "$log" 2>&1 || rc=$?
    else
        rm -rf "$dir"
        echo "run: $dir"
        "$bin" train "$@" --output "$dir" --quiet > "$log" 2>&1 || rc=$?
    fi
    if [ $rc -ne 0 ]; then echo "FAILED ($rc): see $log" >&2; exit 1; fi
    echo $(( $(date +%s) - t0 )) >> "$dir.wall"
}

# shellcheck disable=SC2206
common=(--threads "$threads" --workers 1 $extra)

# ---- 1. tuning on the validation classes ---------------------------------------------------
if [ -z "$only" ] || [ "$only" = tune ] || [ "$only" = final ]; then
    for loss in $losses; do
        chosen="$out/tune/chosen-$loss.txt"
        [ -f "$chosen" ] && continue
        for lr in $base_lrs; do
            d="$out/tune/$loss-none-lr$lr"
            run "$d" "$d.log" --preset "$(preset_of "$loss" none)" --lr "$lr" --seed $tune_seed \
                "${common[@]}"
        done
        for lr in $metrix_lrs; do
            for w in $metrix_ws; do
                d="$out/tune/$loss-feature-lr$lr-w$w"
                run "$d" "$d.log" --preset "$(preset_of "$loss" feature)" --lr "$lr" \
                    --mix_weight "$w" --seed $tune_seed "${common[@]}"
            done
        done
        python3 experiments/results.py --choose "$out/tune" "$loss" > "$chosen.tmp"
        mv "$chosen.tmp" "$chosen"
        echo "chosen for $loss: $(cat "$chosen")"
    done
fi

# ---- 2. the test runs: the chosen settings, paired seeds ------------------------------------
if [ -z "$only" ] || [ "$only" = final ]; then
    for loss in $losses; do
        # chosen-<loss>.txt: "none LR" and "metrix LR W" lines
        read -r _ blr < <(grep '^none ' "$out/tune/chosen-$loss.txt")
        read -r _ mlr mw < <(grep '^metrix ' "$out/tune/chosen-$loss.txt")
        for mix in none feature input embed; do
            seeds=$seeds_main
            [ "$mix" = input ] || [ "$mix" = embed ] && seeds=$seeds_extra
            for seed in $seeds; do
                d="$out/final/$loss-$mix-s$seed"
                if [ "$mix" = none ]; then
                    run "$d" "$d.log" --preset "$(preset_of "$loss" none)" --lr "$blr" \
                        --seed "$seed" "${common[@]}"
                else
                    run "$d" "$d.log" --preset "$(preset_of "$loss" feature)" --mix "$mix" \
                        --lr "$mlr" --mix_weight "$mw" --seed "$seed" "${common[@]}"
                fi
            done
        done
    done
fi

# ---- 3. Fashion-MNIST with the current defaults ---------------------------------------------
if [ -z "$only" ] || [ "$only" = fmnist ]; then
    for loss in $losses; do
        for mix in none feature input embed; do
            for seed in $fm_seeds; do
                d="$out/fmnist/$loss-$mix-s$seed"
                run "$d" "$d.log" --loss "$loss" --mix "$mix" --seed "$seed" "${fm_flags[@]}"
            done
        done
    done
fi

# ---- 4. the report ----------------------------------------------------------------------------
python3 experiments/results.py --report "$out" --command "bash experiments/glyphs.sh $all_args"
echo "wrote ${MX_RESULTS_DIR:-docs}/results.md and its paired-difference plots"
