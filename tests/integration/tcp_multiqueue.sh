# TCP over a two-queue tap with two workers. The kernel spreads flows over the queues its
# own way; hsd hands every segment to the worker that owns its flow (net/handoff.h), and an
# active open picks a local port its own worker owns. Passive opens: 8 kernel clients at
# once to the builtin echo server, each echo checked by sha256. Active opens: the builtin
# client, 32 connections through a kernel echo server, every byte verified. Then the
# hand-off counters must show that segments did cross workers.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/tcp_lib.bash"

TAP_QUEUES=2 setup_tap 7 --workers 2
require_echo
ctl_ok show workers | grep -A 2 "^worker 1 " | has "$STACK_IF/1" ||
    fail "queue 1 is not on worker 1: $(ctl show workers)"

ctl_ok test echo server uri "tcp://$SIP/7"
pids=()
for i in $(seq 8); do
    head -c $((4 * 1024 * 1024)) /dev/urandom >"$WORK/in$i.bin"
    timeout "$XFER_TIMEOUT" socat -b 65536 -t "$XFER_TIMEOUT" -T 30 - "TCP:$SIP:7" \
        <"$WORK/in$i.bin" >"$WORK/out$i.bin" 2>"$WORK/socat$i.log" &
    pids+=($!)
done
for i in $(seq 8); do
    rc=0
    wait "${pids[$((i - 1))]}" || rc=$?
    [ "$rc" -eq 0 ] || fail "kernel client $i: exit $rc: $(cat "$WORK/socat$i.log"); $(show_tcp)"
    cmp -s "$WORK/in$i.bin" "$WORK/out$i.bin" ||
        fail "kernel client $i: the echo differs ($(stat -c %s "$WORK/out$i.bin") bytes back)"
done
log "8 kernel clients at once: 4 MiB each way each, verified"

builtin_client_echo $((1024 * 1024)) 5203 32

errors=$(ctl_ok show errors)
log "hand-off: $(grep -E 'handed|handoff-input' <<<"$errors" | tr -s ' ' | tr '\n' ';')"
echo "$errors" | has "tcp4-input .*handed to the worker owning the flow" ||
    fail "no segment was handed off between workers: $errors"
echo "$errors" | has "handoff-input .*buffers received from another worker" ||
    fail "handoff-input received nothing: $errors"
! echo "$errors" | has "hand-off ring to the owning worker full" ||
    fail "a hand-off ring overflowed: $errors"
ctl_ok show workers | has "hand-off to worker 0: 0 queued, 0 refused" ||
    fail "show workers: $(ctl show workers)"
show_tcp
stop_hsd
log "ok"
