#!/usr/bin/env python3
"""Turns one benchmark run into bench/results/<name>.json, .md and .svg:
every figure beside its baseline, the ratio, and the target it is held to."""
import argparse
import json

p = argparse.ArgumentParser()
for name in ["mode", "ledger", "out", "machine"]:
    p.add_argument("--" + name, required=True)
for name in ["rss_kib", "hwm_kib", "data_bytes", "pg_checked_16", "pg_checked_64", "pg_plain_16",
             "rdb_fill_sync", "rdb_fill", "rdb_readseq"]:
    p.add_argument("--" + name, type=float, default=0)
a = p.parse_args()
ledger = json.load(open(a.ledger))

def by_concurrency(c):
    for row in ledger["commands"]:
        if row["concurrency"] == c:
            return row
    return {"ops_per_s": 0, "p50_ms": 0, "p99_ms": 0, "p999_ms": 0}

def ratio(x, y):
    return round(x / y, 2) if y else None

events = ledger["events"]
q = ledger["queries"]
c64 = by_concurrency(64)
rows = []  # (figure, value, unit, baseline name, baseline, ratio, target, met)
def row(figure, value, unit, baseline_name="", baseline=0.0, target="", met=None):
    rows.append({"figure": figure, "value": round(value, 3), "unit": unit,
                 "baseline": baseline_name, "baseline_value": round(baseline, 3),
                 "ratio": ratio(value, baseline), "target": target, "met": met})

for c in [1, 16, 64]:
    r = by_concurrency(c)
    base = a.pg_checked_64 if c == 64 else a.pg_checked_16 if c == 16 else 0
    row(f"durable commands, {c} callers", r["ops_per_s"], "commands/s",
        "PostgreSQL version-checked" if base else "", base,
        ">= 5x PostgreSQL" if c == 64 else "",
        (r["ops_per_s"] >= 5 * base) if c == 64 and base else None)
    row(f"  latency p50 / p99 / p99.9 at {c}", r["p99_ms"], "ms p99")
row("PostgreSQL plain appends, 16 clients", a.pg_plain_16, "inserts/s")
row("durable commands vs db_bench fillseq --sync=1", c64["ops_per_s"], "commands/s",
    "db_bench fillseq sync", a.rdb_fill_sync)
imp = ledger["import"]["events_per_s"]
row("batched import (100 events/command)", imp, "events/s", "db_bench fillseq unsynced",
    a.rdb_fill, ">= 50% of db_bench", imp >= 0.5 * a.rdb_fill if a.rdb_fill else None)
reb = ledger["rebuild"]["events_per_s"]
row(f"projection rebuild of {events} events", reb, "events/s", "db_bench readseq",
    a.rdb_readseq, ">= 40% of db_bench readseq", reb >= 0.4 * a.rdb_readseq if a.rdb_readseq else None)
for name, model in sorted(ledger["rebuild"].get("models", {}).items()):
    row(f"  the {name} model rebuilt alone", model["events_per_s"], "events/s",
        "db_bench readseq", a.rdb_readseq)
row(f"verify {ledger['verify']['events']} events", ledger["verify"]["events_per_s"], "events/s")
for label, scenario in [("commands at 64 callers", c64), ("the batched import", ledger["import"])]:
    lag = scenario.get("read_your_writes")
    if lag:
        row(f"read models' lag under {label}: a query at the newest acknowledged position "
            f"(p50 {lag['p50_ms']:.2f} ms, max {lag['max_ms']:.1f} ms, {lag['ops']} samples)",
            lag["p99_ms"], "ms p99")
row("read models catch-up after the fill", ledger["catch_up_seconds"], "s")
row("ledgerd idle after the catch-up (flushes and compactions; queries are measured after it)", ledger.get("settle_seconds", 0), "s")
for name, target in [("GetAction", 1.0), ("GetActionTimeline", None), ("ListActions", None),
                     ("GetPlanAsOf", 50.0), ("DiffPlan", None), ("ListChangesSince", None),
                     ("ReportMarkdown", 50.0), ("ReportHtml", 50.0)]:
    r = q[name]
    row(f"{name} at {events} events (p50 {r['p50_ms']:.2f} ms, first call {r.get('first_call_ms', 0):.1f} ms, {r['ops']} calls)", r["p99_ms"], "ms p99", "", 0,
        f"p99 <= {target:g} ms" if target else "", r["p99_ms"] <= target if target else None)
rss = a.rss_kib / 1024
row(f"ledgerd resident memory at {events} events (peak {a.hwm_kib / 1024:.0f} MiB)", rss, "MiB",
    "", 0, "<= 256 MiB", rss <= 256)
row("data dir bytes per event", a.data_bytes / max(events, 1), "bytes")

result = {"mode": a.mode, "machine": a.machine, "events": events, "rows": rows,
          "raw": {"ledger": ledger, "postgres": {"checked_16": a.pg_checked_16,
                  "checked_64": a.pg_checked_64, "plain_16": a.pg_plain_16},
                  "db_bench": {"fillseq_sync": a.rdb_fill_sync, "fillseq": a.rdb_fill,
                               "readseq": a.rdb_readseq},
                  "rss_kib": a.rss_kib, "hwm_kib": a.hwm_kib, "data_bytes": a.data_bytes}}
json.dump(result, open(a.out + ".json", "w"), indent=2)

def fmt(v):
    return "" if v is None else (f"{v:,.2f}" if isinstance(v, float) and v < 100 else f"{v:,.0f}")

lines = [f"# Benchmark ({a.mode}), {a.machine}", "",
         "| figure | value | unit | baseline | baseline value | ratio | target | met |",
         "|---|---:|---|---|---:|---:|---|---|"]
for r in rows:
    met = "" if r["met"] is None else ("yes" if r["met"] else "**no**")
    lines.append(f"| {r['figure']} | {fmt(r['value'])} | {r['unit']} | {r['baseline']} | "
                 f"{fmt(r['baseline_value']) if r['baseline'] else ''} | "
                 f"{'' if r['ratio'] is None else r['ratio']} | {r['target']} | {met} |")
open(a.out + ".md", "w").write("\n".join(lines) + "\n")

# A small chart: throughput against its baseline.
bars = [(f"commands @64", c64["ops_per_s"], a.pg_checked_64, "PostgreSQL"),
        ("batched import", imp, a.rdb_fill, "db_bench fill"),
        ("rebuild", reb, a.rdb_readseq, "db_bench readseq")]
w, h, top = 640, 40 + 60 * len(bars), 30
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
       f'font-family="Arial, sans-serif" font-size="12">',
       '<text x="0" y="16" font-weight="bold">auditledger (blue) against its baseline (grey), per second</text>']
y = top
for label, ours, base, base_name in bars:
    most = max(ours, base, 1)
    bw = lambda v: int(380 * v / most)
    svg.append(f'<text x="0" y="{y + 14}">{label}</text>')
    svg.append(f'<rect x="140" y="{y}" width="{bw(ours)}" height="18" fill="#1d4f91"/>'
               f'<text x="{146 + bw(ours)}" y="{y + 14}">{ours:,.0f}</text>')
    svg.append(f'<rect x="140" y="{y + 22}" width="{bw(base)}" height="18" fill="#9aa5b1"/>'
               f'<text x="{146 + bw(base)}" y="{y + 36}">{base:,.0f} ({base_name})</text>')
    y += 60
svg.append("</svg>")
open(a.out + ".svg", "w").write("\n".join(svg) + "\n")
