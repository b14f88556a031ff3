#!/usr/bin/env python3
"""Captures every frame on the given interfaces (AF_PACKET, in the caller's namespace)
until SIGTERM, then writes a JSON summary to OUTFILE: frames and bytes seen and whether
MARKER appeared in any frame. Used to prove that traffic crossing a node is encrypted.
usage: capture_marker.py OUTFILE MARKER IFNAME..."""
import json
import select
import signal
import socket
import sys

ETH_P_ALL = 0x0003


def main():
    out, marker, ifnames = sys.argv[1], sys.argv[2].encode(), sys.argv[3:]
    sockets = []
    for name in ifnames:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        s.bind((name, 0))
        s.setblocking(False)
        sockets.append(s)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    frames = total = found = 0
    # Tell the caller the sockets are open, so nothing it sends next is missed.
    with open(out + ".ready", "w") as f:
        f.write("ready\n")
    while not stop:
        try:
            ready, _, _ = select.select(sockets, [], [], 0.2)
        except InterruptedError:
            continue
        for s in ready:
            while True:
                try:
                    frame = s.recv(65536)
                except BlockingIOError:
                    break
                frames += 1
                total += len(frame)
                if marker in frame:
                    found += 1
    with open(out, "w") as f:
        json.dump({"frames": frames, "bytes": total, "marker_frames": found}, f)


if __name__ == "__main__":
    main()
