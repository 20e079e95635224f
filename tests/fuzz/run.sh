#!/usr/bin/env bash
# Builds the libFuzzer target tests/fuzz/fuzz_ip4.c with clang (ASan + UBSan) over the
# infra, svm, net, drivers, tcp and session sources, then runs it for SECONDS on the seed corpus; any crash,
# sanitizer report, leak-check or tx-check failure fails the run (the input is kept in
# BUILD_DIR). Usage: tests/fuzz/run.sh BUILD_DIR [SECONDS]   Exit 77: clang is missing.
set -euo pipefail

BUILD=${1:?usage: $0 BUILD_DIR [SECONDS]}
SECS=${2:-60}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CC=${FUZZ_CC:-clang}
command -v "$CC" >/dev/null || { echo "SKIP: $CC not found"; exit 77; }
mkdir -p "$BUILD/obj" "$BUILD/corpus" "$BUILD/artifacts"

FLAGS=(-std=gnu11 -g -O1 -fsanitize=fuzzer-no-link,address,undefined
       -fno-sanitize-recover=undefined -fno-omit-frame-pointer -DHS_SANITIZED=1
       -Wall -Wextra -I"$ROOT/src" -I"$ROOT/include")
LAYERS=(infra svm net drivers tcp session)
SRCS=("${LAYERS[@]/#/$ROOT/src/}")
SRCS=($(for d in "${SRCS[@]}"; do echo "$d"/*.c; done) "$ROOT/tests/fuzz/fuzz_ip4.c")
BIN=$BUILD/fuzz_ip4

# Rebuild only when a source or header is newer than the binary.
if [ ! -x "$BIN" ] || [ -n "$(find "${LAYERS[@]/#/$ROOT/src/}" \
    "$ROOT/tests/fuzz" -name '*.[ch]' -newer "$BIN" | head -n 1)" ]; then
    echo "fuzz: building $BIN"
    rm -f "$BUILD"/obj/*.o
    compile() { "$CC" "${FLAGS[@]}" -c "$1" -o "$BUILD/obj/$(echo "$1" | tr / _).o"; }
    pids=()
    failed=0
    for src in "${SRCS[@]}"; do
        compile "$src" &
        pids+=($!)
        if [ ${#pids[@]} -ge "$(nproc)" ]; then
            wait "${pids[0]}" || failed=1
            pids=("${pids[@]:1}")
        fi
    done
    for p in "${pids[@]}"; do wait "$p" || failed=1; done
    [ "$failed" -eq 0 ] || { echo "FAIL: fuzz: a source did not compile"; exit 1; }
    "$CC" -fsanitize=fuzzer,address,undefined "$BUILD"/obj/*.o -lpthread -lm -o "$BIN"
fi

echo "fuzz: running $BIN for $SECS s"
"$BIN" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -max_len=20000 \
    -print_final_stats=1 -artifact_prefix="$BUILD/artifacts/" \
    "$BUILD/corpus" "$ROOT/tests/fuzz/corpus" 2>"$BUILD/fuzz.log" || {
    rc=$?
    tail -n 60 "$BUILD/fuzz.log"
    echo "FAIL: fuzz_ip4 exited with $rc; the input is in $BUILD/artifacts/"
    exit 1
}
grep -E "^(#[0-9]+ *DONE|stat::number_of_executed_units|stat::peak_rss_mb)" "$BUILD/fuzz.log" || true
echo "fuzz: clean after $SECS s"
