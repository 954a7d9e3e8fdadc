#!/usr/bin/env bash
# py-budget.sh PAGER_RUN root|user - Python with 64 MiB of private anonymous
# memory (py-budget.py: mmap.mmap(-1, N, flags=MAP_PRIVATE|MAP_ANONYMOUS))
# under pager-run --budget 16M, and on the kernel: what it prints must be the
# same.  As root, --stats-json must show that the budget did its work: pages
# swapped out and read back in, and the resident memory the pager counts at
# its peak no more than the budget plus 8 MiB.
source "$(dirname "$0")/lib.sh"

PY=/usr/bin/python3 # not a pyenv shim from the caller's PATH
BUDGET_MIB=16
cp "$HERE/py-budget.py" "$in/"
program() {
	step --opts "--budget ${BUDGET_MIB}M" anon-64m "$PY" "$in/py-budget.py" 64
}
run_both

# budget_check STEP: the step ran within the budget (as root, where the
# pager served it; as nobody it stepped aside and wrote no statistics).
budget_check() {
	local name=$1 j v
	budget_stats "$name" "$BUDGET_MIB"
	j=$STATS
	[ -n "$j" ] || return 0
	v=$(json_field "$j" swap_out)
	[ "$v" -gt 0 ] || fail "step '$name': swap_out is $v: 64 MiB under a ${BUDGET_MIB} MiB budget swapped nothing out"
	v=$(json_field "$j" swap_in)
	[ "$v" -gt 0 ] || fail "step '$name': swap_in is $v: nothing was read back from swap"
	v=$(json_field "$j" swap_errors)
	[ "$v" = 0 ] || fail "step '$name': $v swap errors"
	v=$(json_field "$j" peak_resident_bytes)
	echo "$name: $(json_field "$j" swap_out) pages out, $(json_field "$j" swap_in) in," \
		"peak resident $((v >> 10)) KiB of a ${BUDGET_MIB} MiB budget"
}
budget_check anon-64m
finish
