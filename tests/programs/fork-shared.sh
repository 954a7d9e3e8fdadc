#!/usr/bin/env bash
# fork-shared.sh PAGER_RUN root|user FORKSHARE - forkshare.c maps a file and an
# anonymous region MAP_SHARED with plain mmap(2), forks four children that
# each fill their quarter, and prints checksums of both regions and of the
# file after munmap; on the kernel and under pager-run (with the default
# settings; with --shared-files, where pager-run has it, so that the file is
# the pager's too: alone, with four fault handler threads and no
# fault-around, and with fault-around and readahead at their largest),
# output and file compared.
source "$(dirname "$0")/lib.sh"
forkshare=$(realpath "$1")
cp "$forkshare" "$in/"

program() {
	step default "$in/forkshare" default.bin
	step --opts "$SHARED_FILES" shared-files "$in/forkshare" shared-files.bin
	step --opts "$SHARED_FILES --threads 4 --fault-around 4K --readahead-max 0" threads "$in/forkshare" threads.bin
	step --opts "$SHARED_FILES --fault-around 2M --readahead-min 2M --readahead-max 8M --io-depth 1" wide "$in/forkshare" wide.bin
}
files=(default.bin shared-files.bin threads.bin wide.bin)
run_both
finish
