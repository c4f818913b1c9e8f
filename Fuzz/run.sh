#!/usr/bin/env bash
# Builds one fuzz target if needed and runs it for a while.
#
#   Fuzz/run.sh TARGET SECONDS [libFuzzer options…]
#
# The build is a debug build with -sanitize=fuzzer,address in Fuzz/.build. The run starts from
# a copy of the seed corpus (Fuzz/Corpus/TARGET) in a temporary folder, so that the inputs it
# discovers never dirty the work tree; it uses Fuzz/Dictionaries/TARGET.dict when there is one.
# Any crash, failed assertion, timeout (10 s per input), leak or memory blow-up (2 GiB) stops
# the run: the input is kept in Fuzz/.build/crashes/TARGET/, printed in hex, and the script
# exits non-zero. The full log is in Fuzz/.build/logs/TARGET.log.
set -uo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
if [ $# -lt 2 ]; then
    echo "usage: $0 TARGET SECONDS [libFuzzer options…]" >&2
    exit 2
fi
target=$1
seconds=$2
shift 2
if [ ! -d "$here/Sources/$target" ] || [ "$target" = FuzzSupport ]; then
    echo "no fuzz target $target (see $here/Sources)" >&2
    exit 2
fi

mkdir -p "$here/.build/logs" "$here/.build/crashes/$target"
log="$here/.build/logs/$target.log"
build=(swift build -c debug --package-path "$here" --scratch-path "$here/.build" -Xswiftc -sanitize=fuzzer,address)
# ld.gold warns about every ASan helper it cannot export; those warnings are harmless.
if ! "${build[@]}" --product "$target" >"$log" 2>&1; then
    grep -v "Cannot export local symbol" "$log" >&2
    echo "$target: build failed" >&2
    exit 1
fi
binary="$("${build[@]}" --show-bin-path)/$target"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp -R "$here/Corpus/$target" "$work/corpus"
options=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
    -artifact_prefix="$here/.build/crashes/$target/")
if [ -f "$here/Dictionaries/$target.dict" ]; then
    options+=(-dict="$here/Dictionaries/$target.dict")
fi

echo "$target: fuzzing for $seconds s from $(ls "$work/corpus" | wc -l) seed inputs"
before="$(ls "$here/.build/crashes/$target")"
# Swift's own crash backtracer would race libFuzzer's and ASan's handlers: leave crashes to them.
SWIFT_BACKTRACE=enable=no "$binary" "${options[@]}" "$@" "$work/corpus" >"$log" 2>&1
status=$?
grep -E "^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)" "$log" | sed "s/^/$target: /"
if [ "$status" -ne 0 ]; then
    # The failure: Swift's fatal error or the sanitizer's report, without the shadow-byte legend.
    grep -v -E "^#[0-9]+|^  [A-Z].*: +[0-9a-f]{2}|^Shadow byte|^  0x[0-9a-f]+: " "$log" | tail -n 40 >&2
    for artifact in $(ls "$here/.build/crashes/$target"); do
        if ! grep -qxF "$artifact" <<<"$before"; then
            echo "$target: input kept in $here/.build/crashes/$target/$artifact, in hex:" >&2
            od -An -v -tx1 "$here/.build/crashes/$target/$artifact" | head -n 64 >&2
        fi
    done
    echo "$target: FAILED (libFuzzer exit status $status); log: $log" >&2
    exit 1
fi
echo "$target: no crash, timeout or leak"
