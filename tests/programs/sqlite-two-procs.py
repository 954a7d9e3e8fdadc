"""sqlite-two-procs.py JOURNAL_MODE - two processes on one SQLite
database, the way every multi-process SQLite user works: this process keeps a
connection open (with PRAGMA mmap_size, so it reads the file through a
mapping), and separate sqlite3 processes change the database between its
queries.  Each query must see the other process's committed changes, as it
does on the kernel, where every mapping of a file shows the same page cache.

Under pager-run, every process gets the pager (LD_PRELOAD is inherited); the
two processes are not parent and child in any sense that shares memory.
Printed: what each side sees; nothing depends on time or pids.
"""
import sqlite3
import subprocess
import sys

MMAP = 'PRAGMA mmap_size=268435456;'
mode = sys.argv[1]


def say(*args):
    print(*args, flush=True)


def other(sql):
    """Another process changes the database (the sqlite3 shell)."""
    r = subprocess.run(['sqlite3', 'two.db', MMAP + sql], capture_output=True, text=True)
    say('  other process:', r.returncode, r.stdout.split(), r.stderr.strip())


def mine(what, sql):
    try:
        say(what, c.execute(sql).fetchall())
    except sqlite3.Error as e:
        say(what, 'error:', e)


c = sqlite3.connect('two.db', isolation_level=None)
c.execute(MMAP)
say('journal mode', c.execute('PRAGMA journal_mode=' + mode).fetchone())
c.execute('CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)')
c.execute("WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 20000) "
          "INSERT INTO t SELECT i, printf('%0100d', i) FROM r")
mine('this process:', 'SELECT count(*), sum(length(v)) FROM t')

other("UPDATE t SET v = 'x' WHERE id % 3 = 0; SELECT changes();")
mine('after the other process updated:', 'SELECT count(*), sum(length(v)) FROM t')

other('DELETE FROM t WHERE id > 100; SELECT changes();')
mine('after the other process deleted:', 'SELECT count(*), sum(length(v)) FROM t')

c.execute("INSERT INTO t(v) VALUES ('mine')")
mine('after this process inserted:', 'SELECT count(*), max(id) FROM t')
other('SELECT count(*), max(id) FROM t;')

other("VACUUM; INSERT INTO t(v) SELECT 'more' FROM t; SELECT count(*);")
mine('after the other process vacuumed and grew the file:', 'SELECT count(*), max(id), sum(length(v)) FROM t')
mine('integrity, this process:', 'PRAGMA integrity_check')
c.close()
other('PRAGMA integrity_check; SELECT count(*) FROM t;')
