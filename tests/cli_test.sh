#!/usr/bin/env bash
# End-to-end checks of the metrix command line: help and exit codes, one-line errors on bad
# input, a short training run, eval / embed of the run, Ctrl-C (SIGINT) then --resume.
# Usage: cli_test.sh BUILD_DIR   (ctest passes it). Exits non-zero on the first failure.
set -u
bin="$1/metrix"
work="$1/cli_test"
rm -rf "$work" && mkdir -p "$work"
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"

check "metrix --help" 0 "$bin" --help
check "metrix --version" 0 "$bin" --version
check "no command" 2 "$bin"
check "unknown command" 2 "$bin" frobnicate
for c in train eval embed bench; do check "metrix $c --help" 0 "$bin" "$c" --help; done
check "train --help lists keys with defaults" 0 grep -q -- "--mix_weight X" <("$bin" train --help)
check "unknown key" 2 "$bin" train --no_such_key 1
expect_err "unknown key" "no_such_key"
check "bad value" 2 "$bin" train --loss arcface
expect_err "bad value" "proxy-anchor"
check "bad preset" 2 "$bin" train --preset imagenet
check "bad config file" 2 "$bin" train --config "$work/missing.json"
expect_err "bad config file" "missing.json"

# the other commands' options (tools/cli_opts.c): one error line naming the command and option
for b in train knn loss; do check "metrix bench $b --help" 0 "$bin" bench "$b" --help; done
check "--help lists an option with its default" 0 grep -q -- "--batch B .*(default 256)" \
    <("$bin" bench train --help)
check "--help lists the --run mode too" 0 grep -q -- "--split SPLIT .*(default test)" \
    <("$bin" eval --help)
check "unknown option" 2 "$bin" bench knn --no_such_option 1
expect_err "unknown option" "metrix bench knn: unknown option '--no_such_option'"
check "non-numeric value" 2 "$bin" bench train --batch abc
expect_err "non-numeric value" "metrix bench train: --batch 'abc': expected an integer"
check "out-of-range value" 2 "$bin" eval --threads 5000
expect_err "out-of-range value" "metrix eval: --threads '5000': expected an integer in 0 .. 4096"
check "out-of-range value, --opt=value" 2 "$bin" embed --dim=0
expect_err "out-of-range value, --opt=value" "metrix embed: --dim '0': expected"
check "unknown convolution algorithm" 2 "$bin" embed --conv-algo fft
expect_err "unknown convolution algorithm" "metrix embed: --conv-algo 'fft': expected winograd or direct"
check "missing value" 2 "$bin" bench loss --n
expect_err "missing value" "metrix bench loss: --n: expected a value"
check "bad choice" 2 "$bin" bench loss --neg hardest
expect_err "bad choice" "expected all, hard or random"
check "bad shape" 2 "$bin" bench train --input 3x224
expect_err "bad shape" "--input '3x224': expected CxHxW"
check "flag with a value" 2 "$bin" eval --json=yes
expect_err "flag with a value" "--json takes no value"
check "option of the other mode" 2 "$bin" eval --run "$work" --nmi-iters 5
expect_err "option of the other mode" "unknown option '--nmi-iters' (with --run only"
check "--opt=value form" 0 "$bin" bench knn --n=50 --dim=4 --k=3 --threads=1
check "--opt=value form took the values" 0 grep -q "n=50 dim=4 k=3 threads=1" "$work/last"

if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
    echo "cli_test: Fashion-MNIST not installed: skipping the training checks"
    echo "cli_test: $checks passed, $fails failed"
    exit $((fails > 0))
fi

run="$work/run"
small=(--epochs 2 --max_steps_per_epoch 5 --batch 64 --threads 2 --quiet)
check "short training run" 0 "$bin" train "${small[@]}" --output "$run"
check "report printed" 0 grep -q "Recall@1" "$work/last"
check "existing run refused" 1 "$bin" train "${small[@]}" --output "$run"
expect_err "existing run refused" "resume"
# a mixed batch too large for memory: refused at planning, naming the options and the bytes
# (the unfused path: the fused head needs no network slot for the mixed examples)
check "train: mixed batch too large" 1 "$bin" train --batch 2048 --mix_k 100000 --mix_fused off \
    --quiet --output "$work/run_mixk"
