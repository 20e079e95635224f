# pcap capture during pings: tcpdump reads the file and shows the echo request and reply.
source "$(dirname "$0")/lib.sh"
command -v tcpdump >/dev/null || skip "tcpdump is not installed"

start_hsd
make_tap 3
CAP=$WORK/cap.pcap
ctl_ok pcap trace rx tx max 100 intfc "$TAP" file "$CAP"
ctl_ok show pcap | has "$CAP" || fail "show pcap does not name $CAP"
ping_ok 3 -i 0.05 10.77.3.2
ctl_ok pcap trace off
[ -s "$CAP" ] || fail "no pcap file at $CAP"
dump=$(tcpdump -nn -r "$CAP" 2>&1) || fail "tcpdump cannot read $CAP: $dump"
sed -n 1,6p <<<"$dump"
echo "$dump" | has "10.77.3.1 > 10.77.3.2: ICMP echo request" || fail "no echo request"
echo "$dump" | has "10.77.3.2 > 10.77.3.1: ICMP echo reply" || fail "no echo reply"
[ "$(echo "$dump" | grep -c 'ICMP echo')" -ge 6 ] || fail "fewer than 6 echo packets: $dump"

# rx only, on any interface, a relative path (under /tmp), max reached.
REL=hs-it-pcap-$$.pcap
at_exit "rm -f /tmp/$REL"
ctl_ok pcap trace rx max 2 intfc any file "$REL"
ping_ok 3 -i 0.05 10.77.3.2
ctl pcap trace off || true # the capture may have closed itself at max
dump=$(tcpdump -nn -r "/tmp/$REL" 2>&1) || fail "tcpdump cannot read /tmp/$REL: $dump"
# The kernel's own chatter (IPv6 MLD) may take a slot: 2 packets, at least one a request.
[ "$(echo "$dump" | grep -c '^[0-9]')" -eq 2 ] || fail "max 2: $dump"
echo "$dump" | has 'ICMP echo request' || fail "no echo request in an rx capture: $dump"
! echo "$dump" | has "echo reply" || fail "an rx-only capture holds a reply: $dump"

# Errors name the object and the fix.
out=$(ctl pcap trace rx intfc nosuch file "$CAP" 2>&1) && fail "pcap on a missing interface worked"
echo "$out" | has "no interface named 'nosuch'" || fail "unclear error: $out"
out=$(ctl pcap trace off 2>&1) && fail "pcap trace off without a capture worked"
echo "$out" | has "no capture is running" || fail "unclear error: $out"
stop_hsd
log "ok"
