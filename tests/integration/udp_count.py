#!/usr/bin/env python3
"""Counts UDP datagrams that arrive on ADDRESS PORT: after each one, OUTFILE holds the
count so far. Writes OUTFILE.ready once bound. Runs until killed (at most 300 s).
usage: udp_count.py ADDRESS PORT OUTFILE"""
import os
import socket
import sys

address, port, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_DGRAM)
s.bind((address, port))
s.settimeout(300)
with open(out + ".ready", "w") as f:
    f.write("ready\n")
count = 0
while True:
    s.recv(65536)
    count += 1
    with open(out + ".tmp", "w") as f:
        f.write(f"{count}\n")
    os.replace(out + ".tmp", out)
