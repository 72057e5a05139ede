#!/usr/bin/env bash
# The whole story on a fresh machine: install what is missing, build, start
# ledgerd on a new RocksDB data dir, import the Oxford plan, let two officers
# update it, ask the scrutiny committee's questions, produce the update
# report, and stop ledgerd cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

AUDITLEDGER_WITH_BROWSER=0 scripts/install-deps.sh
cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
cmake --build build-release -j2 --target ledgerd ledgerctl

ledgerd="$root/build-release/ledgerd"
ledgerctl="$root/build-release/clients/ledgerctl"
data="$root/demo-data"
out="$root/demo-out"
rm -rf "$data" "$out"
mkdir -p "$data" "$out"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "Principals: one admin, two officers, one scrutiny member (tokens shown once, only hashes kept)"
principals="$data/principals.json"
admin=$("$ledgerctl" principal add --file "$principals" --id policy --name "Policy team" --role admin)
jsmith=$("$ledgerctl" principal add --file "$principals" --id jsmith --name "J Smith" --role officer)
akhan=$("$ledgerctl" principal add --file "$principals" --id akhan --name "A Khan" --role officer)
cllr=$("$ledgerctl" principal add --file "$principals" --id cllr-jones --name "Cllr Jones" --role scrutiny)

step "Starting ledgerd on $data/rocksdb"
"$ledgerd" --data_dir "$data/rocksdb" --listen 127.0.0.1:0 --principals "$principals" \
  >"$data/ledgerd.out" 2>"$data/ledgerd.log" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  grep -q "serving on" "$data/ledgerd.out" 2>/dev/null && break
  kill -0 $pid 2>/dev/null || { cat "$data/ledgerd.log"; exit 1; }
  sleep 0.1
done
addr=$(sed -n 's/.*serving on \([^ ]*\).*/\1/p' "$data/ledgerd.out")
echo "ledgerd is serving on $addr"
export LEDGER_ADDR="$addr" LEDGER_PLAN=oxford-cpc-2023 HOME="$data"
as() { local token=$1; shift; LEDGER_TOKEN="$token" "$ledgerctl" "$@"; }

step "Importing the Oxford plan (adopted December 2023; October 2024 & final update)"
as "$admin" plan import examples/oxford-cpc-2023
as "$cllr" plan show

step "The policy team opens a follow-up period and assigns owners"
as "$admin" period open jan-2025 --title "January 2025 follow-up review"
as "$admin" action update r1/a7 --owner jsmith >/dev/null
as "$admin" action update r1/a10 --owner akhan >/dev/null
as "$admin" action update r10/a2 --owner akhan >/dev/null

step "Officers record their updates"
as "$jsmith" action update r1/a7 --status complete \
  --note "The City Centre Action Plan delivery board has met; terms of reference agreed." >/dev/null
as "$akhan" action update r1/a10 --target "June 2025" \
  --reason "Stakeholder engagement extended at the County's request" \
  --note "Framework drafting continues; engagement now closes in April." >/dev/null
as "$akhan" action update r10/a2 --status complete \
  --note "The definition of the Oxford Model was published on the Council's website." >/dev/null
echo "recorded"

step "Scrutiny: an officer trying to change someone else's action is refused"
if as "$jsmith" action update r1/a10 --note "not mine" 2>&1; then exit 1; fi

step "Scrutiny: the timeline of r1/a7"
as "$cllr" action timeline r1/a7

step "Scrutiny: who changed what (each officer)"
as "$cllr" changes --actor jsmith
as "$cllr" changes --actor akhan

step "Scrutiny: what slipped, and what was overdue at the end of March 2025"
as "$cllr" action list --slipped 1
as "$cllr" action list --overdue-on 2025-03-31

step "Scrutiny: the plan as adopted (what was true on 31 December 2023)"
as "$cllr" asof 2023-12-31 --clock effective >"$out/as-adopted.txt"
sed -n '1,8p' "$out/as-adopted.txt"

step "The update report for October 2024, and the position now"
for format in md html csv; do
  as "$cllr" report --period oct-2024 --format "$format" -o "$out/oxford-oct-2024.$format"
done
# To the microsecond: the whole story may have been recorded within this
# very second.
as "$cllr" report --as-of "$(date -u +%Y-%m-%dT%H:%M:%S.%6NZ)" --clock recorded --format html \
  -o "$out/oxford-now.html"
sed -n '1,12p' "$out/oxford-oct-2024.md"

step "Stopping ledgerd"
kill -TERM $pid
wait $pid
trap - EXIT
tail -2 "$data/ledgerd.log"
echo
echo "Reports are in $out; the ledger is in $data/rocksdb."
