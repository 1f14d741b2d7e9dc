#!/usr/bin/env bash
# Crash consistency of `metrix train`: runs killed at chosen instants (MX_FAULT_INJECT, see
# src/train/trainer_fault.h) and then resumed must end exactly like an uninterrupted run:
# checkpoints and report byte-identical, log.csv identical but for its timing columns, no
# temporary file left. Also: a run killed before its first checkpoint resumes from the start; a
# SIGTERM during an epoch's evaluation or the final report stops it, and the resume is exact.
# Usage: fault_test.sh BUILD_DIR   (ctest passes it). Exit 77: skipped (no Fashion-MNIST).
set -u
bin="$1/metrix"
work="$1/fault_test"
rm -rf "$work" && mkdir -p "$work"
if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
    echo "fault_test: SKIP: Fashion-MNIST not installed"
    exit 77
fi
export OMP_NUM_THREADS=1
# 3 epochs of 3 steps, evaluated every epoch; no validation split, so every epoch is "best" and
# writes checkpoint_best then checkpoint_last (checkpoint writes 1..6, log rows 1..3)
args=(--epochs 3 --max_steps_per_epoch 3 --eval_every 1 --embed_dim 32 --batch 32 --threads 1
    --workers 0 --quiet --train_classes_hi 1 --test_classes_lo 8)
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"
t0=$(date +%s.%N)
"$bin" train "${args[@]}" --output "$work/ref" >"$work/ref.out" 2>"$work/ref.err" ||
    { echo "FAIL: reference run: $(tail -3 "$work/ref.err")"; exit 1; }
t1=$(date +%s.%N)
echo "fault_test: reference run $(awk "BEGIN{print $t1 - $t0}") s"
# log.csv without the seconds and images_per_s columns
log_body() { cut -d, -f1-5,8- "$1"; }

# same_as_ref DIR WHAT: the finished run in DIR equals the reference
same_as_ref() {
    local d="$1" what="$2" f
    checks=$((checks + 1))
    for f in checkpoint_last.safetensors checkpoint_best.safetensors report.txt report.json; do
        cmp -s "$work/ref/$f" "$d/$f" || fail "$what: $f differs from the uninterrupted run's"
    done
    diff <(log_body "$work/ref/log.csv") <(log_body "$d/log.csv") >/dev/null ||
        { fail "$what: log.csv differs from the uninterrupted run's:"; cat "$d/log.csv"; }
    local tmp
    tmp=$(find "$d" -name '*.tmp.*' | head -3)
    [ -z "$tmp" ] || fail "$what: temporary files left: $tmp"
}

# crash_resume FAULT [FAULT_ON_RESUME ...]: kill at FAULT, resume (each further fault kills that
# resume again), resume to the end, compare.
crash_resume() {
    local fault="$1" d="$work/${1/:/_}" rc
    shift
    # (in the background, waited with stderr off: no "Killed" notice from the shell)
    MX_FAULT_INJECT="$fault" "$bin" train "${args[@]}" --output "$d" >"$d.out" 2>"$d.err" &
    wait $! 2>/dev/null
    rc=$?
    checks=$((checks + 1))
    [ "$rc" = 137 ] || { fail "$fault: exit $rc, expected 137 (SIGKILL)"; return; }
    case "$fault" in
    ckpt_write:*) # the kill left a torn temporary checkpoint
        checks=$((checks + 1))
        ls "$d"/checkpoint_*.safetensors.tmp.* >/dev/null 2>&1 ||
            fail "$fault: no temporary checkpoint file after a kill inside the write" ;;
    esac
    local again
    for again in "$@"; do
        MX_FAULT_INJECT="$again" "$bin" train --resume "$d" >>"$d.out" 2>>"$d.err" &
        wait $! 2>/dev/null
        rc=$?
        checks=$((checks + 1))
        [ "$rc" = 137 ] || fail "$fault, then $again on resume: exit $rc, expected 137"
    done
    "$bin" train --resume "$d" >>"$d.out" 2>>"$d.err"
    rc=$?
    checks=$((checks + 1))
    [ "$rc" = 0 ] || { fail "$fault: resume: exit $rc: $(tail -2 "$d.err")"; return; }
    same_as_ref "$d" "$fault${*:+ then $*}"
}

