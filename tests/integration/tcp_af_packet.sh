# TCP with the Linux kernel in a namespace behind a veth, hsd on the other end through
# af_packet (issue 4): 100 MB echoed to a kernel client (sha256), 100 MB from the builtin
# client through a kernel echo server (verified), and a closed port refused at once.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/tcp_lib.bash"

setup_veth 3
require_echo
kernel_client_echo "$MB100" 7
builtin_client_echo "$MB100" 5201 1
builtin_client_echo $((1024 * 1024)) 5202 8
closed_port_refused 9
show_tcp
stop_hsd
log "ok"
