#!/usr/bin/env bash
# Fails when a C++ or proto file differs from what clang-format (the
# repository's .clang-format) would make of it; `--fix` rewrites them.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v clang-format-14 >/dev/null; then
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends clang-format-14
fi
mapfile -t files < <(git ls-files '*.cc' '*.h' '*.proto')
if [ "${1:-}" = --fix ]; then
  clang-format-14 -i "${files[@]}"
else
  clang-format-14 --dry-run -Werror "${files[@]}"
  echo "format: ${#files[@]} files as clang-format makes them"
fi
