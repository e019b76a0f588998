#!/usr/bin/env bash
# contrun (release-lto build, static-pie) against runc and crun on one busybox bundle
# running /bin/true: `run`, and create / start / delete timed separately,
# interleaved round-robin in one run (benches/contrun.py). Ratios are only
# meaningful within one run (the machine is shared and noisy).
#
#   sudo benches/contrun.sh              # CONTRUN_ROUNDS=50 by default
#   sudo CONTRUN_B="old=/tmp/contrun-old" CONTRUN_NO_PEERS=1 benches/contrun.sh
#                                        # A/B: other contrun builds
#                                        # (space-separated NAME=PATH)
#                                        # interleaved with this one
#
# The three runtimes keep their state under one directory: by default a
# tmpfs of the bench's own, as on a usual host where /run (runc's, crun's,
# containerd's state) is a tmpfs; CONTRUN_STATE=disk keeps it on the disk
# of /tmp instead (on this project's VM an ext4 mounted with `discard`,
# where each rmdir waits 0.2-3.7 ms on a synchronous discard).
#
# Needs root, runc, crun and busybox-static (installed with apt-get when
# missing). crun refuses this hybrid-cgroup host; as in benches/peers.sh it
# runs in a private mount namespace with a throwaway tmpfs over
# /sys/fs/cgroup/unified (the host's mount is never touched). Everything
# lives under one temp dir, removed at the end, also on failure.
set -euo pipefail

[ "$(id -u)" = 0 ] || { echo "contrun.sh: needs root" >&2; exit 1; }
here=$(cd "$(dirname "$0")/.." && pwd)
rounds=${CONTRUN_ROUNDS:-50}

need=()
command -v crun >/dev/null || need+=(crun)
command -v runc >/dev/null || need+=(runc)
[ -x /bin/busybox ] || [ -x /usr/bin/busybox ] || need+=(busybox-static)
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
busybox=$(command -v busybox)

