#!/usr/bin/env bash
# coreutils-mmap.sh PAGER_RUN root|user - coreutils and friends on a 100 MB text
# file, on the kernel and under pager-run.  The coreutils (sort, md5sum, cmp,
# grep, tac, wc) read(2) their input and get their big buffers from malloc,
# whose mmap calls stay inside libc where no LD_PRELOAD sees them: the pager
# serves them nothing, and they must simply be unharmed (--no-faults).  The
# friends map what they read, and the pager serves them: ripgrep with --mmap,
# the silver searcher (ag, mmap and worker threads), git hash-object, file
# (libmagic maps its database) and cc1 (its garbage-collected heap is mmap'd).
# ripgrep maps its input MAP_SHARED (read-only): given --shared-files, as no
# other process writes it.
source "$(dirname "$0")/lib.sh"

for p in rg ag file; do
	command -v $p > /dev/null || { echo "$TEST: $p is missing (apt-get install ripgrep silversearcher-ag file)" >&2; exit 1; }
done
seq 1 3000000 | awk '{ printf "%07d %08x %s line %d\n", ($1 * 7919) % 1000003, ($1 * 40503) % 65536 * 65536 + $1 % 65536,
	($1 % 13 == 0 ? "thirteen" : "other"), $1 }' > "$in/big.txt"
head -c 20000000 "$in/big.txt" > "$in/part.txt"
cp "$in/big.txt" "$in/changed.txt"
printf 'X' | dd of="$in/changed.txt" bs=1 seek=99000000 conv=notrunc status=none
mkdir -p "$in/tree"
awk -v dir="$in/tree" 'NR % 5000 == 0 && NR <= 200000 { n++ }
	n > 0 && NR % 3 == 0 { print > (dir "/f" n ".txt") }' "$in/part.txt"
# A C file that keeps cc1's garbage-collected heap busy.
awk 'BEGIN { for (i = 0; i < 250; i++)
	printf "long f%d(long x) { long s = %d; for (long j = 0; j < x; j++) s += (j * %d) ^ (s >> 3); return s + %s; }\n",
		i, i, i, i ? "f" (i - 1) "(x - 1)" : "0"
	print "int main(void) { return (int)f249(3); }" }' > "$in/prog.c"
cc1=$(gcc -print-prog-name=cc1)

program() {
	step --no-faults sort sort -S 8M --parallel=2 -T . -o sorted.txt "$in/part.txt"
	step --no-faults sort-n sort -S 8M -n -k 2,2 -T . "$in/part.txt"
	step --no-faults md5sum md5sum "$in/big.txt" "$in/changed.txt"
	step --no-faults cmp-same cmp "$in/big.txt" "$in/big.txt"
	step --no-faults cmp-changed cmp "$in/big.txt" "$in/changed.txt"
	step --no-faults grep grep -c thirteen "$in/big.txt"
	step --no-faults tac tac "$in/part.txt"
	step --no-faults wc wc "$in/big.txt"
	step --opts "$SHARED_FILES" rg rg --mmap -c thirteen "$in/big.txt"
	step --opts "$SHARED_FILES" rg-lines rg --mmap -n 'line 2[0-9]{4}7$' "$in/big.txt"
	step --opts "$SHARED_FILES" rg-tree rg --mmap -j 2 --sort path -c 'f[0-9a-f]{3}0 ' "$in/tree"
	step ag ag -c thirteen "$in/big.txt"
	step --sort ag-tree ag --workers 2 --nocolor 'ff[0-9a-f]{4}8 ' "$in/tree"
	step hash-object git hash-object "$in/big.txt" "$in/changed.txt"
	step file file -b "$in/big.txt" "$in/prog.c" /usr/bin/git
	step cc1 "$cc1" -quiet -O2 "$in/prog.c" -o prog.s
}
files=(sorted.txt prog.s)
run_both
finish
