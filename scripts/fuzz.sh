#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and runs each for a fixed time
# (default 20 s; FUZZ_SECONDS to change) from its seed corpus in fuzz/corpus.
# A crash fails the run; the input is left in fuzz/crashes/ to become a
# regression seed.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-20}
scripts/install-deps.sh
if ! command -v clang++-14 >/dev/null; then
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends clang-14 libclang-rt-14-dev
fi
cmake -S . -B build-fuzz -DAUDITLEDGER_FUZZ=ON -DBUILD_TESTING=OFF \
  -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-fuzz -j2
mkdir -p fuzz/crashes
for target in csv event command; do
  work=$(mktemp -d)
  cp fuzz/corpus/$target/* "$work/"
  echo "== ${target}_fuzzer for ${seconds}s"
  build-fuzz/fuzz/${target}_fuzzer "$work" -max_total_time="$seconds" -max_len=65536 \
    -artifact_prefix=fuzz/crashes/${target}- -print_final_stats=1 2>&1 | tail -4
  rm -rf "$work"
done
echo "fuzzing: no crash"
