#!/usr/bin/env python3
"""A Python peer of test_manager_interop.c: an unmodified multiprocessing manager client
or server on the other end of a libprocessing manager.

usage: manager_peer.py client ADDRESS KEY ROLE [ROLE...]
       manager_peer.py server ADDRESS KEY

ADDRESS uses the C library's forms: unix:PATH, unix:@NAME, tcp://HOST:PORT (port 0 picks
one for a server). KEY is the authkey in hex ('-' for an empty key).

client: connects with SyncManager(address, authkey).connect() (the roles that use the
        remote-manager recipe connect a BaseManager subclass of their own) and runs each
        ROLE in turn, printing one line per role:
            OK <role>
            FAIL <role> <the last line of the traceback>
        then "DONE". A role is a few uses of one proxy type, checked with asserts.
server: runs a SyncManager server (get_server().serve_forever()) that also registers
        get_shared (one dict, pre-filled: SHARED below) and get_queue (one queue.Queue),
        prints "ADDRESS <bound address in the C form>" and serves until a client sends
        shutdown; then prints "SERVED" and exits 0.

Every line is flushed at once. A safety alarm ends the peer after 60 s (exit status 3).
"""
import gc
import platform
import queue
import signal
import sys
import traceback
from multiprocessing import AuthenticationError
from multiprocessing.managers import BaseManager, DictProxy, SyncManager

# The values both sides put in the shared dict before the other side looks (the C test
# writes the same ones when it is the server).
SHARED = {
    'str': 'text \u00e9\u2713',
    'int': 42,
    'neg': -2**63,
    'float': 2.5,
    'tuple': (1, 'a'),
    'none': None,
    'bytes': b'\x00\xff',
    'bool': True,
    'big': 2**70,
}

# The values a Python client puts in the shared dict for the C side to read and copy back
# (role py_values, then py_values_check after the C side copied them to 'c_copy_<key>').
FROM_PY = {
    'from_py_tuple': (1, 'a'),
    'from_py_list': [1, [2, 'x'], None],
    'from_py_set': {1, 2, 3},
    'from_py_frozenset': frozenset({'f'}),
    'from_py_big': 2**70,
    'from_py_negbig': -2**64 - 5,
    'from_py_dict': {'b': 1, 'a': [2.5, b'z']},
    'from_py_bytearray': bytearray(b'ba'),
    'from_py_complex': 1 + 2j,
    'from_py_float': 1.5,
    'from_py_str': 'py \u00fc',
}


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
    if isinstance(address, bytes):  # an abstract name may come back as bytes
        address = address.decode()
    if address.startswith('\0'):
        return 'unix:@' + address[1:]
    return 'unix:' + address


def raises(exception, fn, *args, **kwds):
    try:
        fn(*args, **kwds)
    except exception:
        return True
    except Exception as e:
        raise AssertionError('%s raised %r, not %s' % (getattr(fn, '__name__', fn), e,
                                                      exception.__name__))
    raise AssertionError('%s did not raise %s' % (getattr(fn, '__name__', fn),
                                                 exception.__name__))


class RecipeManager(BaseManager):
    """The docs' remote-manager recipe, client side."""


RecipeManager.register('get_queue')
RecipeManager.register('get_shared')


# ---- roles: SyncManager's types ----

