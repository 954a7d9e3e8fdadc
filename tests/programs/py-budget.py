"""py-budget.py - 64 MiB of private anonymous memory from Python's mmap
module (mmap(-1, N, flags=MAP_PRIVATE|MAP_ANONYMOUS): an mmap(2) call of
its own, which the shim serves, unlike malloc's), run once on the kernel and
once under pager-run --budget 16M (py-budget.sh compares what it prints and
checks from --stats-json that pages were swapped out and in).

Every page is filled with bytes derived from its index (a page that comes
back zero-filled, from another page's slot or stale changes what is
printed); the whole mapping is hashed, pages are read and some written in a
random (seeded) order, the mapping is hashed again, and every page is
checked against what it must hold, last page first.  Nothing printed
depends on addresses, pids or time.
"""
import hashlib
import mmap
import random
import struct
import sys

PAGE = mmap.PAGESIZE
SIZE = int(sys.argv[1]) << 20 if len(sys.argv) > 1 else 64 << 20
NPAGES = SIZE // PAGE


def say(*args):
    print(*args, flush=True)


def sha(b):
    return hashlib.sha256(b).hexdigest()[:16]


def pattern(i):
    """What page i holds after the fill: distinct in every 64 bytes."""
    d = hashlib.blake2b(struct.pack('<Q', i), digest_size=56).digest()
    return b''.join(struct.pack('<Q', (i << 16) | j) + d for j in range(PAGE // 64))


def marked(i, page):
    """Page i after the random pass wrote its mark (every third page)."""
    return page[:2048] + struct.pack('<QQ', 0x6d61726b << 32 | i, i * 2654435761) + page[2064:]


# MAP_PRIVATE | MAP_ANONYMOUS: the memory the pager may swap (a plain
# mmap.mmap(-1, N) is MAP_SHARED, which stays in memory).
m = mmap.mmap(-1, SIZE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS,
              prot=mmap.PROT_READ | mmap.PROT_WRITE)
say('mapped', SIZE >> 20, 'MiB,', NPAGES, 'pages; fresh memory reads as zero:',
    m[:16] == bytes(16) and m[SIZE - 16:] == bytes(16) and m[SIZE // 2] == 0)

for i in range(NPAGES):
    m[i * PAGE:(i + 1) * PAGE] = pattern(i)
want = hashlib.sha256()
for i in range(NPAGES):
    want.update(pattern(i))
h1 = sha(m)
say('filled; hash', h1, 'as expected:', h1 == want.hexdigest()[:16])

# Random-order touches: read a word of every page, write a mark into every
# third one (a dirty page that may have been swapped out and in again).
order = list(range(NPAGES))
random.Random(20240604).shuffle(order)
bad = 0
acc = 0
for n, i in enumerate(order):
    off = i * PAGE + (n % (PAGE // 64)) * 64
    w = struct.unpack_from('<Q', m, off)[0]
    if w != (i << 16) | (n % (PAGE // 64)):
        bad += 1
    acc = (acc * 31 + w) & 0xffffffffffffffff
    if i % 3 == 0:
        struct.pack_into('<QQ', m, i * PAGE + 2048, 0x6d61726b << 32 | i, i * 2654435761)
say('random pass: %d pages read, %d wrong, checksum %016x, %d pages marked'
    % (len(order), bad, acc, (NPAGES + 2) // 3))

h2 = sha(m)
want = hashlib.sha256()
for i in range(NPAGES):
    want.update(marked(i, pattern(i)) if i % 3 == 0 else pattern(i))
say('hash again', h2, 'as expected:', h2 == want.hexdigest()[:16], 'changed:', h1 != h2)

# Every page, last first, against what it must hold.
bad = []
for i in reversed(range(NPAGES)):
    p = pattern(i)
    if i % 3 == 0:
        p = marked(i, p)
    if m[i * PAGE:(i + 1) * PAGE] != p:
        bad.append(i)
say('checked every page backwards:', len(bad), 'wrong', bad[:8])

# The middle half hashed in place, through a memoryview (no copy into
# malloc'd memory, which the budget does not count).
with memoryview(m) as v:
    say('middle half:', sha(v[SIZE // 4:3 * SIZE // 4]))
m.close()
say('done')
