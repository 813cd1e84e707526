#!/usr/bin/env python3
"""Turns the results bench/run.sh left in a directory into the Markdown tables of
docs/BENCHMARKS.md: scenarios a, b, c, d for each server (the median of its rounds, and the
rounds), the kernel floor beside a and b, and each figure of this server ("server",
"server-memory", either with "-tls") as a ratio to the best peer, computed round by round (the
servers of one round ran minutes apart) and given as the median ratio with the range of the
rounds; and TLS beside plain when both ran.

usage: bench/summary.py DIR
"""
import json
import pathlib
import re
import statistics
import sys

OURS = ("server", "server-memory", "server-tls", "server-memory-tls")


def load(path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


# The line of each floor's output that holds its figure: floor's one frame per write (a),
# floor-b's one send() per delivery (b).
FLOOR_LINE = {"a": r"frames per write\s+1:", "b": r"send\(\) per delivery"}


def floor_us(path, line):
    """µs per delivery on the floor output's line that starts with `line`."""
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
    return {
        "us": server.get("us_per_delivery"),
        "user": server.get("user_us_per_delivery"),
        "p50": res["latency"]["p50_us"] / 1000,
        "p99": res["latency"]["p99_us"] / 1000,
        "lost": res["lost"],
        "anomalies": res["gaps"] + res["duplicates"] + res["reorders"],
        "gen": res.get("generator_cpu_pct") or 0,
    }


def ramp(r):
    if not r:
        return None
    return {"dps": r["best"]["deliveries_per_sec"] if r.get("best") else 0}


def idle(r):
    if not r:
        return None
    return {
        "rss": r.get("rss_per_conn_bytes"),
        "cps": r.get("connects_per_sec"),
        "cpu": r.get("server_cpu_us_per_conn"),
        "gen": r.get("generator_cpu_pct"),
    }


def rounds(out, name, scenario, read):
    """{round: what `read` makes of NAME.<scenario><round>.json} (round 0 for a file without
    a number), with the floor of that round where one was measured."""
    found = {}
    for path in out.glob(f"{name}.{scenario}*.json"):
        m = re.fullmatch(re.escape(f"{name}.{scenario}") + r"(\d*)\.json", path.name)
        value = read(load(path)) if m else None
        if value is None:
            continue
        if scenario in FLOOR_LINE:
            value["floor"] = floor_us(path.with_suffix(".floor.txt"), FLOOR_LINE[scenario])
            if value["floor"] and value["us"] is not None:
                value["of_floor"] = value["us"] / value["floor"]
        found[int(m.group(1) or 0)] = value
    return dict(sorted(found.items()))


def median(runs, key):
    values = [v[key] for v in runs.values() if v.get(key) is not None]
    return statistics.median(values) if values else None


def num(value, digits=2):
    return "-" if value is None else f"{value:,.{digits}f}"


def each(runs, key, digits=2):
    return ", ".join(num(v.get(key), digits) for v in runs.values()) or "-"


def spread(ratios):
    """Ratios as their median with the range: `0.95× (0.89–1.03)`."""
    if not ratios:
        return "-"
    if len(ratios) == 1:
        return f"{ratios[0]:.2f}×"
    return f"{statistics.median(ratios):.2f}× ({min(ratios):.2f}–{max(ratios):.2f})"


def paired(mine, peer, key):
    """mine ÷ peer in each round both have, as a spread."""
    return spread([mine[r][key] / peer[r][key] for r in mine
                   if r in peer and mine[r].get(key) is not None and peer[r].get(key)])


def main():
    out = pathlib.Path(sys.argv[1])
    names = sorted({p.name.split(".")[0] for p in out.glob("*.json")},
                   key=lambda n: (n not in OURS, n))
    a = {n: rounds(out, n, "a", fanout) for n in names}
    b = {n: rounds(out, n, "b", fanout) for n in names}
    c = {n: rounds(out, n, "c", ramp) for n in names}
    d = {n: rounds(out, n, "d", idle) for n in names}
    ours = [n for n in names if n in OURS]
    peers = [n for n in names if n not in OURS]

    def best_peer(runs, key, lower=True):
        meds = [(m, n) for n in peers if (m := median(runs[n], key)) is not None]
        if not meds:
            return None
        return (min(meds) if lower else max(meds))[1]

    print("Each figure is the median of the server's rounds; the rounds follow, in order.\n")
    for title, runs, floor_name in [
        ("a: 1 room × 500 clients, 10 senders, 100 msg/s (50,000 deliveries/s)", a, "floor"),
        ("b: 1,000 rooms × 10 clients, 1 sender each, 1,000 msg/s", b, "b's floor"),
    ]:
        print(f"### {title}\n")
        print(f"| server | CPU µs/delivery | of it user space | {floor_name} µs (same round) | ÷ floor "
              "| p99 ms | lost | seq anomalies | generator CPU | rounds: µs/delivery | rounds: p99 ms |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for n in names:
            r = runs[n]
            if not r:
                print(f"| {n} | no result |||||||||")
                continue
            lost = sum(v["lost"] for v in r.values())
            anomalies = sum(v["anomalies"] for v in r.values())
            print(f"| {n} | {num(median(r, 'us'))} | {num(median(r, 'user'))} | "
                  f"{num(median(r, 'floor'))} | {num(median(r, 'of_floor'))}× | "
                  f"{num(median(r, 'p99'))} | {lost} | {anomalies} | "
                  f"{num(max(v['gen'] for v in r.values()), 0)}% max | "
                  f"{each(r, 'us')} | {each(r, 'p99')} |")
        print()
    print("### c: capacity at 25% of a core (ramp on a's room, p99 ≤ 50 ms, loss 0)\n")
    print("| server | median deliveries/s | rounds |")
    print("|---|---|---|")
    for n in names:
        if c[n]:
            print(f"| {n} | {num(median(c[n], 'dps'), 0)} | {each(c[n], 'dps', 0)} |")
    print("\n### d: 10,000 idle connections joined over 100 rooms\n")
    print("| server | RSS per connection KiB | connections/s | server CPU µs per connect "
          "| generator CPU | rounds: connections/s |")
    print("|---|---|---|---|---|---|")
    for n in names:
        r = d[n]
        if r:
            rss = median(r, "rss")
            gens = [v["gen"] for v in r.values() if v["gen"] is not None]
            print(f"| {n} | {num(rss and rss / 1024, 1)} | {num(median(r, 'cps'), 0)} | "
                  f"{num(median(r, 'cpu'), 0)} | {num(max(gens) if gens else None, 0)}% max | "
                  f"{each(r, 'cps', 0)} |")

    print("\n### This server against the best peer, round by round: median ratio (range)\n")
    print("| figure | target | best peer | " + " | ".join(ours) + " |")
    print("|---|---|---|" + "---|" * len(ours))
    rows = [
        ("a: µs/delivery", "≤ 1.00×", a, "us", True),
        ("a: of it user space", "-", a, "user", True),
        ("a: p99", "≤ 1.00×", a, "p99", True),
        ("b: µs/delivery", "≤ 0.80×", b, "us", True),
        ("b: of it user space", "-", b, "user", True),
        ("c: capacity", "≥ 1.25×", c, "dps", False),
        ("d: RSS per connection", "≤ 1.00×", d, "rss", True),
        ("d: connections/s", "≥ 1.00×", d, "cps", False),
        ("d: server CPU per connect", "-", d, "cpu", True),
    ]
    for label, target, runs, key, lower in rows:
        peer = best_peer(runs, key, lower)
        cells = [paired(runs[n], runs[peer], key) if peer else "-" for n in ours]
        print(f"| {label} | {target} | {peer or '-'} | " + " | ".join(cells) + " |")
    for label, target, runs in [("a ÷ floor", "≤ 1.10×", a), ("b ÷ b's floor", "-", b)]:
        cells = [spread([v["of_floor"] for v in runs[n].values() if v.get("of_floor")])
                 for n in ours]
        print(f"| {label} | {target} | - | " + " | ".join(cells) + " |")
    if a.get("server") and a.get("server-memory"):
        print(f"\nDurable history's cost in a: {paired(a['server'], a['server-memory'], 'us')} "
              "the memory backend's CPU per delivery, round by round (target ≤ 1.10×).")
    for plain in ("server", "server-memory"):
        tls = plain + "-tls"
        for label, runs, key, target in [
            ("a: CPU per delivery", a, "us", "≤ 1.5×"),
            ("a: p99", a, "p99", "-"),
            ("d: RSS per connection", d, "rss", "≤ 2×"),
            ("d: server CPU per connect", d, "cpu", "-"),
        ]:
            if runs.get(plain) and runs.get(tls):
                print(f"\nTLS ÷ plain, {plain}, {label}: {paired(runs[tls], runs[plain], key)} "
                      f"round by round (target {target}).")


if __name__ == "__main__":
    main()