# killed inside the very first checkpoint write: no checkpoint_last yet -> resume starts over
crash_resume ckpt_write:1
checks=$((checks + 1))
grep -q "no checkpoint yet" "$work/ckpt_write_1.err" || fail "ckpt_write:1: resume did not say it starts over"
# checkpoint_best of epoch 1 committed, killed inside checkpoint_last: also no checkpoint_last
crash_resume ckpt_write:2
# killed inside epoch 2's checkpoint_last (epoch 2's row already in log.csv)
crash_resume ckpt_write:4
# killed inside the last checkpoint write of the run
crash_resume ckpt_write:6
# epoch 2's row on disk, no checkpoint yet; and again on the next two resumes (each of which
# appends the row once more unless the resume cuts the log back)
crash_resume log_row:2 log_row:1 log_row:1
checks=$((checks + 1))
grep -q "dropped 1 row" "$work/log_row_2.err" || fail "log_row:2: resume did not report the dropped row"
# between checkpoint_best and checkpoint_last of epoch 2 (best is then one epoch ahead)
crash_resume ckpt_done:3
# after the last checkpoint, before the final report
crash_resume ckpt_done:6

# SIGTERM during epoch 2's evaluation: exit 130, checkpoint of "epoch 2, steps done, not
# evaluated", and the resume evaluates it and goes on exactly
sig_resume() {
    local fault="$1" d="$work/${1/:/_}" rc
    MX_FAULT_INJECT="$fault" "$bin" train "${args[@]}" --output "$d" >"$d.out" 2>"$d.err"
    rc=$?
    checks=$((checks + 1))
    [ "$rc" = 130 ] || { fail "$fault: exit $rc, expected 130: $(tail -2 "$d.err")"; return; }
    checks=$((checks + 1))
    grep -q "$2" "$d.err" || fail "$fault: stderr lacks '$2'"
    "$bin" train --resume "$d" >>"$d.out" 2>>"$d.err"
    rc=$?
    checks=$((checks + 1))
    [ "$rc" = 0 ] || { fail "$fault: resume: exit $rc: $(tail -2 "$d.err")"; return; }
    same_as_ref "$d" "$fault"
}
sig_resume eval_sigterm:2 "interrupted during the epoch's evaluation"
sig_resume report_sigterm:1 "interrupted during the final report"

# a run directory holding only config.json (killed right after creating it) resumes from the
# start; one without config.json gets a clear message
d="$work/only_config"
mkdir -p "$d" && cp "$work/ref/config.json" "$d/"
"$bin" train --resume "$d" >"$d.out" 2>"$d.err"
rc=$?
checks=$((checks + 1))
[ "$rc" = 0 ] || fail "run with only config.json: resume: exit $rc: $(tail -2 "$d.err")"
[ "$rc" = 0 ] && same_as_ref "$d" "run with only config.json"
d="$work/no_config"
mkdir -p "$d"
"$bin" train --resume "$d" >"$d.out" 2>"$d.err"
rc=$?
checks=$((checks + 1))
[ "$rc" = 1 ] && grep -q "config.json: missing: the run was stopped before it was set up" "$d.err" ||
    fail "run without config.json: exit $rc, stderr: $(cat "$d.err")"
printf '{"epochs": 3, "lr": ' >"$d/config.json" # torn
"$bin" train --resume "$d" >"$d.out" 2>"$d.err"
rc=$?
checks=$((checks + 1))
[ "$rc" = 1 ] && grep -q "config.json is damaged" "$d.err" ||
    fail "run with a torn config.json: exit $rc, stderr: $(cat "$d.err")"
# a resume while another trainer holds the run directory is refused
d="$work/locked"
cp -r "$work/ref" "$d"
exec {lock_fd}<"$d" # held by this shell until closed below
flock -x "$lock_fd"
"$bin" train --resume "$d" --epochs 4 >"$d.out" 2>"$d.err"
rc=$?
exec {lock_fd}<&-
checks=$((checks + 1))
[ "$rc" = 1 ] && grep -q "in use by another metrix train" "$d.err" ||
    fail "resume of a locked run directory: exit $rc, stderr: $(cat "$d.err")"

finish fault_test "$(awk "BEGIN{print $(date +%s.%N) - $t0}") s"
