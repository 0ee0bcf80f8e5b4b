#!/usr/bin/env python3
"""ex_echo_client.py: a Python client of the C echo server in ex_echo_server.c.

    python3 ex_echo_client.py ADDRESS AUTHKEY

ADDRESS is what the server prints: tcp://HOST:PORT, unix:PATH or unix:@NAME (Linux
abstract). The client connects with multiprocessing.connection.Client and the same
authkey (both sides prove they know it), sends a few messages and checks that each comes
back unchanged. Exits with 0 when every echo was right.

libprocessing speaks multiprocessing's wire format (length-prefixed frames) and its
handshake, so the C server needs no Python: to it a message is a byte string. Python
objects still make the trip, as pickles: conn.send pickles, the server echoes the bytes,
conn.recv unpickles them.
"""

import sys
from array import array
from multiprocessing.connection import Client


def parse_address(address):
    """The C library's address forms, as multiprocessing writes them."""
    if address.startswith("tcp://"):
        host, _, port = address[len("tcp://"):].rpartition(":")
        return (host, int(port))
    if address.startswith("unix:@"):
        return "\0" + address[len("unix:@"):]  # a Linux abstract socket name
    if address.startswith("unix:"):
        return address[len("unix:"):]
    raise SystemExit(f"unknown address form: {address!r}")


def check(ok, what):
    if not ok:
        raise SystemExit(f"python client: wrong echo: {what}")


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    address, authkey = sys.argv[1], sys.argv[2].encode()

    with Client(parse_address(address), authkey=authkey) as conn:
        # Byte strings: a short one, an empty one and one of 100 KiB.
        for msg in (b"hello from Python", b"", bytes(range(256)) * 400):
            conn.send_bytes(msg)
            check(conn.recv_bytes() == msg, f"{len(msg)} bytes")

        # Any picklable object: the C server echoes the pickle's bytes unchanged.
        obj = [2.25, None, "junk", float]
        conn.send(obj)
        check(conn.recv() == obj, repr(obj))

        # The seed's Listener/Client example: an array's bytes into a bigger array.
        conn.send_bytes(array("i", [42, 1729]))
        arr = array("i", [0, 0, 0, 0, 0])
        n = conn.recv_bytes_into(arr)
        check(n == 8 and arr.tolist() == [42, 1729, 0, 0, 0], f"{n} bytes, {arr}")
        print(f"python client: 5 echoes checked; recv_bytes_into gave {n} bytes: {arr}")
    # Leaving the `with` closes the connection: the server sees EOF.


if __name__ == "__main__":
    main()
