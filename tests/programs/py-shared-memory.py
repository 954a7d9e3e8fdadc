"""py-shared-memory.py - multiprocessing.shared_memory (a file in /dev/shm
that each process maps MAP_SHARED with Python's mmap) written by worker
processes made with each start method: fork (children of this process),
spawn and forkserver (fresh interpreters that attach to the segment by name).
The parent must see every worker's stores, as on the kernel.
"""
import multiprocessing as mp
from multiprocessing import shared_memory

PAGE = 4096


def worker(name, i):
    s = shared_memory.SharedMemory(name=name)
    seen = bytes(s.buf[0:4])
    s.buf[i * PAGE:(i + 1) * PAGE] = bytes([64 + i]) * PAGE
    s.buf[(1 << 20) + i] = i  # a page the parent has not touched
    s.close()
    if seen != b'init':
        raise SystemExit('worker %d saw %r' % (i, seen))


if __name__ == '__main__':
    for method in ('fork', 'spawn', 'forkserver'):
        ctx = mp.get_context(method)
        shm = shared_memory.SharedMemory(create=True, size=4 << 20)
        try:
            shm.buf[:4] = b'init'
            ps = [ctx.Process(target=worker, args=(shm.name, i)) for i in range(1, 5)]
            for p in ps:
                p.start()
            for p in ps:
                p.join()
            print(method, 'exit codes', [p.exitcode for p in ps], bytes(shm.buf[:4]),
                  [bytes(shm.buf[i * PAGE:i * PAGE + 2]) for i in range(1, 5)],
                  list(shm.buf[1 << 20:(1 << 20) + 5]), flush=True)
        finally:
            shm.close()
            shm.unlink()
