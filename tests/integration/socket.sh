# The control socket: mode 0660; a second hsd on the same path fails clearly and leaves the
# first alone; a stale socket file (hsd killed) is replaced; SIGINT/SIGTERM remove it.
source "$(dirname "$0")/lib.sh"

start_hsd
[ "$(stat -c %a "$SOCK")" = "660" ] || fail "socket mode $(stat -c %a "$SOCK"), want 660"
rc=0
"$HSD" --api-socket "$SOCK" >"$WORK/second.log" 2>&1 || rc=$?
[ "$rc" -ne 0 ] || fail "a second hsd started on $SOCK"
grep -q "another hsd is running on $SOCK; stop it or use --api-socket" "$WORK/second.log" ||
    fail "unclear error: $(cat "$WORK/second.log")"
ctl_ok show version >/dev/null # the first one is untouched

kill -KILL "$HSD_PID"
wait "$HSD_PID" 2>/dev/null || true
HSD_PID=""
[ -S "$SOCK" ] || fail "expected a stale socket file after SIGKILL"
rc=0
out=$(ctl show version 2>&1) || rc=$?
[ "$rc" -eq 3 ] && echo "$out" | has "connection refused" || fail "stale: exit $rc '$out'"
start_hsd
grep -q "removing a stale socket file" "$WORK/hsd.log" || fail "no log line for a stale socket"

kill -INT "$HSD_PID"
rc=0
wait "$HSD_PID" || rc=$?
HSD_PID=""
[ "$rc" -eq 0 ] || fail "exit $rc after SIGINT"
[ ! -e "$SOCK" ] || fail "socket left after SIGINT"

# The default directory is created when missing.
DEEP=$WORK/run/hs/api.sock
"$HSD" --api-socket "$DEEP" >"$WORK/deep.log" 2>&1 &
PID=$!
at_exit "kill -TERM $PID"
for _ in $(seq 100); do [ -S "$DEEP" ] && break; sleep 0.1; done
"$HSCTL" --api-socket "$DEEP" show version >/dev/null || fail "hsd on a new directory"
kill -TERM "$PID"
wait "$PID" || fail "hsd exited non-zero"
log "ok"
