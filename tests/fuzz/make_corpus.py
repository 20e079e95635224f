#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_ip4 (tests/fuzz/corpus/): valid frames the fuzzer mutates.
Each file is frames of [2-byte big-endian length][bytes], as fuzz_ip4.c reads them.
The stack is 10.77.9.2 (MAC 02:00:00:77:09:02); 10.77.9.1 is a static neighbor."""
import os
import struct

STACK_MAC = bytes([2, 0, 0, 0x77, 9, 2])
PEER_MAC = bytes([2, 0, 0, 0x77, 9, 1])
OTHER_MAC = bytes([2, 0, 0, 0x77, 9, 7])
BCAST = b'\xff' * 6


def ip(s):
    return bytes(int(x) for x in s.split('.'))


def csum(b):
    if len(b) % 2:
        b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff


def eth(dst, src, typ, payload):
    return dst + src + struct.pack('!H', typ) + payload


def ip4(src, dst, proto, payload, ident=1, flags_frag=0, ttl=64, options=b''):
    ihl = 5 + len(options) // 4
    h = struct.pack('!BBHHHBBH4s4s', 0x40 | ihl, 0, ihl * 4 + len(payload), ident, flags_frag,
                    ttl, proto, 0, ip(src), ip(dst)) + options
    h = h[:10] + struct.pack('!H', csum(h)) + h[12:]
    return h + payload


def icmp_echo(ident, seq, data):
    h = struct.pack('!BBHHH', 8, 0, 0, ident, seq) + data
    return h[:2] + struct.pack('!H', csum(h)) + h[4:]


def arp(op, sha, spa, tha, tpa):
    return struct.pack('!HHBBH6s4s6s4s', 1, 0x0800, 6, 4, op, sha, ip(spa), tha, ip(tpa))


def frames(*fs):
    return b''.join(struct.pack('!H', len(f)) + f for f in fs)


def fixed(*fs):
    """Frames whose checksums the harness fills in (length with the top bit set)."""
    return b''.join(struct.pack('!H', 0x8000 | len(f)) + f for f in fs)


def tcp_seg(sport, dport, seq, ack, flags, opts=b'', data=b''):
    hlen = 20 + len(opts)
    return struct.pack('!HHIIBBHHH', sport, dport, seq, ack, (hlen // 4) << 4, flags, 65535,
                       0, 0) + opts + data


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'corpus')
    os.makedirs(out, exist_ok=True)
    big = icmp_echo(2, 1, bytes(i & 255 for i in range(2992)))
    udp = struct.pack('!HHHH', 40000, 9, 8 + 4, 0) + b'ping'
    tcp = struct.pack('!HHIIBBHHH', 40000, 80, 1, 0, 5 << 4, 0x02, 65535, 0, 0)
    seeds = {
        'arp_request': [eth(BCAST, PEER_MAC, 0x0806,
                            arp(1, PEER_MAC, '10.77.9.1', b'\0' * 6, '10.77.9.2') + b'\0' * 18)],
        'icmp_echo': [eth(STACK_MAC, PEER_MAC, 0x0800,
                          ip4('10.77.9.1', '10.77.9.2', 1, icmp_echo(1, 1, bytes(range(56)))))],
        # Two fragments from a neighbor not yet resolved, then its ARP reply.
        'fragments': [
            eth(STACK_MAC, OTHER_MAC, 0x0800,
                ip4('10.77.9.7', '10.77.9.2', 1, big[:1480], ident=77, flags_frag=0x2000)),
            eth(STACK_MAC, OTHER_MAC, 0x0800,
                ip4('10.77.9.7', '10.77.9.2', 1, big[1480:], ident=77, flags_frag=1480 // 8)),
            eth(STACK_MAC, OTHER_MAC, 0x0806,
                arp(2, OTHER_MAC, '10.77.9.7', STACK_MAC, '10.77.9.2') + b'\0' * 18)],
        'fragments_overlap': [
            eth(STACK_MAC, PEER_MAC, 0x0800,
                ip4('10.77.9.1', '10.77.9.2', 1, big[:1000], ident=78, flags_frag=0x2000)),
            eth(STACK_MAC, PEER_MAC, 0x0800,
                ip4('10.77.9.1', '10.77.9.2', 1, big[800:1600], ident=78,
                    flags_frag=0x2000 | (800 // 8))),
            eth(STACK_MAC, PEER_MAC, 0x0800,
                ip4('10.77.9.1', '10.77.9.2', 1, big[1600:], ident=78, flags_frag=1600 // 8))],
        'udp_port': [eth(STACK_MAC, PEER_MAC, 0x0800, ip4('10.77.9.1', '10.77.9.2', 17, udp))],
        'tcp_syn': [eth(STACK_MAC, PEER_MAC, 0x0800, ip4('10.77.9.1', '10.77.9.2', 6, tcp))],
        'ip_options': [eth(STACK_MAC, PEER_MAC, 0x0800,
                           ip4('10.77.9.1', '10.77.9.2', 1, icmp_echo(3, 1, b'x' * 8),
                               options=b'\x01\x01\x01\x00'))],
        'routed': [eth(STACK_MAC, PEER_MAC, 0x0800,
                       ip4('10.77.9.1', '10.99.0.1', 1, icmp_echo(4, 1, b'y' * 16), ttl=1))],
        'big_echo_df': [eth(STACK_MAC, PEER_MAC, 0x0800,
                            ip4('10.77.9.1', '10.77.9.2', 1, icmp_echo(5, 1, bytes(1472)),
                                flags_frag=0x4000))],
    }
    for name, fs in seeds.items():
        with open(os.path.join(out, name), 'wb') as f:
            f.write(frames(*fs))
    # TCP to the echo server on port 7, checksums filled in by the harness: a SYN with
    # every option (MSS, SACK-permitted, timestamps, window scale), then an ACK with data
    # and a FIN (their acknowledgment numbers cannot match the stack's ISN: the fuzzer
    # mutates from here), and an RST.
    opts = (b'\x02\x04\x05\xb4' + b'\x04\x02' + b'\x08\x0a' + struct.pack('!II', 1, 0) +
            b'\x01\x03\x03\x07')
    syn = tcp_seg(40001, 7, 1000, 0, 0x02, opts)
    data = tcp_seg(40001, 7, 1001, 1, 0x18, b'\x01\x01\x08\x0a' + struct.pack('!II', 2, 1),
                   b'hello')
    fin = tcp_seg(40001, 7, 1006, 1, 0x11)
    rst = tcp_seg(40001, 7, 1007, 0, 0x04)
    tcp_frames = [eth(STACK_MAC, PEER_MAC, 0x0800, ip4('10.77.9.1', '10.77.9.2', 6, t))
                  for t in (syn, data, fin, rst)]
    with open(os.path.join(out, 'tcp_echo'), 'wb') as f:
        f.write(fixed(*tcp_frames))


if __name__ == '__main__':
    main()