def role_dict(m, ctx):
    d = m.dict()
    d['k'] = 1
    assert len(d) == 1
    assert 'k' in d and 'nope' not in d
    assert d['k'] == 1
    assert d.get('k') == 1 and d.get('nope') is None and d.get('nope', 7) == 7
    d['s'] = 'caf\u00e9'
    d[2] = None
    d[(1, 'a')] = b'\x00'
    assert d.items() == [('k', 1), ('s', 'caf\u00e9'), (2, None), ((1, 'a'), b'\x00')], d.items()
    assert d.keys() == ['k', 's', 2, (1, 'a')]
    assert list(d) == ['k', 's', 2, (1, 'a')]  # iteration: an Iterator proxy
    assert [k for k in d] == list(d)
    assert raises(KeyError, d.__getitem__, 'missing')
    assert raises(TypeError, d.__setitem__, [1], 1)  # unhashable
    # Python's equality of keys: 1 == 1.0 == True.
    d[1] = 'one'
    assert d[1.0] == 'one' and d[True] == 'one'
    d[True] = 'uno'
    assert d[1] == 'uno' and len(d) == 5
    d.update({'u': 2}, v=3)
    assert d['u'] == 2 and d['v'] == 3
    assert d.pop('u') == 2 and d.pop('u', 'default') == 'default'
    assert raises(KeyError, d.pop, 'u')
    del d['v']
    assert raises(KeyError, d.__delitem__, 'v')
    assert d.setdefault('w', 9) == 9 and d.setdefault('w', 10) == 9
    assert d.copy() == {'k': 1, 's': 'caf\u00e9', 2: None, (1, 'a'): b'\x00', 1: 'uno',
                        'w': 9}
    assert d.values()[0] == 1
    big = {'big': 2**70, 'neg': -2**63, 'inf': float('inf'), 'list': [1, [2]],
           'set': {1, 2}, 'nested': {'a': (1, 2)}}
    for key, value in big.items():
        d[key] = value
        assert d[key] == value and type(d[key]) is type(value), (key, d[key])
    nan = float('nan')
    d['nan'] = nan
    assert d['nan'] != d['nan']
    d.clear()
    assert len(d) == 0 and d.items() == [] and list(d) == []
    d['x'] = 1
    assert d.popitem() == ('x', 1)
    assert raises(KeyError, d.popitem)
    # Big values.
    blob = bytes(range(256)) * 4096  # 1 MiB
    d['blob'] = blob
    assert d['blob'] == blob


def role_list(m, ctx):
    l = m.list([1, 2])
    l.append(3)
    assert l[0] == 1 and l[-1] == 3 and len(l) == 3
    assert list(l) == [1, 2, 3]  # iteration: __getitem__ until IndexError
    assert [x for x in l] == [1, 2, 3]
    assert raises(IndexError, l.__getitem__, 5)
    assert raises(IndexError, l.__getitem__, -4)
    l[1] = 'two'
    assert l[1] == 'two'
    assert raises(IndexError, l.__setitem__, 7, 0)
    l.insert(0, 0)
    l.extend([4, 5])
    l += [6]
    assert l[:] == [0, 1, 'two', 3, 4, 5, 6], l[:]
    assert l[1:3] == [1, 'two'] and l[::2] == [0, 'two', 4, 6]
    assert l.pop() == 6 and l.pop(0) == 0
    assert l.index(3) == 2 and l.count(1) == 1
    assert 'two' in l and 'zz' not in l
    l.remove('two')
    assert raises(ValueError, l.remove, 'two')
    del l[0]
    assert l[:] == [3, 4, 5]
    l.reverse()
    assert l[:] == [5, 4, 3]
    l.sort()
    assert l[:] == [3, 4, 5]
    l.sort(reverse=True)
    assert l[:] == [5, 4, 3]
    assert l + [1] == [5, 4, 3, 1]
    assert l * 2 == [5, 4, 3, 5, 4, 3]
    assert list(reversed(l)) == [3, 4, 5]
    del l[:]
    assert len(l) == 0 and l[:] == []
    assert raises(IndexError, l.pop)
    empty = m.list()
    assert list(empty) == []


def role_namespace(m, ctx):
    ns = m.Namespace()
    ns.x = 1
    assert ns.x == 1
    ns.x = 'two'
    assert ns.x == 'two'
    ns.y = (1, 2)
    assert ns.y == (1, 2)
    assert raises(AttributeError, getattr, ns, 'missing')
    del ns.x
    assert raises(AttributeError, getattr, ns, 'x')
    assert raises(AttributeError, delattr, ns, 'x')
    init = m.Namespace(a=1, b='b')
    assert init.a == 1 and init.b == 'b'


