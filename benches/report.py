#!/usr/bin/env python3
"""Prints the spawn-latency table from criterion's output (stdlib only).

Reads target/criterion/**/new/{benchmark,estimates}.json written by
`cargo bench --features testing --bench spawn`, and prints per variant the median *to exec* and
*to exit* of each method, with the ratio to the raw floor of the same group.

    python3 benches/report.py [TARGET_DIR] [--markdown] [--interleaved]

With --interleaved, reads TARGET_DIR/spawn-interleaved.json (written by
`cargo bench --features testing --bench interleaved`) instead: medians of round-robin samples,
and the median of the per-round ratios to the floor.
"""

import json
import os
import sys

ORDER = ["none", "cgroup", "ipc", "mount", "net", "pid", "time", "user", "uts",
         "six", "all8+maps", "six+cgroup-clone", "six+cgroup-procs", "six+pivot_root"]
METHODS = ["floor", "floor_vfork", "floor_work", "floor_protect", "floor_clone", "containment", "containment_vfork", "pool",
           "pool_vfork", "std"]


def load(root):
    rows = {}
    for dirpath, _dirs, files in os.walk(root):
        if not dirpath.endswith(os.sep + "new") or "benchmark.json" not in files:
            continue
        with open(os.path.join(dirpath, "benchmark.json")) as f:
            bench = json.load(f)
        with open(os.path.join(dirpath, "estimates.json")) as f:
            est = json.load(f)
        group = bench["group_id"]
        if not group.startswith("spawn/"):
            continue
        variant = group[len("spawn/"):]
        method, _, figure = bench["function_id"].rpartition("/")
        med = est["median"]
        rows.setdefault(variant, {}).setdefault(method, {})[figure] = (
            med["point_estimate"] / 1000.0,
            med["confidence_interval"]["lower_bound"] / 1000.0,
            med["confidence_interval"]["upper_bound"] / 1000.0,
        )
    return rows


def load_interleaved(path):
    with open(path) as f:
        data = json.load(f)
    rows = {}
    for variant, methods in data.items():
        for method, figs in methods.items():
            for fig, v in figs.items():
                rows.setdefault(variant, {}).setdefault(method, {})[fig] = (
                    v["median_us"], v["median_round_ratio"], v.get("vs_floor_work"),
                    v.get("vs_floor_protect"))
    return rows


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    markdown = "--markdown" in sys.argv
    target = args[0] if args else os.environ.get("CARGO_TARGET_DIR", "target")
    if "--interleaved" in sys.argv:
        rows = load_interleaved(os.path.join(target, "spawn-interleaved.json"))
        variants = [v for v in ORDER if v in rows] + sorted(v for v in rows if v not in ORDER)
        # Ratios to the same-work floors (to exec), where a variant has them.
        extra = [f for f in ("floor_work", "floor_protect")
                 if any(f in rows[v] for v in variants)]
        head = ["variant", "method", "to exec µs", "x floor", "(per-round)",
                "to exit µs", "x floor", "(per-round)"]
        for f in extra:
            head += [f"to exec x {f}", "(per-round)"]
        lines = []
        for v in variants:
            floor = rows[v]["floor"]
            for m in METHODS:
                if m not in rows[v]:
                    continue
                cells = [v, m]
                for fig in ("to_exec", "to_exit"):
                    med, rr, _, _ = rows[v][m][fig]
                    cells += [f"{med:.0f}", f"{med / floor[fig][0]:.2f}", f"{rr:.2f}"]
                for k, f in enumerate(extra):
                    vs = rows[v][m]["to_exec"][2 + k]
                    cells += ([f"{vs['ratio_of_medians']:.2f}", f"{vs['median_round_ratio']:.2f}"]
                              if vs else ["", ""])
                lines.append(cells)
        show(head, lines, markdown)
        return
    rows = load(os.path.join(target, "criterion"))
    if not rows:
        sys.exit(f"no criterion results under {target}/criterion (run cargo bench --features testing --bench spawn)")
    variants = [v for v in ORDER if v in rows] + sorted(v for v in rows if v not in ORDER)
    head = ["variant", "method", "to exec µs", "x floor", "to exit µs", "x floor"]
    lines = []
    for v in variants:
        floor = rows[v].get("floor", {})
        for m in METHODS:
            if m not in rows[v]:
                continue
            cells = [v, m]
            for fig in ("to_exec", "to_exit"):
                got = rows[v][m].get(fig)
                base = floor.get(fig)
                if got is None:
                    cells += ["", ""]
                    continue
                cells.append(f"{got[0]:.0f}")
                cells.append(f"{got[0] / base[0]:.2f}" if base else "")
            lines.append(cells)
    show(head, lines, markdown)


def show(head, lines, markdown):
    if markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "|".join("---" for _ in head) + "|")
        for c in lines:
            print("| " + " | ".join(c) + " |")
    else:
        w = [max(len(r[i]) for r in [head] + lines) for i in range(len(head))]
        for c in [head] + lines:
            print("  ".join(x.rjust(w[i]) if i > 1 else x.ljust(w[i]) for i, x in enumerate(c)))


if __name__ == "__main__":
    main()
