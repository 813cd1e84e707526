#!/usr/bin/env python3
"""Turns the results bench/run.sh left in a directory into the Markdown tables of
docs/BENCHMARKS.md: scenarios a, b, c, d for each server, the kernel floor beside a and b, and each
figure of this server ("server", "server-memory") as a ratio to the best peer.

usage: bench/summary.py DIR
"""
import json
import pathlib
import re
import statistics
import sys

OURS = ("server", "server-memory")


def load(path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def floor_us(path, line=r"frames per write\s+1:"):
    """µs per delivery on the output's line that starts with `line`: by default floor's one
    frame per write; floor-b's is `send\(\) per delivery`."""
    try:
        text = path.read_text()
    except OSError:
        return None
    m = re.search(line + r".*?([\d.]+) us per delivery", text)
    return float(m.group(1)) if m else None


def fanout(r):
    if not r or "result" not in r:
        return None
    res = r["result"]
    server = res.get("server") or {}
    anomalies = res["gaps"] + res["duplicates"] + res["reorders"]
    return {
        "us": server.get("us_per_delivery"),
        "user": server.get("user_us_per_delivery"),
        "p50": res["latency"]["p50_us"] / 1000,
        "p99": res["latency"]["p99_us"] / 1000,
        "lost": res["lost"],
        "anomalies": anomalies,
        "dps": res["deliveries_per_sec"],
        "gen": res.get("generator_cpu_pct") or 0,
        "wait": res.get("generator_cpu_wait_pct") or 0,
    }


def num(value):
    return "-" if value is None else f"{value:.2f}"


def ratio(mine, best, lower_is_better=True):
    if mine is None or best in (None, 0):
        return "-"
    return f"{mine / best:.2f}×"


def main():
    out = pathlib.Path(sys.argv[1])
    names = sorted({p.name.split(".")[0] for p in out.glob("*.json")},
                   key=lambda n: (n not in OURS, n))
    a = {n: fanout(load(out / f"{n}.a.json")) for n in names}
    b = {n: fanout(load(out / f"{n}.b.json")) for n in names}
    floors = {n: floor_us(out / f"{n}.a.floor.txt") for n in names}
    floors_b = {n: floor_us(out / f"{n}.b.floor.txt", r"send\(\) per delivery") for n in names}
    c = {}
    for n in names:
        best = []
        for path in sorted(out.glob(f"{n}.c*.json")):
            r = load(path)
            if r and r.get("best"):
                best.append(r["best"]["deliveries_per_sec"])
            elif r:
                best.append(0)
        c[n] = best
    d = {n: load(out / f"{n}.d.json") for n in names}
    peers = [n for n in names if n not in OURS]

    def best_peer(values, lower=True):
        vals = [(v, n) for n, v in values.items() if n in peers and v is not None]
        if not vals:
            return None, None
        return min(vals) if lower else max(vals)

    print("### a: 1 room × 500 clients, 10 senders, 100 msg/s (50,000 deliveries/s)\n")
    print("| server | CPU µs/delivery | of it user space | floor µs (same run) | ÷ floor | p50 ms | p99 ms | lost | seq anomalies | generator CPU |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for n in names:
        r, f = a[n], floors[n]
        if not r:
            print(f"| {n} | no result ||||||||")
            continue
        print(f"| {n} | {r['us']:.2f} | {num(r['user'])} | {f if f else '-'} | {ratio(r['us'], f)} | {r['p50']:.2f} | "
              f"{r['p99']:.2f} | {r['lost']} | {r['anomalies']} | {r['gen']:.0f}% |")
    print("\n### b: 1,000 rooms × 10 clients, 1 sender each, 1,000 msg/s\n")
    print("| server | CPU µs/delivery | of it user space | floor µs (same run, b's shape) | ÷ floor | p50 ms | p99 ms | lost | seq anomalies |")
    print("|---|---|---|---|---|---|---|---|---|")
    for n in names:
        r, f = b[n], floors_b[n]
        if r:
            print(f"| {n} | {r['us']:.2f} | {num(r['user'])} | {f if f else '-'} | {ratio(r['us'], f)} | "
                  f"{r['p50']:.2f} | {r['p99']:.2f} | {r['lost']} | {r['anomalies']} |")
    print("\n### c: capacity at 25% of a core (ramp on a's room, p99 ≤ 50 ms, loss 0)\n")
    print("| server | median deliveries/s | rounds |")
    print("|---|---|---|")
    for n in names:
        if c[n]:
            rounds = ", ".join(f"{v:,.0f}" for v in c[n])
            print(f"| {n} | {statistics.median(c[n]):,.0f} | {rounds} |")
    print("\n### d: 10,000 idle connections joined over 100 rooms\n")
    print("| server | RSS per connection | connections/s | server CPU µs per connect | generator CPU |")
    print("|---|---|---|---|---|")
    for n in names:
        r = d[n]
        if r:
            per = r.get("rss_per_conn_bytes")
            cpu = r.get("server_cpu_us_per_conn")
            gen = r.get("generator_cpu_pct")
            print(f"| {n} | {'-' if per is None else f'{per / 1024:.1f} KiB'} | {r['connects_per_sec']:,.0f} "
                  f"| {'-' if cpu is None else f'{cpu:.0f}'} | {'-' if gen is None else f'{gen:.0f}%'} |")
    print("\n### This server against the best peer of this run\n")
    a_us, a_peer = best_peer({n: a[n]["us"] if a[n] else None for n in names})
    a_p99, a_p99_peer = best_peer({n: a[n]["p99"] if a[n] else None for n in names})
    b_us, b_peer = best_peer({n: b[n]["us"] if b[n] else None for n in names})
    c_med, c_peer = best_peer({n: statistics.median(c[n]) if c[n] else None for n in names}, lower=False)
    d_rss, d_rss_peer = best_peer({n: (d[n] or {}).get("rss_per_conn_bytes") for n in names})
    d_cps, d_cps_peer = best_peer({n: (d[n] or {}).get("connects_per_sec") for n in names}, lower=False)
    print("| figure | target | best peer | " + " | ".join(n for n in names if n in OURS) + " |")
    print("|---|---|---|" + "---|" * len([n for n in names if n in OURS]))
    rows = [
        ("a: µs/delivery", "≤ 1.00×", a_peer, lambda n: ratio(a[n]["us"] if a[n] else None, a_us)),
        ("a: µs/delivery ÷ floor", "≤ 1.10×", "-", lambda n: ratio(a[n]["us"] if a[n] else None, floors[n])),
        ("a: p99", "≤ 1.00×", a_p99_peer, lambda n: ratio(a[n]["p99"] if a[n] else None, a_p99)),
        ("b: µs/delivery", "≤ 0.80×", b_peer, lambda n: ratio(b[n]["us"] if b[n] else None, b_us)),
        ("b: µs/delivery ÷ b's floor", "-", "-", lambda n: ratio(b[n]["us"] if b[n] else None, floors_b[n])),
        ("c: median capacity", "≥ 1.25×", c_peer, lambda n: ratio(statistics.median(c[n]) if c[n] else None, c_med)),
        ("d: RSS per connection", "≤ 1.00×", d_rss_peer, lambda n: ratio((d[n] or {}).get("rss_per_conn_bytes"), d_rss)),
        ("d: connections/s", "≥ 1.00×", d_cps_peer, lambda n: ratio((d[n] or {}).get("connects_per_sec"), d_cps)),
    ]
    for label, target, peer, fn in rows:
        print(f"| {label} | {target} | {peer or '-'} | " + " | ".join(fn(n) for n in names if n in OURS) + " |")
    if a.get("server") and a.get("server-memory"):
        print(f"\nDurable history's cost in a: {ratio(a['server']['us'], a['server-memory']['us'])} "
              "the memory backend's CPU per delivery (target ≤ 1.10×).")


if __name__ == "__main__":
    main()
