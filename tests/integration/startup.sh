# Startup files: a good one configures hsd (comments and blank lines skipped); the first
# bad line stops start-up with FILE:LINE: reason, a non-zero exit and nothing left behind.
source "$(dirname "$0")/lib.sh"

TAP=hss$$
GOOD=$WORK/good.conf
cat >"$GOOD" <<CONF
# a tap for the startup test

create tap name $TAP host-ip 10.77.5.1/24
   # indented comment
set interface ip address $TAP 10.77.5.2/24
set interface state $TAP up
ip route add 10.77.55.0/24 via 10.77.5.1
CONF
at_exit "ip link del $TAP"
start_hsd -c "$GOOD"
ctl_ok show interface "$TAP" | has "10.77.5.2/24" || fail "the address was not set"
ctl_ok show ip fib | has "10.77.55.0/24" || fail "the route was not added"
ping_ok 3 -i 0.05 10.77.5.2
stop_hsd

BAD=$WORK/bad.conf
cat >"$BAD" <<CONF
# line 1
create tap name $TAP host-ip 10.77.5.1/24

set interface state $TAP up
set interface state nosuch up
set interface state $TAP down
CONF
rc=0
"$HSD" --api-socket "$SOCK" -c "$BAD" >"$WORK/bad.log" 2>&1 || rc=$?
[ "$rc" -ne 0 ] || fail "hsd started with a bad startup file"
grep -q "^$BAD:5: set interface state: no interface named 'nosuch' (see 'show interface')$" \
    "$WORK/bad.log" || fail "no FILE:LINE: reason line: $(cat "$WORK/bad.log")"
! ip link show "$TAP" >/dev/null 2>&1 || fail "tap $TAP is left after a failed start-up"
[ ! -e "$SOCK" ] || fail "socket $SOCK is left after a failed start-up"

printf 'show version\nfrobnicate\n' >"$BAD"
rc=0
"$HSD" --api-socket "$SOCK" -c "$BAD" >"$WORK/bad.log" 2>&1 || rc=$?
[ "$rc" -ne 0 ] || fail "hsd started with an unknown command in its startup file"
grep -q "^$BAD:2: unknown command 'frobnicate'" "$WORK/bad.log" ||
    fail "no FILE:LINE for an unknown command: $(cat "$WORK/bad.log")"

rc=0
"$HSD" --api-socket "$SOCK" -c "$WORK/missing.conf" >"$WORK/bad.log" 2>&1 || rc=$?
[ "$rc" -ne 0 ] || fail "hsd started with a missing startup file"
grep -q "missing.conf: No such file" "$WORK/bad.log" || fail "unclear: $(cat "$WORK/bad.log")"

rc=0
"$HSD" --api-socket "$SOCK" --workers x >"$WORK/bad.log" 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "bad --workers: exit $rc"
grep -q "use a number" "$WORK/bad.log" || fail "unclear: $(cat "$WORK/bad.log")"
rc=0
"$HSD" --api-socket "$SOCK" --log-level bogus >"$WORK/bad.log" 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "bad --log-level: exit $rc"
"$HSD" --version | has "^hsd " || fail "hsd --version"
"$HSD" --help | has -- "--api-socket" || fail "hsd --help"
log "ok"
