#!/usr/bin/env bash
# Data-parallel training under mpirun (docs/scaling.md). With frozen BN and the same global
# batch, 2 and 4 ranks give the same per-step losses and final parameters as 1 process, within
# float summation-order tolerances, for no mixing, Metrix at embed / feature (fused and unfused)
# / input level, and a proxy loss (20 steps: 20 epochs of 1 step, so log.csv holds every step's
# loss). A run started on 2 ranks resumes on 4 and on 1 with the uninterrupted continuation. An
# unreadable image on any rank stops every rank with that image's name and a non-zero exit. A
# global batch that does not divide by the ranks is refused naming --batch. A checkpoint evaluated
# on 1, 2, 3 and 4 ranks (sharded embedding and kNN) gives the same report. A full disk on rank 0
# stops every rank with its message and keeps the previous checkpoint (root: a small tmpfs).
# Usage: mpi_test.sh BUILD_DIR MPIRUN   (MPIRUN "none": built without MPI -> skipped, 77)
set -u
bin="$1/metrix"
diff_bin="$1/ckpt_diff"
mpirun="${2:-none}"
work="$1/mpi_test"
if [ "$mpirun" = none ] || ! command -v "$mpirun" >/dev/null; then
    echo "mpi_test: SKIP: metrix was built without MPI or mpirun is absent (apt-get install openmpi-bin libopenmpi-dev)"
    exit 77
fi
if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
    echo "mpi_test: SKIP: Fashion-MNIST not installed"
    exit 77
fi
rm -rf "$work" && mkdir -p "$work"
export OMP_NUM_THREADS=1
# as root, OpenMPI refuses to start without these; 4 ranks on 2 cores need --oversubscribe
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_mpi_yield_when_idle=1
# sanitizer builds: keep OpenMPI's plugins mapped and unwind fully, so that LeakSanitizer can name
# (and .ci/lsan.supp suppress) the allocations OpenMPI keeps for the life of the process
export OMPI_MCA_mca_base_component_disable_dlclose=1
[ -n "${ASAN_OPTIONS:-}" ] && export ASAN_OPTIONS="$ASAN_OPTIONS:fast_unwind_on_malloc=0"
[ -n "${LSAN_OPTIONS:-}" ] && export LSAN_OPTIONS="$LSAN_OPTIONS:fast_unwind_on_malloc=0"
mpi() { local np=$1; shift; timeout 600 "$mpirun" --oversubscribe -np "$np" "$@"; }
# Tolerances after 20 plain SGD steps (lr 0.01): per-step loss |diff| <= LOSS_TOL, final
# parameters and optimizer state |diff| <= PARAM_TOL. Measured: at most 1e-6 (losses: log.csv's
# 6 decimals) and 4e-7 (parameters) without proxies; ProxyAnchor (loss ~15) 2e-5 and 2.5e-5. SGD, because Adam's update g / sqrt(v) turns the last-bit differences
# of near-zero gradients into +-lr steps and the MS loss's miner then flips pairs: with Adam at
# lr 1e-3 the losses agree to 6 digits for about 6 steps, then drift to ~5e-3 by step 20 (the
# same happens between two thread counts of one process; see docs/scaling.md).
LOSS_TOL=${MX_MPI_LOSS_TOL:-5e-5}
PARAM_TOL=${MX_MPI_PARAM_TOL:-5e-5}
args=(--epochs 20 --max_steps_per_epoch 1 --batch 32 --bn_freeze 1 --eval_every 0 --threads 1
    --workers 1 --quiet --schedule none --train_classes_hi 1 --test_classes_lo 8
    --optimizer sgd --lr 0.01 --momentum 0)
