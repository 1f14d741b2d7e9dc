#!/bin/sh
# Data-parallel training throughput on this machine: `mpirun -np 2` with 1 thread per rank
# against 1 process with 2 threads, the same global batch and the same step (metrix bench train:
# forward, pair loss over the whole global batch, backward, gradient all-reduce, Adam).
# Usage: bench/bench_mpi.sh [BUILD_DIR] [smallcnn|resnet18|all] [STEPS] [ROUNDS]
# Each round runs the 1-process and the 2-rank step back to back (alternating which goes first)
# and prints the ratio of images/s (2 ranks / 1 process; target >= 0.9) and rank 0's share of
# the step spent in communication; the last line per workload is the median over the rounds.
# The machine is shared: the load average is printed with every round; compare ratios only.
set -eu
BUILD=${1:-build}
WHICH=${2:-all}
STEPS=${3:-}
ROUNDS=${4:-3}
METRIX="$BUILD/metrix"
[ -x "$METRIX" ] || { echo "bench_mpi.sh: $METRIX not built" >&2; exit 1; }
command -v mpirun >/dev/null || { echo "bench_mpi.sh: mpirun not found (apt-get install openmpi-bin)" >&2; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

one() { # backbone batch input steps
    "$METRIX" bench train --backbone "$1" --batch "$2" --input "$3" --steps "$4" --warmup 2 \
        --threads 2 --bn frozen
}
two() {
    OMP_NUM_THREADS=1 mpirun -np 2 --bind-to none "$METRIX" bench train --backbone "$1" \
        --batch "$2" --input "$3" --steps "$4" --warmup 2 --threads 1 --bn frozen
}
median() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{a[NR] = $1} END {print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2)}'; }

run() { # backbone batch input default_steps
    s=${STEPS:-$4}
    echo "== $1 global batch $2 input $3 steps $s rounds $ROUNDS (frozen BN)"
    ratios="" shares=""
    r=1
    while [ "$r" -le "$ROUNDS" ]; do
        if [ $((r % 2)) -eq 1 ]; then
            a=$(one "$1" "$2" "$3" "$s"); b=$(two "$1" "$2" "$3" "$s")
        else
            b=$(two "$1" "$2" "$3" "$s"); a=$(one "$1" "$2" "$3" "$s")
        fi
        m1=$(echo "$a" | tail -1 | sed 's/.*: //')
        m2=$(echo "$b" | tail -1 | sed 's/.*: //')
        share=$(echo "$b" | sed -n "s/.*(\\([0-9.]*\\) % of the step.*/\\1/p")
        comm=$(echo "$b" | grep '^communication' || true)
        q=$(echo "$m2 $m1" | awk '{printf "%.2f", $1 / $2}')
        echo "round $r (load $(cut -d' ' -f1-3 /proc/loadavg)): 1x2 threads $m1, 2 ranks x1 thread $m2 images/s, ratio $q"
        echo "    $comm"
        ratios="$ratios $q"
        shares="$shares $share"
        r=$((r + 1))
    done
    echo "ratio 2 ranks / 1 process: $(echo "$ratios" | median) (median of $ROUNDS rounds)"
    echo "communication share of the step (2 ranks, rank 0): $(echo "$shares" | median) %"
}

case $WHICH in
smallcnn) run smallcnn 256 1x28x28 20 ;;
resnet18) run resnet18 64 3x224x224 3 ;;
all)
    run smallcnn 256 1x28x28 20
    run resnet18 64 3x224x224 3
    ;;
*) echo "bench_mpi.sh: unknown workload $WHICH" >&2; exit 2 ;;
esac
