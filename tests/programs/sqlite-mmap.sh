#!/usr/bin/env bash
# sqlite-mmap.sh PAGER_RUN root|user - the sqlite3 shell reading a 90 MB database
# through PRAGMA mmap_size, on the kernel and under pager-run.  Each side
# builds its own database from the same SQL (deterministic data, no
# randomblob), then queries, updates, vacuums and checks it, each in a fresh
# process; outputs, .dump and the database files must be the same.  SQLite
# maps the file read-only and writes it with pwrite(2): reads after its own
# writes catch a stale page cache.  SQLite maps the database MAP_SHARED: the
# database is this program's alone, so pager-run is given --shared-files.
source "$(dirname "$0")/lib.sh"

MMAP="PRAGMA mmap_size=268435456;"
cat > "$in/build.sql" <<SQL
$MMAP
PRAGMA page_size=4096;
CREATE TABLE t(id INTEGER PRIMARY KEY, k TEXT, grp INTEGER, v TEXT);
WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 400000)
INSERT INTO t SELECT i, printf('key%08d', (i * 7919) % 400009), i % 97,
                     printf('%d-%0160d', i, i * 31) FROM r;
CREATE INDEX tk ON t(k);
CREATE INDEX tg ON t(grp, id);
SELECT count(*), sum(grp) FROM t;
SQL

program() {
	step --opts "$SHARED_FILES" build sqlite3 db < "$in/build.sql"
	step --opts "$SHARED_FILES" scan sqlite3 db "$MMAP SELECT count(*), sum(length(v)), sum(grp), min(k), max(k), total(id) FROM t;"
	step --opts "$SHARED_FILES" groups sqlite3 db "$MMAP SELECT grp, count(*), sum(id), max(length(v)), min(k) FROM t GROUP BY grp ORDER BY grp;"
	step --opts "$SHARED_FILES" index sqlite3 db "$MMAP
		SELECT id, k, substr(v, 1, 24) FROM t
		 WHERE k IN ('key00000001', 'key00200000', 'key00399999', 'key00123456', 'key00000000') ORDER BY k;
		SELECT count(*), sum(id) FROM t WHERE k BETWEEN 'key00100000' AND 'key00110000';
		SELECT count(*), sum(a.id) FROM t AS b JOIN t AS a ON a.k = printf('key%08d', b.id) WHERE b.id % 50 = 0;
		SELECT id FROM t WHERE grp = 42 ORDER BY id DESC LIMIT 5;"
	step --opts "$SHARED_FILES" update sqlite3 db "$MMAP
		UPDATE t SET v = 'updated-' || v WHERE grp = 5;
		SELECT changes();
		SELECT count(*), sum(length(v)) FROM t WHERE v LIKE 'updated-%';
		DELETE FROM t WHERE id % 10 = 3;
		SELECT changes();
		INSERT INTO t(k, grp, v) SELECT 'new' || id, 200, v FROM t WHERE id < 20000;
		SELECT count(*), max(id), sum(length(v)) FROM t;
		SELECT id, k, substr(v, 1, 30) FROM t WHERE id IN (5, 13, 400001, 417000) ORDER BY id;"
	step --opts "$SHARED_FILES" after-update sqlite3 db "$MMAP SELECT count(*), sum(length(v)), sum(grp) FROM t; SELECT grp, count(*) FROM t WHERE grp IN (5, 200) GROUP BY grp;"
	step --opts "$SHARED_FILES" vacuum sqlite3 db "$MMAP PRAGMA page_count; VACUUM; PRAGMA page_count; SELECT count(*), sum(id) FROM t;"
	step --opts "$SHARED_FILES" wal-write sqlite3 db "PRAGMA journal_mode=WAL; $MMAP
		UPDATE t SET grp = grp + 1000 WHERE id % 1000 = 0; SELECT changes();
		SELECT sum(grp) FROM t;"
	step --opts "$SHARED_FILES" wal-read sqlite3 db "$MMAP SELECT count(*), sum(grp) FROM t WHERE grp >= 1000; PRAGMA wal_checkpoint(TRUNCATE);"
	step --opts "$SHARED_FILES" wal-off sqlite3 db "PRAGMA journal_mode=DELETE; $MMAP SELECT sum(grp), count(*) FROM t;"
	step --opts "$SHARED_FILES" check sqlite3 db "$MMAP PRAGMA integrity_check; PRAGMA quick_check; PRAGMA foreign_key_check;"
	step --opts "$SHARED_FILES" dump sqlite3 -cmd "PRAGMA mmap_size=268435456" db .dump
}
files=(db)
run_both
finish
