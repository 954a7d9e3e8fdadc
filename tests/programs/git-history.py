"""git-history.py COMMITS - writes a git fast-import stream of COMMITS
deterministic commits to stdout: 40 text files edited a few lines at a time
(so that packing finds deltas), a binary file rewritten every 25 commits,
files added and deleted now and then, a tag every 50 commits.
"""
import sys
from array import array

commits = int(sys.argv[1])
out = sys.stdout.buffer


def data(b):
    out.write(b'data %d\n' % len(b))
    out.write(b)
    out.write(b'\n')


files = {}
for n in range(40):
    files['src/f%02d.txt' % n] = [b'line %d of file %d: %s' % (i, n, b'abcdefghij' * (1 + (i * n) % 7))
                                 for i in range(200 + 20 * n)]

mark = 0
for c in range(1, commits + 1):
    changed = {}
    for k in range(3):
        name = 'src/f%02d.txt' % ((c * 7 + k * 13) % 40)
        lines = files.get(name)
        if lines is None:
            continue
        for j in range(5):
            i = (c * 31 + j * 17 + k) % len(lines)
            lines[i] = b'line %d changed in commit %d (%d)' % (i, c, j)
        lines.append(b'appended in commit %d' % c)
        changed[name] = b'\n'.join(lines) + b'\n'
    if c % 25 == 1:
        blob = array('I', ((i * 2654435761 + c) & 0xffffffff for i in range(256 * 1024))).tobytes()
        changed['bin/blob.dat'] = blob
    deleted = []
    if c % 60 == 30:
        victim = 'src/f%02d.txt' % (c % 40)
        if victim in files:
            del files[victim]
            deleted.append(victim)
    if c % 45 == 0:
        name = 'src/new%03d.txt' % c
        files[name] = [b'new file of commit %d line %d' % (c, i) for i in range(500)]
        changed[name] = b'\n'.join(files[name]) + b'\n'
    for name, content in sorted(changed.items()):
        mark += 1
        out.write(b'blob\nmark :%d\n' % mark)
        data(content)
        changed[name] = mark
    out.write(b'commit refs/heads/main\n')
    out.write(b'author A U Thor <author@example.com> %d +0000\n' % (1700000000 + c * 3600))
    out.write(b'committer C O Mitter <committer@example.com> %d +0000\n' % (1700000000 + c * 3600))
    data(b'commit %d\n\nchanges %d files\n' % (c, len(changed)))
    for name, m in sorted(changed.items()):
        out.write(b'M 100644 :%d %s\n' % (m, name.encode()))
    for name in deleted:
        out.write(b'D %s\n' % name.encode())
    if c % 50 == 0:
        out.write(b'reset refs/tags/v%d\nfrom refs/heads/main\n\n' % (c // 50))