def role_value(m, ctx):
    v = m.Value('i', 0)
    v.value += 1
    assert v.value == 1
    v.set(5)
    assert v.get() == 5
    s = m.Value('u', 'text')
    assert s.value == 'text'


def role_lock(m, ctx):
    lock = m.Lock()
    with lock:
        assert lock.acquire(True, 0.01) is False  # held: times out
    assert lock.acquire() is True
    lock.release()
    assert raises(RuntimeError, lock.release)  # release unlocked lock
    assert lock.acquire(False) is True
    lock.release()


def role_rlock(m, ctx):
    r = m.RLock()
    with r:
        with r:
            pass
    assert r.acquire() is True
    r.release()
    assert raises(RuntimeError, r.release)  # not held


def role_event(m, ctx):
    e = m.Event()
    assert e.is_set() is False
    assert e.wait(0.01) is False
    e.set()
    assert e.is_set() is True
    assert e.wait(0.01) is True and e.wait() is True
    e.clear()
    assert e.is_set() is False


def role_queue(m, ctx):
    q = m.Queue()
    q.put('job')
    assert q.qsize() == 1 and not q.empty()
    assert q.get() == 'job'
    assert raises(queue.Empty, q.get, timeout=0.05)
    assert raises(queue.Empty, q.get_nowait)
    q.put_nowait((1, 'a'))
    q.put(b'bytes', True, 1)
    assert q.get(True, 1) == (1, 'a') and q.get(block=True, timeout=1) == b'bytes'
    assert q.empty()
    bounded = m.Queue(1)
    bounded.put(1)
    assert bounded.full()
    assert raises(queue.Full, bounded.put, 2, timeout=0.05)
    assert raises(queue.Full, bounded.put_nowait, 2)
    joinable = m.JoinableQueue()
    joinable.put('t')
    assert joinable.get() == 't'
    joinable.task_done()
    joinable.join()
    assert raises(ValueError, joinable.task_done)


def role_condition(m, ctx):
    c = m.Condition()
    with c:
        c.notify()
        assert c.wait(0.01) is False
        c.notify_all()
    assert raises(RuntimeError, c.notify)  # un-acquired
    with c:
        assert c.wait_for(lambda: True, 0.01) is True


def role_semaphore(m, ctx):
    s = m.Semaphore(2)
    assert s.acquire() is True and s.acquire() is True
    assert s.acquire(True, 0.01) is False
    assert s.acquire(False) is False
    s.release()
    s.release()
    b = m.BoundedSemaphore(1)
    assert b.acquire() is True
    b.release()
    assert raises(ValueError, b.release)


def role_barrier(m, ctx):
    b = m.Barrier(1)
    assert b.wait() == 0
    assert b.parties == 1 and b.n_waiting == 0 and b.broken is False
    b.abort()
    assert b.broken is True
    import threading
    assert raises(threading.BrokenBarrierError, b.wait)
    b.reset()
    assert b.broken is False


def role_array(m, ctx):
    a = m.Array('i', [1, 2, 3])
    assert len(a) == 3
    assert a[0] == 1 and a[-1] == 3
    a[1] = 5
    assert a[1] == 5
    assert raises(IndexError, a.__getitem__, 5)
    assert list(a) == [1, 5, 3]


def role_refcount(m, ctx):
    gc.collect()
    base = m._number_of_objects()
    d = m.dict()
    l = m.list()
    assert m._number_of_objects() == base + 2
    del d, l
    gc.collect()
    assert m._number_of_objects() == base, (m._number_of_objects(), base)


def role_debug(m, ctx):
    """The server's other functions and the fallbacks: str(), _getvalue(), debug info."""
    d = m.dict({'a': 1})
    assert d._getvalue() == {'a': 1}
    assert str(d) == "{'a': 1}", str(d)
    info = m._debug_info()
    assert isinstance(info, str) and 'refcount=' in info, info
    l = m.list([1, (2, 'b')])
    assert l._getvalue() == [1, (2, 'b')]
    assert repr(l).startswith('<ListProxy object')


