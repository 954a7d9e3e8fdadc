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

cp "$dir/db" "$dir/db.orig"
echo "== sqlite3 on the kernel's mmap"
time sqlite3 "$dir/db" "$query" > "$dir/kernel.out"
cat "$dir/kernel.out"

# under NAME WHAT OPTIONS...: the same queries on a fresh copy under pager-run;
# the answers and the database file must be the kernel's.
under() {
	local name=$1 what=$2
	shift 2
	cp "$dir/db.orig" "$dir/db.$name"
	echo "== sqlite3 under: $run --stats $* -- sqlite3 ..."
	time "$run" --stats "$@" -- sqlite3 "$dir/db.$name" "$query" > "$dir/$name.out"
	cat "$dir/$name.out"
	if cmp -s "$dir/kernel.out" "$dir/$name.out" && cmp -s "$dir/db" "$dir/db.$name"; then
		echo "== same answers, same database file: $what"
	else
		echo "== DIFFERENT: the pager changed what SQLite saw ($*)" >&2
		diff "$dir/kernel.out" "$dir/$name.out" >&2 || true
		exit 1
	fi
}

under pager "the pager served SQLite's mappings" --shared-files
# A memory budget a quarter of the database: the page cache evicts (clean
# pages dropped, written ones written back first), the answers stay the same.
under budget "in 16 MiB of memory for a 64 MB database" --shared-files --budget 16M
