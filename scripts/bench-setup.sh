#!/bin/sh
# Installs what the benchmarks (bench/) need beyond scripts/setup.sh: OpenBLAS, the
# reference SGEMM. Debian 12; run as root or with sudo. NNC_SKIP_SETUP=1 skips it.
set -eu
[ "${NNC_SKIP_SETUP:-0}" = 1 ] && exit 0
PKGS="libopenblas-dev"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
echo "bench-setup: installing$missing"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends \
  -o DPkg::Lock::Timeout=300 $missing
