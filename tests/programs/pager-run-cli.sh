#!/usr/bin/env bash
# pager-run-cli.sh PAGER_RUN root|user - pager-run itself: --help, --version, bad
# options and values, a program that cannot run, exit statuses and deaths by
# signal passed through as the shell reports them without pager-run, --stats,
# --stats-json, --budget, --swap-file and --swap-size, arguments and stdin
# passed through untouched.  As the
# unprivileged user: the same, and exactly one clear warning when it steps
# aside; also the shim preloaded by hand, which must step aside alone, once
# per process.
source "$(dirname "$0")/lib.sh"
cd "$work"
chmod 0777 "$work"

n=0
out=$work/out
err=$work/err
rc=0

# run CMD...: runs it as the test's user; $rc, $out and $err hold the result.
run() {
	rc=0
	local -a pre=()
	[ "$WHO" = user ] && pre=(setpriv --reuid=65534 --regid=65534 --clear-groups --)
	{ "${pre[@]}" "$@" > "$out" 2> "$err"; } 2> /dev/null || rc=$?
}

# expect WHAT RC [stdout ERE|-] [stderr ERE|-]: checks the last run.
expect() {
	local what=$1 want=$2 so=${3:--} se=${4:--}
	n=$((n + 1))
	if [ "$rc" != "$want" ]; then
		fail "$what: exit status $rc, expected $want"
	elif [ "$so" != - ] && ! grep -Eq -- "$so" "$out"; then
		fail "$what: stdout does not match /$so/"
	elif [ "$se" != - ] && ! grep -Eq -- "$se" "$err"; then
		fail "$what: stderr does not match /$se/"
	else
		return 0
	fi
	sed 's/^/  stdout| /' "$out" | head -n 15 >&2 || true
	sed 's/^/  stderr| /' "$err" | head -n 15 >&2 || true
	return 0
}

# The warning of a run that stepped aside: one line as "user", none as root.
expect_warnings() {
	local what=$1 c
	c=$(grep -c '^pager:' "$err" || true)
	n=$((n + 1))
	if [ "$WHO" = user ]; then
		if [ "$c" != 1 ] || ! grep -Eq "$WARNING_RE" "$err"; then
			fail "$what: expected exactly one warning that the pager steps aside, got:"
			sed 's/^/  stderr| /' "$err" >&2
		elif ! grep -q 'Run as root, grant read-write access to /dev/userfaultfd' "$err"; then
			fail "$what: the warning does not say what to do:"
			sed 's/^/  stderr| /' "$err" >&2
		fi
	elif [ "$c" != 0 ] && [ "${2:-}" != stats ]; then
		fail "$what: the pager complained:"
		sed 's/^/  stderr| /' "$err" >&2
	fi
}

# ---- usage, version, bad options ----
run "$PR" --help
expect "--help" 0 '^Usage: pager-run \[OPTIONS\] \[--\] PROGRAM \[ARGS\.\.\.\]'
[ -s "$err" ] && fail "--help wrote to stderr: $(cat "$err")"
grep -q -- '--stats-json FILE' "$out" || fail "--help does not list --stats-json"
for o in '--budget SIZE' '--swap-file PATH' '--swap-size SIZE'; do
	grep -q -- "$o" "$out" || fail "--help does not list $o"
done
run "$PR" -h
expect "-h" 0 '^Usage: pager-run'
run "$PR" --version
expect "--version" 0 '^pager-run [0-9]+\.[0-9]+\.[0-9]+$'
run "$PR" -V
expect "-V" 0 '^pager-run [0-9]+\.[0-9]+\.[0-9]+$'

for bad in "--no-such-option" "-x" "--threads 0" "--threads 65" "--threads many" "--io-depth 0" \
	"--fault-around 12Q" "--min-anon -1" "--readahead-max 1X" "--log loud" \
	"--budget 1X" "--budget abc" "--budget -1" "--swap-size 12Q" "--daemon"; do
	# shellcheck disable=SC2086
	run "$PR" $bad -- true
	expect "bad option '$bad'" 2 - "Try 'pager-run --help'"
	[ -s "$out" ] && fail "bad option '$bad' wrote to stdout: $(cat "$out")"
done
# Values of the right form but out of the range the shim accepts (src/config.c):
# refused here, not turned into a warning of the shim's while the program runs.
for bad in "--fault-around 0" "--fault-around 128M" "--readahead-min 2G" "--readahead-max 2G" \
	"--readahead-max 1T"; do
	# shellcheck disable=SC2086
	run "$PR" $bad -- true
	expect "out-of-range value '$bad'" 2 - "Try 'pager-run --help'"