fails=0 checks=0
fail() {
    fails=$((fails + 1))
    echo "FAIL: $*"
}
# loss_diff A B: largest |loss| difference over the epochs (= steps) of two log.csv
loss_diff() {
    paste -d, <(cut -d, -f2 "$1") <(cut -d, -f2 "$2") | awk -F, 'NR > 1 {
        d = $1 - $2; if (d < 0) d = -d; if (d > m) m = d; n++ } END { if (n < 1) m = 1e9;
        printf "%.3g\n", m }'
}
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }
# same NAME REF DIR: DIR's losses and checkpoint equal REF's within the tolerances
same() {
    local name="$1" ref="$2" d="$3"
    checks=$((checks + 1))
    local ld pd
    ld=$(loss_diff "$ref/log.csv" "$d/log.csv")
    pd=$("$diff_bin" "$ref/checkpoint_last.safetensors" "$d/checkpoint_last.safetensors") ||
        { fail "$name: checkpoints differ in structure or integers: $pd"; return; }
    local ma
    ma=$(echo "$pd" | awk '{print $2}')
    echo "mpi_test: $name: max |loss diff| $ld, params $pd"
    le "$ld" "$LOSS_TOL" || fail "$name: per-step losses differ by $ld > $LOSS_TOL"
    le "$ma" "$PARAM_TOL" || fail "$name: final parameters differ by $ma > $PARAM_TOL"
}

# make_pngs DIR <<'PY' ... PY: runs the Python on stdin with d = DIR and png(path), which writes a
# 40 x 40 RGB PNG of random pixels (standard library only; the script seeds random)
make_pngs() {
    {
        cat <<'PY'
import os, random, struct, sys, zlib
d = sys.argv[1]
def png(path, w=40, h=40):
    raw = b"".join(b"\0" + bytes(random.randrange(256) for _ in range(3 * w)) for _ in range(h))
    def chunk(t, b):
        return struct.pack(">I", len(b)) + t + b + struct.pack(">I", zlib.crc32(t + b) & 0xffffffff)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
PY
        cat
    } | /usr/bin/python3 - "$1"
}

# MX_MPI_TEST_ONLY="comm none embed resume eval sigint batch image disk buckets" runs only those parts (default: all)
want() { [ -z "${MX_MPI_TEST_ONLY:-}" ] || [[ " $MX_MPI_TEST_ONLY " == *" $1 "* ]]; }
# the communicator's collectives and failure agreement on 2 and 4 ranks (tests/comm_check.inc)
if want comm; then
    for np in 2 4; do
        checks=$((checks + 1))
        mpi $np "$1/comm_mpi_check" >"$work/comm-$np.out" 2>&1 ||
            fail "comm_mpi_check on $np ranks: $(grep -v "^comm_mpi_check: rank" "$work/comm-$np.out" | head -5)"
    done
fi

cases=("none:--mix none" "embed:--mix embed" "feature:--mix feature"
    "feature-unfused:--mix feature --mix_fused off" "input:--mix input"
    "feature-hardest:--mix feature --mix_negatives hardest --mix_k 3"
    "proxy-anchor:--loss proxy-anchor --mix embed --proxy_lr_mult 1 --lr 0.001")
for c in "${cases[@]}"; do
    name=${c%%:*}
    want "$name" || continue
    read -r -a extra <<<"${c#*:}"
    "$bin" train "${args[@]}" "${extra[@]}" --output "$work/$name-1" >"$work/$name-1.out" 2>&1 ||
        { fail "$name: 1 process: $(tail -2 "$work/$name-1.out")"; continue; }
    for np in 2 4; do
        mpi $np "$bin" train "${args[@]}" "${extra[@]}" --output "$work/$name-$np" \
            >"$work/$name-$np.out" 2>&1 ||
            { fail "$name: $np ranks: exit $?: $(tail -2 "$work/$name-$np.out")"; continue; }
        same "$name, $np ranks vs 1" "$work/$name-1" "$work/$name-$np"
    done
done
if want none; then
    grep -q "data parallel over 4 ranks" "$work/none-4.out" || fail "4 ranks not announced"
fi

# the gradient all-reduce in buckets overlapped with the backward (docs/scaling.md): ResNet-18's
# 11 M parameters make about 11 buckets (smallcnn's fit in one), on a folder of generated RGB
# images, feature mixing after the last stage; 2 ranks against 1 process
if want buckets; then
    bk="$work/bucket-images"
    mkdir -p "$bk"
    make_pngs "$bk" <<'PY'
