# TCP with the Linux kernel over a tap (issue 4): a kernel client (socat) sends 100 MB of
# random data to the builtin echo server and checks the echo by sha256; the builtin client
# sends 100 MB through a kernel echo server (socat + cat) and verifies every byte; a
# connect to a closed port is refused at once (< 1 s); with TSO4 on the tap, the kernel's
# segments of up to 64 KiB are taken whole.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/tcp_lib.bash"

setup_tap 1
require_echo
kernel_client_echo "$MB100" 7
builtin_client_echo "$MB100" 5201 1
builtin_client_echo $((1024 * 1024)) 5202 8
closed_port_refused 9
# The tap takes TSO4: the kernel's TCP hands hsd whole segments of up to 64 KiB.
tso=$(ctl_ok show interface "$STACK_IF" | sed -n 's/.*tso-segments \([0-9]*\).*/\1/p')
log "segments above the MTU taken whole from the kernel: ${tso:-none}"
[ "${tso:-0}" -gt 0 ] || fail "no TSO segment came through the tap: $(ctl show interface "$STACK_IF")"
show_tcp
stop_hsd
log "ok"