done
run "$PR" --stats-json
expect "--stats-json without its file" 2 - "Try 'pager-run --help'"
run "$PR" --swap-file
expect "--swap-file without its path" 2 - "Try 'pager-run --help'"
run "$PR" --budget
expect "--budget without its size" 2 - "Try 'pager-run --help'"
run "$PR" --threads 0 true
expect "--threads 0 names the option and the range" 2 - "threads.*(1|64)"
run "$PR" --daemon true
expect "--daemon is refused clearly" 2 - "--daemon: pagerd is not built"
# A memory budget: 0 (no limit) or at least 4M; the swap file at most 16T, at
# least 1M; its path must not exist.  Each refusal names the option.
for bad in "--budget 1M" "--budget 4000K" "--budget 1" "--budget 2048T" "--budget abc" \
	"--swap-size 0" "--swap-size 512K" "--swap-size 17T" "--swap-size big"; do
	# shellcheck disable=SC2086
	run "$PR" $bad -- true
	expect "bad value '$bad' names the option" 2 - "^pager-run: ${bad%% *}: bad size '${bad#* }'"
	[ -s "$out" ] && fail "bad value '$bad' wrote to stdout: $(cat "$out")"
done
run "$PR" --budget 1M -- true
expect "--budget 1M says what is allowed" 2 - "0 for no limit, or from 4M"
: > "$work/existing"
run "$PR" --budget 16M --swap-file "$work/existing" -- true
expect "--swap-file of an existing file is refused" 2 - "^pager-run: --swap-file: .*existing.* exists"
run "$PR" --swap-file '' -- true
expect "--swap-file ''" 2 - "^pager-run: --swap-file: an empty path"
run env PAGER_BUDGET=1M "$PR" -- true
expect "PAGER_BUDGET=1M in the environment" 2 - "PAGER_BUDGET"
run env PAGER_SWAP_SIZE=0 "$PR" -- true
expect "PAGER_SWAP_SIZE=0 in the environment" 2 - "PAGER_SWAP_SIZE"
run "$PR"
expect "no program" 2 - "no program"
run "$PR" --
expect "-- and no program" 2 - "no program"

run "$PR" --shared-files -- true
expect "--shared-files" 0
expect_warnings "--shared-files"

# Good values: the program runs, and its exit status is its own.
for good in "--budget 64M" "--budget 0" "--budget 4M" "--budget 4095K" "--budget 1G --swap-size 1M" \
	"--budget 64M --swap-size 16G --swap-file $work/swap-ok"; do
	# shellcheck disable=SC2086
	run "$PR" $good -- sh -c 'echo ran; exit 7'
	expect "'$good' runs the program" 7 '^ran$'
	expect_warnings "'$good'"
done
n=$((n + 1))
[ -e "$work/swap-ok" ] && fail "--swap-file: the swap file outlived the program"

# ---- a program that cannot run ----
run "$PR" -- /nonexistent/program
expect "a missing program" 127 - "/nonexistent/program"
run "$PR" -- no-such-program-anywhere
expect "a program not in PATH" 127 - "no-such-program-anywhere"
printf '#!/bin/sh\necho hi\n' > "$work/noexec"
chmod 0644 "$work/noexec"
run "$PR" -- "$work/noexec"
expect "a file without execute permission" 126 - "noexec"
run "$PR" -- "$work"
expect "a directory" 126 - "$work"

# ---- exit statuses and signals: as the shell reports them without pager-run ----
for script in 'exit 0' 'exit 7' 'exit 255' 'kill -TERM $$' 'kill -KILL $$' 'kill -INT $$' \
	'ulimit -c 0; kill -SEGV $$' 'ulimit -c 0; kill -BUS $$' 'ulimit -c 0; kill -ABRT $$'; do
	run sh -c "$script"
	want=$rc
	run "$PR" -- sh -c "$script"
	expect "sh -c '$script' (the shell says $want)" "$want"
	expect_warnings "sh -c '$script'"
done
run "$PR" -- sh -c 'exit 7'
expect "sh -c 'exit 7'" 7
run "$PR" -- sh -c 'kill -TERM $$'
expect "sh -c 'kill -TERM \$\$'" 143
run "$PR" -- python3 -c 'import mmap, os, signal; m = mmap.mmap(-1, 8 << 20); m[0] = 1; os.kill(os.getpid(), signal.SIGTERM)'
expect "a program with pager mappings killed by SIGTERM" 143

