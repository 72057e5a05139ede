#!/usr/bin/env bash
# The benchmark: ledgerd side by side with PostgreSQL 15 and RocksDB's own
# db_bench, on this machine, in one run. Builds in Release, starts everything
# on loopback in a temp dir, runs every scenario, and writes
# bench/results/<date>.json, <date>.md and <date>.svg.
#
#   bench/run.sh            the full run (1,000,000 events; about 10 minutes)
#   bench/run.sh --smoke    seconds, to keep the harness from rotting (CI)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

mode=full
[ "${1:-}" = "--smoke" ] && mode=smoke
if [ "$mode" = full ]; then
  seconds=10; fill=1000000; queries=2000; rdb_sync_num=20000; rdb_num=1000000; pg_seconds=10
else
  seconds=1; fill=3000; queries=40; rdb_sync_num=500; rdb_num=20000; pg_seconds=1
fi

AUDITLEDGER_WITH_BROWSER=0 scripts/install-deps.sh
need=()
for p in postgresql-15 rocksdb-tools python3; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if ((${#need[@]})); then
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}"
fi
cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
cmake --build build-release -j2 --target ledgerd ledgerctl ledger_bench

work=$(mktemp -d /tmp/auditledger-bench-XXXXXX)
chmod 755 "$work"
cleanup() {
  [ -n "${ledgerd_pid:-}" ] && kill -TERM "$ledgerd_pid" 2>/dev/null || true
  [ -d "$work/pg" ] && runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D "$work/pg" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
log() { printf '== %s\n' "$*" >&2; }

# ---------------------------------------------------------------- ledgerd
log "ledgerd ($mode)"
token=$(HOME="$work" build-release/clients/ledgerctl principal add --file "$work/principals.json" \
  --id bench-admin --role admin)
# The officer the bench's actions belong to.
HOME="$work" build-release/clients/ledgerctl principal add --file "$work/principals.json" \
  --id bench-officer --role officer >/dev/null
build-release/ledgerd --data_dir "$work/ledger" --listen 127.0.0.1:0 \
  --principals "$work/principals.json" >"$work/ledgerd.out" 2>"$work/ledgerd.log" &
ledgerd_pid=$!
for _ in $(seq 1 100); do grep -q "serving on" "$work/ledgerd.out" 2>/dev/null && break; sleep 0.1; done
addr=$(sed -n 's/.*serving on \([^ ]*\).*/\1/p' "$work/ledgerd.out")
build-release/ledger_bench --addr "$addr" --token "$token" --seconds "$seconds" --pid "$ledgerd_pid" \
  --fill_to "$fill" --query_calls "$queries" >"$work/ledger.json"
rss_kib=$(awk '/VmRSS/ {print $2}' "/proc/$ledgerd_pid/status")
hwm_kib=$(awk '/VmHWM/ {print $2}' "/proc/$ledgerd_pid/status")
kill -TERM "$ledgerd_pid"; wait "$ledgerd_pid" || true; ledgerd_pid=
data_bytes=$(du -sb "$work/ledger" | cut -f1)

# ---------------------------------------------------------------- PostgreSQL
log "PostgreSQL 15, synchronous_commit=on"
pgbin=/usr/lib/postgresql/15/bin
mkdir -p "$work/pg" && chown postgres "$work/pg"
runuser -u postgres -- "$pgbin/initdb" -D "$work/pg" -U postgres --auth=trust >/dev/null
port=$((20000 + RANDOM % 20000))
runuser -u postgres -- "$pgbin/pg_ctl" -D "$work/pg" -l "$work/pg/server.log" -w \
  -o "-p $port -k $work/pg -c listen_addresses=127.0.0.1 -c synchronous_commit=on -c fsync=on -c max_connections=200" start >/dev/null
psql() { runuser -u postgres -- /usr/bin/psql -h 127.0.0.1 -p "$port" -U postgres -q "$@"; }
psql -c "CREATE TABLE events (position bigserial PRIMARY KEY, stream int NOT NULL,
         version int NOT NULL, recorded_at timestamptz NOT NULL DEFAULT now(),
         payload text NOT NULL, UNIQUE (stream, version));"
cat >"$work/checked.sql" <<'SQL'
\set stream random(1, 1000)
BEGIN;
SELECT coalesce(max(version), 0) + 1 AS next FROM events WHERE stream = :stream \gset
INSERT INTO events (stream, version, payload) VALUES (:stream, :next, 'Progress note: the working group met, reviewed the milestones and agreed the next steps with partners; the risk register was updated.') ON CONFLICT (stream, version) DO NOTHING;
COMMIT;
SQL
cat >"$work/plain.sql" <<'SQL'
\set stream random(1, 1000)
INSERT INTO events (stream, version, payload) SELECT :stream, nextval('events_position_seq')::int, 'Progress note: the working group met, reviewed the milestones and agreed the next steps with partners; the risk register was updated.';
SQL
chmod 644 "$work"/*.sql
pg_tps() {  # clients script
  runuser -u postgres -- /usr/bin/pgbench -h 127.0.0.1 -p "$port" -U postgres -n -c "$1" -j 2 \
    -T "$pg_seconds" -f "$2" postgres 2>/dev/null | sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -1
}
pg_checked_16=$(pg_tps 16 "$work/checked.sql")
pg_checked_64=$(pg_tps 64 "$work/checked.sql")
pg_plain_16=$(pg_tps 16 "$work/plain.sql")
runuser -u postgres -- "$pgbin/pg_ctl" -D "$work/pg" -m fast stop >/dev/null

# ---------------------------------------------------------------- db_bench
log "RocksDB db_bench"
rdb() {  # benchmarks num sync [use_existing]
  db_bench --benchmarks="$1" --num="$2" --value_size=300 --key_size=8 --sync="$3" \
    --db="$work/rdb-$3" --use_existing_db="${4:-0}" --compression_type=snappy 2>/dev/null |
    awk -v b="${1##*,}" '$1 == b {for (i = 1; i < NF; i++) if ($(i+1) ~ /^ops\/sec/) {print $i; exit}}'
}
rdb_fill_sync=$(rdb fillseq "$rdb_sync_num" 1)
rdb_fill=$(rdb fillseq "$rdb_num" 0)
rdb_readseq=$(rdb readseq "$rdb_num" 0 1)

# ---------------------------------------------------------------- results
mkdir -p bench/results
stamp=$(date -u +%Y-%m-%d)
[ "$mode" = smoke ] && stamp="smoke"
python3 bench/report.py --mode "$mode" --ledger "$work/ledger.json" \
  --rss_kib "$rss_kib" --hwm_kib "$hwm_kib" --data_bytes "$data_bytes" \
  --pg_checked_16 "${pg_checked_16:-0}" --pg_checked_64 "${pg_checked_64:-0}" \
  --pg_plain_16 "${pg_plain_16:-0}" --rdb_fill_sync "${rdb_fill_sync:-0}" \
  --rdb_fill "${rdb_fill:-0}" --rdb_readseq "${rdb_readseq:-0}" \
  --out "bench/results/$stamp" --machine "$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f", $2 / 1048576}' /proc/meminfo) GiB"
cat "bench/results/$stamp.md"
