#!/usr/bin/env bash
# Bounded fuzzing of OTLP decode/convert and attribute redaction (tests/fuzz).
#
# Runs every cargo-fuzz target for FUZZ_SECONDS (default 60) each on the
# stable toolchain and fails if any target crashes, hangs past FUZZ_TIMEOUT
# seconds on one input (default 30), or fails to build. The last line reads
# "N passed, M failed".
#
#   FUZZ_SECONDS=300 tests/fuzz.sh              # longer run
#   FUZZ_TARGETS="redaction" tests/fuzz.sh      # a subset
#
# Stable works because `--sanitizer none` keeps cargo-fuzz from adding the
# nightly-only `-Zsanitizer=address`; the coverage instrumentation it still
# adds (`-Cpasses=sancov-module`, `-Cllvm-args=-sanitizer-coverage-*`) is
# stable rustc. Builds go to target/fuzz; the growing working corpus lives in
# target/fuzz/corpus/<target> (the checked-in seeds in tests/fuzz/corpus are
# only read); crash inputs land in tests/fuzz/artifacts/<target>/ (ignored).
set -uo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-60}
timeout=${FUZZ_TIMEOUT:-30}
read -r -a targets <<<"${FUZZ_TARGETS:-otlp_protobuf otlp_json redaction}"
fuzz_dir=tests/fuzz
target_dir=target/fuzz
common=(--fuzz-dir "$fuzz_dir" --sanitizer none --target-dir "$target_dir")

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz"
    cargo install cargo-fuzz --locked --quiet || {
        echo "fuzz.sh: could not install cargo-fuzz"
        echo "0 passed, ${#targets[@]} failed"
        exit 1
    }
fi

mkdir -p "$target_dir/logs"
if ! cargo fuzz build "${common[@]}" >"$target_dir/logs/build.log" 2>&1; then
    tail -n 40 "$target_dir/logs/build.log"
    echo "fuzz.sh: build failed (log: $target_dir/logs/build.log)"
    echo "0 passed, ${#targets[@]} failed"
    exit 1
fi

passed=0
failed=0
for target in "${targets[@]}"; do
    corpus="$target_dir/corpus/$target"
    log="$target_dir/logs/$target.log"
    mkdir -p "$corpus"
    args=(-max_total_time="$seconds" -timeout="$timeout" -print_final_stats=1)
    [ -f "$fuzz_dir/$target.dict" ] && args+=(-dict="$fuzz_dir/$target.dict")
    echo "fuzz.sh: $target for ${seconds}s"
    if cargo fuzz run "${common[@]}" "$target" "$corpus" "$fuzz_dir/corpus/$target" -- "${args[@]}" \
        >"$log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
        rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
        cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
        echo "fuzz.sh: $target ok: ${runs:-?} runs, ${rate:-?} exec/s, ${cov:-cov: ?}"
        passed=$((passed + 1))
    else
        grep -m 1 -B 2 -A 30 -E "panicked at|==ERROR|deadly signal|timeout after|out-of-memory" "$log" \
            || tail -n 40 "$log"
        grep -E "^(artifact_prefix|Test unit written to)|Reproduce with|cargo fuzz (run|tmin)" "$log" || true
        echo "fuzz.sh: $target FAILED (log: $log)"
        failed=$((failed + 1))
    fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
