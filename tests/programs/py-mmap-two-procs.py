"""py-mmap-two-procs.py - one file mapped MAP_SHARED by two
processes that are not parent and child (this one, and a python3 it starts
with subprocess), and one file changed under this process's mapping by other
processes through write(2), ftruncate(2) and their own mappings.  On the
kernel every mapping and read(2) of a file shows the same page cache, so each
change is seen at once.  Under pager-run, both processes run under the pager.

Also the corner of Python's mmap that differs from a file: an anonymous
shared mapping grown with resize() has no memory behind its new part
(SIGBUS on the kernel).
"""
import mmap
import os
import resource
import subprocess
import sys

PAGE = mmap.PAGESIZE


def say(*args):
    print(*args, flush=True)


def other(code):
    """Runs code in a separate python3 process, in this directory."""
    r = subprocess.run([sys.executable, '-c', 'import mmap, os\nPAGE = mmap.PAGESIZE\n' + code],
                       capture_output=True, text=True)
    say('  other process:', r.returncode, r.stdout.strip(), r.stderr.strip()[-200:])


with open('f.bin', 'wb') as f:
    f.write(bytes(range(256)) * (64 * PAGE // 256))
f = open('f.bin', 'r+b')
m = mmap.mmap(f.fileno(), 0)  # MAP_SHARED, read-write
say('mine:', m[0:4].hex(), m[10 * PAGE:10 * PAGE + 4].hex())

other('''
with open('f.bin', 'r+b') as f:
    m = mmap.mmap(f.fileno(), 0)
    m[0:5] = b'OTHER'            # a page the first process has read
    m[20 * PAGE:20 * PAGE + 5] = b'other'  # one it has not
    print(m[0:5], m[20 * PAGE:20 * PAGE + 5])  # no flush: the kernel shares the page at once
''')
say('the other process stored through its mapping, no flush:', m[0:5], m[20 * PAGE:20 * PAGE + 5])

other('''
with open('f.bin', 'r+b') as f:
    m = mmap.mmap(f.fileno(), 0)
    m[PAGE:PAGE + 7] = b'FLUSHED'
    m.flush()
''')
say('the other process stored and flushed:', m[PAGE:PAGE + 7])

other('''
with open('f.bin', 'r+b') as f:
    os.pwrite(f.fileno(), b'PWRITE', 10 * PAGE)
''')
say('the other process wrote with pwrite:', m[10 * PAGE:10 * PAGE + 6])

m[30 * PAGE:30 * PAGE + 4] = b'MINE'
other('''
with open('f.bin', 'rb') as f:
    print(os.pread(f.fileno(), 4, 30 * PAGE))
''')
say('(above: what the other process read with pread after this one stored, no flush)')
m.flush()
other('''
with open('f.bin', 'rb') as f:
    print(os.pread(f.fileno(), 4, 30 * PAGE))
''')
say('(above: the same after flush)')

other('os.truncate("f.bin", 40 * PAGE + 100)')
say('the other process truncated the file; the tail of the last page:', m[40 * PAGE + 96:40 * PAGE + 104].hex())
sys.stdout.flush()
pid = os.fork()
if pid == 0:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    m[50 * PAGE]
    os._exit(0)
_, st = os.waitpid(pid, 0)
say('a child touching a page past the new EOF:',
    'signal %d' % os.WTERMSIG(st) if os.WIFSIGNALED(st) else 'exit %d' % os.WEXITSTATUS(st))
m.close()
f.close()

# A private mapping (ACCESS_COPY) reads the file where it has not written:
# another process's writes show there, on the kernel.
with open('p.bin', 'wb') as f:
    f.write(bytes(range(256)) * (64 * PAGE // 256))
f = open('p.bin', 'r+b')
c = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
c[5 * PAGE:5 * PAGE + 4] = b'mine'
say('private:', c[0:4].hex(), c[5 * PAGE:5 * PAGE + 4])
other('''
with open('p.bin', 'r+b') as f:
    os.pwrite(f.fileno(), b'PWRITE', 0)
    os.pwrite(f.fileno(), b'PWRITE', 5 * PAGE)
    m = mmap.mmap(f.fileno(), 0)
    m[PAGE:PAGE + 6] = b'SHARED'
''')
say('private: after another process wrote', c[0:6], c[PAGE:PAGE + 6], 'own page', c[5 * PAGE:5 * PAGE + 6])
c.close()
f.close()

# An anonymous shared mapping (a shmem object of fixed size) grown by resize():
# the new part is past the end of the object.
a = mmap.mmap(-1, 4 << 20)
a[0:4] = b'anon'
a.resize(8 << 20)
say('anonymous shared, resized: the old part', a[0:4])
sys.stdout.flush()
pid = os.fork()
if pid == 0:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    a[6 << 20]
    os._exit(0)
_, st = os.waitpid(pid, 0)
say('anonymous shared, resized: touching the new part:',
    'signal %d' % os.WTERMSIG(st) if os.WIFSIGNALED(st) else 'exit %d' % os.WEXITSTATUS(st))