random.seed(11)
for c in range(8):
    os.makedirs("%s/c%d" % (d, c), exist_ok=True)
    for k in range(6):
        png("%s/c%d/%d.png" % (d, c, k))
PY
    bargs=(--epochs 4 --max_steps_per_epoch 1 --batch 16 --bn_freeze 1 --eval_every 0 --threads 1
        --workers 1 --quiet --schedule none --optimizer sgd --lr 0.01 --momentum 0
        --dataset folder --data_root "$bk" --backbone resnet18 --image_size 32 --resize_size 36
        --embed_dim 32 --val_fraction 0 --mix feature)
    if "$bin" train "${bargs[@]}" --output "$work/bk-1" >"$work/bk-1.out" 2>&1; then
        mpi 2 "$bin" train "${bargs[@]}" --output "$work/bk-2" >"$work/bk-2.out" 2>&1 &&
            same "buckets (ResNet-18), 2 ranks vs 1" "$work/bk-1" "$work/bk-2" ||
            fail "buckets: 2 ranks: $(tail -2 "$work/bk-2.out")"
    else
        fail "buckets: 1 process: $(tail -2 "$work/bk-1.out")"
    fi
fi

# resume across rank counts (needs the embed case's 1-process run): 2 ranks, rank 0 killed (SIGKILL) right after epoch 10's checkpoint
# (checkpoint events: best then last per epoch); the run continues on 4 ranks and on 1 process
if want embed && want resume; then
MX_FAULT_INJECT=ckpt_done:20 mpi 2 "$bin" train "${args[@]}" --mix embed --output "$work/res-2" \
    >"$work/res-2.out" 2>&1
rc=$?
if [ $rc -ne 0 ] && [ "$(cut -d, -f1 "$work/res-2/log.csv" | tail -1)" = 10 ]; then
    cp -r "$work/res-2" "$work/res-2-1"
    mpi 4 "$bin" train --resume "$work/res-2" >"$work/res-4.out" 2>&1 ||
        fail "resume on 4 ranks: $(tail -2 "$work/res-4.out")"
    "$bin" train --resume "$work/res-2-1" >"$work/res-1.out" 2>&1 ||
        fail "resume on 1 process: $(tail -2 "$work/res-1.out")"
    same "resume 2 -> 4 ranks" "$work/embed-1" "$work/res-2"
    same "resume 2 -> 1 process" "$work/embed-1" "$work/res-2-1"
else
    fail "resume: the killed run on 2 ranks: exit $rc, $(tail -2 "$work/res-2.out")"
fi
fi

# sharded evaluation: one checkpoint evaluated (`metrix eval --run`, the test split of 2,000
# images, leave-one-out) on 1 process and on 2, 3 and 4 ranks: the split embedded in shards of
# whole batches, the exact kNN searched in gallery parts and merged (src/eval/knn_shard.c). The
# reports must be byte-identical JSON (R@K, MAP@R, R-Precision, NMI, alignment, uniformity): the
# embeddings are one process's bit for bit and the merge is exact.
if want eval; then
    checks=$((checks + 1))
    ev=("${args[@]}")
    ev[1]=2
    if "$bin" train "${ev[@]}" --mix none --output "$work/eval-run" >"$work/eval-run.out" 2>&1 &&
        "$bin" eval --run "$work/eval-run" --checkpoint last --json --threads 1 \
            >"$work/eval-1.json" 2>"$work/eval-1.err" && grep -q '"map_at_r"' "$work/eval-1.json"; then
        for np in 2 3 4; do
            mpi $np "$bin" eval --run "$work/eval-run" --checkpoint last --json --threads 1 \
                >"$work/eval-$np.json" 2>"$work/eval-$np.err" ||
                { fail "eval on $np ranks: exit $?: $(tail -2 "$work/eval-$np.err")"; continue; }
            grep -q "sharded over the ranks" "$work/eval-$np.err" ||
                fail "eval on $np ranks: not sharded: $(cat "$work/eval-$np.err")"
            if cmp -s "$work/eval-1.json" "$work/eval-$np.json"; then
                echo "mpi_test: eval on $np ranks: report identical to 1 process"
            else
                fail "eval on $np ranks differs from 1 process: $(cat "$work/eval-1.json") vs $(cat "$work/eval-$np.json")"
            fi
        done
    else
        fail "eval: the 1-process run or its evaluation: $(tail -2 "$work/eval-run.out" "$work/eval-1.err")"
    fi
