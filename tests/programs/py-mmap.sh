#!/usr/bin/env bash
# py-mmap.sh PAGER_RUN root|user - Python's mmap module in every access
# mode (py-mmap.py), and GNU dbm through dbm.gnu (py-gdbm.py), on the kernel
# and under pager-run: what they print and the files they write must be the
# same.
source "$(dirname "$0")/lib.sh"

python3 -c 'import dbm.gnu' || { echo "$TEST: dbm.gnu is missing (apt-get install python3-gdbm)" >&2; exit 1; }
cp "$HERE/py-mmap.py" "$HERE/py-gdbm.py" "$in/"
program() {
	# by default, MAP_SHARED file mappings may stay the kernel's while the
	# private ones and anonymous memory are the pager's: they must agree
	mkdir -p default
	[ "$WHO" = user ] && chown 65534:65534 default
	cd default
	step mmap python3 "$in/py-mmap.py"
	cd ..
	step --opts "$SHARED_FILES" mmap-shared-files python3 "$in/py-mmap.py"
	step --opts "$SHARED_FILES" gdbm python3 "$in/py-gdbm.py"
}
files=(default/big.bin default/work.bin default/res.bin default/short.bin
	big.bin work.bin res.bin short.bin gdbm.db)
run_both
finish
