"""py-mmap.py - Python's mmap module in all its access modes, run in an
empty directory once on the kernel and once under pager-run (py-mmap.sh
compares what it prints and the files it leaves).

Every 8 bytes of the data files hold a distinct number, so a page that is
zero-filled, misplaced or stale changes what is printed.  Nothing printed
depends on addresses, pids or time.
"""
import hashlib
import mmap
import os
import resource
import struct
import subprocess
import sys
from array import array

PAGE = mmap.PAGESIZE
MiB = 1 << 20


def say(*args):
    print(*args, flush=True)


def sha(b):
    return hashlib.sha256(b).hexdigest()[:16]


def counters(nbytes, salt):
    """nbytes of little-endian 64-bit words (salt << 40) + i."""
    words = (nbytes + 7) // 8
    return array('Q', range(salt << 40, (salt << 40) + words)).tobytes()[:nbytes]


def word(m, index):
    return struct.unpack_from('<Q', m, index * 8)[0]


def child(fn):
    """Runs fn in a forked child; returns how the child ended."""
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        try:
            fn()
        finally:
            sys.stdout.flush()
            os._exit(0)
    _, st = os.waitpid(pid, 0)
    if os.WIFSIGNALED(st):
        return 'killed by signal %d' % os.WTERMSIG(st)
    return 'exit %d' % os.WEXITSTATUS(st)


def advise(m, *args):
    if hasattr(m, 'madvise'):
        m.madvise(*args)


# ---- ACCESS_READ: a file larger than many readahead windows ----
big = counters(64 * MiB, 1)
with open('big.bin', 'wb') as f:
    f.write(big)
want = sha(big)
del big

