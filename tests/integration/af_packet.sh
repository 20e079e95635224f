# Kernel to stack over af_packet: hsd attaches to the root end of a veth pair whose other
# end is in a new namespace holding the kernel's address; 100 fast pings and 8000-byte
# pings (fragmented both ways) from the namespace.
source "$(dirname "$0")/lib.sh"

NS=hsns$$
VA=hva$$
VB=hvb$$
ip netns add "$NS" || skip "cannot create a network namespace"
at_exit "ip netns del $NS"
ip link add "$VA" type veth peer name "$VB"
at_exit "ip link del $VA"
ip link set "$VB" netns "$NS"
ip -n "$NS" addr add 10.77.2.1/24 dev "$VB"
ip -n "$NS" link set lo up
ip -n "$NS" link set "$VB" up
ip link set "$VA" up
PING_NS=$NS

for workers in 1 0; do
    log "--workers $workers"
    start_hsd --workers "$workers"
    ctl_ok create host-interface name "$VA"
    ctl_ok set interface ip address "host-$VA" 10.77.2.2/24
    ctl_ok set interface state "host-$VA" up
    ip -n "$NS" neigh flush dev "$VB"
    ping_ok 100 -i 0.01 10.77.2.2
    ping_ok 5 -i 0.05 -s 8000 10.77.2.2
    neigh=$(ctl_ok show ip neighbors)
    echo "$neigh" | has "10.77.2.1" || fail "show ip neighbors lacks the namespace: $neigh"
    stop_hsd
    ip link show "$VA" >/dev/null || fail "hsd deleted the kernel's veth $VA"
done
log "ok"
