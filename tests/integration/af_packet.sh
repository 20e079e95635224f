# Kernel to stack over af_packet: hsd attaches to the root end of a veth pair whose other
# end is in a new namespace holding the kernel's address; 100 fast pings and 8000-byte
# pings (fragmented both ways) from the namespace; with a MAC of its own (the default, the
# veth promiscuous while attached) and with the veth's MAC shared (`mac kernel`).
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

kmac=$(cat "/sys/class/net/$VA/address")
promiscuity() {
    ip -d link show "$VA" | sed -n 's/.*promiscuity \([0-9]*\).*/\1/p'
}
for workers in 1 0; do
    if [ "$workers" = 1 ]; then mac=(); else mac=(mac kernel); fi
    log "--workers $workers ${mac[*]}"
    start_hsd --workers "$workers"
    ctl_ok create host-interface name "$VA" "${mac[@]}"
    ctl_ok set interface ip address "host-$VA" 10.77.2.2/24
    ctl_ok set interface state "host-$VA" up
    rc=0
    out=$(ctl set interface mtu "host-$VA" 9000 2>&1) || rc=$?
    [ "$rc" -eq 1 ] && echo "$out" | has "raise its MTU first (ip link set $VA mtu 9000)" ||
        fail "an MTU above the veth's: exit $rc '$out'"
    if [ "$workers" = 1 ]; then
        ctl_ok show interface "host-$VA" | has "mac $kmac" && fail "the default MAC is the veth's"
        [ "$(promiscuity)" -gt 0 ] || fail "$VA is not promiscuous with a MAC of our own"
    else
        ctl_ok show interface "host-$VA" | has "mac $kmac" || fail "mac kernel: not the veth's MAC"
        [ "$(promiscuity)" -eq 0 ] || fail "$VA is promiscuous with the shared MAC"
    fi
    ip -n "$NS" neigh flush dev "$VB"
    ping_ok 100 -i 0.01 10.77.2.2
    ping_ok 5 -i 0.05 -s 8000 10.77.2.2
    neigh=$(ctl_ok show ip neighbors)
    echo "$neigh" | has "10.77.2.1" || fail "show ip neighbors lacks the namespace: $neigh"
    stop_hsd
    ip link show "$VA" >/dev/null || fail "hsd deleted the kernel's veth $VA"
    [ "$(promiscuity)" -eq 0 ] || fail "$VA stayed promiscuous after hsd left"
done
log "ok"
