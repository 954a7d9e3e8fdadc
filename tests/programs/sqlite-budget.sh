#!/usr/bin/env bash
# sqlite-budget.sh PAGER_RUN root|user - the sqlite3 shell reading a 64 MiB
# database through PRAGMA mmap_size under pager-run --budget 16M, and on the
# kernel: full scans, sums over columns, indexed lookups, an UPDATE of a
# seventh of the rows (each takes the next row's blob, of another length)
# committed, the same queries again, and
# PRAGMA integrity_check, each in a fresh process.  Outputs and the database
# file must be the same.  The database is four times the budget, so every
# scan makes the page cache drop pages that later queries read again from the
# file (after the UPDATE: the bytes SQLite wrote there with pwrite(2)).  As
# root, --stats-json must show file pages dropped and the resident memory the
# pager counts at its peak no more than the budget plus 8 MiB.  SQLite maps
# the database MAP_SHARED: it is this program's alone (--shared-files).
source "$(dirname "$0")/lib.sh"

BUDGET_MIB=16
# Random blobs, made once (as root, on the kernel) and copied to each side.
sqlite3 "$in/db" > /dev/null <<'SQL'
PRAGMA page_size=4096;
PRAGMA journal_mode=OFF;
PRAGMA synchronous=OFF;
CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER, grp INTEGER, b BLOB);
WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 54000)
INSERT INTO t SELECT i, (i * 7919) % 54001, i % 101, randomblob(900 + i % 200) FROM r;
CREATE INDEX tk ON t(k);
SQL
size=$(stat -c %s "$in/db")
if [ "$size" -lt $((60 << 20)) ]; then
	echo "$TEST: the database is only $size bytes: a broken test?" >&2
	exit 1
fi

MMAP="PRAGMA mmap_size=268435456;"
# Reads every page of the table (hex(b) reads every blob byte), then looks
# rows up through the index.
SCAN="SELECT count(*), sum(grp), sum(length(b)), sum(instr(hex(b), 'FF00')),
	     count(*) FILTER (WHERE b >= x'80'), total(k) FROM t;"
LOOKUP="SELECT id, k, grp, length(b), hex(substr(b, 1, 8)), hex(substr(b, -4)) FROM t
	 WHERE k IN (1, 7919, 27000, 53999, 54000, 12345) ORDER BY k;
	SELECT count(*), sum(id), sum(grp) FROM t WHERE k BETWEEN 20000 AND 20250;
	SELECT count(*), sum(k), min(k), max(k) FROM t INDEXED BY tk WHERE k >= 0;"
OPTS="$SHARED_FILES --budget ${BUDGET_MIB}M"

program() {
	as_who cp "$in/db" db
	step --opts "$OPTS" scan sqlite3 db "$MMAP $SCAN $LOOKUP $SCAN"
	step --opts "$OPTS" update sqlite3 db "$MMAP
		BEGIN;
		UPDATE t SET grp = grp + 1000, b = (SELECT o.b FROM t AS o WHERE o.id = t.id % 54000 + 1)
		 WHERE id % 7 = 0;
		SELECT changes();
		COMMIT;
		$SCAN $LOOKUP"
	step --opts "$OPTS" after-update sqlite3 db "$MMAP $SCAN $LOOKUP
		SELECT count(*), min(grp), max(grp) FROM t WHERE grp >= 1000;"
	step --opts "$OPTS" integrity sqlite3 db "$MMAP PRAGMA integrity_check; SELECT count(*) FROM t;"
}
files=(db)
run_both

# budget_check STEP: the step ran within the budget (as root, where the
# pager served it; as nobody it stepped aside and wrote no statistics).
budget_check() {
	local name=$1 j v
	budget_stats "$name" "$BUDGET_MIB"
	j=$STATS
	[ -n "$j" ] || return 0
	v=$(json_field "$j" file_dropped)
	[ "$v" -gt 0 ] || fail "step '$name': file_dropped is $v: a $((size >> 20)) MiB database under a ${BUDGET_MIB} MiB budget evicted nothing"
	v=$(json_field "$j" peak_resident_bytes)
	echo "$name: $(json_field "$j" pages_read) pages read, $(json_field "$j" file_dropped) dropped," \
		"peak resident $((v >> 10)) KiB of a ${BUDGET_MIB} MiB budget"
}
for s in scan update after-update integrity; do
	budget_check "$s"
done
# (the first line is PRAGMA mmap_size's answer)
grep -qx ok "$work/PAGER/.out/integrity.out" ||
	fail "PRAGMA integrity_check under the pager did not say ok: $(head -c 300 "$work/PAGER/.out/integrity.out")"
finish
