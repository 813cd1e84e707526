#!/usr/bin/env python3
"""Prints one table from the JSON lines bench/run.sh left in a results directory.

usage: bench/summary.py DIR
"""
import json
import pathlib
import sys


def load(path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def ms(us):
    return f"{us / 1000:.2f}"


def fanout_row(name, scenario, r):
    res = r["result"]
    server = res.get("server") or {}
    per = server.get("us_per_delivery")
    return [
        name,
        scenario,
        f"{res['deliveries_per_sec']:,.0f}",
        ms(res["latency"]["p50_us"]),
        ms(res["latency"]["p99_us"]),
        f"{res['lost']}",
        f"{per:.2f}" if per is not None else "-",
        f"{server.get('cpu_pct', 0):.0f}%",
        f"{(server.get('rss_bytes') or 0) / 2**20:.0f}",
        f"{res.get('generator_cpu_pct') or 0:.0f}%",
        f"{res.get('generator_cpu_wait_pct') or 0:.1f}%",
    ]


def main():
    out = pathlib.Path(sys.argv[1])
    rows = [["server", "run", "dlv/s", "p50 ms", "p99 ms", "lost", "µs/dlv", "srv CPU",
             "RSS MiB", "gen CPU", "gen wait"]]
    notes = []
    for path in sorted(out.glob("*.json")):
        name, scenario = path.stem.split(".", 1)
        r = load(path)
        if r is None:
            notes.append(f"{name} {scenario}: no result")
        elif scenario.startswith("fanout"):
            rows.append(fanout_row(name, scenario, r))
        elif scenario == "ramp":
            best = r.get("best")
            notes.append(
                f"{name} ramp: sustained {best['deliveries_per_sec']:,.0f} dlv/s "
                f"(offered {best['offered_msgs_per_sec']:.0f} msg/s, p99 {ms(best['p99_us'])} ms); "
                f"stopped at {r['stopped']}"
                if best else f"{name} ramp: nothing sustained; stopped at {r['stopped']}"
            )
        elif scenario == "idle":
            per = r.get("rss_per_conn_bytes")
            notes.append(
                f"{name} idle: {r['joined']:,} joined at {r['connects_per_sec']:,.0f} conn/s, "
                + (f"{per / 1024:.1f} KiB RSS per connection" if per is not None else "RSS -")
            )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.rjust(w) for cell, w in zip(row, widths)))
    for note in notes:
        print(note)
    print("gen wait: time the generator waited for its CPU; above ~5% another process shared it")


if __name__ == "__main__":
    main()
