#!/usr/bin/env python3
"""Round-robin driver of the runtime comparison (started by benches/contrun.sh).

One bundle (busybox, /bin/true), three runtimes: contrun (this repo's,
release build), runc and crun. Two shapes, timed separately:
  run:     `RT --root S run --bundle B ID` (create + start + wait + delete)
  lifecycle: `create`, `start`, wait for the container to stop (polling
           `state` outside the timing), `delete`: each step timed; the sum
           is reported too.
Each round runs every runtime once, in a new random order (a burst of load
hits every runtime alike). Every command is started with posix_spawn and
timed from before the spawn to after the wait; for crun the driver enters
crun's private mount namespace (peers.md) around the command, outside the
timing. Prints medians and ratios to contrun within the same run; writes
JSON with --json. Python 3 standard library only.
"""

import argparse
import ctypes
import json
import os
import random
import statistics
import sys
import time

CLONE_NEWNS = 0x00020000
LIBC = ctypes.CDLL(None, use_errno=True)


def spawn(argv, mntns_fd, out, err):
    own = None
    if mntns_fd is not None:
        own = os.open("/proc/self/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
        if LIBC.setns(mntns_fd, CLONE_NEWNS) != 0:
            sys.exit(f"contrun.py: setns: errno {ctypes.get_errno()}")
    try:
        t0 = time.perf_counter()
        pid = os.posix_spawn(argv[0], argv, os.environ,
                             file_actions=[(os.POSIX_SPAWN_DUP2, out, 1),
                                           (os.POSIX_SPAWN_DUP2, err, 2)])
        _, status = os.waitpid(pid, 0)
        d = time.perf_counter() - t0
    finally:
        if own is not None:
            LIBC.setns(own, CLONE_NEWNS)
            os.close(own)
    return d, status


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=50)
    ap.add_argument("--contrun", required=True)
    ap.add_argument("--bundle", required=True)
    ap.add_argument("--state", required=True)
    ap.add_argument("--contrun-b", action="append", default=[], metavar="NAME=PATH",
                    help="another contrun binary, interleaved like the others (A/B of two builds)")
    ap.add_argument("--no-peers", action="store_true", help="contrun binaries only")
    ap.add_argument("--crun-mntns", help="a mount namespace where crun sees no cgroup2")
    ap.add_argument("--runc", default="/usr/sbin/runc", help="the runc binary")
    ap.add_argument("--crun", default="/usr/bin/crun", help="the crun binary")
    ap.add_argument("--log", required=True)
    ap.add_argument("--json")
    a = ap.parse_args()

    devnull = os.open("/dev/null", os.O_WRONLY)
    log = os.open(a.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    crun_ns = os.open(a.crun_mntns, os.O_RDONLY | os.O_CLOEXEC) if a.crun_mntns else None
    runtimes = [("contrun", a.contrun, None)]
    for b in a.contrun_b:
        name, _, path = b.partition("=")
        os.makedirs(os.path.join(a.state, name), exist_ok=True)
        runtimes.append((name, path, None))
    if not a.no_peers:
        runtimes.append(("runc", a.runc, None))
        if crun_ns is not None:
            runtimes.append(("crun", a.crun, crun_ns))
    tag = f"cbench-{os.getpid()}"
    samples = {}
    failures = {}

    def add(key, d):
        samples.setdefault(key, []).append(d)

    def cmd(rt, *args):
        name, path, _ = rt
        return [path, "--root", os.path.join(a.state, name)] + list(args)

    def one_run(rt, r):
        name, _, ns = rt
        cid = f"{tag}-{name}-run-{r}"
        d, st = spawn(cmd(rt, "run", "--bundle", a.bundle, cid), ns, devnull, log)
        if st != 0:
            failures[name + " run"] = failures.get(name + " run", 0) + 1
            spawn(cmd(rt, "delete", "-f", cid), ns, devnull, devnull)
            return
        add((name, "run"), d)

    def one_lifecycle(rt, r):
        name, _, ns = rt
        cid = f"{tag}-{name}-cycle-{r}"
        total = 0.0
        for step in ["create", "start", "delete"]:
            if step == "create":
                argv = cmd(rt, "create", "--bundle", a.bundle, cid)
            elif step == "start":
                argv = cmd(rt, "start", cid)
            else:
                # Wait (untimed) until /bin/true has exited.
                for _ in range(2000):
                    out = os.open(os.path.join(a.state, "st.json"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                    spawn(cmd(rt, "state", cid), ns, out, devnull)
                    os.close(out)
                    if '"stopped"' in open(os.path.join(a.state, "st.json")).read():
                        break
                    time.sleep(0.002)
                argv = cmd(rt, "delete", cid)
            d, st = spawn(argv, ns, devnull, log)
            if st != 0:
                failures[f"{name} {step}"] = failures.get(f"{name} {step}", 0) + 1
                spawn(cmd(rt, "delete", "-f", cid), ns, devnull, devnull)
                return
            add((name, step), d)
            total += d
        add((name, "create+start+delete"), total)

    for r in range(a.rounds):
        order = runtimes[:]
        random.shuffle(order)
        for rt in order:
            one_run(rt, r)
        random.shuffle(order)
        for rt in order:
            one_lifecycle(rt, r)

    shapes = ["run", "create", "start", "delete", "create+start+delete"]
    print(f"rounds: {a.rounds}; median ms (ratio of the median to contrun's, same run)")
    print(f"{'shape':22}" + "".join(f"{n:>18}" for n, _, _ in runtimes))
    result = {}
    for s in shapes:
        base = samples.get(("contrun", s))
        row = f"{s:22}"
        for n, _, _ in runtimes:
            v = samples.get((n, s))
            if not v:
                row += f"{'-':>18}"
                continue
            m = statistics.median(v) * 1e3
            result[f"{n} {s}"] = {"median_ms": m, "n": len(v)}
            ratio = "" if not base else f" ({m / (statistics.median(base) * 1e3):.2f}x)"
            row += f"{m:>10.2f}{ratio:>8}"
        print(row)
    if failures:
        print("failures:", failures)
    if a.json:
        json.dump({"medians": result, "failures": failures, "rounds": a.rounds}, open(a.json, "w"), indent=1)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