# ---- arguments, stdin, stdout and the environment passed through ----
run "$PR" -- printf '%s|' a 'b c' --help -- '' '*'
expect "arguments" 0 '^a\|b c\|--help\|--\|\|\*\|$'
expect_warnings "arguments"
run "$PR" printf '%s|' --version
expect "options after the program are the program's" 0 '^--version\|$'
printf 'line one\nline two\n' > "$work/stdin.txt"
rc=0
{ as_who "$PR" -- sha256sum < "$work/stdin.txt" > "$out" 2> "$err"; } 2> /dev/null || rc=$?
expect "stdin" 0 "^$(sha256sum < "$work/stdin.txt" | cut -c1-64) "
run env PAGER_TEST_VAR='x y' "$PR" -- sh -c 'echo "$PAGER_TEST_VAR"'
expect "the environment" 0 '^x y$'
run "$PR" -- python3 -c 'import sys; sys.stdout.write("no newline"); sys.stderr.write("to stderr\n"); sys.exit(3)'
expect "stdout, stderr and exit status of one program" 3 '^no newline$' '^to stderr$'
if [ "$WHO" = root ]; then
	run "$PR" -v -- true
	expect "-v says what it preloads" 0 - 'LD_PRELOAD=.*libpager-shim\.so'
	run env LD_PRELOAD=libm.so.6 "$PR" -- sh -c 'echo "$LD_PRELOAD"'
	expect "an LD_PRELOAD of the caller's is kept" 0 'libpager-shim\.so:libm\.so\.6$'
	run env PAGER_SHIM=/nonexistent/shim.so "$PR" -- true
	expect "PAGER_SHIM pointing nowhere" 126 - "/nonexistent/shim.so"
fi

# ---- --stats and --stats-json ----
MAPPER=(python3 -c 'import mmap
with open("/usr/bin/python3", "rb") as f:
    m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)  # MAP_PRIVATE
    print(len(m) > 0, sum(m[::4096]) >= 0)')
run "${MAPPER[@]}"
plain_out=$(cat "$out")
run "$PR" --stats -- "${MAPPER[@]}"
expect "--stats" 0 '^True True$'
[ "$(cat "$out")" = "$plain_out" ] || fail "--stats changed the program's stdout"
if [ "$WHO" = root ]; then
	expect "--stats: a summary on stderr" 0 - '^pager: [1-9][0-9]* faults: '
	expect "--stats: peak resident" 0 - '^pager: peak resident [0-9.]+ MiB$'
	expect "--stats: latency" 0 - '^pager: fault latency'
else
	expect_warnings "--stats"
	expect "--stats as a user: says nothing was served" 0 - 'stepped aside|steps aside'
fi
run "$PR" --stats -- bash -c '"$@"; "$@"' bash "${MAPPER[@]}"
if [ "$WHO" = root ]; then
	c=$(grep -c '^pager: peak resident' "$err" || true)
	n=$((n + 1))
	[ "$c" = 1 ] || fail "--stats with child processes: $c summaries, expected one (for the program pager-run started)"
fi
# coreutils close stderr at exit (gnulib's close_stdout): the summary must still appear.
seq 1 100000 > "$work/numbers"
run "$PR" --stats -- sort -n -r "$work/numbers"
expect "--stats on sort" 0 '^100000$'
if [ "$WHO" = root ]; then
	expect "--stats on sort: a summary although sort closes its stderr at exit" 0 - '^pager: peak resident'
fi

json=$work/stats.json
rm -f "$json"
run "$PR" --stats-json "$json" -- "${MAPPER[@]}"
expect "--stats-json" 0 '^True True$'
[ "$(cat "$out")" = "$plain_out" ] || fail "--stats-json changed the program's stdout"
n=$((n + 1))
if [ "$WHO" = root ]; then
	if [ ! -s "$json" ]; then
		fail "--stats-json wrote nothing"
	elif ! python3 -m json.tool "$json" > /dev/null 2> "$work/json.err"; then
		fail "--stats-json wrote invalid JSON: $(cat "$work/json.err"): $(head -c 400 "$json")"
	elif ! python3 - "$json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
need = ['pid', 'faults', 'anon_zero', 'anon_write', 'file_hit', 'file_miss', 'readahead',
        'readahead_pages', 'sigbus', 'pages_installed', 'pages_read', 'bytes_read',
        'peak_rss_kib', 'swap_faults', 'swapcache_hits', 'swap_in', 'swap_readahead',
        'swap_out', 'swap_clean', 'reclaim_scanned', 'reclaim_deactivated', 'file_dropped', 'file_written',
        'swap_errors', 'budget_waits', 'unevictable', 'resident_bytes',
        'peak_resident_bytes', 'swapcache_bytes', 'swap_used_bytes', 'budget_bytes',
        'latency_ns']
