#!/usr/bin/env bash
# bench-programs.sh [BUILD_DIR] [ROWS] - whole-program benchmark: the same
# SQLite queries over a database (~250 MB at the default 1.6 M rows) with
# PRAGMA mmap_size on, on the kernel and under pager-run, file cached; the
# median of 5 runs of each, interleaved, and the ratio.
set -euo pipefail
build=${1:-build}; rows=${2:-1600000}
run=$(realpath "$build/tools/pager-run")
dir=$(mktemp -d "${TMPDIR:-/var/tmp}/pager-bench-programs.XXXXXX")
trap 'rm -rf "$dir"' EXIT
sqlite3 "$dir/db" <<SQL
PRAGMA page_size=4096;
CREATE TABLE t(id INTEGER PRIMARY KEY, k TEXT, v TEXT);
WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM r WHERE i < $rows)
INSERT INTO t SELECT i, printf('key%08d', (i * 7919) % $rows), printf('%0120d', i) FROM r;
CREATE INDEX tk ON t(k);
SQL
size=$(stat -c %s "$dir/db")
cat "$dir/db" > /dev/null   # cached
query="PRAGMA mmap_size=1073741824; SELECT count(*), sum(length(v)) FROM t; SELECT count(*) FROM t WHERE k > 'key00500000';"
t() { local s e; s=$(date +%s%N); "$@" > /dev/null; e=$(date +%s%N); echo $(( (e - s) / 1000000 )); }
k=(); p=()
for i in 1 2 3 4 5; do
	k+=("$(t sqlite3 "$dir/db" "$query")")
	p+=("$(t "$run" --shared-files -- sqlite3 "$dir/db" "$query")")
done
med() { printf '%s\n' "$@" | sort -n | sed -n 3p; }
km=$(med "${k[@]}"); pm=$(med "${p[@]}")
echo "sqlite3, $((size / 1048576)) MiB database, mmap on, file cached; 5 runs each, median"
echo "kernel:    ${km} ms   (runs: ${k[*]})"
echo "pager-run: ${pm} ms   (runs: ${p[*]})"
awk -v a="$pm" -v b="$km" 'BEGIN { printf "ratio pager/kernel: %.2fx\n", a / b }'
"$run" --stats --shared-files -- sqlite3 "$dir/db" "$query" > /dev/null
