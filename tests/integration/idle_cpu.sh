# An idle hsd (a tap up, no traffic) uses under 2% of a CPU over 10 s, measured from
# /proc/PID/stat (utime + stime), with a worker thread and with the data plane on the
# main thread (two hsds measured side by side). The first also holds a veth through
# af_packet whose link went down and up: its sockets then report an error that must be
# read, or epoll would wake the worker for ever.
source "$(dirname "$0")/lib.sh"

cpu_ticks() {
    # Fields 14 and 15 after the ")" that ends the command name.
    sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

start_hsd --workers 1
make_tap 4
PID1=$HSD_PID
VA=hiva$$
ip link add "$VA" type veth peer name "hivb$$"
at_exit "ip link del $VA"
ip link set "$VA" up
ip link set "hivb$$" up
ctl_ok create host-interface name "$VA" >/dev/null
ctl_ok set interface state "host-$VA" up
ip link set "$VA" down
sleep 0.2
ip link set "$VA" up

SOCK2=$WORK/api2.sock
"$HSD" --api-socket "$SOCK2" --workers 0 >"$WORK/hsd2.log" 2>&1 &
PID2=$!
at_exit "kill -TERM $PID2"
for _ in $(seq 100); do
    "$HSCTL" --api-socket "$SOCK2" show version >/dev/null 2>&1 && break
    sleep 0.1
done
TAP2=hsu$$
"$HSCTL" --api-socket "$SOCK2" create tap name "$TAP2" host-ip 10.77.40.1/24 >/dev/null
at_exit "ip link del $TAP2"
"$HSCTL" --api-socket "$SOCK2" set interface ip address "$TAP2" 10.77.40.2/24
"$HSCTL" --api-socket "$SOCK2" set interface state "$TAP2" up
ping_ok 3 -i 0.1 10.77.4.2
ping_ok 3 -i 0.1 10.77.40.2

sleep 2 # let the kernel's own chatter on new links (IPv6 DAD, MLD) settle
HZ=$(getconf CLK_TCK)
a1=$(cpu_ticks "$PID1")
a2=$(cpu_ticks "$PID2")
t0=$(date +%s.%N)
sleep 10
b1=$(cpu_ticks "$PID1")
b2=$(cpu_ticks "$PID2")
t1=$(date +%s.%N)
for pair in "1 worker:$a1:$b1" "main thread:$a2:$b2"; do
    IFS=: read -r what a b <<<"$pair"
    pct=$(awk -v a="$a" -v b="$b" -v hz="$HZ" -v t0="$t0" -v t1="$t1" \
        'BEGIN { printf "%.2f", (b - a) / hz / (t1 - t0) * 100 }')
    log "idle CPU ($what): $pct% over $(awk -v t0="$t0" -v t1="$t1" 'BEGIN{printf "%.1f", t1-t0}') s"
    awk -v p="$pct" 'BEGIN { exit !(p < 2.0) }' || fail "idle hsd ($what) used $pct% CPU"
done
kill -TERM "$PID2"
wait "$PID2" || fail "hsd --workers 0 did not exit cleanly"
stop_hsd
log "ok"
