#!/usr/bin/env bash
# Build the libFuzzer targets in Fuzz/ (with AddressSanitizer) and run each for FUZZ_SECONDS
# (default 300). Seeds: Fuzz/Seeds plus the project's event and payload fixtures. A crash
# leaves its input in .build-fuzz/crashes/ and makes this script fail.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds=${FUZZ_SECONDS:-300}
# FUZZ_TARGETS="FuzzEvents FuzzBase64" runs only those.
read -r -a targets <<< "${FUZZ_TARGETS:-FuzzEvents FuzzPayload FuzzBase64 FuzzSageMakerError FuzzRuntimeHeaders FuzzErrorText}"
scratch=.build-fuzz

mkdir -p "$scratch"
# A failed build must fail the run: otherwise old binaries from an earlier build would be fuzzed.
# (lld's "Cannot export local symbol" lines are noise of the sanitizer runtime.)
if ! swift build --package-path Fuzz --scratch-path "$scratch" -c debug \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -use-ld=lld \
    >"$scratch/build.log" 2>&1; then
    grep -vE "Cannot export local symbol" "$scratch/build.log" | tail -40 >&2
    echo "fuzz: building the fuzz targets failed (full log: $scratch/build.log)" >&2
    exit 1
fi
mkdir -p "$scratch/crashes"

status=0
for target in "${targets[@]}"; do
    corpus="$scratch/corpus/$target"
    mkdir -p "$corpus"
    [ -d "Fuzz/Seeds/$target" ] && cp -n Fuzz/Seeds/"$target"/* "$corpus"/ 2>/dev/null || true
    case "$target" in
        FuzzEvents|FuzzPayload)
            cp -n events/*.json Tests/LambdaEventsTests/Fixtures/*.json "$corpus"/ 2>/dev/null || true ;;
    esac
    log="$scratch/$target.log"
    # -rss_limit_mb: ASan's quarantine grows; 2 GiB keeps two cores' worth of fuzzing inside the machine.
    if ASAN_OPTIONS=detect_leaks=1 "$scratch/debug/$target" "$corpus" \
        -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -timeout=10 \
        -artifact_prefix="$scratch/crashes/$target-" -print_final_stats=1 >"$log" 2>&1; then
        runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo "?")
        echo "fuzz: $target: $runs executions in ${seconds}s, no crash"
    else
        echo "fuzz: $target FAILED; see $log and $scratch/crashes/" >&2
        tail -30 "$log" >&2
        status=1
    fi
done
exit $status
