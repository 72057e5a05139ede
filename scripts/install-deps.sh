#!/usr/bin/env bash
# Installs the Debian packages auditledger builds and tests with.
set -euo pipefail
packages=(
  cmake g++ make pkg-config
  libgrpc++-dev libgrpc-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  librocksdb-dev libabsl-dev libssl-dev libjemalloc-dev
  libcli11-dev nlohmann-json3-dev libcsv-dev
  libgtest-dev libgmock-dev
)
# The browser test renders the HTML report in Debian's Chromium.
if [ "${AUDITLEDGER_WITH_BROWSER:-1}" = 1 ]; then
  packages+=(chromium)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
fi
