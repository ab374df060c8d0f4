#!/bin/sh
# The README's test command: installs dependencies, builds, and runs the whole suite.
set -eu
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
cd "${NNC_BUILD_DIR:-build}"
ctest --output-on-failure -j2 </dev/null
