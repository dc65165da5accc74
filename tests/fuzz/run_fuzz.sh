#!/bin/sh
# run_fuzz.sh FUZZER SEED_DIR WORK_DIR CI_RUNS FULL_RUNS
#
# Runs one libFuzzer target for a fixed number of executions: CI_RUNS, or
# FULL_RUNS when CACHEWATCH_FULL=1 (CACHEWATCH_FUZZ_RUNS=N overrides both).
# The seeds are copied to WORK_DIR/corpus so the repository's corpus is never
# changed; crashes are written to WORK_DIR/crash-*. A fixed seed (1) keeps CI
# reproducible; CACHEWATCH_FUZZ_SEED=0 lets libFuzzer pick one. The number
# of executions is printed and written to WORK_DIR/executions.
set -eu
fuzzer=$1 seeds=$2 work=$3 ci_runs=$4 full_runs=$5
runs=$ci_runs
[ "${CACHEWATCH_FULL:-0}" = 1 ] && runs=$full_runs
[ -n "${CACHEWATCH_FUZZ_RUNS:-}" ] && runs=$CACHEWATCH_FUZZ_RUNS
name=$(basename "$fuzzer")
rm -rf "$work/corpus"
mkdir -p "$work/corpus"
cp "$seeds"/* "$work/corpus/"
log="$work/log.txt"
start=$(date +%s)
# LeakSanitizer on; UBSan errors fatal (also compiled -fno-sanitize-recover).
status=0
ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:${ASAN_OPTIONS:-}" \
UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}" \
  "$fuzzer" -runs="$runs" -seed="${CACHEWATCH_FUZZ_SEED:-1}" -max_len=4096 -timeout=20 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$work/" \
    "$work/corpus" >"$log" 2>&1 || status=$?
end=$(date +%s)
executed=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
echo "${executed:-0}" >"$work/executions"
if [ "$status" -ne 0 ]; then
  tail -n 60 "$log"
  echo "$name: FAILED (exit $status) after ${executed:-?} executions; see $log and $work/crash-*"
  exit 1
fi
echo "$name: ${executed:-0} executions (asked for $runs) in $((end - start)) s, corpus $(ls "$work/corpus" | wc -l) inputs, no crash, leak or sanitizer error"
