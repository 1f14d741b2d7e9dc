#!/usr/bin/env bash
# Peak memory of every paper preset (ResNet-50 at its preset batch, random weights): builds
# CUB / Cars196 / SOP / In-Shop-shaped folders of tiny random JPEGs (the transforms resize them
# to 224 anyway), runs each preset for 2 training steps (warm-up off, so that the trunk trains)
# plus its final test evaluation under /usr/bin/time -v, and prints peak RSS per preset, or the
# error of a preset that does not start (the memory check names the options to change).
#
#   bench/preset_memory.sh [BUILD_DIR] [PRESET ...]     (default: build, every paper preset)
# Environment: MX_BENCH_THREADS (2), MX_BENCH_DIR (a temporary folder, removed at the end; a
# given one is kept), MX_BENCH_TEST_CLASSES, MX_BENCH_TEST_IMAGES (below).
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
shift || true
bin=$build/metrix
[ -x "$bin" ] || { echo "preset_memory.sh: $bin not found (build first)" >&2; exit 1; }
threads=${MX_BENCH_THREADS:-2}
work=${MX_BENCH_DIR:-$(mktemp -d)}
mkdir -p "$work/runs"
trap '[ -z "${MX_BENCH_DIR:-}" ] && rm -rf "$work"' EXIT

presets=("$@")
if [ ${#presets[@]} -eq 0 ]; then
    mapfile -t presets < <("$bin" train --help | awk '/^  [a-z]+-[a-z-]+ / {print $1}' |
                           grep -v '^fashion-mnist$')
fi

# Datasets: 6 images per training class (SOP / In-Shop sample 5 per class); MX_BENCH_TEST_CLASSES
# (10) test classes of MX_BENCH_TEST_IMAGES (2) images: the test set's size barely moves the peak,
# which is the training step's, but evaluating it costs time.
# Images already in a kept folder are reused.
/usr/bin/python3 - "$work" "${MX_BENCH_TEST_IMAGES:-2}" "${MX_BENCH_TEST_CLASSES:-10}" <<'EOF'
import os, random, sys
import numpy as np
import scipy.io
from PIL import Image

root, n_test, n_test_cls = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(0)

def jpeg(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if not os.path.exists(path):
        a = np.array([[[rng.randrange(256) for _ in range(3)] for _ in range(16)] for _ in range(16)],
                     dtype=np.uint8)
        Image.fromarray(a).save(path, quality=90)

def per_class(c, train):
    return 6 if train else n_test

# CUB-200-2011: classes 1..100 train, 101.. test
d = f"{root}/cub"
ims, labs, k = [], [], 1
for c in range(1, 101 + n_test_cls):
    for j in range(per_class(c, c <= 100)):
        rel = f"{c:03d}.class/img_{c}_{j}.jpg"
        jpeg(f"{d}/images/{rel}")
        ims.append(f"{k} {rel}"); labs.append(f"{k} {c}"); k += 1
open(f"{d}/images.txt", "w").write("\n".join(ims) + "\n")
open(f"{d}/image_class_labels.txt", "w").write("\n".join(labs) + "\n")

# Cars196: cars_annos.mat, classes 1..98 train, 99.. test
d = f"{root}/cars"
rows = []
for c in range(1, 99 + n_test_cls):
    for j in range(per_class(c, c <= 98)):
        rel = f"car_ims/{c:03d}_{j}.jpg"
        jpeg(f"{d}/{rel}")
        rows.append((rel, c))
ann = np.zeros((1, len(rows)), dtype=[("relative_im_path", "O"), ("class", "O"), ("test", "O")])
for i, (rel, c) in enumerate(rows):
    ann[0, i] = (rel, np.array([[c]], dtype=np.uint8), np.array([[0]], dtype=np.uint8))
scipy.io.savemat(f"{d}/cars_annos.mat", {"annotations": ann})

# Stanford Online Products: Ebay_train.txt / Ebay_test.txt, 60 training products
d = f"{root}/sop"
for name, classes, train in (("Ebay_train.txt", range(1, 61), True),
                             ("Ebay_test.txt", range(61, 61 + n_test_cls), False)):
    lines, k = ["image_id class_id super_class_id path"], 1
    for c in classes:
        for j in range(per_class(c, train)):
            rel = f"bicycle_final/{c}_{j}.JPG"
            jpeg(f"{d}/{rel}")
            lines.append(f"{k} {c} 1 {rel}"); k += 1
    open(f"{d}/{name}", "w").write("\n".join(lines) + "\n")

# In-Shop: list_eval_partition.txt; 60 training items; test items: 1 query, the rest gallery
d = f"{root}/inshop"
lines = []
for c in range(1, 61 + n_test_cls):
    train = c <= 60
    for j in range(per_class(c, train)):
        rel = f"img/WOMEN/Dresses/id_{c:08d}/{j:02d}_front.jpg"
        jpeg(f"{d}/{rel}")
        lines.append(f"{rel} id_{c:08d} {'train' if train else ('query' if j == 0 else 'gallery')}")
open(f"{d}/list_eval_partition.txt", "w").write(
    f"{len(lines)}\nimage_name item_id evaluation_status\n" + "\n".join(lines) + "\n")
EOF
[ $? -eq 0 ] || { echo "preset_memory.sh: could not build the datasets" >&2; exit 1; }

avail=$(awk '/MemAvailable/ {printf "%.1f", $2 / 1048576}' /proc/meminfo)
echo "# $(date -u +%F) $(nproc) cores, MemAvailable ${avail} GiB at start; ResNet-50 random init,"
echo "# 2 training steps (warmup_epochs=0) + the final test evaluation, $threads threads"
printf '%-27s %-6s %12s %9s  %s\n' preset batch "peak RSS" seconds "result"
for p in "${presets[@]}"; do
    ds=${p%%-*}
    out=$work/runs/$p
    rm -rf "$out"
    log=$work/$p.log
    nice -n 10 /usr/bin/time -v "$bin" train --preset "$p" --data_root "$work/$ds" \
        --epochs 1 --warmup_epochs 0 --max_steps_per_epoch 2 --threads "$threads" --workers 1 \
        --output "$out" --quiet >"$log" 2>&1
    rc=$?
    rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.2f GiB", $2 / 1048576}' "$log")
    secs=$(awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, a, ":"); s = 0;
                       for (i = 1; i <= n; i++) s = s * 60 + a[i]; printf "%.0f", s}' "$log")
    batch=$(grep -o '"batch": *[0-9]*' "$out/config.json" 2>/dev/null | grep -o '[0-9]*$')
    if [ $rc -eq 0 ]; then
        res=ok
    else
        msg=$(grep -E '^metrix( [a-z]+)?:' "$log" | tail -n 1)
        res="FAILED (exit $rc): ${msg:-$(grep -v -E '^\s' "$log" | tail -n 1)}"
    fi
    printf '%-27s %-6s %12s %9s  %s\n' "$p" "${batch:-100}" "$rss" "$secs" "$res"
done
