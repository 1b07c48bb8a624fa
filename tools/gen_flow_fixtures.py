#!/usr/bin/python3
"""Writes the small capture fixtures of tests/data/flows (deterministic).

  flood.pcap   a spoofed SYN flood: 300 SYNs (40 bytes, TTL 241) from 300
               sources to 10.0.0.1:80 over 4 s, plus the victim's SYN-ACKs to
               the first 20 (its replies)
  scan.pcap    a SYN scan from 192.0.2.7 of 10.0.0.2 ports 1-600 over 6 s,
               RSTs back from closed ports
  normal.pcap  20 HTTP-like connections between 10.0.0.5 and 10.0.0.6 (SYN
               with options, handshake, request, response, FIN), 6 DNS
               queries and answers, over 8 s
  odd.pcap     the decoder's bad cases: an ARP frame, a frame cut inside the
               TCP header, an IPv4 header whose total length exceeds the
               frame, an IPv6 packet, a VLAN-tagged packet, then a good one

Only the standard library; run it again to regenerate byte-identical files.
"""
import os
import random
import struct

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "data", "flows")


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ip4(src, dst, proto, payload, ttl=64, ident=0):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, 0x4000, ttl, proto, 0,
                    bytes(src), bytes(dst))
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + payload


def tcp(sport, dport, flags, seq=0, ack=0, data=b"", options=b""):
    off = (20 + len(options)) // 4
    return struct.pack("!HHIIBBHHH", sport, dport, seq, ack, off << 4, flags, 65535, 0, 0) + \
        options + data


def udp(sport, dport, data):
    return struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data


def eth(payload, etype=0x0800, vlan=None):
    h = b"\x02\0\0\0\0\x01" + b"\x02\0\0\0\0\x02"
    if vlan is not None:
        h += struct.pack("!HH", 0x8100, vlan)
    return h + struct.pack("!H", etype) + payload


def write(name, pkts):
    """pkts: list of (t_seconds, frame, caplen or None)"""
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for t, fr, cap in sorted(pkts, key=lambda p: p[0]):
            sec = int(t)
            usec = int(round((t - sec) * 1e6))
            data = fr if cap is None else fr[:cap]
            f.write(struct.pack("<IIII", 1700000000 + sec, usec, len(data), len(fr)))
            f.write(data)


SYN, ACK, FIN, RST, PSH = 0x02, 0x10, 0x01, 0x04, 0x08
OPTS = b"\x02\x04\x05\xb4\x04\x02\x08\x0a" + b"\0" * 8 + b"\x01\x03\x03\x07"  # 20 bytes


def flood(r):
    victim = [10, 0, 0, 1]
    pkts = []
    for i in range(300):
        src = [r.randrange(1, 224), r.randrange(256), r.randrange(256), r.randrange(1, 255)]
        t = 4.0 * i / 300
        pkts.append((t, eth(ip4(src, victim, 6, tcp(r.randrange(1024, 65535), 80, SYN,
                                                      seq=r.getrandbits(32)), ttl=241)), None))
        if i < 20:
            pkts.append((t + 0.0005, eth(ip4(victim, src, 6, tcp(80, 4000 + i, SYN | ACK,
                                                                  options=OPTS[:4]))), None))
    return pkts


def scan(r):
    a, b = [192, 0, 2, 7], [10, 0, 0, 2]
    pkts = []
    for port in range(1, 601):
        t = 6.0 * (port - 1) / 600
        pkts.append((t, eth(ip4(a, b, 6, tcp(61000, port, SYN, seq=port), ttl=52)), None))
        pkts.append((t + 0.0003, eth(ip4(b, a, 6, tcp(port, 61000, RST | ACK, ack=port + 1))),
                     None))
    return pkts


def normal(r):
    c, s = [10, 0, 0, 5], [10, 0, 0, 6]
    pkts = []
    for k in range(20):
        t = 0.4 * k
        sp = 40000 + k
        pkts += [
            (t, eth(ip4(c, s, 6, tcp(sp, 80, SYN, options=OPTS))), None),
            (t + 0.001, eth(ip4(s, c, 6, tcp(80, sp, SYN | ACK, options=OPTS))), None),
            (t + 0.002, eth(ip4(c, s, 6, tcp(sp, 80, ACK))), None),
            (t + 0.003, eth(ip4(c, s, 6, tcp(sp, 80, ACK | PSH, data=b"G" * 300))), None),
        ]
        for j in range(4):
            pkts.append((t + 0.01 + 0.001 * j,
                         eth(ip4(s, c, 6, tcp(80, sp, ACK | PSH, data=b"R" * 1200))), None))
        pkts += [
            (t + 0.02, eth(ip4(c, s, 6, tcp(sp, 80, ACK))), None),
            (t + 0.03, eth(ip4(c, s, 6, tcp(sp, 80, FIN | ACK))), None),
            (t + 0.031, eth(ip4(s, c, 6, tcp(80, sp, FIN | ACK))), None),
            (t + 0.032, eth(ip4(c, s, 6, tcp(sp, 80, ACK))), None),
        ]
    dns = [10, 0, 0, 53]
    for k in range(6):
        t = 1.3 * k
        pkts.append((t, eth(ip4(c, dns, 17, udp(50000 + k, 53, b"q" * 30))), None))
        pkts.append((t + 0.002, eth(ip4(dns, c, 17, udp(53, 50000 + k, b"a" * 90))), None))
    return pkts


def odd(r):
    a, b = [10, 0, 0, 8], [10, 0, 0, 9]
    good = eth(ip4(a, b, 6, tcp(1234, 22, SYN, options=OPTS)))
    arp = eth(b"\0\1\x08\0\6\4\0\1" + b"\0" * 20, etype=0x0806)
    lying = bytearray(eth(ip4(a, b, 17, udp(1, 2, b"x"))))
    lying[16:18] = struct.pack("!H", 1400)  # total length beyond the frame
    v6 = bytes.fromhex("60000000000c1140") + bytes(15) + b"\1" + bytes(15) + b"\2" + \
        udp(5353, 5353, b"abcd")
    return [
        (0.0, arp, None),
        (0.1, good, 14 + 20 + 10),  # snapped inside the TCP header
        (0.2, bytes(lying), None),
        (0.3, eth(v6, etype=0x86DD), None),
        (0.4, eth(ip4(a, b, 6, tcp(1234, 22, ACK)), vlan=7), None),
        (0.5, good, None),
    ]


def main():
    os.makedirs(OUT, exist_ok=True)
    r = random.Random(8)
    write("flood.pcap", flood(r))
    write("scan.pcap", scan(r))
    write("normal.pcap", normal(r))
    write("odd.pcap", odd(r))


if __name__ == "__main__":
    main()