# ---- roles: the remote-manager recipe and values shared with the C side ----

def recipe_manager(ctx):
    rm = RecipeManager(address=ctx['address'], authkey=ctx['authkey'])
    rm.connect()
    return rm


def role_get_queue_put(m, ctx):
    rm = recipe_manager(ctx)
    rm.get_queue().put('hello')
    q1, q2 = rm.get_queue(), rm.get_queue()
    assert q1._token.id == q2._token.id  # the same queue each time


def role_get_queue_get(m, ctx):
    rm = recipe_manager(ctx)
    assert rm.get_queue().get(timeout=5) == 'hello'


def role_shared_values(m, ctx):
    """The values the other side pre-filled (SHARED), read through the recipe's typeid."""
    rm = recipe_manager(ctx)
    d = rm.get_shared()
    for key, value in SHARED.items():
        got = d.get(key)
        assert got == value and type(got) is type(value), (key, got)


def role_py_values(m, ctx):
    rm = recipe_manager(ctx)
    d = rm.get_shared()
    d.update(FROM_PY)
    for key, value in FROM_PY.items():
        assert d[key] == value, (key, d[key])


def role_py_values_check(m, ctx):
    """After the C side copied each from_py_* value to c_copy_*: unchanged."""
    rm = recipe_manager(ctx)
    d = rm.get_shared()
    for key, value in FROM_PY.items():
        copy = d.get('c_copy_' + key[len('from_py_'):], '(missing)')
        assert copy == value and type(copy) is type(value), (key, copy)


def role_expect_auth_error(m, ctx):
    """Run with a wrong key: connect() must fail with AuthenticationError."""
    bad = SyncManager(address=ctx['address'], authkey=ctx['authkey'])
    assert raises(AuthenticationError, bad.connect)


ROLES = {name[len('role_'):]: fn for name, fn in globals().items() if name.startswith('role_')}
# Roles that connect by themselves (no SyncManager connect first).
SELF_CONNECTING = {'expect_auth_error', 'get_queue_put', 'get_queue_get', 'shared_values',
                   'py_values', 'py_values_check'}


def client(address, authkey, roles):
    ctx = {'address': address, 'authkey': authkey}
    m = None
    if any(role not in SELF_CONNECTING for role in roles):
        m = SyncManager(address=address, authkey=authkey)
        m.connect()
    for role in roles:
        try:
            fn = ROLES[role]
            fn(m, ctx)
            gc.collect()
        except Exception:
            last = traceback.format_exc().strip().splitlines()[-1]
            print('FAIL', role, last, flush=True)
            continue
        print('OK', role, flush=True)
    print('DONE', flush=True)


class PeerManager(SyncManager):
    """The server: SyncManager's types plus the recipe's typeids."""


def server(address, authkey):
    shared = dict(SHARED)
    jobs = queue.Queue()
    PeerManager.register('get_shared', callable=lambda: shared, proxytype=DictProxy)
    PeerManager.register('get_queue', callable=lambda: jobs)
    m = PeerManager(address=address, authkey=authkey)
    s = m.get_server()
    print('ADDRESS', to_c(s.address), flush=True)
    try:
        s.serve_forever()  # ends with sys.exit(0) after a shutdown request
    finally:
        print('SERVED', flush=True)


def main():
    signal.signal(signal.SIGALRM, lambda *_: (print('TIMEOUT', flush=True), sys.exit(3)))
    signal.alarm(60)
    role, address, key = sys.argv[1:4]
    authkey = b'' if key == '-' else bytes.fromhex(key)
    address = to_python(address)
    print('PYTHON', platform.python_version(), flush=True)
    if role == 'client':
        client(address, authkey, sys.argv[4:])
    elif role == 'server':
        server(address, authkey)
    else:
        print('ERROR unknown mode', role, flush=True)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
