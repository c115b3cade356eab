#!/usr/bin/env bash
# `make fuzz`: every fuzz target in fuzz/ for FUZZ_SECONDS each (default 600), two at a time,
# with libFuzzer through cargo-fuzz on the stable compiler (RUSTC_BOOTSTRAP=1: cargo-fuzz passes
# -Z flags). Debug assertions are on, so an integer overflow is a finding too. Starts from the
# corpus kept in fuzz/corpus/TARGET and merges back only inputs that reach new code. A crash
# leaves its input in fuzz/artifacts/TARGET and fails the run. Prints, per target, the
# executions reached and whether it stayed clean; the JSON line last.
#   FUZZ_SECONDS=60 scripts/fuzz.sh            all targets
#   FUZZ_SECONDS=60 scripts/fuzz.sh hub jitter  some
#   scripts/fuzz.sh hub:900 frames:120          each for its own time
# FUZZ_JOBS (2) targets run at once.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_EACH=${FUZZ_SECONDS:-600}
JOBS=${FUZZ_JOBS:-2}
SPECS=("$@")
[ ${#SPECS[@]} -gt 0 ] || SPECS=(frames hub jitter packets turn settings)
TARGETS=()
for spec in "${SPECS[@]}"; do TARGETS+=("${spec%%:*}"); done
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
# The settings target links the app, whose build wants the web UI built.
[ -d ui/dist ] || make ui-dist

cd fuzz
# One build for all targets, so that the runs below start at once.
cargo fuzz build --sanitizer none --debug-assertions
LOGS=$(mktemp -d)
run() {
  local t=${1%%:*} secs=$SECONDS_EACH work
  [ "$1" = "$t" ] || secs=${1#*:}
  work=$(mktemp -d)
  mkdir -p "corpus/$t"
  # -max_len: messages and packets are small; longer inputs only slow the search.
  if cargo fuzz run --sanitizer none --debug-assertions "$t" "$work" "corpus/$t" -- \
    -max_total_time="$secs" -max_len=4096 -print_final_stats=1 \
    >"$LOGS/$t.log" 2>&1; then
    echo ok >"$LOGS/$t.status"
  else
    echo crashed >"$LOGS/$t.status"
  fi
  # Keep only what reaches new code: the corpus in the repo stays small.
  cargo fuzz run --sanitizer none --debug-assertions "$t" -- -merge=1 "corpus/$t" "$work" \
    >"$LOGS/$t.merge.log" 2>&1 || true
  rm -rf "$work"
}
export -f run
export LOGS SECONDS_EACH
printf '%s\n' "${SPECS[@]}" | xargs -P "$JOBS" -I{} bash -c 'run "$1"' _ {}

json='{"bench":"fuzz","targets":{'
failed=0
sep=
for t in "${TARGETS[@]}"; do
  # A crashed or unbuilt target prints no totals: say so rather than stop (set -e).
  execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$LOGS/$t.log" | awk '{print $2}' | tail -1 || true)
  status=$(cat "$LOGS/$t.status")
  files=$(find "corpus/$t" -type f | wc -l)
  secs=$(grep -o 'Done [0-9]* runs in [0-9]* second' "$LOGS/$t.log" | awk '{print $5}' | tail -1 || true)
  printf '%-9s %12s executions in %5s s  %-7s corpus %s inputs\n' "$t" "${execs:-?}" "${secs:-?}" "$status" "$files"
  if [ "$status" != ok ]; then
    failed=1
    grep -E 'panicked|SUMMARY|Test unit written|ERROR' "$LOGS/$t.log" | head -5 || true
  fi
  json+="$sep\"$t\":{\"executions\":${execs:-0},\"seconds\":${secs:-0},\"clean\":$([ "$status" = ok ] && echo true || echo false),\"corpus\":$files}"
  sep=,
done
json+='}}'
echo "$json"
exit $failed
