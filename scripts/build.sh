#!/bin/sh
# Configures and builds nnc into build/ (or $NNC_BUILD_DIR). Extra arguments go to cmake.
set -eu
cd "$(dirname "$0")/.."
B="${NNC_BUILD_DIR:-build}"
cmake -S . -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build "$B"
