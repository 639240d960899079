#!/usr/bin/env bash
# Bounded fuzzing of OTLP decode/convert and attribute redaction (tests/fuzz).
#
# Builds the cargo-fuzz targets once, runs each for FUZZ_SECONDS (default 60)
# on the stable toolchain, and fails if a target fails to build, crashes
# (panic, abort or a broken invariant in tests/fuzz/src/lib.rs) or spends
# more than FUZZ_TIMEOUT seconds (default 30) on one input. The last line
# reads "N passed, M failed".
#
#   FUZZ_SECONDS=300 tests/fuzz.sh              # longer run
#   FUZZ_TARGETS="redaction" tests/fuzz.sh      # a subset
#   FUZZ_WAIVE=policy-nul tests/fuzz.sh         # skip a known finding's check
#
# Stable works because `--sanitizer none` keeps cargo-fuzz from adding the
# nightly-only `-Zsanitizer=address`; the coverage instrumentation it still
# adds (`-Cpasses=sancov-module`, `-Cllvm-args=-sanitizer-coverage-*`) is
# stable rustc. The binaries are run directly rather than through
# `cargo fuzz run`, which would rebuild before every target. Builds go to
# target/fuzz; the growing working corpus lives in target/fuzz/corpus/<target>
# (the checked-in seeds in tests/fuzz/corpus are only read); crash inputs land
# in tests/fuzz/artifacts/<target>/ (git-ignored); logs in target/fuzz/logs.
set -uo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-60}
timeout=${FUZZ_TIMEOUT:-30}
read -r -a targets <<<"${FUZZ_TARGETS:-otlp_protobuf otlp_json redaction}"
fuzz_dir=tests/fuzz
target_dir=target/fuzz
host=$(rustc -vV | sed -n 's/^host: //p')
bin_dir="$target_dir/$host/release"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz"
    cargo install cargo-fuzz --locked --quiet || {
        echo "fuzz.sh: could not install cargo-fuzz"
        echo "0 passed, ${#targets[@]} failed"
        exit 1
    }
fi

mkdir -p "$target_dir/logs"
echo "fuzz.sh: building (log: $target_dir/logs/build.log)"
if ! cargo fuzz build --fuzz-dir "$fuzz_dir" --sanitizer none --release --target "$host" \
    --target-dir "$target_dir" >"$target_dir/logs/build.log" 2>&1; then
    grep -m 1 -A 20 '^error' "$target_dir/logs/build.log" || tail -n 40 "$target_dir/logs/build.log"
    echo "fuzz.sh: build failed"
    echo "0 passed, ${#targets[@]} failed"
    exit 1
fi

passed=0
failed=0
for target in "${targets[@]}"; do
    corpus="$target_dir/corpus/$target"
    artifacts="$fuzz_dir/artifacts/$target"
    log="$target_dir/logs/$target.log"
    mkdir -p "$corpus" "$artifacts"
    args=(-max_total_time="$seconds" -timeout="$timeout" -print_final_stats=1
        -artifact_prefix="$artifacts/")
    [ -f "$fuzz_dir/$target.dict" ] && args+=(-dict="$fuzz_dir/$target.dict")
    echo "fuzz.sh: $target for ${seconds}s"
    if "$bin_dir/$target" "${args[@]}" "$corpus" "$fuzz_dir/corpus/$target" >"$log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
        rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
        cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
        echo "fuzz.sh: $target ok: ${runs:-?} runs, ${rate:-?} exec/s, ${cov:-cov: ?}"
        grep -m 5 '^fuzz: caught panic' "$log" || true
        passed=$((passed + 1))
    else
        grep -m 1 -A 30 -E "panicked at|==[0-9]+== ERROR|deadly signal|ALARM|out-of-memory" "$log" \
            || tail -n 40 "$log"
        artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
        if [ -n "$artifact" ]; then
            echo "fuzz.sh: input: $artifact"
            echo "fuzz.sh: reproduce: $bin_dir/$target $artifact"
            echo "fuzz.sh: minimize:  cargo fuzz tmin --fuzz-dir $fuzz_dir --sanitizer none --target-dir $target_dir $target $artifact"
        fi
        echo "fuzz.sh: $target FAILED (log: $log)"
        failed=$((failed + 1))
    fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
