#!/usr/bin/env python3
"""A peer of test_connection_interop.c that speaks the authentication handshake of
Python 3.12+ (CPython gh-61460) itself, over a raw socket with multiprocessing's 4-byte
framing, since the machine's Python 3.11 only knows the legacy HMAC-MD5 form.

usage: sha256_peer.py client ADDRESS KEY [FORM]
       sha256_peer.py listen ADDRESS KEY [FORM]

ADDRESS uses the C library's forms (unix:PATH, unix:@NAME, tcp://HOST:PORT); KEY is the
authkey in hex. FORM is the challenge this peer sends:
    sha256        b'#CHALLENGE#{sha256}' + 40 random bytes (3.12+; the default): the
                  answer must be exactly b'{sha256}' + HMAC-SHA256(key, '{sha256}'+nonce)
    legacy        b'#CHALLENGE#' + 20 random bytes (3.11 and older; never starting with
                  '{'): the answer must be the raw 16-byte HMAC-MD5(key, nonce)
    legacy-brace  as legacy, but the 20 bytes start with '{' (1 legacy challenge in 256)
When answering, it replies as 3.12 does: b'{sha256}' + HMAC-SHA256 to a {sha256}
challenge, the raw HMAC-MD5 to a 16- or 20-byte one.

client: connects, answers the other side's challenge, then challenges it.
listen: listens, prints "ADDRESS <bound address in the C form>", accepts one connection,
        challenges, then answers.
Lines printed (the last one is the result):
    CHALLENGE_RECEIVED <sha256|legacy|other> <payload length>
    ANSWER_RECEIVED <ok|bad> <length> [<hex of a bad answer>]
    ECHOED <messages> <bytes>    after echoing every message until EOF
    AUTH_ERROR <text>            a refused or wrong digest
    ERROR <exception> <text>     anything else (exit status 1)
"""
import hashlib
import hmac
import os
import socket
import struct
import sys

CHALLENGE = b'#CHALLENGE#'
WELCOME = b'#WELCOME#'
FAILURE = b'#FAILURE#'


class AuthError(Exception):
    pass


def recv_exact(sock, n):
    chunks = []
    while n > 0:
        chunk = sock.recv(min(n, 1 << 20))
        if not chunk:
            raise EOFError('end of file')
        chunks.append(chunk)
        n -= len(chunk)
    return b''.join(chunks)


def recv_message(sock, maxlength=None):
    try:
        head = sock.recv(4, socket.MSG_WAITALL)
    except ConnectionResetError:
        head = b''
    if len(head) == 0:
        raise EOFError('end of file')
    if len(head) < 4:
        head += recv_exact(sock, 4 - len(head))
    size, = struct.unpack('!i', head)
    if size == -1:
        size, = struct.unpack('!Q', recv_exact(sock, 8))
    if size < 0 or (maxlength is not None and size > maxlength):
        raise OSError('bad message length %d' % size)
    return recv_exact(sock, size)


def send_message(sock, body):
    if len(body) > 0x7fffffff:
        sock.sendall(struct.pack('!iQ', -1, len(body)) + body)
    else:
        sock.sendall(struct.pack('!i', len(body)) + body)


def deliver_challenge(sock, key, form):
    if form == 'sha256':
        message = b'{sha256}' + os.urandom(40)
        expected = b'{sha256}' + hmac.new(key, message, 'sha256').digest()
    else:
        message = os.urandom(20)
        if form == 'legacy-brace':
            message = b'{' + message[1:]
        else:
            while message.startswith(b'{'):
                message = os.urandom(20)
        expected = hmac.new(key, message, 'md5').digest()
    send_message(sock, CHALLENGE + message)
    answer = recv_message(sock, 256)
    if hmac.compare_digest(answer, expected):
        print('ANSWER_RECEIVED ok', len(answer), flush=True)
        send_message(sock, WELCOME)
    else:
        print('ANSWER_RECEIVED bad', len(answer), answer.hex(), flush=True)
        send_message(sock, FAILURE)
        raise AuthError('digest received was wrong')


def answer_challenge(sock, key):
    message = recv_message(sock, 256)
    if not message.startswith(CHALLENGE):
        raise AuthError('expected a challenge, got %r' % message[:40])
    payload = message[len(CHALLENGE):]
    if payload.startswith(b'{sha256}') and len(payload) > 20:
        form = 'sha256'
        answer = b'{sha256}' + hmac.new(key, payload, 'sha256').digest()
    elif len(payload) in (16, 20):
        form = 'legacy'
        answer = hmac.new(key, payload, 'md5').digest()
    else:
        print('CHALLENGE_RECEIVED other', len(payload), flush=True)
        raise AuthError('unsupported challenge %r' % payload[:20])
    print('CHALLENGE_RECEIVED', form, len(payload), flush=True)
    send_message(sock, answer)
    if recv_message(sock, 256) != WELCOME:
        raise AuthError('digest sent was rejected')


def socket_for(address):
    if address.startswith('unix:'):
        name = address[len('unix:'):]
        if name.startswith('@'):
            name = '\0' + name[1:]
        return socket.socket(socket.AF_UNIX, socket.SOCK_STREAM), name
    host, port = address[len('tcp://'):].rsplit(':', 1)
    family = socket.AF_INET6 if host.startswith('[') else socket.AF_INET
    return socket.socket(family, socket.SOCK_STREAM), (host.strip('[]'), int(port))


def to_c(sock):
    name = sock.getsockname()
    if sock.family == socket.AF_UNIX:
        if isinstance(name, bytes):
            name = name.decode()
        return 'unix:@' + name[1:] if name.startswith('\0') else 'unix:' + name
    if sock.family == socket.AF_INET6:
        return 'tcp://[%s]:%d' % name[:2]
    return 'tcp://%s:%d' % name


def main():
    role, address, key = sys.argv[1:4]
    form = sys.argv[4] if len(sys.argv) > 4 else 'sha256'
    key = bytes.fromhex(key)
    sock, where = socket_for(address)
    try:
        if role == 'client':
            sock.connect(where)
            conn = sock
            answer_challenge(conn, key)
            deliver_challenge(conn, key, form)
        else:
            sock.bind(where)
            sock.listen(1)
            print('ADDRESS', to_c(sock), flush=True)
            conn, _ = sock.accept()
            deliver_challenge(conn, key, form)
            answer_challenge(conn, key)
        count = total = 0
        while True:
            try:
                message = recv_message(conn)
            except EOFError:
                break
            send_message(conn, message)
            count += 1
            total += len(message)
        print('ECHOED', count, total, flush=True)
    except AuthError as e:
        print('AUTH_ERROR', e, flush=True)
    except Exception as e:  # reported to the C test, which fails on it
        print('ERROR', type(e).__name__, e, flush=True)
        return 1
    finally:
        if role == 'listen' and address.startswith('unix:') and not address.startswith('unix:@'):
            try:
                os.unlink(where)
            except OSError:
                pass
    return 0


if __name__ == '__main__':
    sys.exit(main())
