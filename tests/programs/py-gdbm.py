"""py-gdbm.py - GNU dbm through Python's dbm.gnu: libgdbm maps its file
MAP_SHARED read-write, remaps it as the file grows, and mixes stores through
the mapping with write(2); then reorganize() rebuilds the file and renames it
over the old one.  Prints what it reads back; the file is compared too.
"""
import dbm.gnu
import hashlib

N = 30000
db = dbm.gnu.open('gdbm.db', 'nf')
for i in range(N):
    db[b'key%d' % i] = b'value %d ' % i * (1 + i % 7)
db.sync()
for i in range(0, N, 3):
    del db[b'key%d' % i]
for i in range(0, N, 5):
    db[b'key%d' % i] = b'v2 %d' % i
print('before reorganize', len(db.keys()), db[b'key10'], db[b'key11'][:20], flush=True)
db.reorganize()
h = hashlib.sha256()
n = 0
k = db.firstkey()
while k is not None:
    h.update(k + b'=' + db[k])
    n += 1
    k = db.nextkey(k)
print('after reorganize', n, h.hexdigest()[:16], flush=True)
db.close()
db = dbm.gnu.open('gdbm.db', 'r')
print('reopened', len(db.keys()), db[b'key10'], db[b'key11'][:20], b'key0' in db, b'key5' in db)
db.close()