work=$(mktemp -d /tmp/contrun-bench.XXXXXX)
holder=
cleanup() {
    set +e
    for rt in contrun runc crun; do
        [ -d "$work/state/$rt" ] || continue
        for c in "$work/state/$rt"/*/; do
            [ -d "$c" ] || continue
            id=$(basename "$c")
            case $rt in
                crun) [ -n "$holder" ] && nsenter --mount=/proc/$holder/ns/mnt crun --root "$work/state/crun" delete -f "$id" ;;
                runc) runc --root "$work/state/runc" delete -f "$id" ;;
                contrun) "$contrun" --root "$work/state/contrun" delete -f "$id" ;;
            esac
        done
    done
    for b in ${CONTRUN_B:-}; do
        for c in "$work/state/${b%%=*}"/*/; do
            [ -d "$c" ] && "${b#*=}" --root "$work/state/${b%%=*}" delete -f "$(basename "$c")"
        done
    done
    [ -n "$holder" ] && kill "$holder" 2>/dev/null && wait "$holder" 2>/dev/null
    mountpoint -q "$work/state" && umount "$work/state"
    for d in /sys/fs/cgroup/*/ctm-bench-$$; do [ -d "$d" ] && rmdir "$d"; done
    rm -rf "$work"
}
trap cleanup EXIT

# The build contrun ships with: the release-lto profile (Cargo.toml:
# release + fat LTO, one codegen unit), linked static-pie (glibc's static
# libc with a position-independent binary: ASLR kept, no ld.so loading
# and symbol binding at each start; contrun uses no NSS or dlopen). The
# flag needs an explicit --target so that build scripts and proc macros
# stay dynamic. CONTRUN_DYNAMIC=1 measures the plain dynamic build.
host=$(rustc -vV | sed -n 's/^host: //p')
if [ -n "${CONTRUN_DYNAMIC:-}" ]; then
    (cd "$here" && cargo build --profile release-lto --quiet -p contrun)
    contrun=${CARGO_TARGET_DIR:-$here/target}/release-lto/contrun
else
    (cd "$here" && RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
        cargo build --profile release-lto --quiet -p contrun --target "$host")
    contrun=${CARGO_TARGET_DIR:-$here/target}/$host/release-lto/contrun
fi

# Every runtime's binary is copied into the bench's dir first, as a file
# `install`ed or unpacked by a package manager sits in the page cache in
# large folios; a binary the linker has just written sits in 4 KiB pages
# (the linker writes it in small pieces), and a process started from it
# takes more page faults: contrun's `run` measured 8-17 % slower from
# target/ than from a copy (BENCHMARKS.md). CONTRUN_NO_COPY=1 runs them
# where they are.
if [ -z "${CONTRUN_NO_COPY:-}" ]; then
    mkdir -p "$work/bin"
    install -m 755 "$contrun" "$work/bin/contrun"
    install -m 755 "$(command -v runc)" "$work/bin/runc"
    install -m 755 "$(command -v crun)" "$work/bin/crun"
    contrun=$work/bin/contrun
    runc_bin=$work/bin/runc
    crun_bin=$work/bin/crun
else
    runc_bin=$(command -v runc)
    crun_bin=$(command -v crun)
fi

bundle=$work/bundle
root=$bundle/rootfs
mkdir -p "$root"/{bin,proc,dev,sys,etc,tmp} "$work/state"
state_fs=${CONTRUN_STATE:-tmpfs}
case $state_fs in
    tmpfs) mount -t tmpfs -o mode=0700 contrun-bench-state "$work/state" ;;
    disk) ;;
    *) echo "contrun.sh: CONTRUN_STATE is tmpfs or disk" >&2; exit 1 ;;
esac
mkdir -p "$work/state"/{contrun,runc,crun}
cp "$busybox" "$root/bin/busybox"
for a in true sh cat; do ln -s busybox "$root/bin/$a"; done
"$contrun" spec --bundle "$bundle"
python3 - "$bundle/config.json" "/ctm-bench-$$" <<'PY'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["process"]["args"] = ["/bin/true"]
c["process"]["terminal"] = False
c["ociVersion"] = "1.0.2"
# One flat cgroup path for all three (each container is deleted before the
# next starts): without one runc nests its cgroup under its own (here a
# machine cgroup that is not ours), contrun uses contrun-<id>.
c["linux"]["cgroupsPath"] = sys.argv[2]
json.dump(c, open(p, "w"), indent=1)
PY

fifo=$work/ready
mkfifo "$fifo"
unshare --mount --propagation private sh -c \
    "mount -t tmpfs contrun-bench /sys/fs/cgroup/unified && echo ok > '$fifo' && exec sleep 1000000" &
holder=$!
read -r ok < "$fifo"
[ "$ok" = ok ] || { echo "contrun.sh: crun's mount namespace failed" >&2; exit 1; }

echo "machine: nproc $(nproc), kernel $(uname -r), $(date -u '+%Y-%m-%d %H:%M UTC'), load $(cut -d' ' -f1-3 /proc/loadavg), state on $state_fs"
echo "versions: $("$contrun" --version | head -1); $(runc --version | head -1); $(crun --version | head -1)"
python3 "$here/benches/contrun.py" --rounds "$rounds" --contrun "$contrun" --bundle "$bundle" \
    --state "$work/state" $(for b in ${CONTRUN_B:-}; do echo --contrun-b "$b"; done) \
    ${CONTRUN_NO_PEERS:+--no-peers} --runc "$runc_bin" --crun "$crun_bin" --crun-mntns "/proc/$holder/ns/mnt" --log "$work/commands.log" \
    --json "${CARGO_TARGET_DIR:-$here/target}/contrun-bench.json" \
    || { echo "--- failures (first lines of the log)"; head -20 "$work/commands.log"; exit 1; }