missing = [k for k in need if k not in d]
bad = [k for k in need[:-1] if k in d and not (isinstance(d[k], int) and d[k] >= 0)]
assert not missing, 'missing %s' % missing
assert not bad, 'not a count: %s' % bad
assert d['faults'] > 0 and d['pages_read'] > 0 and d['bytes_read'] > 0, 'nothing served: %s' % d
assert d['budget_bytes'] == 0 and d['swap_out'] == 0, 'a budget without --budget: %s' % d
assert set(d['latency_ns']) == {'p50', 'p90', 'p99', 'max'}, d['latency_ns']
assert d['latency_ns']['p50'] <= d['latency_ns']['p99'] <= d['latency_ns']['max'], d['latency_ns']
PY
	then
		fail "--stats-json: unexpected content: $(cat "$json")"
	fi
	rm -f "$json"
	run "$PR" --stats-json "$json" -- sort -n "$work/numbers"
	python3 -m json.tool "$json" > /dev/null 2>&1 || fail "--stats-json for a program that maps nothing: no valid JSON"
	run "$PR" --stats-json /nonexistent/dir/s.json -- python3 -c 'import sys; sys.exit(3)'
	expect "--stats-json to a path that cannot be written: the status is the program's" 3 - 's\.json'
	# dash ends with _exit(2), past the shim's destructor: no statistics then
	# (a known limitation, in the README); the status must still be the program's.
	rm -f "$json"
	run "$PR" --stats-json "$json" -- sh -c 'exit 3'
	expect "--stats-json on sh -c 'exit 3'" 3
else
	expect_warnings "--stats-json"
fi

# ---- --budget with a program that needs more: pages go to swap and come back ----
# 32 MiB of private anonymous memory written twice under a 16 MiB budget; the
# program checks every page and that the swap file has no name while it runs.
SWAPPER=(python3 -c 'import mmap, os, sys
n = 32 << 20
m = mmap.mmap(-1, n, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
for r in range(2):
    for i in range(0, n, 4096):
        m[i:i + 8] = (i + r).to_bytes(8, "little")
bad = sum(int.from_bytes(m[i:i + 8], "little") != i + 1 for i in range(0, n, 4096))
print("bad pages:", bad, "swap file seen:", os.path.exists(sys.argv[1]))
sys.exit(5)' "$work/swap-big")
rm -f "$json"
run "$PR" --stats --stats-json "$json" --budget 16M --swap-file "$work/swap-big" --swap-size 256M \
	-- "${SWAPPER[@]}"
expect "--budget 16M with 32 MiB written" 5 '^bad pages: 0 swap file seen: False$'
n=$((n + 1))
[ -e "$work/swap-big" ] && fail "--budget 16M: the swap file outlived the program"
if [ "$WHO" = root ]; then
	expect "--budget 16M: --stats reports the budget" 5 - '^pager: budget 16\.0 MiB: resident '
	expect "--budget 16M: --stats reports swap" 5 - '^pager: swap: [1-9][0-9]* pages \([0-9.]+ MiB\) out'
	n=$((n + 1))
	c=$(grep -c '^pager: peak resident' "$err" || true)
	[ "$c" = 1 ] || fail "--budget 16M --stats: $c 'peak resident' lines, expected one"
	n=$((n + 1))
	python3 - "$json" <<'PY' || fail "--budget 16M --stats-json: unexpected content: $(cat "$json")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d['budget_bytes'] == 16 << 20, d
assert d['swap_out'] > 0 and d['swap_in'] > 0, d
assert d['swap_errors'] == 0, d
PY
else
	expect_warnings "--budget 16M" stats
fi

# ---- the shim preloaded by hand, without pager-run ----
shim=$(dirname "$PR")/../libpager-shim.so
FORKER=(python3 -c 'import mmap, os
a = mmap.mmap(-1, 4 << 20)
a[0:2] = b"ok"
pid = os.fork()
if pid == 0:
    b = mmap.mmap(-1, 4 << 20)
    b[0] = 1
    a[2:4] = b"!!"
    os._exit(0)
os.waitpid(pid, 0)
print(a[0:4].decode())')
run env LD_PRELOAD="$shim" "${FORKER[@]}"
expect "the shim preloaded by hand, a process that forks" 0 '^ok!!$'
expect_warnings "the shim preloaded by hand (one warning for the process and its forked child)"
run env LD_PRELOAD="$shim" PAGER_DISABLE=1 "${FORKER[@]}"
expect "PAGER_DISABLE=1" 0 '^ok!!$'
n=$((n + 1))
[ -s "$err" ] && fail "PAGER_DISABLE=1: the shim said something: $(cat "$err")"

if [ $failures -gt 0 ]; then
	echo "$TEST: $failures of $n checks failed (pager-run is $PR, run as $WHO)" >&2
	exit 1
fi
echo "ok: $TEST: $n checks"
