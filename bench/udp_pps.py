#!/usr/bin/env python3
"""Packets per second for bench/billing_pps.sh: `sink ADDRESS PORT SECONDS OUTFILE` counts
UDP datagrams arriving during SECONDS after the first one and writes "packets seconds" to
OUTFILE (writes OUTFILE.ready once bound; gives up after 60 s without any);
`flood ADDRESS PORT SECONDS PAYLOAD` sends datagrams of PAYLOAD bytes as fast as it can for
SECONDS."""
import socket
import sys
import time


def family_of(address):
    return socket.AF_INET6 if ":" in address else socket.AF_INET


def sink(address, port, seconds, outfile):
    s = socket.socket(family_of(address), socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    s.bind((address, int(port)))
    s.settimeout(60)
    with open(outfile + ".ready", "w") as f:
        f.write("ready\n")
    s.recv(2048)
    start = time.monotonic()
    end = start + float(seconds)
    count = 0
    s.settimeout(0.2)
    while time.monotonic() < end:
        try:
            s.recv(2048)
            count += 1
        except socket.timeout:
            pass
    with open(outfile, "w") as f:
        f.write(f"{count} {time.monotonic() - start:.3f}\n")


def flood(address, port, seconds, payload):
    s = socket.socket(family_of(address), socket.SOCK_DGRAM)
    data = b"x" * int(payload)
    end = time.monotonic() + float(seconds)
    target = (address, int(port))
    while time.monotonic() < end:
        for _ in range(64):
            try:
                s.sendto(data, target)
            except OSError:
                pass  # a full queue: the kernel drops, as it would for any sender


if __name__ == "__main__":
    {"sink": sink, "flood": flood}[sys.argv[1]](*sys.argv[2:])
