#!/usr/bin/env bash
# run.sh PAGER_RUN FORKSHARE CASE [user] - run a real program that no one here
# wrote, once on the kernel and once under pager-run (with --shared-files: each
# case's files are its own), and compare what they
# print and the files they leave.  With "user", both runs are made as an
# unprivileged user (nobody): the shim must step aside with one clear
# warning and the program must still be right.
set -euo pipefail
run=$(realpath "$1"); forkshare=$(realpath "$2"); case=$3; as=${4:-root}
bindir=$(dirname "$forkshare")

dir=$(mktemp -d "${TMPDIR:-/tmp}/pager-programs.XXXXXX")
trap 'rm -rf "$dir"' EXIT
chmod 0777 "$dir"
cd "$dir"

as_user() {
	if [ "$as" = user ]; then
		setpriv --reuid=65534 --regid=65534 --clear-groups --reset-env -- env HOME="$dir" PATH="$PATH" "$@"
	else
		"$@"
	fi
}

# The program, in a fresh directory per run: KERNEL/ and PAGER/.
program() {
	case $case in
	python-mmap) python3 "$dir/t.py" ;;
	python-test-mmap) python3 -m test test_mmap test_bytes -q 2>&1 | grep -E '^(Result|Total tests|Total test files)' ;;
	sqlite) sqlite3 db < "$dir/build.sql" && sqlite3 db < "$dir/query.sql" && sqlite3 db .dump | sha256sum ;;
	git)
		git -C "$dir/repo" log -p --stat | sha256sum
		git -C "$dir/repo" fsck --full 2>&1 | sort
		git -C "$dir/repo" grep -c line | sort | sha256sum
		git -C "$dir/repo" rev-list --objects --all | sort | sha256sum
		git -C "$dir/repo" archive HEAD | sha256sum ;;
	forkshare) "$forkshare" shared.bin; sha256sum shared.bin ;;
	own-uffd) "$bindir/owneruffd" ;;
	errors) "$bindir/errors" "$dir/input" ;;
	coreutils)
		sort -S 64M "$dir/big.txt" | sha256sum
		md5sum "$dir/big.txt"; cmp "$dir/big.txt" "$dir/big.txt" && echo same
		grep -c 7 "$dir/big.txt"; tac "$dir/big.txt" | sha256sum; wc -l "$dir/big.txt" ;;
	*) echo "unknown case $case" >&2; exit 2 ;;
	esac
}

# ---- inputs, made once, read-only for both runs ----
case $case in
python-mmap)
	cat > t.py <<'PY'
import hashlib, mmap, os
p = 'data.bin'
with open(p, 'wb') as f:
    f.write(bytes((i * 7) & 0xff for i in range(256)) * (64 * 1024 * 4))   # 64 MiB
f = open(p, 'r+b')
r = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
print('read', hashlib.sha256(r).hexdigest(), r.find(b'\x07\x0e\x15'), r[-3:])
w = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_WRITE)
c = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
w[100:105] = b'HELLO'; c[200:205] = b'COPY!'
print('shared seen by read mapping', r[100:105], 'copy', c[100:105], c[200:205], w[200:205])
print('pread before flush', os.pread(f.fileno(), 5, 100))
os.pwrite(f.fileno(), b'WORLD', 300)
print('pwrite seen', w[300:305], r[300:305], c[300:305])
w.flush()
d = mmap.mmap(f.fileno(), 4096 * 3, offset=4096 * 5)
print('default', d[:8], len(d))
d.resize(4096 * 5); print('resized', len(d), d[-4:])
a = mmap.mmap(-1, 8 << 20)
pid = os.fork()
if pid == 0:
    a[123:128] = b'child'; w[400:405] = b'CHILD'; os._exit(0)
os.waitpid(pid, 0)
print('child wrote', a[123:128], w[400:405])
if hasattr(mmap, 'MADV_DONTNEED'):
    c.madvise(mmap.MADV_DONTNEED); print('after DONTNEED copy sees', c[200:205])
for m in (r, w, c, d, a): m.close()
f.close()
print('file', hashlib.sha256(open(p, 'rb').read()).hexdigest())
PY
	;;
sqlite)
	cat > build.sql <<'SQL'
PRAGMA mmap_size=268435456;
CREATE TABLE t(id INTEGER PRIMARY KEY, k TEXT, v TEXT);
WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM r WHERE i < 300000)
INSERT INTO t SELECT i, printf('key%08d', (i * 7919) % 300000), printf('%0150d', i) FROM r;
CREATE INDEX tk ON t(k);
SQL
	cat > query.sql <<'SQL'
PRAGMA mmap_size=268435456;
SELECT count(*), sum(length(v)), min(k), max(k) FROM t;
SELECT id, k FROM t WHERE k BETWEEN 'key00100000' AND 'key00100010' ORDER BY k;
UPDATE t SET v = 'changed' WHERE id % 997 = 0;
DELETE FROM t WHERE id % 1009 = 0;
SELECT count(*), sum(id) FROM t WHERE v = 'changed';
VACUUM;
SELECT count(*) FROM t;
PRAGMA integrity_check;
SQL
	;;
git)
	git init -q repo
	for i in $(seq 1 150); do
		seq "$i" $((i * 40)) | sed "s/^/line $i /" > "repo/f$((i % 17)).txt"
		git -C repo add -A && git -C repo -c user.name=t -c user.email=t@t commit -qm "commit $i" --date "@$((1700000000 + i))"
	done
	git -C repo gc -q
	chmod -R a+rwX repo
	git config --global --add safe.directory '*' 2>/dev/null || true
	;;
errors) echo hello > input ;;
coreutils)
	seq 1 2000000 | awk '{ printf "%d %x line\n", ($1 * 7919) % 1000003, $1 }' > big.txt ;;
esac
chmod -R a+rwX "$dir"

for side in KERNEL PAGER; do
	mkdir -p "$side" && chmod 0777 "$side"
	(
		cd "$side"
		[ "$case" = python-mmap ] || [ "$case" = forkshare ] || [ "$case" = sqlite ] || true
		if [ "$side" = KERNEL ]; then
			as_user bash -c "$(declare -f program); case=$case dir=$dir forkshare=$forkshare bindir=$bindir; program" \
				> out 2> err || echo "exit $?" >> out
		else
			as_user "$run" --shared-files -- bash -c "$(declare -f program); case=$case dir=$dir forkshare=$forkshare bindir=$bindir; program" \
				> out 2> err || echo "exit $?" >> out
		fi
	)
done

status=0
if ! diff -u KERNEL/out PAGER/out; then
	echo "FAIL: $case ($as): the program printed something else under the pager" >&2
	status=1
fi
if [ "$as" = user ]; then
	n=$(grep -c '^pager:' PAGER/err || true)
	if [ "$n" != 1 ] || ! grep -q 'steps aside' PAGER/err; then
		echo "FAIL: $case ($as): expected exactly one warning that the pager steps aside, got:" >&2
		cat PAGER/err >&2
		status=1
	fi
elif grep '^pager:' PAGER/err >&2; then
	echo "FAIL: $case ($as): the pager complained" >&2
	status=1
fi
[ $status = 0 ] && echo "ok: $case ($as): same output on the kernel and under the pager ($(wc -l < KERNEL/out) lines)"
exit $status