fi

# stopping a run on 2 ranks by a signal while it trains (after epoch 1's log row; 10 epochs x
# 100 steps, so that on a quiet machine, where an epoch takes under a second, the signal still
# lands in training), three ways:
#   usr1-mpirun  SIGUSR1 to mpirun (forwarded to every rank): exit 130
#   int-ranks    SIGINT to the rank processes (as a batch system delivers it): exit 130
#   int-mpirun   SIGINT to mpirun (Ctrl-C): OpenMPI's mpirun records exit status 1 itself before
#                it sends SIGTERM to the ranks (docs/scaling.md): exit 1; the ranks save the
#                checkpoint (odls_base_sigkill_timeout 2 instead of 1: SIGTERM 2 s after the
#                signal, SIGKILL 2 s later, time for a loaded machine to finish the step)
# each time rank 0 reports the saved checkpoint, no temporary file is left, and the run resumed on
# 2 ranks ends exactly (losses, parameters, optimizer state: difference 0) where an uninterrupted
# 2-rank run ends
if want sigint; then
    sig=("${args[@]}")
    sig[1]=10
    sig+=(--max_steps_per_epoch 100)
    mpi 2 "$bin" train "${sig[@]}" --mix embed --output "$work/sig-ref" >"$work/sig-ref.out" 2>&1 ||
        fail "sigint: the reference run: $(tail -2 "$work/sig-ref.out")"
    for how in usr1-mpirun int-ranks int-mpirun; do
        checks=$((checks + 1))
        d="$work/sig-$how"
        # mpirun itself in the background (not under `timeout`, which would take the signal),
        # with a watchdog
        OMPI_MCA_odls_base_sigkill_timeout=$([ $how = int-mpirun ] && echo 2 || echo 1) \
            "$mpirun" --oversubscribe -np 2 "$bin" train "${sig[@]}" --mix embed --output "$d" \
            >"$d.out" 2>&1 &
        mp=$!
        (sleep 300 && kill -KILL $mp) >/dev/null 2>&1 &
        dog=$!
        for _ in $(seq 600); do # until epoch 1's row is on disk (at most 60 s)
            [ -f "$d/log.csv" ] && [ "$(wc -l <"$d/log.csv")" -ge 2 ] && break
            sleep 0.1
        done
        case $how in
        usr1-mpirun) kill -USR1 $mp ;;
        int-ranks) kill -INT $(pgrep -P $mp) ;;
        int-mpirun) kill -INT $mp ;;
        esac
        wait $mp
        rc=$?
        kill $dog 2>/dev/null
        want_rc=130
        [ $how = int-mpirun ] && want_rc=1
        echo "mpi_test: sigint $how: exit $rc, stopped after $(($(wc -l <"$d/log.csv") - 1)) epoch(s) logged"
        [ $rc -eq $want_rc ] || fail "sigint $how: exit $rc, expected $want_rc: $(tail -3 "$d.out")"
        grep -q "training interrupted; checkpoint saved in" "$d.out" ||
            fail "sigint $how: no checkpoint reported: $(tail -3 "$d.out")"
        [ -z "$(find "$d" -name '*.tmp.*')" ] || fail "sigint $how: temporary files left"
        mpi 2 "$bin" train --resume "$d" >"$d-resume.out" 2>&1 ||
            { fail "sigint $how: resume: $(tail -2 "$d-resume.out")"; continue; }
        LOSS_TOL=0 PARAM_TOL=0 same "sigint $how, resumed vs uninterrupted (2 ranks)" "$work/sig-ref" "$d"
    done
fi

