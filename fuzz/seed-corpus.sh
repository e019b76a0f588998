#!/bin/sh
# Seeds fuzz/corpus/<target>/ from real inputs on this machine (read-only:
# /proc/self, cgroup files) plus a few hand-written examples of each format.
# Idempotent; run from anywhere. The corpus directory is not committed.
set -eu
cd "$(dirname "$0")"
c=${CORPUS:-corpus}  # where to write (default fuzz/corpus)
seed() { # seed TARGET NAME TEXT
    mkdir -p "$c/$1"
    printf '%s' "$3" > "$c/$1/$2"
}
copy() { # copy TARGET FILE: a real file, when it exists and is readable
    mkdir -p "$c/$1"
    name=$(printf '%s' "$2" | tr '/' '_')
    cat "$2" > "$c/$1/real$name" 2>/dev/null || rm -f "$c/$1/real$name"
}

# sizes: parse_size, parse_bytes, MemoryLimit, parse_cpus
i=0
for s in 4096 64m 1G 512KiB " 2t " 1.5g 64kb 10b max -1 0.25 1.5 16777216t 99999999999999999999 1.2.3 ; do
    i=$((i + 1)); seed sizes "s$i" "$s"
done

# cpu_lists: CpuSet, CpuMax, Device, IoLimit
i=0
for s in "0-3,7" "0" "" "1,2,3" "0-63" "max 100000" "20000 100000" "8:0" "253:1" "8:0 1mb" "8:0=300" "7,1,2,3" ; do
    i=$((i + 1)); seed cpu_lists "s$i" "$s"
done
copy cpu_lists /sys/devices/system/cpu/online
copy cpu_lists /sys/devices/system/cpu/possible
copy cpu_lists /sys/devices/system/node/online
copy cpu_lists /sys/fs/cgroup/cpuset/cpuset.cpus

# docker_flags: first byte picks the flag (index = byte % 28), rest is the value
seed docker_flags all "$(printf '%s\n' \
    "A256m" "B384m" "C128m" "D200m" "Etrue" "F512" "G512" "H100" "I1.5" \
    "J100000" "K50000" "L0-1" "M0" "N64" "O500" "P8:0 1000" "Q8:0 1mb" \
    "R8:0 2mb" "S8:0 100" "T8:0 200" "U-500" "V1" "W1" "X1" "Y1" "Z1" "[1")"
seed docker_flags mem "$(printf '%s\n' "A512m" "B-1")"
seed docker_flags cpu "$(printf '%s\n' "I0.5" "J200000" "L0-3,7")"

# mountinfo (also read as /proc/self/cgroup)
copy mountinfo /proc/self/mountinfo
copy mountinfo /proc/self/cgroup
copy mountinfo /proc/1/mountinfo
seed mountinfo unified "25 30 0:23 / /sys rw,nosuid shared:7 - sysfs sysfs rw
28 25 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate
"
seed mountinfo escaped '41 31 0:38 /a\040b /sys/fs/cgroup/un\134ified rw,relatime - cgroup2 cgroup2 rw
0::/a b
'

# id_maps
copy id_maps /proc/self/uid_map
copy id_maps /proc/self/gid_map
seed id_maps two "         0       1000          1
         1     100000      65536
"

# cgroup_stats: every flat-keyed, io.stat and pressure file we can read
for f in /sys/fs/cgroup/unified/cpu.stat /sys/fs/cgroup/unified/cgroup.stat \
         /sys/fs/cgroup/unified/cpu.pressure /sys/fs/cgroup/unified/io.pressure \
         /sys/fs/cgroup/unified/memory.pressure /sys/fs/cgroup/unified/cgroup.pressure \
         /sys/fs/cgroup/unified/io.stat /sys/fs/cgroup/unified/memory.stat \
         /sys/fs/cgroup/unified/memory.events /sys/fs/cgroup/memory/memory.stat \
         /proc/pressure/cpu /proc/pressure/memory /proc/pressure/io; do
    copy cgroup_stats "$f"
done
seed cgroup_stats io "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0
253:1 rbytes=10 wbytes=20 rios=30 wios=40
"
seed cgroup_stats events "low 0
high 3
max 7
oom 1
oom_kill 1
oom_group_kill 0
"
seed cgroup_stats psi "some avg10=0.12 avg60=0.03 avg300=0.00 total=12345
full avg10=0.00 avg60=0.00 avg300=0.00 total=0
"

# child_report: 12 bytes {step u32, index u32, errno i32}, native endian
mkdir -p "$c/child_report"
for step in 0 5 10 15 20 25; do
    printf "$(printf '\\%03o\\000\\000\\000\\001\\000\\000\\000\\026\\000\\000\\000' "$step")" \
        > "$c/child_report/step$step"
done

# container_paths
i=0
for s in /tmp /a//b/./c/ /proc/sys /dev/shm "/sys/fs/cgroup" "a/b" "/a/../b" "/" ; do
    i=$((i + 1)); seed container_paths "s$i" "$s"
done

# capabilities
i=0
for s in CAP_NET_ADMIN net_admin SYS_ADMIN cap_bpf " CAP_KILL " nope; do
    i=$((i + 1)); seed capabilities "s$i" "$s"
done
# image_layer: a mode byte (0 privileged, 1 rootless) then a layer tar made
# by GNU tar: files, a directory, symlinks in and out, a hard link,
# whiteouts and an opaque marker; plain, gzip and zstd (when installed).
mkdir -p "$c/image_layer"
t=$(mktemp -d)
mkdir -p "$t/l/d/sub" "$t/l/op"
printf 'data\n' > "$t/l/d/file"
ln -s file "$t/l/d/rel"
ln -s /etc/passwd "$t/l/abs"
ln -s ../../.. "$t/l/d/up"
ln "$t/l/d/file" "$t/l/d/hard"
: > "$t/l/.wh.gone"
: > "$t/l/op/.wh..wh..opq"
mkfifo "$t/l/fifo"
tar -C "$t/l" -cf "$t/layer.tar" .
tar -C "$t/l" --format=pax -cf "$t/pax.tar" .
for m in 0 1; do
    { printf "\\$m"; cat "$t/layer.tar"; } > "$c/image_layer/tar$m"
    { printf "\\$m"; gzip -c "$t/layer.tar"; } > "$c/image_layer/gz$m"
done
{ printf '\000'; cat "$t/pax.tar"; } > "$c/image_layer/pax"
if command -v zstd >/dev/null; then
    { printf '\000'; zstd -q -c "$t/layer.tar"; } > "$c/image_layer/zst"
fi
rm -rf "$t"
echo "seeded: $(for d in "$c"/*; do printf '%s=%s ' "${d#"$c"/}" "$(ls "$d" | wc -l)"; done)"
