# Shared helpers of the hsd integration tests; sourced by each tests/integration/*.sh,
# which ctest runs as: bash TEST.sh HSD HSCTL. A test runs as root, creates names unique
# to its pid, uses its own control socket and cleans up in a trap even when it fails.
# Exit 77 = skipped (ctest SKIP_RETURN_CODE).
set -euo pipefail

HSD=${1:?usage: $0 HSD HSCTL}
HSCTL=${2:?usage: $0 HSD HSCTL}
TEST=$(basename "$0" .sh)
WORK=$(mktemp -d "/tmp/hs-it-$TEST.XXXXXX")
SOCK=$WORK/api.sock
HSD_PID=""
CLEANUP=() # shell commands run at exit, last added first
# Sanitizer builds: a leak or error report makes hsd exit non-zero, which the tests check.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}

# has [grep options] PATTERN: grep -q for a pipe. It reads all its input: grep -q stops at
# the first match, and under pipefail the writer's SIGPIPE would then fail the test.
has() {
    grep "$@" >/dev/null
}

skip() {
    echo "SKIP: $TEST: $*"
    exit 77
}

fail() {
    echo "FAIL: $TEST: $*" >&2
    exit 1
}

log() {
    echo "--- $TEST: $*"
}

at_exit() {
    CLEANUP+=("$*")
}

cleanup() {
    local rc=$?
    set +e
    if [ -n "$HSD_PID" ] && kill -0 "$HSD_PID" 2>/dev/null; then
        kill -TERM "$HSD_PID"
        for _ in $(seq 50); do kill -0 "$HSD_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$HSD_PID" 2>/dev/null
    fi
    for ((i = ${#CLEANUP[@]} - 1; i >= 0; i--)); do eval "${CLEANUP[$i]}" >/dev/null 2>&1; done
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
        for f in "$WORK"/*.log; do
            [ -f "$f" ] && { echo "==== $f"; tail -n 50 "$f"; }
        done
    fi
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT

[ "$(id -u)" -eq 0 ] || skip "needs root (taps, veths, namespaces)"
[ -c /dev/net/tun ] || skip "no /dev/net/tun"

ctl() {
    "$HSCTL" --api-socket "$SOCK" "$@"
}

# Runs ctl and fails the test when the command fails; prints the output.
ctl_ok() {
    local out
    out=$(ctl "$@" 2>&1) || fail "hsctl $*: exit $?: $out"
    [ -z "$out" ] || printf '%s\n' "$out"
}

# start_hsd [hsd flags...]: starts hsd on $SOCK (log in $WORK/hsd.log) and waits until it
# answers.
start_hsd() {
    "$HSD" --api-socket "$SOCK" "$@" >"$WORK/hsd.log" 2>&1 &
    HSD_PID=$!
    for _ in $(seq 100); do
        if [ -S "$SOCK" ] && ctl show version >/dev/null 2>&1; then return 0; fi
        kill -0 "$HSD_PID" 2>/dev/null || fail "hsd exited at start-up: $(cat "$WORK/hsd.log")"
        sleep 0.1
    done
    fail "hsd did not answer on $SOCK within 10 s"
}

# stop_hsd: SIGTERM, and checks the shutdown was clean: exit 0 and the socket removed.
stop_hsd() {
    kill -TERM "$HSD_PID"
    local rc=0
    wait "$HSD_PID" || rc=$?
    HSD_PID=""
    [ "$rc" -eq 0 ] || fail "hsd exited with $rc after SIGTERM: $(tail -n 30 "$WORK/hsd.log")"
    [ ! -e "$SOCK" ] || fail "the socket file $SOCK is left after shutdown"
}

# ping_ok COUNT ARGS...: runs ping (inside namespace $PING_NS when set) and fails unless
# all COUNT replies came back.
PING_NS=""
ping_ok() {
    local count=$1
    shift
    local out
    if [ -n "$PING_NS" ]; then
        out=$(ip netns exec "$PING_NS" ping -c "$count" -W 2 "$@" 2>&1) || true
    else
        out=$(ping -c "$count" -W 2 "$@" 2>&1) || true
    fi
    echo "$out" | tail -n 2
    echo "$out" | has " $count received" || fail "ping -c $count $*: $(echo "$out" | tail -n 3)"
}

# A tap for the test: stack at 10.77.$1.2/24, kernel side 10.77.$1.1/24, up. Sets TAP.
make_tap() {
    TAP=hst$$
    ctl_ok create tap name "$TAP" host-ip "10.77.$1.1/24" >/dev/null
    ctl_ok set interface ip address "$TAP" "10.77.$1.2/24"
    ctl_ok set interface state "$TAP" up
    at_exit "ip link del $TAP"
}
