#!/usr/bin/env bash
# Coverage-guided fuzzing with libFuzzer (the Swift toolchain's, with AddressSanitizer and LeakSanitizer) of
# the parsers that face the outside: the API's request bodies (JSON, NDJSON, text with header values), the
# worker's work-message decoder, the PII redactor, the gzip reader, and the shippers' decoders (OTLP protobuf and
# JSON, Loki JSON and snappy protobuf) with the limits of what they may build. Each target starts from its committed
# seed corpus (Fuzz/corpus/<target>); a crash, a hang (an input over 10 s), a leak or a broken invariant
# fails, and libFuzzer writes the input that did it to .build-fuzz/artifacts/.
#
#   bash scripts/fuzz.sh [--seconds N] [target …]     (default 30 s each, all six targets)
#
# The fuzz targets are in the package only with LOGPIPE_FUZZ=1, and build into .build-fuzz (libFuzzer gives
# them their entry point).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/opt/swift/usr/bin"
seconds=30
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=(fuzz-ingest fuzz-work-message fuzz-redactor fuzz-gzip fuzz-otlp fuzz-loki)

# One combined -sanitize flag for the compiler: given SwiftPM's `--sanitize=fuzzer --sanitize=address`, the Swift 6.3
# driver passes only the last -sanitize option to the frontend, and SwiftPM orders the two differently from one
# invocation to the next, so objects came out with coverage but no AddressSanitizer, or with ASan and no coverage
# (libFuzzer then finds nothing to guide it). `--sanitize=fuzzer` stays for SwiftPM's link of the fuzz products.
build=(swift build --scratch-path .build-fuzz --sanitize=fuzzer -Xswiftc -sanitize=fuzzer,address)
bin=$(LOGPIPE_FUZZ=1 "${build[@]}" --show-bin-path)
for target in "${targets[@]}"; do
  LOGPIPE_FUZZ=1 "${build[@]}" --product "$target" > /tmp/logpipe-fuzz-build.log 2>&1 || { grep -v "Cannot export local symbol" /tmp/logpipe-fuzz-build.log | tail -20 >&2; exit 1; }
  # A binary without libFuzzer's coverage counters would fuzz blind: that fails the run.
  "$bin/$target" -runs=0 > .build-fuzz/probe.log 2>&1 || true
  grep -q "inline 8-bit counters" .build-fuzz/probe.log || { echo "fuzz.sh: $target is not instrumented for coverage" >&2; exit 1; }
  nm "$bin/$target" | grep -c " __asan_report_load8$" > /dev/null || { echo "fuzz.sh: $target is not built with AddressSanitizer" >&2; exit 1; }
done

mkdir -p .build-fuzz/artifacts
status=0
summary=()
for target in "${targets[@]}"; do
  corpus=.build-fuzz/corpus/$target
  mkdir -p "$corpus"
  cp Fuzz/corpus/"$target"/* "$corpus"/
  log=.build-fuzz/$target.log
  if ASAN_OPTIONS=detect_leaks=1 "$bin/$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
       -print_final_stats=1 -artifact_prefix=.build-fuzz/artifacts/"$target"- "$corpus" > "$log" 2>&1; then
    result=passed
  else
    result=FAILED
    status=1
    tail -n 40 "$log" >&2
  fi
  if ! grep -q "inline 8-bit counters" "$log"; then
    result="FAILED (not instrumented for coverage)"
    status=1
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  summary+=("| $target | $seconds s | $runs | $(ls "$corpus" | wc -l) | $result |")
done
echo "| target | time | executions | corpus | result |"
echo "|---|---|---|---|---|"
printf '%s\n' "${summary[@]}"
exit $status
