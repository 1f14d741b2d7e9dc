#!/usr/bin/env bash
# Installs the Debian 12 packages metrix needs to build, test and run. Idempotent; needs root
# (or sudo). Set MX_SETUP_SKIP_TORCH=1 to skip the PyTorch reference stack (tests that need it
# then use the fixtures committed under tests/fixtures/).
set -euo pipefail
pkgs=(build-essential cmake pkg-config
      libdnnl-dev libopenblas-openmp-dev
      libturbojpeg0-dev libpng-dev zlib1g-dev libmatio-dev libcairo2-dev libjson-c-dev
      dataset-fashion-mnist
      openmpi-bin libopenmpi-dev # data-parallel training over processes (mpirun; docs/scaling.md)
      clang libclang-rt-14-dev libomp-dev) # tests/fuzz: libFuzzer harnesses (clang + OpenMP)
if [ "${MX_SETUP_SKIP_TORCH:-0}" != 1 ]; then
    pkgs+=(python3-numpy python3-torch python3-torchvision python3-sklearn)
fi
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "setup: all ${#pkgs[@]} packages present"
    exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "setup: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done"