expect_err "train: mixed batch too large" "lower batch (now 2048"
expect_err "train: mixed batch too large" "mix_k (now 100000: up to 4192256 mixed examples)"
expect_err "train: mixed batch too large" "needs at least [0-9.]* GiB"
check "train: mixed batch too large left no run folder" 1 test -e "$work/run_mixk"
check "eval --run" 0 "$bin" eval --run "$run" --json
check "eval --run gives JSON" 0 grep -q '"map_at_r"' "$work/last"
check "embed --run" 0 "$bin" embed --run "$run" --output "$work/E.npy" --labels-output "$work/L.npy"
check "eval of embedded .npy" 0 "$bin" eval --embeddings "$work/E.npy" --labels "$work/L.npy"
check "eval with --opt=value options" 0 "$bin" eval --embeddings="$work/E.npy" \
    --labels="$work/L.npy" --k=1,4 --no-nmi --json
cp "$work/last" "$work/eval_opts.json"
check "--k=1,4 reached the report" 0 grep -qE '"recall": \{"1": [^,]*, "4": [^,}]*\}' \
    "$work/eval_opts.json"
check "--no-nmi reached the report" 1 grep -q '"nmi"' "$work/eval_opts.json"
check "eval: labels of another length" 1 "$bin" eval --embeddings "$work/E.npy" --labels "$work/E.npy"
printf 'not a npy file' > "$work/bad.npy"
check "eval: corrupt .npy" 1 "$bin" eval --embeddings "$work/bad.npy" --labels "$work/L.npy"
expect_err "eval: corrupt .npy" "bad.npy"
check "embed: wrong input array" 1 "$bin" embed --backbone smallcnn \
    --weights "$run/checkpoint_last.safetensors" --input "$work/E.npy" --output "$work/X.npy"

