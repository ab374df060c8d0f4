#!/bin/sh
# The README's main job: installs dependencies, builds, and runs the main example.
set -eu
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
exec "${NNC_BUILD_DIR:-build}/nnc" examples/fashion_mlp.nn "$@"
