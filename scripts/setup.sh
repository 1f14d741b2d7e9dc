#!/usr/bin/env bash
# Installs the Debian 12 packages metrix needs to build, test and run. Idempotent; needs root
# (or sudo). Set MX_SETUP_SKIP_TORCH=1 to skip the PyTorch reference stack (tests that need it
# then use the fixtures committed under tests/fixtures/).
#
#   bash scripts/setup.sh [--glyphs]
#
# --glyphs (or MX_SETUP_GLYPHS=1) also installs the CJK / Hangul fonts of `--dataset glyphs`
# (about 290 MB installed): Noto Sans/Serif CJK (Regular + Bold: four designs with all Han and
# Hangul), AR PL UKai / UMing (Kai and Ming), WenQuanYi Zen Hei / Micro Hei (two Hei), IPA
# Gothic / Mincho and VL Gothic (Japanese designs), UnFonts core (six Hangul designs, three with
# Hanja), Nanum (four Hangul designs) and Baekmuk (four Korean designs). The tests only need the
# small fonts-dejavu-core (a six-face subset of Latin glyphs).
set -euo pipefail
glyphs=${MX_SETUP_GLYPHS:-0}
[ "${1:-}" = --glyphs ] && glyphs=1
pkgs=(build-essential cmake pkg-config
      libdnnl-dev libopenblas-openmp-dev
      libturbojpeg0-dev libpng-dev zlib1g-dev libmatio-dev libcairo2-dev libjson-c-dev
      libfreetype-dev fonts-dejavu-core
      dataset-fashion-mnist
      openmpi-bin libopenmpi-dev # data-parallel training over processes (mpirun; docs/scaling.md)
      clang libclang-rt-14-dev libomp-dev) # tests/fuzz: libFuzzer harnesses (clang + OpenMP)
if [ "${MX_SETUP_SKIP_TORCH:-0}" != 1 ]; then
    pkgs+=(python3-numpy python3-torch python3-torchvision python3-sklearn)
fi
if [ "$glyphs" = 1 ]; then
    pkgs+=(fonts-noto-cjk fonts-arphic-ukai fonts-arphic-uming fonts-wqy-zenhei fonts-wqy-microhei
           fonts-ipafont-gothic fonts-ipafont-mincho fonts-vlgothic fonts-unfonts-core fonts-nanum
           fonts-baekmuk)
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
