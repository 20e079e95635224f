# Kernel to stack over a tap: 100 fast pings, 8000-byte pings (fragmented both ways),
# arping resolves the stack, the stack lists the kernel as a neighbor, clean shutdown
# removes the tap. Runs with 1 worker, 2 workers and the data plane on the main thread.
source "$(dirname "$0")/lib.sh"

for workers in 1 0 2; do
    log "--workers $workers"
    start_hsd --workers "$workers"
    make_tap 1
    ping_ok 100 -i 0.01 10.77.1.2
    ping_ok 5 -i 0.05 -s 8000 10.77.1.2
    ping_ok 3 -i 0.05 -s 1472 -M do 10.77.1.2 # exactly one full-size frame each way
    if [ "$workers" -eq 1 ]; then
        # The kernel side of the tap follows the stack's MTU: jumbo frames, never fragmented.
        ctl_ok set interface mtu "$TAP" 9000
        ip link show "$TAP" | has "mtu 9000" || fail "the kernel side of $TAP kept its MTU"
        ping_ok 3 -i 0.05 -s 8000 -M do 10.77.1.2
        ctl_ok set interface mtu "$TAP" 1500
        ip link show "$TAP" | has "mtu 1500" || fail "the kernel side of $TAP kept MTU 9000"
    fi

    out=$(arping -c 3 -i "$TAP" 10.77.1.2 2>&1) || true
    echo "$out" | tail -n 2
    [ "$(echo "$out" | grep -c 'bytes from .*(10.77.1.2)')" -ge 3 ] ||
        fail "arping got no answer from the stack: $out"

    if [ "$workers" -eq 2 ]; then
        # A second tap lands on the other worker: both data-plane threads busy at once.
        TAP2=hst2$$
        ctl_ok create tap name "$TAP2" host-ip 10.77.11.1/24 >/dev/null
        at_exit "ip link del $TAP2"
        ctl_ok set interface ip address "$TAP2" 10.77.11.2/24
        ctl_ok set interface state "$TAP2" up
        ctl_ok show workers | grep -A 2 "^worker 1 " | has "$TAP2/0" ||
            fail "$TAP2 is not on worker 1: $(ctl show workers)"
        ping_ok 200 -i 0.005 10.77.1.2 &
        p1=$!
        ping_ok 200 -i 0.005 10.77.11.2 &
        p2=$!
        # Control changes while both workers forward: each command parks them (barrier).
        for i in $(seq 100); do
            echo "show runtime"
            echo "set interface mtu $TAP2 $((1400 + i))"
            echo "ip route add 10.77.$((100 + i % 50)).0/24 via 10.77.11.1"
        done | ctl >/dev/null || fail "commands during traffic"
        ctl_ok set interface mtu "$TAP2" 1500
        wait "$p1" || fail "pings over the first tap (alongside the second)"
        wait "$p2" || fail "pings over the second tap"
    fi

    neigh=$(ctl_ok show ip neighbors)
    echo "$neigh" | has "10.77.1.1" || fail "show ip neighbors lacks the kernel: $neigh"
    counters=$(ctl_ok show interface "$TAP" counters)
    echo "$counters" | has "^$TAP " || fail "show interface $TAP: $counters"
    rx=$(echo "$counters" | sed -n 's/.*rx packets \([0-9]*\).*/\1/p')
    [ "${rx:-0}" -ge 100 ] || fail "rx packets ${rx:-none} < 100: $counters"

    stop_hsd
    ! ip link show "$TAP" >/dev/null 2>&1 || fail "tap $TAP is left after shutdown"
done
log "ok"
