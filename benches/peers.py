#!/usr/bin/env python3
"""Round-robin driver of the peer comparison (started by benches/peers.sh).

Runs each command once per round, in a new random order each round, so a
burst of load on a shared machine hits every command alike and the
asynchronous teardown of one command's container does not always land in
the same next command. Every
command is started the same way (posix_spawn, waitpid), timed from before
the spawn to after the wait; for crun the driver enters crun's mount
namespace around it, outside the timing.
Cleanup commands (deleting a crun/runc container) run outside the timing.

Prints the median per command, the ratio of each median to the `run`
example's, and the median of the per-round ratios; writes JSON with
--json. Python 3 standard library only.
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


def spawn(argv, mntns_fd=None, stdout=None, stderr=None):
    """posix_spawn + waitpid; returns (seconds, wait status).

    Timed from before the spawn to after the wait. `os.posix_spawn` is
    glibc's vfork-shaped posix_spawn: the driver adds ~0.9 ms (the `true`
    row) instead of the ~2.8 ms of a fork of the Python interpreter, which
    every sample carried before 2026-11-27 (night). For crun, the driver
    itself enters the private mount namespace (setns) before the timing and
    returns to its own after it, so crun is started the same way as the
    others."""
    own = None
    if mntns_fd is not None:
        own = os.open("/proc/self/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
        if LIBC.setns(mntns_fd, CLONE_NEWNS) != 0:
            sys.exit(f"peers.py: setns: errno {ctypes.get_errno()}")
    actions = []
    if stdout is not None:
        actions.append((os.POSIX_SPAWN_DUP2, stdout, 1))
    if stderr is not None:
        actions.append((os.POSIX_SPAWN_DUP2, stderr, 2))
    try:
        t0 = time.perf_counter()
        pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=actions)
        _, status = os.waitpid(pid, 0)
        d = time.perf_counter() - t0
    finally:
        if own is not None:
            if LIBC.setns(own, CLONE_NEWNS) != 0:
                sys.exit(f"peers.py: setns back: errno {ctypes.get_errno()}")
            os.close(own)
    return d, status


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=100)
    ap.add_argument("--run", required=True, help="the run example binary")
    ap.add_argument("--rootfs", required=True)
    ap.add_argument("--bundle", required=True)
    ap.add_argument("--state", required=True)
    ap.add_argument("--crun-mntns", required=True,
                    help="a mount namespace where crun sees no cgroup2 (peers.md)")
    ap.add_argument("--json")
    ap.add_argument("--log", required=True, help="stderr of the commands")
    a = ap.parse_args()

    which = {}
    for tool in ["true", "unshare", "bwrap", "crun", "runc"]:
        for d in ["/usr/bin", "/bin", "/usr/sbin", "/sbin"]:
            if os.access(os.path.join(d, tool), os.X_OK):
                which[tool] = os.path.join(d, tool)
                break
        else:
            sys.exit(f"peers.py: {tool} not found")

    crun_ns = os.open(a.crun_mntns, os.O_RDONLY | os.O_CLOEXEC)
    crun_root = os.path.join(a.state, "crun")
    runc_root = os.path.join(a.state, "runc")
    tag = f"cpeers-{os.getpid()}"
    devnull = os.open("/dev/null", os.O_WRONLY)
    log = os.open(a.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def crun(extra):
        def make(n):
            cid = f"{tag}-c{extra and 'd' or ''}-{n}"
            argv = [which["crun"], "--root", crun_root] + extra + ["run", "--bundle", a.bundle, cid]
            cleanup = [which["crun"], "--root", crun_root, "delete", "-f", cid]
            return argv, crun_ns, (cleanup, os.path.join(crun_root, cid))
        return make

    def runc(n):
        cid = f"{tag}-r-{n}"
        argv = [which["runc"], "--root", runc_root, "run", "--bundle", a.bundle, cid]
        cleanup = [which["runc"], "--root", runc_root, "delete", "-f", cid]
        return argv, None, (cleanup, os.path.join(runc_root, cid))

    def plain(argv):
        return lambda n: (argv, None, None)

    # (name, isolation note, factory(round) -> (argv, mntns fd, cleanup))
    methods = [
        ("run", "containment example: uts pid mnt ipc net, pivot_root, proc, /dev, own cgroup (CLONE_INTO_CGROUP)",
         plain([a.run, "--rm", "--rootfs", a.rootfs, "--", "/bin/true"])),
        ("true", "posix_spawn of /bin/true from the driver, no isolation (the driver's own floor)",
         plain([which["true"]])),
        ("unshare", "unshare --uts --pid --fork --mount --net --ipc --cgroup: 6 ns, no root change, no proc, no /dev, no cgroup",
         plain([which["unshare"], "--uts", "--pid", "--fork", "--mount", "--net", "--ipc", "--cgroup", which["true"]])),
        ("bwrap", "bwrap --unshare-all --die-with-parent --ro-bind R / --proc /proc --dev /dev: user+5 ns (+cgroup ns), no cgroup",
         plain([which["bwrap"], "--unshare-all", "--die-with-parent", "--ro-bind", a.rootfs, "/",
                "--proc", "/proc", "--dev", "/dev", "/bin/true"])),
        ("crun", "crun run (crun spec bundle: pid net ipc uts mnt, pivot_root, proc, /dev, /sys, cgroupfs)",
         crun([])),
        ("crun-nocg", "crun --cgroup-manager=disabled run: the same without a cgroup",
         crun(["--cgroup-manager=disabled"])),
        ("runc", "runc run (same bundle, cgroupfs)", runc),
    ]
    n = len(methods)
    samples = {m[0]: [] for m in methods}
    failures = {m[0]: 0 for m in methods}

    def one(i, r):
        name, _, make = methods[i]
        argv, ns, cleanup = make(r)
        d, st = spawn(argv, ns, devnull, log)
        if cleanup is not None:
            cargv, state = cleanup
            if os.path.exists(state):
                spawn(cargv, ns, devnull, devnull)
        if st != 0:
            failures[name] += 1
            os.write(log, f"{name}: status {st:#x}: {' '.join(argv)}\n".encode())
            return None
        return d

    # warm-up: two of each
    for r in range(2):
        for i in range(n):
            one(i, f"w{r}")
    rng = random.Random(0x5EED)
    order = list(range(n))
    for r in range(a.rounds):
        rng.shuffle(order)
        for i in order:
            d = one(i, r)
            samples[methods[i][0]].append(d)

    def med(v):
        v = [x for x in v if x is not None]
        return statistics.median(v) if v else float("nan")

    base = samples["run"]
    out = {}
    print(f"peers: {a.rounds} rounds, round-robin, whole process (spawn to wait), /bin/true")
    print(f"{'command':<10} {'median ms':>9} {'x run':>6} {'(per-round)':>11} {'fail':>4}  what")
    for name, note, _ in methods:
        m = med(samples[name])
        per_round = [x / b for x, b in zip(samples[name], base) if x is not None and b is not None]
        rr = statistics.median(per_round) if per_round else float("nan")
        out[name] = {"median_ms": m * 1e3, "ratio_to_run": m / med(base),
                     "median_round_ratio": rr, "failures": failures[name], "what": note}
        print(f"{name:<10} {m * 1e3:9.2f} {m / med(base):6.2f} {rr:11.2f} {failures[name]:4d}  {note}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"rounds": a.rounds, "results": out}, f, indent=1)
    if any(failures.values()):
        print(f"some commands failed: see {a.log}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
