# TCP interop with the Linux kernel, shared by tests/integration/tcp_*.sh (sourced after
# lib.sh; named .bash so ctest does not run it as a test). The kernel side is either the
# root namespace behind a tap (KNS empty) or a namespace behind a veth whose other end hsd
# holds through af_packet (KNS set). Every transfer is checked end to end: the kernel
# client's echo by sha256, the builtin client by its own byte-for-byte verification.

MB100=$((100 * 1024 * 1024))
# Wall-time budget of one transfer: two per script must fit ctest's 180 s with room for
# set-up. A healthy stack needs a few seconds (about 20 s with 2% loss).
XFER_TIMEOUT=${HS_TCP_XFER_TIMEOUT:-75}
KNS=""      # namespace of the kernel side ("" = root)
KIF=""      # kernel interface facing hsd
KIP=""      # kernel address
SIP=""      # stack address
STACK_IF="" # hsd's interface name

# Runs a command on the kernel side.
kns() {
    if [ -n "$KNS" ]; then ip netns exec "$KNS" "$@"; else "$@"; fi
}

now_ms() {
    echo $(($(date +%s%N) / 1000000))
}

# setup_tap N [hsd flags...]: hsd with a tap (TAP_QUEUES queues, default 1), stack
# 10.78.N.2/24, kernel 10.78.N.1/24.
setup_tap() {
    local n=$1
    shift
    start_hsd "$@"
    KIF=hstcp$$
    KIP=10.78.$n.1
    SIP=10.78.$n.2
    STACK_IF=$KIF
    ctl_ok create tap name "$KIF" host-ip "$KIP/24" queues "${TAP_QUEUES:-1}" >/dev/null
    at_exit "ip link del $KIF"
    ctl_ok set interface ip address "$KIF" "$SIP/24"
    ctl_ok set interface state "$KIF" up
}

# setup_veth N: a namespace holding 10.78.N.1/24 on one end of a veth; hsd on the other
# end through af_packet with 10.78.N.2/24.
setup_veth() {
    KNS=hstcpns$$
    local va=hstva$$
    KIF=hstvb$$
    KIP=10.78.$1.1
    SIP=10.78.$1.2
    ip netns add "$KNS" || skip "cannot create a network namespace"
    at_exit "ip netns del $KNS"
    ip link add "$va" type veth peer name "$KIF"
    at_exit "ip link del $va"
    ip link set "$KIF" netns "$KNS"
    # The namespace's veth keeps its default offloads: its TCP sends GSO super-frames (up
    # to 64 KiB, one IP packet larger than the MTU, checksum partial) and af_packet hands
    # them over as they are; hsd takes them whole.
    ip -n "$KNS" addr add "$KIP/24" dev "$KIF"
    ip -n "$KNS" link set lo up
    ip -n "$KNS" link set "$KIF" up
    ip link set "$va" up
    start_hsd
    STACK_IF=host-$va
    ctl_ok create host-interface name "$va"
    ctl_ok set interface ip address "$STACK_IF" "$SIP/24"
    ctl_ok set interface state "$STACK_IF" up
}

# require_echo: hsd must have the builtin echo apps (issue 4's test echo commands).
require_echo() {
    local out
    out=$(ctl help 2>&1 || true)
    echo "$out" | has "test echo" || fail "hsd has no 'test echo' command: $(sed -n 1,5p <<<"$out")"
}

# loss_on PCT: drops PCT% of the frames both ways on the kernel's interface (nftables, in
# the kernel side's namespace).
loss_on() {
    local t=hsloss$$
    kns nft add table inet "$t"
    if [ -n "$KNS" ]; then
        at_exit "ip netns exec $KNS nft delete table inet $t"
    else
        at_exit "nft delete table inet $t"
    fi
    kns nft add chain inet "$t" in "{ type filter hook input priority -300; }"
    kns nft add chain inet "$t" out "{ type filter hook output priority -300; }"
    kns nft add rule inet "$t" in iifname "$KIF" ip protocol tcp numgen random mod 100 \< "$1" counter drop
    kns nft add rule inet "$t" out oifname "$KIF" ip protocol tcp numgen random mod 100 \< "$1" counter drop
    LOSS_TABLE=$t
}

# loss_report: what the nftables rules dropped (fails when they dropped nothing: the test
# would not have tested loss).
loss_report() {
    local out
    out=$(kns nft list table inet "$LOSS_TABLE")
    local drops
    drops=$(echo "$out" | sed -n 's/.*packets \([0-9]*\) bytes.*drop.*/\1/p' | awk '{s += $1} END {print s + 0}')
    log "nftables dropped ${drops:-0} TCP segments"
    [ "${drops:-0}" -gt 0 ] || fail "the loss rules dropped nothing: $out"
}

