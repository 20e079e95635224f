# show runtime / show errors / trace: a traced ping shows its path through the graph;
# runtime counts the nodes; a TCP SYN (no transport yet) is a counted drop.
source "$(dirname "$0")/lib.sh"

start_hsd
make_tap 8
ping_ok 1 10.77.8.2 # ARP resolved both ways before the trace
ctl_ok clear runtime
ctl_ok clear errors
ctl_ok trace add tap-input 5
ping_ok 3 -i 0.05 10.77.8.2
trace=$(ctl_ok show trace)
sed -n 1,20p <<<"$trace" # sed reads all: no SIGPIPE under pipefail
for node in tap-input ethernet-input ip4-input ip4-local icmp4-input ip4-lookup ip4-rewrite \
    interface-output; do
    echo "$trace" | has "^  $node " || fail "show trace lacks $node"
done
[ "$(echo "$trace" | grep -c '^Packet ')" -ge 3 ] || fail "fewer than 3 packets traced"
ctl_ok clear trace
ctl_ok show trace | has "no packets traced" || fail "clear trace"

# A reply of about a megabyte crosses the socket in many partial writes.
ctl_ok trace add tap-input 1000
ping_ok 1000 -i 0.002 -q 10.77.8.2
ctl show trace >"$WORK/trace.txt" || fail "show trace (long)"
size=$(stat -c %s "$WORK/trace.txt")
log "show trace: $size bytes"
[ "$size" -gt 500000 ] && grep -q "^Packet 1000 " "$WORK/trace.txt" ||
    fail "long trace cut short: $size bytes, $(grep -c '^Packet' "$WORK/trace.txt") packets"
if command -v socat >/dev/null; then
    # A client that reads slowly (a stalled pipe) and half-closes after its request: hsd
    # waits for room (EPOLLOUT), then delivers the whole reply before closing.
    printf '\x01\x00\x00\x00\x0a\x00\x00\x00show trace' |
        socat -t 10 - "UNIX-CONNECT:$SOCK" | (sleep 1; cat) >"$WORK/raw.bin"
    tail -c +13 "$WORK/raw.bin" | cmp -s - "$WORK/trace.txt" ||
        fail "slow reader got $(stat -c %s "$WORK/raw.bin") bytes, want 12 + $size"
fi
ctl_ok clear trace
out=$(ctl trace add ip4-input 5 2>&1) && fail "trace add on a non-input node worked"
echo "$out" | has "'ip4-input' is not an input node (trace starts at one of: .*tap-input" ||
    fail "unclear error: $out"

runtime=$(ctl_ok show runtime)
echo "$runtime"
echo "$runtime" | has "Vectors/Call" || fail "show runtime header"
for node in tap-input ethernet-input ip4-input icmp4-input interface-output; do
    calls=$(echo "$runtime" | awk -v n="$node" '$1 == n { print $2 }')
    [ "${calls:-0}" -ge 3 ] || fail "show runtime: $node calls ${calls:-none}"
done

# A SYN to a closed port is refused at once (RST) and counted by reason.
timeout 3 bash -c 'exec 3<>/dev/tcp/10.77.8.2/80' 2>/dev/null && fail "connect to a closed port succeeded"
errors=$(ctl_ok show errors)
echo "$errors"
echo "$errors" | has "tcp4-input .*no connection or listener (RST sent)" ||
    fail "the TCP SYN was not counted: $errors"
ctl_ok clear errors
ctl_ok show errors | has "no connection or listener" && fail "clear errors did not clear"

ctl_ok show buffers | has "free in the pool" || fail "show buffers"
ctl_ok show workers | has "$TAP/0" || fail "show workers lacks the tap's queue"
ctl_ok show ip stats >/dev/null
stop_hsd
log "ok"
