#!/usr/bin/env python3
"""Packets a misbehaving guest would send, and a listener to see what gets through. Run inside
an instance's network namespace (nsenter -n), as root, so with the powers of a root guest that
has CAP_NET_ADMIN and CAP_NET_RAW.

  pkt.py listen-udp PORT SECONDS         prints "bound", then "SRC_IP:SRC_PORT PAYLOAD" per datagram
  pkt.py send-udp SRC DST SPORT DPORT TEXT   one datagram with any source address (raw socket)
  pkt.py garp IFACE IP                   a gratuitous ARP reply: IP is at IFACE's MAC
  pkt.py hold-tcp DST PORT N SECONDS     opens N connections to DST:PORT and holds them
"""
import socket
import struct
import sys
import time


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def listen_udp(port, secs):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    s.bind(("0.0.0.0", int(port)))
    print("bound", flush=True)
    end = time.time() + float(secs)
    while True:
        left = end - time.time()
        if left <= 0:
            return
        s.settimeout(left)
        try:
            data, (ip, sport) = s.recvfrom(2048)
        except socket.timeout:
            return
        print("%s:%d %s" % (ip, sport, data.decode(errors="replace")), flush=True)


def send_udp(src, dst, sport, dport, text):
    payload = text.encode()
    sport, dport = int(sport), int(dport)
    udp_len = 8 + len(payload)
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 17, udp_len)
    udp = struct.pack("!HHHH", sport, dport, udp_len, 0) + payload
    udp = struct.pack("!HHHH", sport, dport, udp_len, csum(pseudo + udp) or 0xFFFF) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, 0x1234, 0, 64, 17, 0,
                     socket.inet_aton(src), socket.inet_aton(dst))
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    s.sendto(ip + udp, (dst, 0))


def garp(iface, ip):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    m = s.getsockname()[4]  # the interface's MAC (sysfs would show the host's, not this namespace's)
    a = socket.inet_aton(ip)
    frame = b"\xff" * 6 + m + b"\x08\x06" + struct.pack("!HHBBH", 1, 0x0800, 6, 4, 2) + m + a + b"\xff" * 6 + a
    for _ in range(3):
        s.send(frame)
        time.sleep(0.05)


def hold_tcp(dst, port, n, secs):
    held = []
    for _ in range(int(n)):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect((dst, int(port)))
        except BlockingIOError:
            pass
        held.append(s)
    print("holding %d" % len(held), flush=True)
    time.sleep(float(secs))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"listen-udp": listen_udp, "send-udp": send_udp, "garp": garp, "hold-tcp": hold_tcp}[cmd](*args)
