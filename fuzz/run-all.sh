#!/bin/sh
# Runs every target (or the ones named) one after the other, single job,
# each for $SECS seconds (default 180), and prints a results line per target.
# Logs go to $LOGS (default /tmp/containment-fuzz-logs).
#   ./run-all.sh                 # all targets, 3 min each
#   SECS=60 ./run-all.sh sizes   # one target, 1 min
set -u
cd "$(dirname "$0")"
SECS=${SECS:-180}
LOGS=${LOGS:-/tmp/containment-fuzz-logs}
mkdir -p "$LOGS"
[ -d corpus ] || ./seed-corpus.sh
targets=${*:-$(RUSTC_BOOTSTRAP=1 cargo fuzz list)}
RUSTC_BOOTSTRAP=1 cargo fuzz build -a || exit 1
for t in $targets; do
    log="$LOGS/$t.log"
    timeout $((SECS + 120)) env RUSTC_BOOTSTRAP=1 cargo fuzz run -a "$t" -- \
        -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 >"$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log")
    corpus=$(ls "corpus/$t" | wc -l)
    crash=$(grep -c 'Test unit written' "$log")
    echo "$t: exit=$rc secs=$SECS runs=${runs:-?} corpus=$corpus peak_rss_mb=${rss:-?} crashes=$crash"
done
