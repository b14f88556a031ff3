#!/usr/bin/env python3
"""A TCP transfer that proves integrity: `serve ADDRESS PORT OUTFILE` accepts one
connection and writes the SHA-256 of everything received (and its length) to OUTFILE;
`send ADDRESS PORT MEGABYTES MARKER` sends that many MiB of pseudo-random data with MARKER
repeated through it and prints the SHA-256 it sent. Both give up after 120 s.
For benchmarks (bench/mesh_throughput.sh): `blast ADDRESS PORT MEGABYTES` sends one
repeated block and prints the goodput in Mbit/s, measured from connect to the server's
close; the server side is `serve` as well.
For the iptunnel scenarios (an "Internet" host clients fetch from): `offer ADDRESS PORT
MEGABYTES PEERLOG` serves every connection that many MiB of pseudo-random data and appends
each peer's address to PEERLOG (runs until killed, at most 300 s); `fetch ADDRESS PORT
[TIMEOUT]` prints the SHA-256 and length of what it received; `digest MEGABYTES` prints
what a fetch of an `offer` of that size must print."""
import hashlib
import random
import socket
import sys
import time


def family_of(address):
    return socket.AF_INET6 if ":" in address else socket.AF_INET


def serve(address, port, outfile):
    srv = socket.socket(family_of(address), socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((address, int(port)))
    srv.listen(1)
    srv.settimeout(120)
    with open(outfile + ".ready", "w") as f:
        f.write("ready\n")
    conn, _ = srv.accept()
    conn.settimeout(120)
    digest, size = hashlib.sha256(), 0
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            break
        digest.update(chunk)
        size += len(chunk)
    with open(outfile, "w") as f:
        f.write(f"{digest.hexdigest()} {size}\n")


def send(address, port, megabytes, marker):
    rng = random.Random(1)
    marker = marker.encode()
    conn = socket.create_connection((address, int(port)), timeout=120)
    digest, size = hashlib.sha256(), 0
    for _ in range(int(megabytes) * 16):
        block = bytearray(rng.randbytes(65536))
        for at in range(0, len(block) - len(marker), 1024):  # the marker in every 1 KiB
            block[at:at + len(marker)] = marker
        conn.sendall(block)
        digest.update(block)
        size += len(block)
    conn.shutdown(socket.SHUT_WR)
    conn.recv(1)  # wait for the server to close: everything was read
    print(f"{digest.hexdigest()} {size}")


def blast(address, port, megabytes):
    block = bytes(range(256)) * 256  # 64 KiB
    started = time.monotonic()
    conn = socket.create_connection((address, int(port)), timeout=120)
    for _ in range(int(megabytes) * 16):
        conn.sendall(block)
    conn.shutdown(socket.SHUT_WR)
    conn.recv(1)
    seconds = time.monotonic() - started
    print(f"{int(megabytes) * 8 * 1048576 / seconds / 1e6:.0f}")


def offered(megabytes):
    rng = random.Random(2)
    for _ in range(int(megabytes) * 16):
        yield rng.randbytes(65536)


def offer(address, port, megabytes, peerlog):
    import threading
    srv = socket.socket(family_of(address), socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((address, int(port)))
    srv.listen(16)
    srv.settimeout(300)
    with open(peerlog + ".ready", "w") as f:
        f.write("ready\n")

    def one(conn, peer):
        with open(peerlog, "a") as f:
            f.write(peer[0] + "\n")
        try:
            conn.settimeout(60)
            for block in offered(megabytes):
                conn.sendall(block)
        except OSError:
            pass
        finally:
            conn.close()

    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            conn, peer = srv.accept()
        except socket.timeout:
            break
        threading.Thread(target=one, args=(conn, peer), daemon=True).start()


def fetch(address, port, timeout="30"):
    conn = socket.create_connection((address, int(port)), timeout=float(timeout))
    digest, size = hashlib.sha256(), 0
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            break
        digest.update(chunk)
        size += len(chunk)
    print(f"{digest.hexdigest()} {size}")


def digest(megabytes):
    d, size = hashlib.sha256(), 0
    for block in offered(megabytes):
        d.update(block)
        size += len(block)
    print(f"{d.hexdigest()} {size}")


if __name__ == "__main__":
    {"serve": serve, "send": send, "blast": blast, "offer": offer, "fetch": fetch,
     "digest": digest}[sys.argv[1]](*sys.argv[2:])
