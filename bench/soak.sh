#!/usr/bin/env bash
# Soak: ledgerd under mixed load (durable commands at 16 callers, queries
# between) for 10 minutes (SOAK_SECONDS to change), sampling throughput,
# latency and resident memory every 30 s into bench/results/soak-<date>.json.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${SOAK_SECONDS:-600}
AUDITLEDGER_WITH_BROWSER=0 scripts/install-deps.sh
cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
cmake --build build-release -j2 --target ledgerd ledgerctl ledger_bench
work=$(mktemp -d /tmp/auditledger-soak-XXXXXX)
trap '{ kill -TERM ${pid:-0} && wait ${pid:-0}; } 2>/dev/null || true; rm -rf "$work"' EXIT
token=$(HOME="$work" build-release/clients/ledgerctl principal add --file "$work/p.json" \
  --id soak --role admin 2>/dev/null)
build-release/ledgerd --data_dir "$work/ledger" --listen 127.0.0.1:0 --principals "$work/p.json" \
  >"$work/out" 2>"$work/log" &
pid=$!
for _ in $(seq 1 100); do grep -q "serving on" "$work/out" 2>/dev/null && break; sleep 0.1; done
addr=$(sed -n 's/.*serving on \([^ ]*\).*/\1/p' "$work/out")
mkdir -p bench/results
build-release/ledger_bench --addr "$addr" --token "$token" --soak "$seconds" --pid "$pid" \
  >"bench/results/soak-$(date -u +%Y-%m-%d).json"
