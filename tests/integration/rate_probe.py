#!/usr/bin/env python3
"""Goodput of one TCP transfer, for the billing scenarios (tests/integration/billing_*.sh).

`serve ADDRESS PORT READYFILE`: serves every connection (runs until killed, at most 300 s;
writes READYFILE once listening). A connection's first line is its request:
  "get BYTES\\n" — the server sends BYTES bytes and closes;
  "put SKIP\\n"  — the server reads until EOF and answers one JSON line, the goodput it
                  measured as `get` does (below), then closes.
`get ADDRESS PORT BYTES SKIP TIMEOUT`: fetches BYTES and prints one JSON line
  {"bytes", "seconds", "mbps", "totalSeconds"}: `mbps` is the goodput from the moment the
  first SKIP bytes had arrived to the last byte (so a shaper's initial burst and TCP's slow
  start are left out), `totalSeconds` from connect to EOF. Exits 1 when fewer than BYTES
  arrived or TIMEOUT seconds passed without progress (a blocked client), 2 when the
  connection could not be made.
`put ADDRESS PORT BYTES SKIP TIMEOUT`: sends BYTES and prints the server's measurement of
  them, the same JSON (the receiver's view, so the sender's buffers do not count).
Rates are of TCP payload (goodput), in 10^6 bits/s."""
import json
import socket
import sys
import threading
import time

BLOCK = bytes((i * 7 + 13) & 0xFF for i in range(65536))


def family_of(address):
    return socket.AF_INET6 if ":" in address else socket.AF_INET


def receive(conn, expected, skip):
    """Reads until EOF (or `expected` bytes when given); returns (bytes, measurement)."""
    started = time.monotonic()
    size, mark_at, mark_size, last = 0, None, 0, started
    while expected is None or size < expected:
        chunk = conn.recv(65536)
        if not chunk:
            break
        size += len(chunk)
        last = time.monotonic()
        if mark_at is None and size >= skip:
            mark_at, mark_size = last, size
    if mark_at is None or last <= mark_at:
        mbps = 0.0
    else:
        mbps = (size - mark_size) * 8 / (last - mark_at) / 1e6
    return size, {"bytes": size, "seconds": round(last - (mark_at or started), 4), "mbps": round(mbps, 4),
                  "totalSeconds": round(last - started, 4)}


def read_line(conn):
    line = b""
    while not line.endswith(b"\n") and len(line) < 64:
        chunk = conn.recv(1)
        if not chunk:
            break
        line += chunk
    return line.decode(errors="replace").split()


def one(conn):
    try:
        conn.settimeout(60)
        request = read_line(conn)
        if len(request) == 2 and request[0] == "get":
            left = int(request[1])
            while left > 0:
                n = min(left, len(BLOCK))
                conn.sendall(BLOCK[:n])
                left -= n
        elif len(request) == 2 and request[0] == "put":
            _, measured = receive(conn, None, int(request[1]))
            conn.sendall((json.dumps(measured) + "\n").encode())
    except (OSError, ValueError):
        pass
    finally:
        conn.close()


def serve(address, port, readyfile):
    srv = socket.socket(family_of(address), socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family_of(address) == socket.AF_INET6:
        srv.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    srv.bind((address, int(port)))
    srv.listen(64)
    srv.settimeout(300)
    with open(readyfile, "w") as f:
        f.write("ready\n")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            conn, _ = srv.accept()
        except socket.timeout:
            break
        threading.Thread(target=one, args=(conn,), daemon=True).start()


def connect(address, port, timeout):
    try:
        return socket.create_connection((address, int(port)), timeout=float(timeout))
    except OSError as e:
        print(json.dumps({"error": f"connect: {e}"}))
        sys.exit(2)


def get(address, port, nbytes, skip, timeout):
    conn = connect(address, port, timeout)
    try:
        conn.sendall(f"get {int(nbytes)}\n".encode())
        size, measured = receive(conn, int(nbytes), int(skip))
    except OSError as e:
        print(json.dumps({"error": f"receive: {e}"}))
        sys.exit(1)
    print(json.dumps(measured))
    sys.exit(0 if size == int(nbytes) else 1)


def put(address, port, nbytes, skip, timeout):
    conn = connect(address, port, timeout)
    try:
        conn.sendall(f"put {int(skip)}\n".encode())
        left = int(nbytes)
        while left > 0:
            n = min(left, len(BLOCK))
            conn.sendall(BLOCK[:n])
            left -= n
        conn.shutdown(socket.SHUT_WR)
        answer = b""
        while True:
            chunk = conn.recv(4096)
            if not chunk:
                break
            answer += chunk
        measured = json.loads(answer.decode())
    except (OSError, ValueError) as e:
        print(json.dumps({"error": f"put: {e}"}))
        sys.exit(1)
    print(json.dumps(measured))
    sys.exit(0 if measured["bytes"] == int(nbytes) else 1)


if __name__ == "__main__":
    {"serve": serve, "get": get, "put": put}[sys.argv[1]](*sys.argv[2:])