with open('big.bin', 'rb') as f:
    m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    say('read: len', len(m), 'sha', sha(m), 'as written', sha(m) == want)
    words = len(m) // 8
    bad = [i for i in range(words - 1, -1, -(7 * PAGE // 8 + 1)) if word(m, i) != (1 << 40) + i]
    say('read: strided backwards, wrong words:', len(bad), bad[:4])
    needle = struct.pack('<Q', (1 << 40) + 5_000_001)
    say('read: find', m.find(needle), 'rfind', m.rfind(needle), 'absent', m.find(b'no such bytes'))
    say('read: across a page boundary', m[PAGE - 4:PAGE + 4].hex(), 'last', m[-8:].hex())
    say('read: every 256 KiB', sha(m[::256 * 1024]))
    m.seek(12345)
    say('read: seek/read', m.read(16).hex(), 'tell', m.tell())
    advise(m, mmap.MADV_SEQUENTIAL)
    advise(m, mmap.MADV_WILLNEED, 32 * MiB, 4 * MiB)
    advise(m, mmap.MADV_RANDOM)
    advise(m, mmap.MADV_DONTNEED)
    say('read: after madvise', sha(m) == want)
    o = mmap.mmap(f.fileno(), 5 * PAGE, access=mmap.ACCESS_READ, offset=1000 * PAGE)
    say('read: at an offset', [word(o, i) - (1 << 40) for i in (0, 511, 512, 5 * 512 - 1)])
    o.close()
    try:
        m[0:1] = b'x'
    except TypeError as e:
        say('read: store refused:', e)
    m.close()
    say('read: closed', m.closed)

# ---- ACCESS_WRITE, ACCESS_COPY and ACCESS_READ on one file ----
N = 8 * MiB + 1234  # a partial last page
with open('work.bin', 'wb') as f:
    f.write(counters(N, 2))
with open('work.bin', 'r+b') as f:
    fd = f.fileno()
    w = mmap.mmap(fd, 0, access=mmap.ACCESS_WRITE)
    r = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
    c = mmap.mmap(fd, 0, access=mmap.ACCESS_COPY)
    say('copy: reads the file', word(c, 10 * PAGE // 8) - (2 << 40))
    c[20 * PAGE:20 * PAGE + 8] = b'PRIVATE!'
    w[0:5] = b'HELLO'
    w[20 * PAGE:20 * PAGE + 8] = b'SHARED!!'
    w[3 * PAGE - 2:3 * PAGE + 2] = b'XXXX'
    w[-5:] = b'TAIL!'
    say('write: the read mapping sees', r[0:5], r[20 * PAGE:20 * PAGE + 8], r[3 * PAGE - 2:3 * PAGE + 2], r[-5:])
    say('copy: own store', c[20 * PAGE:20 * PAGE + 8], 'a page it did not copy sees the shared store', c[0:5])
    say('write: pread before flush', os.pread(fd, 5, 0), os.pread(fd, 5, N - 5))
    w.flush()
    with open('work.bin', 'rb') as g:
        data = g.read()
    say('write: plain read after flush', data[0:5], data[20 * PAGE:20 * PAGE + 8], data[-5:], sha(data))
    other = subprocess.run(['sha256sum', 'work.bin'], capture_output=True, text=True, check=True)
    say('write: another process after flush', other.stdout.split()[0][:16] == hashlib.sha256(data).hexdigest()[:16])
    os.pwrite(fd, b'PWRITE', 20 * PAGE + 100)
    os.pwrite(fd, b'pwrite', 30 * PAGE)
    say('pwrite: seen by', w[20 * PAGE + 100:20 * PAGE + 106], r[30 * PAGE:30 * PAGE + 6],
        c[30 * PAGE:30 * PAGE + 6], 'but not by the copied page', c[20 * PAGE + 100:20 * PAGE + 106].hex())
    w.move(40 * PAGE, 0, 5)
    w.seek(41 * PAGE)
    w.write(b'written by write')
    w.write_byte(33)
    say('write: move/write', w[40 * PAGE:40 * PAGE + 5], w[41 * PAGE:41 * PAGE + 17], w.tell())
    w[50 * PAGE:50 * PAGE + 9] = b'NOFLUSH!!'  # never flushed: munmap must write it
    w.close()
    r.close()
    say('copy: after the shared mappings closed', c[50 * PAGE:50 * PAGE + 9])
    advise(c, mmap.MADV_DONTNEED)
    say('copy: after MADV_DONTNEED, back to the file', c[20 * PAGE:20 * PAGE + 8], c[20 * PAGE + 100:20 * PAGE + 106])
    c.close()
with open('work.bin', 'rb') as g:
    data = g.read()
say('write: file after close', len(data), data[50 * PAGE:50 * PAGE + 9], b'PRIVATE!' in data, sha(data))

# ---- ACCESS_DEFAULT: shared and writable; at an offset; on a read-only fd ----
with open('work.bin', 'r+b') as f:
    d = mmap.mmap(f.fileno(), 5 * PAGE, offset=3 * PAGE)
    d[0:4] = b'DFLT'
    d[-4:] = b'dflt'
    d.flush()
    say('default:', d[0:8].hex(), os.pread(f.fileno(), 4, 8 * PAGE - 4))
    d.close()
with open('work.bin', 'rb') as f:
    try:
        mmap.mmap(f.fileno(), 0)
    except OSError as e:
        say('default: on a read-only fd:', type(e).__name__, e.errno)

# ---- resize: the file grows and shrinks under the mapping ----
with open('res.bin', 'wb') as f:
    f.write(counters(3 * PAGE + 100, 3))
with open('res.bin', 'r+b') as f:
    d = mmap.mmap(f.fileno(), 0)
    d[-4:] = b'END!'
    d.resize(6 * PAGE + 7)
    say('resize: grown', len(d), os.fstat(f.fileno()).st_size, d[3 * PAGE + 96:3 * PAGE + 100],
        'new bytes zero', d[3 * PAGE + 100:] == bytes(len(d) - 3 * PAGE - 100))
    d[-7:] = b'GROWN!!'
    d[4 * PAGE:4 * PAGE + 4] = b'MID!'
    d.flush()
    say('resize: pread', os.pread(f.fileno(), 7, 6 * PAGE), os.pread(f.fileno(), 4, 4 * PAGE))
    d.resize(2 * PAGE + 10)
    d[-3:] = b'cut'
    say('resize: shrunk', len(d), os.fstat(f.fileno()).st_size, word(d, 100) - (3 << 40))
    d.close()
with open('res.bin', 'rb') as f:
    data = f.read()
say('resize: file', len(data), data[-10:], sha(data))

# ---- truncation: the tail reads zero, past EOF is SIGBUS, growing makes it zero ----
with open('short.bin', 'w+b') as f:
    f.write(b'x' * (3 * PAGE))
    f.flush()
    m = mmap.mmap(f.fileno(), 3 * PAGE)
    say('truncate: before', m[0:2], m[2 * PAGE:2 * PAGE + 2])
    os.ftruncate(f.fileno(), PAGE + 10)
    say('truncate: the rest of the last page', m[PAGE:PAGE + 10], m[PAGE + 10:PAGE + 14].hex(), m[2 * PAGE - 1])
    say('truncate: a child touching past EOF:', child(lambda: m[2 * PAGE]))
    os.ftruncate(f.fileno(), 3 * PAGE)
    say('truncate: grown again', m[2 * PAGE:2 * PAGE + 4].hex(), m[PAGE + 8:PAGE + 12].hex())
    m[2 * PAGE:2 * PAGE + 4] = b'back'
    m.close()
with open('short.bin', 'rb') as f:
    data = f.read()
say('truncate: file', len(data), data[2 * PAGE:2 * PAGE + 4], sha(data))

# ---- fork: anonymous shared memory, private memory, a shared file mapping ----
a = mmap.mmap(-1, 16 * MiB)  # MAP_SHARED | MAP_ANONYMOUS
a[:8 * MiB] = counters(8 * MiB, 4)


def in_child_shared():
    say('fork: the child sees the parent\'s shared pages', sha(a[:8 * MiB]), 'untouched zero', a[12 * MiB:12 * MiB + 8].hex())
    a[8 * MiB:] = counters(8 * MiB, 5)
    a[0:5] = b'CHILD'


say('fork: shared child', child(in_child_shared))
say('fork: the parent sees the child\'s stores', a[0:5], sha(a), word(a, MiB) - (5 << 40))
a.close()

p = mmap.mmap(-1, 16 * MiB, flags=mmap.MAP_PRIVATE)
p[:4 * MiB] = counters(4 * MiB, 6)


def in_child_private():
    say('fork: the child sees the parent\'s private pages', sha(p[:4 * MiB]), p[8 * MiB:8 * MiB + 8].hex())
    p[:] = counters(16 * MiB, 7)
    say('fork: the child\'s own copy', sha(p))


say('fork: private child', child(in_child_private))
say('fork: the parent keeps its own', sha(p[:4 * MiB]), p[4 * MiB:4 * MiB + 8].hex(), word(p, 7) - (6 << 40))
p.close()

with open('work.bin', 'r+b') as f:
    w = mmap.mmap(f.fileno(), 0)
    w[60 * PAGE:60 * PAGE + 6] = b'PARENT'

    def in_child_file():
        say('fork: the child sees', w[60 * PAGE:60 * PAGE + 6])
        w[61 * PAGE:61 * PAGE + 5] = b'CHILD'
        w[-3:] = b'cld'

    say('fork: file child', child(in_child_file))
    say('fork: the parent sees the child\'s file stores', w[61 * PAGE:61 * PAGE + 5], w[-3:])
    w.close()
with open('work.bin', 'rb') as f:
    data = f.read()
say('fork: file after close', data[60 * PAGE:60 * PAGE + 6], data[61 * PAGE:61 * PAGE + 5], sha(data))

# ---- the interpreter's own memory (its arenas are mapped with mmap) ----
objs = [str(i * i) for i in range(1_000_000)]
say('heap:', sum(len(s) for s in objs), sha(''.join(objs[::1000]).encode()))
