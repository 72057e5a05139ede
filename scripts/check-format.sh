#!/usr/bin/env bash
# Fails when a C++ or proto file differs from what clang-format (the
# repository's .clang-format) would make of it; `--fix` rewrites them.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v clang-format-14 >/dev/null; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends clang-format-14
fi
# A failing git (no work tree, an unsafe directory) fails the check rather
# than leave it nothing to check.
listed=$(git ls-files '*.cc' '*.h' '*.proto')
mapfile -t files <<<"$listed"
if [ -z "$listed" ] || ((${#files[@]} == 0)); then
  echo "check-format: git lists no C++ or proto file" >&2
  exit 1
fi
if [ "${1:-}" = --fix ]; then
  clang-format-14 -i "${files[@]}"
else
  clang-format-14 --dry-run -Werror "${files[@]}"
  echo "format: ${#files[@]} files as clang-format makes them"
fi
