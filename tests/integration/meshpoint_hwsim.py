#!/usr/bin/env python3
"""mac80211_hwsim radios through the driver's generic netlink family ("MAC80211_HWSIM"),
for meshpoint_hwsim_radios.sh: `new NAME` creates a radio whose phy is named NAME in the
caller's network namespace (radios made by the module's `radios=` parameter land in the
initial namespace, which a scenario's private world cannot see); `del NAME` destroys it
(run it in the namespace the phy is in now). Exits 1 with the kernel's reason on error.
Numbers from the kernel's drivers/net/wireless/virtual/mac80211_hwsim.h."""
import os
import socket
import struct
import sys

NETLINK_GENERIC = 16
GENL_ID_CTRL = 0x10
CTRL_CMD_GETFAMILY = 3
CTRL_ATTR_FAMILY_ID = 1
CTRL_ATTR_FAMILY_NAME = 2
NLM_F_REQUEST = 0x01
NLM_F_ACK = 0x04
NLMSG_ERROR = 2

HWSIM_CMD_NEW_RADIO = 4
HWSIM_CMD_DEL_RADIO = 5
HWSIM_ATTR_RADIO_NAME = 17
HWSIM_ATTR_NO_VIF = 18  # flag: no default station interface on the new radio


def attr(kind, payload):
    size = 4 + len(payload)
    return struct.pack("=HH", size, kind) + payload + b"\0" * ((4 - size % 4) % 4)


def request(sock, family, cmd, attrs):
    """Sends one request and returns (error, payload of the first answer)."""
    body = struct.pack("=BBH", cmd, 1, 0) + attrs
    sock.send(struct.pack("=IHHII", 16 + len(body), family, NLM_F_REQUEST | NLM_F_ACK, 1, 0) + body)
    answer = None
    while True:
        data = sock.recv(65536)
        offset = 0
        while offset + 16 <= len(data):
            length, kind, _, _, _ = struct.unpack_from("=IHHII", data, offset)
            if kind == NLMSG_ERROR:
                code = struct.unpack_from("=i", data, offset + 16)[0]
                return code, answer
            answer = data[offset + 20:offset + length]
            offset += (length + 3) & ~3


def family_id(sock, name):
    code, answer = request(sock, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, attr(CTRL_ATTR_FAMILY_NAME, name.encode() + b"\0"))
    if code < 0 or answer is None:
        return None
    offset = 0
    while offset + 4 <= len(answer):
        size, kind = struct.unpack_from("=HH", answer, offset)
        if kind == CTRL_ATTR_FAMILY_ID:
            return struct.unpack_from("=H", answer, offset + 4)[0]
        offset += (size + 3) & ~3
    return None


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("new", "del"):
        sys.exit("usage: meshpoint_hwsim.py new|del NAME")
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_GENERIC)
    sock.settimeout(10)
    family = family_id(sock, "MAC80211_HWSIM")
    if family is None:
        sys.exit("meshpoint_hwsim.py: no MAC80211_HWSIM netlink family (is mac80211_hwsim loaded?)")
    cmd = HWSIM_CMD_NEW_RADIO if sys.argv[1] == "new" else HWSIM_CMD_DEL_RADIO
    attrs = attr(HWSIM_ATTR_RADIO_NAME, sys.argv[2].encode())
    if cmd == HWSIM_CMD_NEW_RADIO:
        attrs += attr(HWSIM_ATTR_NO_VIF, b"")
    code, _ = request(sock, family, cmd, attrs)
    # NEW_RADIO acknowledges with the new radio's index (>= 0), DEL_RADIO with 0.
    if code < 0:
        sys.exit("meshpoint_hwsim.py: %s radio %s: %s" % (sys.argv[1], sys.argv[2], os.strerror(-code)))
    print(code)


if __name__ == "__main__":
    main()
