#!/usr/bin/env bash
# sqlite-two-procs.sh PAGER_RUN root|user - a Python program keeps an
# SQLite connection open (reading through PRAGMA mmap_size) while separate
# sqlite3 processes change the database (sqlite-two-procs.py), in
# rollback-journal and in WAL mode (whose -shm index every process maps
# MAP_SHARED); on the kernel and under pager-run.
source "$(dirname "$0")/lib.sh"

cp "$HERE/sqlite-two-procs.py" "$in/"
program() {
	mkdir -p delete wal
	[ "$WHO" = user ] && chown 65534:65534 delete wal
	cd delete
	step delete python3 "$in/sqlite-two-procs.py" DELETE
	cd ../wal
	step wal python3 "$in/sqlite-two-procs.py" WAL
	cd ..
	plain check-delete sqlite3 delete/two.db 'PRAGMA integrity_check; SELECT count(*), sum(length(v)) FROM t;'
	plain check-wal sqlite3 wal/two.db 'PRAGMA integrity_check; SELECT count(*), sum(length(v)) FROM t;'
}
files=(delete/two.db)
run_both
finish
