#!/usr/bin/env bash
# Fuzzes metrix's readers: builds the libFuzzer harnesses (clang, ASan + UBSan, -DMX_FUZZ=ON) in
# their own folder, writes the seed corpora with metrix's own writers, and runs each harness for
# SECONDS (default 20) on its growing corpus plus the seeds and every known damaged input. Fails
# on any finding (crash, sanitizer report, leak, input slower than 10 s, RSS over 2 GB or a single
# allocation over 2 GB); the input that caused it is left in $dir/findings/<reader>/.
#
#   bash tests/fuzz/run_fuzz.sh [SECONDS]        # CI: 15; a long run: 600 or more
# Environment: MX_FUZZ_DIR (build folder, default build-fuzz), MX_FUZZ_READERS (subset, e.g.
# "mat image"), MX_FUZZ_JOBS (build parallelism, default nproc).
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-20}
dir=${MX_FUZZ_DIR:-build-fuzz}
read -r -a readers <<< "${MX_FUZZ_READERS:-npy safetensors checkpoint config idx index image mat}"
start=$(date +%s)

cmake -S . -B "$dir" -DCMAKE_C_COMPILER=clang -DMX_FUZZ=ON -DMX_BUILD_TESTS=OFF \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
targets=(fuzz_gen_seeds)
for r in "${readers[@]}"; do targets+=("fuzz_$r"); done
if ! cmake --build "$dir" -j "${MX_FUZZ_JOBS:-$(nproc)}" --target "${targets[@]}" \
        >"$dir/build.log" 2>&1; then
    grep -E "error|Error" "$dir/build.log" | head -30
    echo "run_fuzz: build failed, see $dir/build.log"
    exit 1
fi
echo "run_fuzz: built ${#readers[@]} harnesses in $(( $(date +%s) - start )) s"

rm -rf "$dir/seeds"
"$dir/fuzz_gen_seeds" "$dir/seeds"
export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1
export LSAN_OPTIONS=suppressions=$PWD/.ci/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export OMP_NUM_THREADS=1
# the harnesses write each input to a temp file: in memory when possible (50x faster than disk)
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then export TMPDIR=/dev/shm; fi
fail=0
for r in "${readers[@]}"; do
    mkdir -p "$dir/corpus/$r" "$dir/findings/$r"
    inputs=("$dir/corpus/$r" "$dir/seeds/$r")   # new inputs go to the first folder
    [ -d "tests/fuzz/regressions/$r" ] && inputs+=("tests/fuzz/regressions/$r")
    # the reported damaged files (libFuzzer reads folders only: copies in $dir/known/<reader>)
    rm -rf "$dir/known/$r" && mkdir -p "$dir/known/$r"
    case $r in
        mat) cp tests/fixtures/reliability/*.mat tests/fixtures/data/cars_annos_zlib.mat \
                "$dir/known/$r/"; max_len=8192 ;;
        image) cp tests/fixtures/reliability/*.jpg "$dir/known/$r/"; max_len=8192 ;;
        *) max_len=4096 ;;
    esac
    inputs+=("$dir/known/$r")
    log="$dir/fuzz_$r.log"
    if "$dir/fuzz_$r" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len="$max_len" \
           -artifact_prefix="$dir/findings/$r/" -print_final_stats=1 "${inputs[@]}" >"$log" 2>&1; then
        status=ok
    else
        status=FAILED
        # a timeout that does not reproduce is the machine starving the process (libFuzzer's
        # timeout is wall-clock time), not a slow input: replay it 3 times before failing
        unit=$(sed -n 's/.*Test unit written to //p' "$log" | tail -1)
        if grep -q "ERROR: libFuzzer: timeout" "$log" && [ -f "$unit" ] &&
           "$dir/fuzz_$r" -timeout=10 -runs=3 "$unit" >"$log.replay" 2>&1; then
            status="ok (a timeout did not reproduce: $unit)"
        else
            fail=1
        fi
    fi
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    printf 'run_fuzz: %-12s %s  %4s s  %9s executions  corpus %s files\n' "$r" "$status" "$secs" \
        "${execs:-?}" "$(find "$dir/corpus/$r" -type f | wc -l)"
    if [ "$status" = FAILED ]; then
        grep -E "ERROR|SUMMARY|==[0-9]+==|Test unit written|#[0-9]+ 0x" "$log" | head -40 || true
        echo "run_fuzz: full log $log; findings in $dir/findings/$r/"
    fi
done
echo "run_fuzz: done in $(( $(date +%s) - start )) s"
exit $fail