# a global batch that does not divide by the ranks
if want batch; then
checks=$((checks + 1))
mpi 3 "$bin" train "${args[@]}" --output "$work/bad-batch" >"$work/bad-batch.out" 2>&1
rc=$?
[ $rc -ne 0 ] && grep -q "batch.*3 ranks" "$work/bad-batch.out" ||
    fail "batch 32 on 3 ranks: exit $rc, $(tail -2 "$work/bad-batch.out")"
[ -e "$work/bad-batch" ] && fail "batch 32 on 3 ranks: a run directory was created"
fi

# an unreadable image: every rank stops with its name, non-zero exit, no hang (timeout 600)
if want image; then
checks=$((checks + 1))
mkdir -p "$work/images"
img=$(cd "$work/images" && pwd)
make_pngs "$img" <<'PY'
random.seed(7)
with open(d + "/list.txt", "w") as lst:
    for c in range(4):
        for k in range(8):
            name = "%s/c%d_%d.png" % (d, c, k)
            if k == 5:  # one unreadable image per class
                name = "%s/bad_c%d.png" % (d, c)
                open(name, "wb").write(b"not a png at all")
            else:
                png(name)
            lst.write("%s %d\n" % (name, c))
PY
mpi 2 "$bin" train --dataset list --train_list "$img/list.txt" --backbone resnet18 \
    --embed_dim 16 --image_size 32 --resize_size 36 \
    --batch 8 --epochs 1 --threads 1 --workers 1 --quiet --mix none --output "$work/bad-image" \
    >"$work/bad-image.out" 2>&1
rc=$?
if [ $rc -eq 0 ] || ! grep -q "rank [01] of 2: .*bad_c[0-9].png" "$work/bad-image.out"; then
    fail "unreadable image on one rank: exit $rc: $(tail -3 "$work/bad-image.out")"
fi
[ "$(grep -c "metrix train: " "$work/bad-image.out")" -eq 1 ] ||
    fail "unreadable image: expected the error once (rank 0 reports): $(cat "$work/bad-image.out")"
ls "$work/bad-image"/*.tmp.* >/dev/null 2>&1 && fail "unreadable image: temporary files left"
fi

# a full disk on rank 0 (a small tmpfs; root only): every rank stops with rank 0's message, the
# previous checkpoint stays byte-identical, no temporary file is left
if want disk; then
    mkdir -p "$work/mnt"
    if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=8m tmpfs "$work/mnt" 2>/dev/null; then
        trap 'umount "$work/mnt" 2>/dev/null' EXIT
        disk=("${args[@]}")
        disk[1]=1
        if mpi 2 "$bin" train "${disk[@]}" --output "$work/mnt/run" >"$work/disk-a.out" 2>&1; then
            cp "$work/mnt/run/checkpoint_last.safetensors" "$work/disk-ckpt"
            dd if=/dev/zero of="$work/mnt/filler" bs=64k >/dev/null 2>&1
            truncate -s -256K "$work/mnt/filler"
            mpi 2 "$bin" train --resume "$work/mnt/run" --epochs 2 >"$work/disk-b.out" 2>&1
            rc=$?
            checks=$((checks + 1))
            [ $rc -ne 0 ] && grep -q "rank 0 of 2: .*No space left on device" "$work/disk-b.out" ||
                fail "full disk on rank 0: exit $rc: $(grep "metrix train" "$work/disk-b.out")"
            cmp -s "$work/disk-ckpt" "$work/mnt/run/checkpoint_last.safetensors" ||
                fail "full disk: checkpoint_last changed"
            [ -z "$(find "$work/mnt/run" -name '*.tmp.*')" ] || fail "full disk: temporary files left"
        else
            fail "full disk: first epoch on the tmpfs: $(tail -2 "$work/disk-a.out")"
        fi
        umount "$work/mnt" 2>/dev/null
    else
        echo "mpi_test: full-disk part skipped (needs root and a tmpfs mount)"
    fi
fi

echo "mpi_test: $checks checks, $fails failures"
[ $fails -eq 0 ]
