#!/usr/bin/env bash
# Configures, builds (-Werror) and runs the ctest suite in the build folder given (default build/).
# MX_CMAKE_ARGS adds CMake options; MX_CTEST_ARGS adds ctest options (e.g. "-LE slow").
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
cmake -S . -B "$dir" -DMX_WERROR=ON ${MX_CMAKE_ARGS:-} >/dev/null
cmake --build "$dir" -j "$(nproc)"
ctest --test-dir "$dir" --output-on-failure ${MX_CTEST_ARGS:-}