# kernel_client_echo BYTES PORT: a kernel client (socat) sends BYTES of random data to the
# builtin echo server on the stack and compares the echo by sha256.
kernel_client_echo() {
    local bytes=$1 port=$2
    head -c "$bytes" /dev/urandom >"$WORK/in.bin"
    ctl_ok test echo server uri "tcp://$SIP/$port"
    local t0 t1
    t0=$(now_ms)
    # -t: after our EOF the echo still has to come back; -T: no progress for 30 s = hung.
    local rc=0
    kns timeout "$XFER_TIMEOUT" socat -b 65536 -t "$XFER_TIMEOUT" -T 30 - "TCP:$SIP:$port" \
        <"$WORK/in.bin" >"$WORK/out.bin" 2>"$WORK/socat.log" || rc=$?
    [ "$rc" -ne 124 ] || fail "kernel client: the echo of $bytes bytes did not finish within" \
        "$XFER_TIMEOUT s ($(stat -c %s "$WORK/out.bin") bytes back); $(show_tcp | grep -E 'timeouts|retransmits')"
    [ "$rc" -eq 0 ] || fail "socat to the echo server: exit $rc: $(cat "$WORK/socat.log")"
    t1=$(now_ms)
    local a b
    a=$(sha256sum <"$WORK/in.bin" | cut -d' ' -f1)
    b=$(sha256sum <"$WORK/out.bin" | cut -d' ' -f1)
    local got
    got=$(stat -c %s "$WORK/out.bin")
    [ "$a" = "$b" ] || fail "echo differs: sent $bytes bytes sha256 $a, got $got bytes sha256 $b"
    log "kernel client -> builtin echo server: $bytes bytes each way verified in $((t1 - t0)) ms ($(( bytes * 16 / 1000 / (t1 - t0 + 1) )) Mbit/s both ways)"
    rm -f "$WORK/in.bin" "$WORK/out.bin"
}

# builtin_client_echo BYTES PORT NCLIENTS: a kernel echo server (socat forking cat per
# connection) and the builtin client sending BYTES per connection, verified by the client.
builtin_client_echo() {
    local bytes=$1 port=$2 n=$3
    # The server runs as its own process group (setsid) so that it and its forked
    # children can all be stopped: kns is a function, and $! names its subshell.
    local cmd=(socat -b 65536 -t 60 "TCP-LISTEN:$port,bind=$KIP,reuseaddr,fork,backlog=256" EXEC:cat)
    [ -n "$KNS" ] && cmd=(ip netns exec "$KNS" "${cmd[@]}")
    setsid "${cmd[@]}" >"$WORK/echo-server.log" 2>&1 &
    local spid=$!
    at_exit "kill -- -$spid 2>/dev/null"
    for _ in $(seq 50); do
        kns ss -ltn | has "$KIP:$port" && break
        sleep 0.1
    done
    local t0 t1 out
    t0=$(now_ms)
    out=$(ctl test echo client uri "tcp://$KIP/$port" nclients "$n" bytes "$bytes" timeout "$XFER_TIMEOUT" 2>&1) ||
        fail "test echo client: $out"
    t1=$(now_ms)
    echo "$out"
    echo "$out" | has "^ok: $n of $n connections completed and verified" ||
        fail "builtin client against the kernel echo server: $out"
    log "builtin client -> kernel echo server: $n x $bytes bytes verified in $((t1 - t0)) ms"
    kill -- -"$spid" 2>/dev/null || true
}

# closed_port_refused PORT: the kernel's connect to a port nothing listens on is refused at
# once (the stack answers the SYN with a RST).
closed_port_refused() {
    local port=$1 t0 t1 out
    t0=$(now_ms)
    out=$(kns socat -T 5 - "TCP:$SIP:$port,connect-timeout=5" </dev/null 2>&1) && fail "connect to closed port $port succeeded"
    t1=$(now_ms)
    echo "$out" | has -i "refused" || fail "connect to closed port $port: not refused: $out"
    [ $((t1 - t0)) -lt 1000 ] || fail "connect to closed port $port refused after $((t1 - t0)) ms (>= 1 s)"
    log "closed port $port: connection refused in $((t1 - t0)) ms"
}

# show_tcp: the stack's TCP counters, for the log.
show_tcp() {
    ctl show tcp stats 2>&1 | head -n 40 || true
}
