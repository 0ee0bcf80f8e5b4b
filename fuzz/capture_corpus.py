#!/usr/bin/env python3
"""Writes the seed corpora of fuzz/corpus/ (docs/FUZZING.md) from real traffic.

Python's own peers are recorded: `multiprocessing.connection` framing, both sides of
the authentication handshake, and a `SyncManager`'s requests and replies (recorded in the
client). Pickles of the types managers carry come from `pickle.dumps` at protocols 2-5.
The pool's messages and start payloads (this library's own, native-endian) are written
from their layouts in src/pool/wire.rs and src/start/payload.rs. Run from anywhere: `python3 fuzz/capture_corpus.py`; the output is
deterministic but for the handshake's random challenges.
"""

import hashlib
import hmac
import os
import pickle
import shutil
import socket
import struct
import threading
from multiprocessing import connection, managers

CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def write(target, name, data):
    directory = os.path.join(CORPUS, target)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data)


def drain(sock):
    """Everything `sock` receives until its peer shuts down."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def framing():
    # The first byte is the fuzz target's mode: 0xfe is recv_bytes without a limit.
    sends = {
        "empty": [b""],
        "small": [b"hello", b"world"],
        "pickled": [pickle.dumps({"a": [1, 2.5, None]}, 5)],
        "sizes": [bytes(n) for n in (0, 1, 255, 256, 1000)],
        "many": [bytes([i]) * i for i in range(20)],
    }
    for name, messages in sends.items():
        a, b = socket.socketpair()
        conn = connection.Connection(a.detach())
        for m in messages:
            conn.send_bytes(m)
        conn.close()
        stream = drain(b)
        b.close()
        write("framing", name, b"\xfe" + stream)
        write("framing", name + "-into", b"\x11" + stream)  # recv_bytes_into, 8 bytes
    # The extended form (-1, then 8 bytes) that Python sends for bodies over 2 GiB, and
    # reads for any length; and broken streams: truncated, negative length.
    write("framing", "extended", b"\xfe" + b"\xff\xff\xff\xff" + struct.pack(">Q", 3) + b"abc")
    write("framing", "truncated", b"\xfe" + struct.pack(">i", 10) + b"abc")
    write("framing", "negative", b"\xfe" + struct.pack(">i", -2))
    write("framing", "limited", b"\x02" + struct.pack(">i", 100) + bytes(100))


def as_server(conn, key):
    connection.deliver_challenge(conn, key)
    connection.answer_challenge(conn, key)


def as_client(conn, key):
    connection.answer_challenge(conn, key)
    connection.deliver_challenge(conn, key)


def record_handshake(server_key, client_key):
    """The bytes each side of a Python handshake sent, through a recording relay:
    (the server's, the client's)."""
    s_sock, s_peer = socket.socketpair()
    c_sock, c_peer = socket.socketpair()
    recorded = {"server": [], "client": []}

    def relay(src, dst, log):
        while data := src.recv(65536):
            log.append(data)
            dst.sendall(data)
        dst.shutdown(socket.SHUT_WR)

    relays = [
        threading.Thread(target=relay, args=(s_peer, c_peer, recorded["server"])),
        threading.Thread(target=relay, args=(c_peer, s_peer, recorded["client"])),
    ]
    for t in relays:
        t.start()

    def run(role, sock, key):
        conn = connection.Connection(sock.detach())
        try:
            role(conn, key)
        except (connection.AuthenticationError, EOFError, OSError):
            pass  # the wrong key's handshake fails, as recorded
        finally:
            conn.close()

    client = threading.Thread(target=run, args=(as_client, c_sock, client_key))
    client.start()
    run(as_server, s_sock, server_key)
    client.join()
    for r in relays:
        r.join()
    return b"".join(recorded["server"]), b"".join(recorded["client"])


def frame(body):
    return struct.pack(">i", len(body)) + body


def handshake():
    for name, server_key, client_key in [
        ("python", b"fuzzing key", b"fuzzing key"),
        ("python-wrong-key", b"fuzzing key", b"other"),
    ]:
        server_bytes, client_bytes = record_handshake(server_key, client_key)
        write("auth_server", name, client_bytes)
        write("auth_client", name, server_bytes)
    # The {sha256} form of Python 3.12+ (and of this library): a challenge and a reply.
    nonce = os.urandom(40)
    challenge = b"{sha256}" + nonce
    digest = hmac.new(b"fuzzing key", challenge, hashlib.sha256).digest()
    write("auth_client", "sha256", frame(b"#CHALLENGE#" + challenge) + frame(b"#WELCOME#")
          + frame(b"{sha256}" + digest))
    write("auth_server", "sha256", frame(b"{sha256}" + digest) + frame(b"#CHALLENGE#" + challenge))
    write("auth_server", "md5-legacy", frame(hmac.new(b"k", nonce[:20], "md5").digest()))
    write("auth_client", "failure", frame(b"#CHALLENGE#" + challenge) + frame(b"#FAILURE#"))


class Recording(connection.Connection):
    """A client connection that keeps what it sends and receives after the handshake."""

    requests, replies = [], []

    def _send_bytes(self, buf):
        if bytes(buf[:1]) == b"\x80":
            Recording.requests.append(bytes(buf))
        super()._send_bytes(buf)

    def _recv_bytes(self, maxsize=None):
        data = super()._recv_bytes(maxsize)
        if data.getvalue()[:1] == b"\x80":
            Recording.replies.append(data.getvalue())
        return data


def manager_traffic():
    manager = managers.SyncManager(address=("127.0.0.1", 0), authkey=b"fuzzing key")
    manager.start()
    try:
        connection.Connection = Recording  # what Client() builds in this process
        remote = managers.SyncManager(address=manager.address, authkey=b"fuzzing key")
        remote.connect()
        d = remote.dict({"a": 1, 2: [1.5, None, True], b"k": (1, "x")})
        d["big"] = 2**100
        d.get("a")
        try:
            d["missing"]
        except KeyError:
            pass
        lst = remote.list(range(5))
        lst.append({"n": -1})
        lst.pop()
        q = remote.Queue()
        q.put(b"bytes")
        q.get(timeout=1)
        v = remote.Value("i", 7)
        v.value = 8
        remote.Array("d", [1.0, 2.0])[:]
        lock = remote.Lock()
        lock.acquire()
        lock.release()
        event = remote.Event()
        event.set()
        event.is_set()
        ns = remote.Namespace(x=1)
        ns.x
        remote.Semaphore(2).acquire()
    finally:
        connection.Connection = Recording.__mro__[1]
        manager.shutdown()
    for i, request in enumerate(Recording.requests[:30]):
        write("manager_request", f"python-{i:02}", request)
    for i, reply in enumerate(Recording.replies[:30]):
        write("manager_reply", f"python-{i:02}", reply)


def pickles():
    values = {
        "scalars": (None, True, False, 0, -1, 255, 65536, 2**63, -(2**70), 1.5, float("nan")),
        "text": ("", "é", "x" * 300, b"", b"\x00" * 300, bytearray(b"ba")),
        "containers": ([], [1, [2, [3]]], {}, {"k": {1: 2}}, set(), {1, 2}, frozenset({3})),
        "shared": ([[1]] * 3, {"a": (1, 2), "b": (1, 2)}),
        "exception": KeyError("missing"),
    }
    for name, value in values.items():
        for protocol in (2, 3, 4, 5):
            write("manager_reply", f"{name}-p{protocol}",
                  pickle.dumps(("#RETURN", value), protocol))
            write("manager_request", f"{name}-p{protocol}",
                  pickle.dumps(("1a", "__setitem__", ("key", value), {}), protocol))
    write("manager_reply", "error-p4", pickle.dumps(("#ERROR", ValueError("bad")), 4))
    write("manager_reply", "traceback-p2", pickle.dumps(("#TRACEBACK", "Traceback..."), 2))
    write("manager_request", "create-p2",
          pickle.dumps((None, "create", ("dict",), {}), 2))
    # The quick #RETURN this library's server writes: no frame, the value inline.
    write("manager_reply", "library-quick", b"\x80\x04\x8c\x07#RETURNK\x07\x86.")


def pool():
    def u64s(*words):
        return b"".join(struct.pack("=Q", w) for w in words)

    write("pool_task", "stop", b"\x00")
    items = [b"", b"one", bytes(range(40))]
    body = b"".join(struct.pack("=Q", len(i)) + i for i in items)
    write("pool_task", "items", b"\x01" + u64s(3, 0, 0x401000, len(items)) + body)
    write("pool_task", "elements", b"\x02" + u64s(1, 2, 0x401000, 0, 0, 64, 8, 128, 8, 0, 4))
    # Workers started by exec get the function by module and offset (bit 63 set).
    module = b"/usr/lib/libtasks.so"
    located = u64s(1 << 63 | 0x1040, len(module)) + module
    write("pool_task", "items-located", b"\x01" + u64s(3, 0) + located + u64s(len(items)) + body)
    results = b"".join(struct.pack("=iQ", c, len(o)) + o for c, o in [(0, b"ok"), (-1, b"")])
    write("pool_reply", "results", b"\x03" + struct.pack("=I", 5) + u64s(3, 0, 2) + results)
    write("pool_reply", "notice", b"\x04" + u64s(9))


def spawn():
    """Start payloads (src/start/payload.rs): what a child started by exec reads."""
    def u64s(*words):
        return b"".join(struct.pack("=Q", w) for w in words)

    def sized(data):
        return u64s(len(data)) + data

    magic = u64s(int.from_bytes(b"pcspawn2", "big"))
    # After the parent's pid: the creator's pid, name and start time (0: its OS child).
    creator = u64s(1000) + sized(b"MainProcess") + u64s(0)
    no_fd = 2**64 - 1
    lock = u64s(0x0000000100000003, int.from_bytes(b"lock", "big"), 0, 0x40006)
    handles = u64s(1) + lock
    with_target = (magic + u64s(1) + sized(b"") + u64s(0x1234) + u64s(0) + sized(b"argument")
                   + sized(b"Process-1") + u64s(1) + struct.pack("=I", 1) + sized(bytes(32))
                   + u64s(0, 1000) + creator + u64s(0, no_fd) + u64s(1, 10) + sized(b"[%(levelname)s] %(message)s")
                   + sized(handles) + sized(b""))
    write("spawn_payload", "target", with_target)
    entry = (magic + u64s(1) + sized(b"/usr/lib/libprocessing.so.0") + u64s(0x9000) + u64s(1)
             + sized(b"") + sized(b"PoolWorker-1") + u64s(2) + struct.pack("=II", 1, 2)
             + sized(bytes(32)) + u64s(1, 1000) + creator + u64s(0, 1) + u64s(0) + sized(u64s(0))
             + sized(u64s(0, 0)))
    write("spawn_payload", "entry", entry)


def addresses():
    for i, text in enumerate([
        "unix:/tmp/listener.sock", "unix:@abstract-name", "tcp://127.0.0.1:0",
        "tcp://[::1]:8080", "tcp://localhost:6000", "tcp://0.0.0.0:65535", "unix:",
        "tcp://[fe80::1]:1", "tcp://host:+80",
    ]):
        write("address", f"seed-{i:02}", text.encode())


if __name__ == "__main__":
    shutil.rmtree(CORPUS, ignore_errors=True)
    framing()
    handshake()
    manager_traffic()
    pickles()
    pool()
    spawn()
    addresses()
