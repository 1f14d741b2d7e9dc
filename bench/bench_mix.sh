#!/bin/sh
# The cost of Metrix per mixing level: same-run step-time ratios Metrix / baseline (mix none), real
# trainer steps (metrix bench mix: loader, clean pass, mixing, loss, backward, Adam), with the
# peak RSS of each configuration (one process each).
# Usage: bench/bench_mix.sh [BUILD_DIR] [smallcnn|resnet50|all] [ROUNDS] [STEPS]
#   smallcnn: Fashion-MNIST, batch 128 (the embedded default; needs dataset-fashion-mnist)
#   resnet50: batch 32 at 224 x 224, frozen BN, on a synthetic folder of JPEGs (64 classes x 8,
#             written once by /usr/bin/python3 + PIL into $MX_BENCH_DATA, default
#             /tmp/metrix_bench_mix_data), m-per-class sampling (4 per class)
# Rounds alternate the configurations (the machine is shared: compare ratios, not times); the
# summary gives the median ratio over the rounds, and the load average seen. "unfused" rows are
# the path before the fused head (mix_fused off), for the before / after comparison. On ResNet-50
# the unfused and input rows plan a network slot for every mixed example (tens of GB at batch 32):
# they run only with MX_BENCH_BIG=1. MX_BENCH_THREADS (default 2): threads per run; on an
# oversubscribed machine 1 thread gives steadier ratios (OpenMP barriers wait on descheduled
# threads).
set -eu
BUILD=${1:-build}
WHICH=${2:-all}
ROUNDS=${3:-3}
STEPS=${4:-}
METRIX="$BUILD/metrix"
[ -x "$METRIX" ] || { echo "bench_mix.sh: $METRIX not built" >&2; exit 1; }
DATA=${MX_BENCH_DATA:-/tmp/metrix_bench_mix_data}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

make_data() {
    [ -d "$DATA/c63" ] && return 0
    /usr/bin/python3 - "$DATA" <<'PY'
import os, sys
import numpy as np
from PIL import Image
root = sys.argv[1]
rng = np.random.default_rng(1)
for c in range(64):  # 32 training classes x 8 images: 8 steps of 32 per epoch
    d = os.path.join(root, "c%02d" % c)
    os.makedirs(d, exist_ok=True)
    base = rng.integers(0, 256, (8, 8, 3))
    for k in range(8):
        img = np.kron(base, np.ones((32, 32, 1))) + rng.normal(0, 20, (256, 256, 3))
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(os.path.join(d, "%d.jpg" % k))
PY
}

# one configuration: name, then --set options; appends "name ms rss" to $TMP/results
one() {
    name=$1
    shift
    out=$("$METRIX" bench mix --threads "${MX_BENCH_THREADS:-2}" --steps "$S" --warmup "$W" "$@" 2>&1) || true
    ms=$(echo "$out" | sed -n 's/^step ms: //p')
    rss=$(echo "$out" | sed -n 's/^peak RSS MB: //p')
    path=$(echo "$out" | sed -n 's/^mixing: //p')
    if [ -z "$ms" ]; then
        err=$(echo "$out" | grep -v '^peak RSS' | tail -1)
        echo "  $name: FAILED ($err), peak RSS ${rss:-?} MB"
        echo "$name fail ${rss:-0}" >>"$TMP/results"
    else
        echo "  $name: step $ms ms, peak RSS $rss MB  [${path:-none}]"
        echo "$name $ms $rss" >>"$TMP/results"
    fi
}

summary() {
    echo "-- $1: median over $ROUNDS rounds (ratio to the same round's baseline step)"
    awk '
        { name[NR] = $1; ms[NR] = $2; rss[NR] = $3 }
        END {
            r = 0
            for (i = 1; i <= NR; i++) {
                if (name[i] == "baseline") { r++; base = ms[i] }
                if (!(name[i] in seen)) { seen[name[i]] = 1; order[++no] = name[i] }
                if (ms[i] == "fail") { fails[name[i]]++; peak[name[i]] = rss[i]; continue }
                k = ++cnt[name[i]]; ratio[name[i], k] = ms[i] / base; t[name[i], k] = ms[i]
                if (rss[i] > peak[name[i]]) peak[name[i]] = rss[i]
            }
            for (o = 1; o <= no; o++) {
                nm = order[o]; n = cnt[nm]
                if (n == 0) { printf "  %-26s failed in all %d rounds (peak RSS %s MB)\n", nm, fails[nm], peak[nm]; continue }
                for (a = 1; a <= n; a++) for (b = a + 1; b <= n; b++) {
                    if (ratio[nm, b] < ratio[nm, a]) { x = ratio[nm, a]; ratio[nm, a] = ratio[nm, b]; ratio[nm, b] = x }
                    if (t[nm, b] < t[nm, a]) { x = t[nm, a]; t[nm, a] = t[nm, b]; t[nm, b] = x }
                }
                m = n % 2 ? ratio[nm, (n + 1) / 2] : (ratio[nm, n / 2] + ratio[nm, n / 2 + 1]) / 2
                mt = n % 2 ? t[nm, (n + 1) / 2] : (t[nm, n / 2] + t[nm, n / 2 + 1]) / 2
                printf "  %-26s %8.1f ms  ratio %6.2f  peak RSS %6.0f MB\n", nm, mt, m, peak[nm]
            }
        }' "$TMP/results"
}

run_net() { # net
    NET=$1
    : >"$TMP/results"
    if [ "$1" = smallcnn ]; then
        S=${STEPS:-30}
        W=5
        set -- --set batch=128
    else
        make_data
        S=${STEPS:-3}
        W=1
        set -- --set dataset=folder --set "data_root=$DATA" --set backbone=resnet50 \
            --set batch=32 --set bn_freeze=1 --set image_size=224 --set resize_size=256 \
            --set embed_dim=512 --set sampler=m-per-class --set samples_per_class=4 --set val_fraction=0
    fi
    r=1
    while [ "$r" -le "$ROUNDS" ]; do
        echo "round $r (load $(cut -d' ' -f1-3 /proc/loadavg), ${MX_BENCH_THREADS:-2} threads)"
        one baseline "$@" --set mix=none
        one feature-random5 "$@" --set mix=feature --set mix_negatives=random
        one feature-all "$@" --set mix=feature --set mix_negatives=all
        one embed-all "$@" --set mix=embed --set mix_negatives=all
        if [ "$NET" = smallcnn ] || [ "${MX_BENCH_BIG:-0}" = 1 ]; then
            one input-random5-capped "$@" --set mix=input --set mix_negatives=random
            one unfused-feature-random5 "$@" --set mix=feature --set mix_negatives=random \
                --set mix_fused=off
            one unfused-feature-all "$@" --set mix=feature --set mix_negatives=all --set mix_fused=off
        fi
        r=$((r + 1))
    done
    summary "$NET"
}

case $WHICH in
smallcnn | resnet50) echo "== $WHICH"; run_net "$WHICH" ;;
all)
    echo "== smallcnn"; run_net smallcnn
    echo "== resnet50"; run_net resnet50
    ;;
*) echo "bench_mix.sh: unknown workload $WHICH" >&2; exit 2 ;;
esac