# non-finite numbers: embed names the input element, weight loading names the tensor
mknpy() { # mknpy FILE SHAPE NUMEL INDEX BYTES: float32 zeros of SHAPE ("2, 1, 28, 28"), one set
    local h="{'descr': '<f4', 'fortran_order': False, 'shape': ($2), }"
    h="$h$(printf '%*s' $(((64 - (11 + ${#h}) % 64) % 64)) '')"
    local len=$((${#h} + 1))
    { printf '\x93NUMPY\x01\x00'; printf "$(printf '\\x%02x\\x%02x' $((len & 255)) $((len >> 8)))"
      printf '%s\n' "$h"; head -c $((4 * $3)) /dev/zero; } >"$1"
    printf "$5" | dd of="$1" bs=1 seek=$((10 + len + 4 * $4)) conv=notrunc 2>/dev/null
}
emb=(embed --backbone smallcnn --weights "$run/checkpoint_last.safetensors" --output "$work/X.npy")
mknpy "$work/x_ok.npy" "2, 1, 28, 28" 1568 0 '\x00\x00\x00\x00'
check "embed: finite input" 0 "$bin" "${emb[@]}" --input "$work/x_ok.npy"

# bf16 mixed precision: a bf16 run says so in config.json and report.txt; its checkpoint is an
# ordinary float one (embeds in fp32 and bf16); a CPU without AVX512-BF16 (forced through
# oneDNN's ONEDNN_MAX_CPU_ISA) refuses bf16 training with one clear error and no run folder, and
# evaluates a bf16 run in fp32
check "bad precision" 2 "$bin" train --precision fp16
check "bf16 refused without AVX512-BF16" 1 env ONEDNN_MAX_CPU_ISA=AVX512_CORE "$bin" train \
    "${small[@]}" --precision bf16 --output "$work/run_nobf16"
expect_err "bf16 refused without AVX512-BF16" "precision bf16 needs a CPU with AVX512-BF16"
check "bf16 refusal left no run folder" 1 test -e "$work/run_nobf16"
if grep -qw avx512_bf16 /proc/cpuinfo; then
    runb="$work/run_bf16"
    check "bf16 training run" 0 "$bin" train "${small[@]}" --precision bf16 --output "$runb"
    check "bf16 run: config.json" 0 grep -q '"precision": *"bf16"' "$runb/config.json"
    check "bf16 run: report.txt" 0 grep -q "^precision: bf16" "$runb/report.txt"
    check "fp32 run: report.txt" 0 grep -q "^precision: fp32" "$run/report.txt"
    embb=(embed --backbone smallcnn --weights "$runb/checkpoint_last.safetensors" --input
          "$work/x_ok.npy")
    check "bf16 checkpoint embeds in fp32" 0 "$bin" "${embb[@]}" --output "$work/Eb32.npy"
    check "bf16 checkpoint embeds in bf16" 0 "$bin" "${embb[@]}" --output "$work/Eb16.npy" \
        --precision bf16
    check "fp32 checkpoint embeds in bf16" 0 "$bin" "${emb[@]}" --input "$work/x_ok.npy" \
        --precision bf16
    check "eval --run of the bf16 run" 0 "$bin" eval --run "$runb" --json
    check "eval --run of the bf16 run without AVX512-BF16 (fp32)" 0 \
        env ONEDNN_MAX_CPU_ISA=AVX512_CORE "$bin" eval --run "$runb" --json
fi
mknpy "$work/x_nan.npy" "2, 1, 28, 28" 1568 800 '\x00\x00\xc0\x7f'
check "embed: NaN input" 1 "$bin" "${emb[@]}" --input "$work/x_nan.npy"
expect_err "embed: NaN input" "x_nan.npy: example 1, channel 0, pixel (0, 16): nan is not finite"
mknpy "$work/x_inf.npy" "2, 1, 28, 28" 1568 33 '\x00\x00\x80\x7f'
check "embed: Inf input" 1 "$bin" "${emb[@]}" --input "$work/x_inf.npy"
expect_err "embed: Inf input" "x_inf.npy: example 0, channel 0, pixel (1, 5): inf is not finite"
# a NaN in bn2.weight (data_offsets start 75136 in the smallcnn checkpoint's data section)
nanw="$run/nan_weights.safetensors"
cp "$run/checkpoint_last.safetensors" "$nanw"
hlen=$(od -An -t u8 -N8 "$nanw" | tr -d ' ')
boff=$(head -c $((8 + hlen)) "$nanw" | grep -ao '"bn2.weight":{[^}]*}' | sed 's/.*data_offsets":\[\([0-9]*\),.*/\1/')
printf '\x00\x00\xc0\x7f' | dd of="$nanw" bs=1 seek=$((8 + hlen + boff + 12)) conv=notrunc 2>/dev/null
check "embed: NaN weight" 1 "$bin" embed --backbone smallcnn --weights "$nanw" \
    --input "$work/x_ok.npy" --output "$work/X.npy"
expect_err "embed: NaN weight" "nan_weights.safetensors: tensor 'bn2.weight': element 3 is nan"
check "eval --run: NaN weight in the checkpoint" 1 "$bin" eval --run "$run" \
    --checkpoint nan_weights.safetensors
expect_err "eval --run: NaN weight in the checkpoint" "tensor 'bn2.weight': element 3 is nan"
check "train --weights: NaN weight" 1 "$bin" train "${small[@]}" --weights "$nanw" \
    --output "$work/run_nanw"
expect_err "train --weights: NaN weight" "tensor 'bn2.weight': element 3 is nan"
check "train --weights: no run folder left" 1 test -e "$work/run_nanw/report.json"

# Ctrl-C: SIGINT during training saves a checkpoint and exits 130; --resume finishes the run
run2="$work/run_interrupted"
"$bin" train --epochs 4 --max_steps_per_epoch 150 --batch 64 --threads 2 --quiet \
    --eval_test false --output "$run2" >"$work/out" 2>"$work/err" &
pid=$!
# interrupt during epoch 2: right after epoch 1's log row appears
for _ in $(seq 1 1200); do [ -f "$run2/log.csv" ] && break; sleep 0.05; done
kill -INT "$pid"
wait "$pid"
rc=$?
checks=$((checks + 1))
if [ "$rc" != 130 ] || [ ! -f "$run2/checkpoint_last.safetensors" ]; then
    fails=$((fails + 1))
    echo "FAIL: SIGINT: exit $rc (expected 130), checkpoint present: $([ -f "$run2/checkpoint_last.safetensors" ] && echo yes || echo no)"
    sed 's/^/  | /' "$work/err" | head -5
fi
check "resume after SIGINT" 0 "$bin" train --resume "$run2"
check "resumed run has a report" 0 test -f "$run2/report.json"
check "resumed run logged every epoch once" 0 test "$(grep -c '^[0-9]' "$run2/log.csv")" = 4
check "resume takes only --epochs" 2 "$bin" train --resume "$run2" --lr 1

finish cli_test
