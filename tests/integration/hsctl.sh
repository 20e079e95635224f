# hsctl: exit codes and messages, one-shot, batch (pipe) and interactive (pty) modes, and
# the server's handling of bad messages (logged, that client closed, hsd unharmed).
source "$(dirname "$0")/lib.sh"

rc=0
out=$("$HSCTL" --api-socket "$WORK/nobody.sock" show version 2>&1) || rc=$?
[ "$rc" -eq 3 ] || fail "no hsd: exit $rc"
[ "$out" = "hsctl: cannot connect to $WORK/nobody.sock: no such file (is hsd running?)" ] ||
    fail "no hsd: '$out'"
rc=0
"$HSCTL" --bogus >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "bad option: exit $rc"

start_hsd
ctl_ok show version | has "^hsd " || fail "show version"
ctl_ok help | has "set interface ip address NAME A.B.C.D/LEN" || fail "help"
ctl_ok sh ver | has "^hsd " || fail "abbreviations"

rc=0
out=$(ctl set interface state nosuch up 2>&1) || rc=$?
[ "$rc" -eq 1 ] || fail "failed command: exit $rc"
[ "$out" = "set interface state: no interface named 'nosuch' (see 'show interface')" ] ||
    fail "failed command: '$out'"
rc=0
out=$(ctl frobnicate 2>&1) || rc=$?
[ "$rc" -eq 1 ] && [ "$out" = "unknown command 'frobnicate' (try 'help')" ] ||
    fail "unknown command: exit $rc '$out'"
rc=0
out=$(ctl set interface mtu 2>&1) || rc=$?
[ "$rc" -eq 1 ] && echo "$out" | has "missing interface name (usage: set interface mtu" ||
    fail "missing argument: exit $rc '$out'"
rc=0
out=$(ctl ip route add 10.77.66.0/24 via 10.77.99.1 2>&1) || rc=$?
[ "$rc" -eq 1 ] && echo "$out" | has "next hop 10.77.99.1 is not on a connected subnet" ||
    fail "unreachable next hop: exit $rc '$out'"

# Batch mode: commands from a pipe; the status tells whether one failed.
printf 'show version\n# comment\n\nshow interface\n' | ctl >"$WORK/batch.out" || fail "batch"
grep -q "^hsd " "$WORK/batch.out" || fail "batch output"
rc=0
printf 'show version\nfrobnicate\n' | ctl >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 1 ] || fail "batch with a failing command: exit $rc"

# Interactive: a pty (script) so hsctl sees a terminal and prompts.
if command -v script >/dev/null; then
    out=$(printf 'show version\nquit\n' | HOME=$WORK script -qec "$HSCTL --api-socket $SOCK" /dev/null 2>&1) ||
        fail "interactive hsctl: $out"
    echo "$out" | has "hs# " || fail "no prompt: $out"
    echo "$out" | has "^hsd " || fail "no reply in interactive mode: $out"
    # script may return before hsctl has written its history on quit: give it a moment.
    for _ in $(seq 20); do [ -s "$WORK/.hsctl_history" ] && break; sleep 0.1; done
    grep -q "^show" "$WORK/.hsctl_history" || fail "no history file" # libedit writes "show\040version"
fi

# A long reply crosses the socket in pieces: 2000 routes in show ip fib.
TAP=hsc$$
ctl_ok create tap name "$TAP" host-ip 10.77.6.1/24 >/dev/null
at_exit "ip link del $TAP"
ctl_ok set interface ip address "$TAP" 10.77.6.2/24
for i in $(seq 0 1999); do
    echo "ip route add 10.$((100 + i / 250)).$((i % 250)).0/24 via 10.77.6.1"
done | ctl || fail "adding 2000 routes"
[ "$(ctl_ok show ip fib | grep -c 'via 10.77.6.1')" -ge 2000 ] ||
    fail "show ip fib lacks routes: $(ctl show ip fib | tail -n 3)"

# Bad messages: unknown type, a length over the limit, a truncated request: each client is
# closed with a log line; hsd keeps serving.
if command -v socat >/dev/null; then
    printf '\x07\x00\x00\x00\x00\x00\x00\x00' | socat -t 2 - "UNIX-CONNECT:$SOCK" >/dev/null 2>&1 || true
    printf '\x01\x00\x00\x00\xff\xff\xff\x7f' | socat -t 2 - "UNIX-CONNECT:$SOCK" >/dev/null 2>&1 || true
    printf '\x01\x00\x00\x00\x10\x00\x00\x00show' | socat -t 1 - "UNIX-CONNECT:$SOCK" >/dev/null 2>&1 || true
    printf '\x01\x00\x00\x00\x05\x00\x00\x00sh\x00ow' | socat -t 1 - "UNIX-CONNECT:$SOCK" >/dev/null 2>&1 || true
    sleep 0.2
    grep -q "bad message (type 7" "$WORK/hsd.log" || fail "no log line for a bad type"
    grep -q "NUL byte" "$WORK/hsd.log" || fail "no log line for a NUL byte"
    ctl_ok show version >/dev/null
fi
stop_hsd
log "ok"
