#!/usr/bin/env bash
# The peer comparison of issue 5: the `run` example against unshare
# (util-linux), bwrap, crun and runc, on one busybox root, whole process,
# interleaved round-robin. Prints medians and ratios (benches/peers.py).
#
#   sudo benches/peers.sh            # PEERS_ROUNDS=100 by default
#   PEERS_ROUNDS=300 sudo -E benches/peers.sh
#
# Needs root and Debian/Ubuntu (installs crun runc bubblewrap util-linux
# busybox-static with apt-get when one is missing). Everything it makes
# (root, bundle, state dirs, crun's private mount namespace) lives under one
# temporary directory and is removed at the end, also on failure. How each
# peer is made to run on a hybrid-cgroup host: /work/shared/research/peers.md
# (crun refuses hybrid hosts; it runs in a private mount namespace with a
# throwaway tmpfs over /sys/fs/cgroup/unified: the host's mount is never
# touched).
set -euo pipefail

[ "$(id -u)" = 0 ] || { echo "peers.sh: needs root" >&2; exit 1; }
here=$(cd "$(dirname "$0")/.." && pwd)
rounds=${PEERS_ROUNDS:-100}

need=()
command -v crun >/dev/null || need+=(crun)
command -v runc >/dev/null || need+=(runc)
command -v bwrap >/dev/null || need+=(bubblewrap)
command -v unshare >/dev/null || need+=(util-linux)
[ -x /bin/busybox ] || [ -x /usr/bin/busybox ] || need+=(busybox-static)
if [ ${#need[@]} -gt 0 ]; then
    echo "peers.sh: installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
busybox=$(command -v busybox)

work=$(mktemp -d /tmp/containment-peers.XXXXXX)
holder=
cleanup() {
    set +e
    # Containers the driver could not delete (normally none).
    for rt in crun runc; do
        [ -d "$work/state/$rt" ] || continue
        for c in "$work/state/$rt"/*/; do
            [ -d "$c" ] || continue
            id=$(basename "$c")
            if [ $rt = crun ] && [ -n "$holder" ]; then
                nsenter --mount=/proc/$holder/ns/mnt crun --root "$work/state/crun" delete -f "$id"
            else
                $rt --root "$work/state/$rt" delete -f "$id"
            fi
        done
    done
    # crun's mount namespace: its only process is the holder we started.
    [ -n "$holder" ] && kill "$holder" 2>/dev/null && wait "$holder" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

# The busybox root, inside an OCI bundle.
bundle=$work/bundle
root=$bundle/rootfs
mkdir -p "$root"/{bin,proc,dev,sys,etc,tmp} "$work/state/crun" "$work/state/runc"
cp "$busybox" "$root/bin/busybox"
for a in true sh cat; do ln -s busybox "$root/bin/$a"; done
(cd "$bundle" && crun spec)
python3 - "$bundle/config.json" "/cpeers-bench-$$" <<'EOF'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["process"]["args"] = ["/bin/true"]
c["process"]["terminal"] = False
# A flat cgroup path of the bench's own: without one runc nests its cgroup
# under its own (here a machine cgroup that is not ours).
c["linux"]["cgroupsPath"] = sys.argv[2]
json.dump(c, open(p, "w"), indent=1)
EOF

# The example, release build.
(cd "$here" && cargo build --release --quiet --example run)
run=${CARGO_TARGET_DIR:-$here/target}/release/examples/run

# crun's private mount namespace (peers.md): a holder process that mounts a
# tmpfs over /sys/fs/cgroup/unified in its own namespace, then sleeps.
fifo=$work/ready
mkfifo "$fifo"
unshare --mount --propagation private sh -c \
    "mount -t tmpfs containment-peers /sys/fs/cgroup/unified && echo ok > '$fifo' && exec sleep 1000000" &
holder=$!
read -r ok < "$fifo"
[ "$ok" = ok ] || { echo "peers.sh: crun's mount namespace failed" >&2; exit 1; }

echo "machine: nproc $(nproc), kernel $(uname -r), $(date -u '+%Y-%m-%d %H:%M UTC'), mounts $(wc -l < /proc/self/mountinfo)"
echo "versions: $(crun --version | head -1); $(runc --version | head -1); bwrap $(bwrap --version | cut -d' ' -f2); $(unshare --version)"
python3 "$here/benches/peers.py" --rounds "$rounds" --run "$run" --rootfs "$root" \
    --bundle "$bundle" --state "$work/state" --crun-mntns "/proc/$holder/ns/mnt" \
    --log "$work/commands.log" --json "${CARGO_TARGET_DIR:-$here/target}/peers.json" \
    || { echo "--- failures (first lines of $work/commands.log)"; head -20 "$work/commands.log"; exit 1; }

# Nothing of ours may remain in the cgroup hierarchies (crun/runc remove
# theirs on delete, the example its own on exit): report, never remove.
left=$(find /sys/fs/cgroup -maxdepth 4 -type d -name "cpeers-*" 2>/dev/null || true)
if [ -n "$left" ]; then
    echo "peers.sh: cgroups left behind by the peers:" >&2
    echo "$left" >&2
    exit 1
fi
