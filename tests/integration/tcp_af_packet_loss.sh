# TCP with the Linux kernel over a veth and af_packet with 2% of the TCP segments dropped
# both ways by nftables in the kernel's namespace: the 100 MB echo transfers still complete
# and verify.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/tcp_lib.bash"

setup_veth 4
require_echo
loss_on 2
kernel_client_echo "$MB100" 7
builtin_client_echo "$MB100" 5201 1
loss_report
show_tcp
stop_hsd
log "ok"
