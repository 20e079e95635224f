# hsd --demo: tap hs0 with the host at 10.10.0.1/24 and the stack at 10.10.0.2, one line
# on stdout saying how to reach it, and the host can ping the stack. Uses the demo's fixed
# names, so it skips when hs0 or 10.10.0.0/24 is already in use (a demo running).
source "$(dirname "$0")/lib.sh"

ip link show hs0 >/dev/null 2>&1 && skip "hs0 exists (a demo is running?)"
ip route show | has "^10.10.0.0/24" && skip "10.10.0.0/24 is already routed here"
at_exit "ip link del hs0"
start_hsd --demo
for _ in $(seq 50); do grep -q "demo ready" "$WORK/hsd.log" && break; sleep 0.1; done
grep -qx "hsd: demo ready: tap hs0, host 10.10.0.1/24, stack 10.10.0.2 — try: ping 10.10.0.2" \
    "$WORK/hsd.log" || fail "no demo line: $(cat "$WORK/hsd.log")"
ping_ok 5 -i 0.05 10.10.0.2
ip -4 addr show hs0 | has "10.10.0.1/24" || fail "the host side of hs0 lacks 10.10.0.1/24"
stop_hsd
! ip link show hs0 >/dev/null 2>&1 || fail "hs0 is left after shutdown"
log "ok"
