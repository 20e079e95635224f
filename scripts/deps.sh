#!/usr/bin/env bash
# Installs the Debian packages that hoststack's build, tests and benchmarks need.
# Idempotent and quiet when everything is already present.
set -euo pipefail

pkgs=(
  build-essential cmake ninja-build clang clang-format libclang-rt-14-dev pkg-config
  libcmocka-dev libedit-dev
  iproute2 iputils-ping arping tcpdump socat ncat nftables procps
)

missing=()
for p in "${pkgs[@]}"; do
  [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps.sh: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
