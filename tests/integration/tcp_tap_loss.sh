# TCP with the Linux kernel over a tap with 2% of the TCP segments dropped both ways by
# nftables on the kernel side: the 100 MB echo transfers of tcp_tap.sh still complete and
# verify (sha256 for the kernel client, byte for byte for the builtin client).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/tcp_lib.bash"

setup_tap 2
require_echo
loss_on 2
kernel_client_echo "$MB100" 7
builtin_client_echo "$MB100" 5201 1
loss_report
show_tcp
stop_hsd
log "ok"
