#!/bin/sh
# Installs what nnc needs on Debian 12 (run as root). Safe to run again: apt-get skips
# what is installed. Set NNC_SKIP_SETUP=1 to skip (e.g. on a machine set up by hand).
set -eu
[ "${NNC_SKIP_SETUP:-0}" = 1 ] && exit 0
PKGS="build-essential cmake ninja-build pkg-config llvm-19-dev clang-19 libclang-rt-19-dev \
  re2c lemon libcriterion-dev libedit-dev zlib1g-dev dataset-fashion-mnist fortunes fortunes-min"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
echo "setup: installing$missing"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends \
  -o DPkg::Lock::Timeout=300 $missing
