#!/usr/bin/env bash
# demo.sh BUILD_DIR - the main job: SQLite, with its database memory-mapped,
# runs once on the kernel and once under pager-run; the answers must be the
# same, and the pager says what it did.
set -euo pipefail
build=${1:-build}
run=$build/tools/pager-run
[ -x "$run" ] || { echo "demo.sh: no $run; build first" >&2; exit 1; }
dir=$(mktemp -d "${TMPDIR:-/var/tmp}/pager-demo.XXXXXX")
trap 'rm -rf "$dir"' EXIT

echo "== a 64 MB SQLite database (deterministic rows) in $dir"
sqlite3 "$dir/db" <<'SQL'
PRAGMA page_size=4096;
CREATE TABLE t(id INTEGER PRIMARY KEY, k TEXT, v TEXT);
WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM r WHERE i < 400000)
INSERT INTO t SELECT i, printf('key%08d', (i * 7919) % 400000), printf('%0120d', i) FROM r;
CREATE INDEX tk ON t(k);
SQL
ls -l "$dir/db" | awk '{printf "database: %.1f MiB\n", $5 / 1048576}'

query="PRAGMA mmap_size=268435456;
SELECT count(*), sum(length(v)), min(k), max(k) FROM t;
SELECT id FROM t WHERE k = 'key00123456';
UPDATE t SET v = 'changed' WHERE id % 1000 = 0;
SELECT count(*) FROM t WHERE v = 'changed';
PRAGMA integrity_check;"

cp "$dir/db" "$dir/db.pager"
cp "$dir/db" "$dir/db.orig"
echo "== sqlite3 on the kernel's mmap"
time sqlite3 "$dir/db" "$query" > "$dir/kernel.out"
cat "$dir/kernel.out"
echo "== sqlite3 under: $run --stats --shared-files -- sqlite3 ..."
time "$run" --stats --shared-files -- sqlite3 "$dir/db.pager" "$query" > "$dir/pager.out"
cat "$dir/pager.out"
if cmp -s "$dir/kernel.out" "$dir/pager.out" && cmp -s "$dir/db" "$dir/db.pager"; then
	echo "== same answers, same database file: the pager served SQLite's mappings"
else
	echo "== DIFFERENT: the pager changed what SQLite saw" >&2
	diff "$dir/kernel.out" "$dir/pager.out" >&2 || true
	exit 1
fi

# The same with a memory budget a quarter of the database: the page cache
# evicts (clean pages dropped, written ones written back first) and the
# answers stay the same.
cp "$dir/db.orig" "$dir/db.budget"
echo "== sqlite3 under: $run --stats --shared-files --budget 16M -- sqlite3 ..."
time "$run" --stats --shared-files --budget 16M -- sqlite3 "$dir/db.budget" "$query" > "$dir/budget.out"
cat "$dir/budget.out"
if cmp -s "$dir/kernel.out" "$dir/budget.out" && cmp -s "$dir/db" "$dir/db.budget"; then
	echo "== same answers, same database file, in 16 MiB of memory for a 64 MB database"
else
	echo "== DIFFERENT under a budget: the pager changed what SQLite saw" >&2
	diff "$dir/kernel.out" "$dir/budget.out" >&2 || true
	exit 1
fi
