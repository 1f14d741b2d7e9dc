#!/usr/bin/env bash
# `metrix train` on a full disk and on a read-only run directory, both on a small tmpfs mounted
# for the test (needs root and mount; otherwise exit 77, which ctest reports as skipped).
#   full disk: the next checkpoint write fails with a clear error; the previous checkpoint stays
#     byte-identical and loadable, no temporary file remains, log.csv holds the checkpointed
#     epochs only; with space again the resume finishes the run.
#   read-only: --resume (and a new run) fail at once, before any training, naming the cause.
# Usage: fault_disk_test.sh BUILD_DIR
set -u
bin="$1/metrix"
work="$1/fault_disk_test"
if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
    echo "fault_disk_test: SKIP: Fashion-MNIST not installed"
    exit 77
fi
if [ "$(id -u)" != 0 ]; then
    echo "fault_disk_test: SKIP: needs root to mount a small tmpfs (full disk, read-only mount)"
    exit 77
fi
umount "$work/mnt" 2>/dev/null
rm -rf "$work" && mkdir -p "$work/mnt"
if ! mount -t tmpfs -o size=8m tmpfs "$work/mnt" 2>"$work/mount.err"; then
    echo "fault_disk_test: SKIP: cannot mount a tmpfs here: $(cat "$work/mount.err")"
    exit 77
fi
trap 'umount "$work/mnt" 2>/dev/null' EXIT
export OMP_NUM_THREADS=1
args=(--max_steps_per_epoch 3 --eval_every 1 --embed_dim 32 --batch 32 --threads 1 --workers 0
    --quiet --train_classes_hi 1 --test_classes_lo 8)
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"
no_temps() { # no_temps DIR WHAT
    local tmp
    tmp=$(find "$1" -name '*.tmp.*' | head -3)
    checks=$((checks + 1))
    [ -z "$tmp" ] || fail "$2: temporary files left: $tmp"
}
rows() { grep -c '^[0-9]' "$1"; }

# ---- full disk ----------------------------------------------------------------------------
run="$work/mnt/run"
"$bin" train "${args[@]}" --epochs 1 --output "$run" >"$work/a.out" 2>"$work/a.err" ||
    { echo "FAIL: first epoch on the tmpfs: $(tail -3 "$work/a.err")"; exit 1; }
cp "$run/checkpoint_last.safetensors" "$run/log.csv" "$work/"
# fill the tmpfs, then free 256 KiB: room for the log row and config.json, not for a checkpoint
dd if=/dev/zero of="$work/mnt/filler" bs=64k >/dev/null 2>&1
truncate -s -256K "$work/mnt/filler"
t0=$(date +%s.%N)
"$bin" train --resume "$run" --epochs 2 >"$work/b.out" 2>"$work/b.err"
rc=$?
echo "fault_disk_test: failed resume took $(awk "BEGIN{print $(date +%s.%N) - $t0}") s"
checks=$((checks + 1))
[ "$rc" = 1 ] || fail "full disk: exit $rc, expected 1"
checks=$((checks + 1))
grep -q "No space left on device" "$work/b.err" ||
    fail "full disk: the error does not name the cause: $(cat "$work/b.err")"
checks=$((checks + 1))
grep -q "the run stays at epoch 1" "$work/b.err" ||
    fail "full disk: the error does not say where the run stands: $(cat "$work/b.err")"
checks=$((checks + 1))
cmp -s "$work/checkpoint_last.safetensors" "$run/checkpoint_last.safetensors" ||
    fail "full disk: checkpoint_last changed"
checks=$((checks + 1))
"$bin" eval --run "$run" --checkpoint last >"$work/c.out" 2>"$work/c.err" ||
    fail "full disk: checkpoint_last does not load: $(cat "$work/c.err")"
checks=$((checks + 1))
cmp -s "$work/log.csv" "$run/log.csv" || { fail "full disk: log.csv changed:"; cat "$run/log.csv"; }
no_temps "$work/mnt" "full disk"
# space again: the resume finishes epoch 2
rm -f "$work/mnt/filler"
"$bin" train --resume "$run" >"$work/d.out" 2>"$work/d.err"
rc=$?
checks=$((checks + 1))
[ "$rc" = 0 ] || fail "resume after freeing space: exit $rc: $(tail -2 "$work/d.err")"
checks=$((checks + 1))
[ "$(rows "$run/log.csv")" = 2 ] || { fail "resume after freeing space: log.csv:"; cat "$run/log.csv"; }
no_temps "$work/mnt" "resume after freeing space"

# ---- read-only ----------------------------------------------------------------------------
mount -o remount,ro "$work/mnt" || { echo "FAIL: cannot remount the tmpfs read-only"; exit 1; }
t0=$(date +%s.%N)
"$bin" train --resume "$run" --epochs 3 >"$work/e.out" 2>"$work/e.err"
rc=$?
echo "fault_disk_test: read-only resume refused after $(awk "BEGIN{print $(date +%s.%N) - $t0}") s"
checks=$((checks + 1))
[ "$rc" = 1 ] && grep -q "run directory is not writable" "$work/e.err" ||
    fail "read-only resume: exit $rc, stderr: $(cat "$work/e.err")"
checks=$((checks + 1))
grep -q "^epoch" "$work/e.out" && fail "read-only resume trained before failing"
"$bin" train "${args[@]}" --epochs 1 --output "$work/mnt/new" >"$work/f.out" 2>"$work/f.err"
rc=$?
checks=$((checks + 1))
[ "$rc" = 1 ] && grep -q "Read-only file system" "$work/f.err" ||
    fail "new run on a read-only mount: exit $rc, stderr: $(cat "$work/f.err")"

finish fault_disk_test
