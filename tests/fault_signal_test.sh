#!/usr/bin/env bash
# SIGTERM during the long phases after the training steps, at a large embedding (d = 8192):
# the epoch's evaluation, embedding the training split, the final evaluation (kNN, k-means,
# utilization) and PCA plot, `metrix eval --run` and `metrix embed --run`. Each must exit
# non-zero (130) within LIMIT seconds of the signal, with its checkpoints intact and no
# temporary file left. Prints the measured stop times.
# Usage: fault_signal_test.sh BUILD_DIR [LIMIT_S (default 2)]
set -u
bin="$1/metrix"
work="$1/fault_signal_test"
limit="${2:-2}"
rm -rf "$work" && mkdir -p "$work"
if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
    echo "fault_signal_test: SKIP: Fashion-MNIST not installed"
    exit 77
fi
export OMP_NUM_THREADS=1
args=(--epochs 1 --max_steps_per_epoch 2 --eval_every 1 --embed_dim 8192 --batch 32 --threads 1
    --workers 0 --train_classes_hi 1 --test_classes_lo 8)
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"
now() { date +%s.%N; }

# term_after NAME PATTERN DELAY CMD...: starts CMD (stderr to NAME.err), waits until PATTERN
# appears in its stderr (at once if PATTERN is empty), sleeps DELAY, sends SIGTERM and measures how long it takes to exit.
# With SNAP=DIR, DIR's checkpoints at signal time are recorded in NAME.md5.
term_after() {
    local name="$1" pat="$2" delay="$3"
    shift 3
    "$@" >"$work/$name.out" 2>"$work/$name.err" &
    local pid=$! i
    for i in $(seq 1 6000); do
        [ -z "$pat" ] && break
        grep -q -- "$pat" "$work/$name.err" 2>/dev/null && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    # the checkpoints as they are now (SNAP: a run directory whose checkpoints must not change)
    [ -n "${SNAP:-}" ] && md5sum "$SNAP"/checkpoint_*.safetensors >"$work/$name.md5"
    sleep "$delay"
    checks=$((checks + 1))
    if ! kill -0 "$pid" 2>/dev/null; then
        wait "$pid"
        fail "$name: ended (exit $?) before the signal: $(tail -2 "$work/$name.err")"
        return 1
    fi
    local t0 t1 rc
    t0=$(now)
    kill -TERM "$pid"
    wait "$pid"
    rc=$?
    t1=$(now)
    local took
    took=$(awk "BEGIN{printf \"%.2f\", $t1 - $t0}")
    echo "fault_signal_test: $name: exit $rc ${took} s after SIGTERM ($(grep -o 'interrupted[^;]*' "$work/$name.err" | tail -1))"
    [ "$rc" = 130 ] || fail "$name: exit $rc, expected 130: $(tail -2 "$work/$name.err")"
    awk "BEGIN{exit !($t1 - $t0 <= $limit)}" || fail "$name: took ${took} s to stop (limit $limit s)"
    return 0
}
no_temps() {
    local tmp
    tmp=$(find "$1" -name '*.tmp.*' | head -3)
    checks=$((checks + 1))
    [ -z "$tmp" ] || fail "$2: temporary files left: $tmp"
}

# 1. during epoch 1's evaluation (the progress line of the last step is printed just before)
d="$work/run_eval"
term_after epoch_eval "step 2/2" 0.3 "$bin" train "${args[@]}" --output "$d" &&
    no_temps "$d" epoch_eval
checks=$((checks + 1))
[ -f "$d/checkpoint_last.safetensors" ] || fail "epoch_eval: no checkpoint_last saved"

# 2. embedding the training split for the final report, then 3. the final evaluation
# (the utilization of the test split against 12000 training embeddings is the longest phase,
# tens of seconds; the PCA's covariance next)
for phase in "embedding the training split:0.5" "evaluating the test split:1.0" \
    "evaluating the test split:6" "drawing the PCA map:0.5"; do
    name=final_$(echo "${phase%%:*}" | cut -d' ' -f1)_${phase##*:}
    d="$work/run_$name"
    SNAP="$d" term_after "$name" "${phase%%:*}" "${phase##*:}" "$bin" train "${args[@]}" \
        --output "$d" || continue
    no_temps "$d" "$name"
    checks=$((checks + 1))
    md5sum -c --quiet "$work/$name.md5" || fail "$name: the checkpoints changed after the signal"
    checks=$((checks + 1))
    [ "$(ls "$d"/checkpoint_*.safetensors | wc -l)" = 2 ] || fail "$name: checkpoints missing"
done

# 4. metrix eval --run and metrix embed --run of the run above (checkpoint_best of epoch 1)
d="$work/run_final_evaluating_1.0"
rm -f "$work/E.npy" "$work/L.npy"
if [ -f "$d/checkpoint_best.safetensors" ]; then
    # (after the dataset loading and model setup, which do not poll the flag)
    term_after eval_run "metrix eval: evaluating" 2 "$bin" eval --run "$d" --split train
    term_after embed_run "metrix embed: embedding" 2 "$bin" embed --run "$d" --split train --output "$work/E.npy" \
        --labels-output "$work/L.npy"
    checks=$((checks + 1))
    [ ! -e "$work/E.npy" ] || fail "embed_run: wrote its output although interrupted"
fi

finish fault_signal_test
