#!/bin/sh
# Installs what the benchmarks (bench/) need beyond scripts/setup.sh: OpenBLAS (the
# reference SGEMM), Debian's PyTorch and numpy (the anchors of bench/torch_models.py and
# the fixtures of scripts/torch_fixtures.py). Not needed by CI or the tests.
# Debian 12; run as root or with sudo. NNC_SKIP_SETUP=1 skips it.
set -eu
[ "${NNC_SKIP_SETUP:-0}" = 1 ] && exit 0
PKGS="libopenblas-dev python3-torch python3-numpy"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO=sudo
  echo "bench-setup: installing$missing"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends \
    -o DPkg::Lock::Timeout=300 $missing
fi
