#!/usr/bin/env python3
"""A Python peer of test_connection_interop.c, built on the machine's own
multiprocessing.connection (Listener, Client, send_bytes, recv_bytes).

usage: mp_peer.py client ADDRESS KEY
       mp_peer.py listen ADDRESS KEY

ADDRESS uses the C library's forms: unix:PATH, unix:@NAME, tcp://HOST:PORT (port 0 picks
one when listening). KEY is the authkey in hex, or '-' for none.

client: connects with Client(address, authkey=KEY).
listen: makes a Listener(address, authkey=KEY), prints "ADDRESS <bound address in the C
        form>", and accepts one connection.
Then both send the greeting "hello from python X.Y.Z" and echo every message back until
EOF. The last line printed is the result:
    ECHOED <messages> <bytes>       the peer closed after that many echoes
    AUTH_ERROR <text>               multiprocessing.AuthenticationError
    ERROR <exception> <text>        anything else (exit status 1)
"""
import sys
import platform
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client, Listener


def to_python(address):
    if address.startswith('unix:@'):
        return '\0' + address[len('unix:@'):]
    if address.startswith('unix:'):
        return address[len('unix:'):]
    if address.startswith('tcp://'):
        host, port = address[len('tcp://'):].rsplit(':', 1)
        return (host.strip('[]'), int(port))
    raise ValueError('unknown address form: %r' % address)


def to_c(address):
    if isinstance(address, tuple):
        return 'tcp://%s:%d' % (address[0], address[1])
    if isinstance(address, bytes):  # an abstract name comes back as bytes
        address = address.decode()
    if address.startswith('\0'):
        return 'unix:@' + address[1:]
    return 'unix:' + address


def echo(conn):
    conn.send_bytes(('hello from python %s' % platform.python_version()).encode())
    count = total = 0
    while True:
        try:
            message = conn.recv_bytes()
        except EOFError:
            break
        conn.send_bytes(message)
        count += 1
        total += len(message)
    return count, total


def main():
    role, address, key = sys.argv[1:4]
    authkey = None if key == '-' else bytes.fromhex(key)
    try:
        if role == 'client':
            conn = Client(to_python(address), authkey=authkey)
        else:
            listener = Listener(to_python(address), authkey=authkey)
            print('ADDRESS', to_c(listener.address), flush=True)
            conn = listener.accept()
            listener.close()
        count, total = echo(conn)
        conn.close()
        print('ECHOED', count, total, flush=True)
    except AuthenticationError as e:
        print('AUTH_ERROR', e, flush=True)
    except Exception as e:  # reported to the C test, which fails on it
        print('ERROR', type(e).__name__, e, flush=True)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
