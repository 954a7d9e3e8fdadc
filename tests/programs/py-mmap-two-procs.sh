#!/usr/bin/env bash
# py-mmap-two-procs.sh PAGER_RUN root|user - one file shared by two
# unrelated processes, and changed under a mapping by other processes
# (py-mmap-two-procs.py); Python's multiprocessing.shared_memory with workers
# made by fork, spawn and forkserver (py-shared-memory.py); on the kernel and
# under pager-run.
source "$(dirname "$0")/lib.sh"

cp "$HERE/py-mmap-two-procs.py" "$HERE/py-shared-memory.py" "$in/"
program() {
	step two python3 "$in/py-mmap-two-procs.py"
	step shared-memory python3 "$in/py-shared-memory.py"
}
files=(f.bin p.bin)
run_both
finish
