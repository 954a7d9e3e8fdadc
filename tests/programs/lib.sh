# lib.sh - the harness of the whole-program tests, sourced by each test script:
#
#     source "$(dirname "$0")/lib.sh"     (the script's arguments: PAGER_RUN root|user ...)
#
# A test makes its inputs once (in $in, as root), then defines program(): a
# list of steps, each a real program run in a fresh directory, once on the
# kernel ($work/KERNEL) and once under pager-run ($work/PAGER).  Each step's
# stdout, stderr and exit status are kept; afterwards, the two sides are
# compared step by step, and so are the files named in $files.
#
#   step [--no-faults] [--sort] [--opts "PAGER-RUN OPTIONS"] NAME PROGRAM ARGS...
#       runs PROGRAM (under pager-run on the PAGER side); stdin is /dev/null
#       unless the caller redirects it.  As root, the step must make the pager
#       serve at least one fault (pager-run --stats-json), so that a shim that
#       silently steps aside cannot pass; --no-faults for programs that map
#       nothing the pager serves (coreutils read(2) their input, and glibc's
#       malloc calls mmap inside libc, where no LD_PRELOAD can see it).
#       --sort: the order of the output lines is the program's to choose
#       (worker threads); they are compared sorted.
#   plain NAME PROGRAM ARGS...
#       the same, never under pager-run (to look at what a step left behind).
#   as_who PROGRAM ARGS...
#       runs PROGRAM as the test's user, for set-up inside program().
#
# As "user" (nobody, uid 65534), both sides run unprivileged: pager-run cannot
# get a userfaultfd that serves kernel-mode faults, so it must step aside with
# exactly one clear warning line per run, and everything else must be the
# same as on the kernel.
#
# PAGER_TEST_KEEP=1 keeps the temporary directory for a post-mortem.
set -euo pipefail

if [ $# -lt 2 ] || { [ "$2" != root ] && [ "$2" != user ]; }; then
	echo "usage: $0 PAGER_RUN root|user" >&2
	exit 2
fi
ARGS=("$@")
PAGER_RUN=$(realpath "$1")
WHO=$2
shift 2 # the rest is the test's own
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TEST=$(basename "$0" .sh)-$WHO

# The same programs and the same behaviour for root and for nobody, whatever
# the caller's environment (a pyenv python in /root is not nobody's).
keep=${PAGER_TEST_KEEP:-0}
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export LC_ALL=C TZ=UTC PYTHONDONTWRITEBYTECODE=1 PYTHONHASHSEED=0
export GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.com
export GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@example.com
unset LD_PRELOAD PYTHONPATH PYTHONHOME PAGER_STATS PAGER_STATS_JSON PAGER_DISABLE \
	PAGER_STATS_PID PAGER_SHIM GIT_DIR GIT_WORK_TREE || true
for v in $(env | sed -n 's/^\(PAGER_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done
exec < /dev/null

if [ "$WHO" = root ] && [ "$(id -u)" != 0 ]; then
	echo "$TEST: needs root (the pager needs a userfaultfd that serves kernel-mode faults)" >&2
	exit 77
fi
if [ "$WHO" = user ] && [ "$(id -u)" != 0 ]; then
	echo "$TEST: needs root to become the unprivileged user" >&2
	exit 77
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/pager-$TEST.XXXXXX")
cleanup() {
	if [ "$keep" = 1 ]; then
		echo "$TEST: kept $work" >&2
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 143' TERM # a timeout: clean up too
trap 'exit 130' INT
chmod 0755 "$work"
in=$work/in
mkdir -p "$in" "$work/home" "$work/stats"
export HOME=$work/home
git config --global safe.directory '*'
git config --global init.defaultBranch main

# MAP_SHARED file mappings are served only when pager-run is told that no
# unrelated process shares the files (--shared-files), where it knows that option.
SHARED_FILES=
if "$PAGER_RUN" --help 2> /dev/null | grep -q -- '--shared-files'; then
	SHARED_FILES=--shared-files
fi

PR=$PAGER_RUN
if [ "$WHO" = user ]; then
	# nobody runs pager-run (and may preload the shim) from a copy it can read,
	# laid out as in the build tree (pager-run finds the shim at ../).
	mkdir -p "$work/bin/tools"
	cp "$PAGER_RUN" "$work/bin/tools/"
	shim=$(dirname "$PAGER_RUN")/../libpager-shim.so
	[ -e "$shim" ] && cp "$shim" "$work/bin/"
	PR=$work/bin/tools/$(basename "$PAGER_RUN")
	chmod -R a+rX "$work/bin"
fi

as_who() {
	if [ "$WHO" = user ]; then
		setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@"
	else
		"$@"
	fi
}

# The message pager-run gives when it steps aside (tools/pager-run.c).
WARNING_RE="^pager: warning: the pager steps aside, this program runs on the kernel's own paging: .*userfaultfd.*"

side=
steps=()
declare -A step_cmd step_faults step_pager step_repro

step() {
	local faults=1 opts="" plain=0 sort=0 name rc=0
	while :; do
		case $1 in
		--no-faults) faults=0; shift ;;
		--opts) opts=$2; shift 2 ;;
		--sort) sort=1; shift ;;
		--plain) plain=1; faults=0; shift ;;
		*) break ;;
		esac
	done
	name=$1; shift
	if [ "$side" = KERNEL ]; then
		if [ -n "${step_cmd[$name]+x}" ]; then
			echo "$TEST: step name '$name' used twice" >&2
			exit 2
		fi
		steps+=("$name")
		step_cmd[$name]="$*"
		step_faults[$name]=$faults
		step_pager[$name]=$((!plain))
		local -a how=()
		[ "$WHO" = user ] && how=(setpriv --reuid=65534 --regid=65534 --clear-groups --)
		# shellcheck disable=SC2206
		[ $plain = 0 ] && how+=("$PR" $opts --)
		step_repro[$name]="cd ${PWD/#$work\/KERNEL/$work\/PAGER} && $(printf '%q ' "${how[@]}" "$@")"
	fi
	local o=$work/$side/.out/$name
	local -a cmd=()
	[ "$WHO" = user ] && cmd=(setpriv --reuid=65534 --regid=65534 --clear-groups --)
	if [ "$side" = PAGER ] && [ $plain = 0 ]; then
		cmd+=("$PR")
		# shellcheck disable=SC2206
		[ -n "$opts" ] && cmd+=($opts)
		[ "$WHO" = root ] && cmd+=(--stats-json "$work/stats/$name.json")
		cmd+=(--)
	fi
	# bash's own "Bus error" report of a program killed by a signal (with its
	# pid) goes to the outer redirection, not into the program's stderr.
	local t0=$EPOCHREALTIME
	{ "${cmd[@]}" "$@" > "$o.out" 2> "$o.err"; } 2> /dev/null || rc=$?
	echo "$rc" > "$o.rc"
	if [ $sort = 1 ]; then
		sort -o "$o.out" "$o.out"
	fi
	echo "$t0 $EPOCHREALTIME" | awk '{ printf "%.2f\n", $2 - $1 }' > "$o.time"
}

plain() {
	step --plain "$@"
}

# Runs program() on both sides.  Inputs in $in must already exist.
run_both() {
	chmod -R a+rX "$in"
	chmod 0777 "$work/stats"
	for side in KERNEL PAGER; do
		mkdir -p "$work/$side/.out"
		chmod 0777 "$work/$side" "$work/$side/.out"
		[ "$WHO" = user ] && chown -R 65534:65534 "$work/$side"
		cd "$work/$side"
		program # not in a subshell: step() records the steps
	done
	cd "$work"
}

failures=0
fail() {
	echo "FAIL: $TEST: $*" >&2
	failures=$((failures + 1))
}

# Shows how two files differ: a unified diff for text, the first bytes that
# differ for anything else.
show_diff() {
	local a=$1 b=$2
	if grep -qI . "$a" 2>/dev/null && grep -qI . "$b" 2>/dev/null || [ ! -s "$a" ] || [ ! -s "$b" ]; then
		diff -u --label "kernel: $3" --label "pager: $3" "$a" "$b" | head -n 60 >&2 || true
	else
		echo "  kernel: $(stat -c %s "$a") bytes, sha256 $(sha256sum < "$a" | cut -c1-16)" >&2
		echo "  pager:  $(stat -c %s "$b") bytes, sha256 $(sha256sum < "$b" | cut -c1-16)" >&2
		cmp "$a" "$b" >&2 || true
		cmp -l "$a" "$b" 2>/dev/null | head -n 8 | sed 's/^/  (offset, kernel, pager in octal) /' >&2 || true
	fi
}

json_field() {
	python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"
}

# budget_stats STEP BUDGET_MIB: sets STATS to the statistics file of STEP if
# the pager served it (as root; as nobody it stepped aside and wrote none),
# else to nothing, after the checks every step under a budget must pass: the
# budget it was given, and a peak within it + 8 MiB.  (Not for $(...): fail
# counts in this shell.)
budget_stats() {
	local name=$1 mib=$2 v
	STATS=
	[ "$WHO" = root ] || return 0
	[ -s "$work/stats/$name.json" ] || return 0 # compare (in finish) says nothing was written
	STATS=$work/stats/$name.json
	v=$(json_field "$STATS" budget_bytes)
	[ "$v" = $((mib << 20)) ] || fail "step '$name': budget_bytes is $v, expected $((mib << 20))"
	v=$(json_field "$STATS" peak_resident_bytes)
	[ "$v" -le $(((mib + 8) << 20)) ] ||
		fail "step '$name': peak_resident_bytes is $v, more than the budget + 8 MiB ($(((mib + 8) << 20)))"
}

# Compares the two sides: every step, then every file in $files.
compare() {
	local name k p kerr perr n
	for name in "${steps[@]}"; do
		k=$work/KERNEL/.out/$name
		p=$work/PAGER/.out/$name
		local what="step '$name' ($(echo "${step_cmd[$name]}" | head -n 1 | cut -c1-100))"
		local before=$failures
		if ! cmp -s "$k.rc" "$p.rc"; then
			fail "$what: exit status $(cat "$k.rc") on the kernel, $(cat "$p.rc") under the pager"
		fi
		if ! cmp -s "$k.out" "$p.out"; then
			fail "$what: its output differs under the pager"
			show_diff "$k.out" "$p.out" "$name (stdout)"
		fi
		kerr=$k.err
		perr=$p.err
		if [ "$WHO" = user ] && [ "${step_pager[$name]}" = 1 ]; then
			n=$(grep -c "$WARNING_RE" "$perr" || true)
			if [ "$n" != 1 ]; then
				fail "$what: expected exactly one warning that the pager steps aside, got $n; stderr was:"
				sed 's/^/  | /' "$perr" | head -n 20 >&2 || true
			fi
			grep -v "$WARNING_RE" "$perr" > "$perr.rest" || true
			perr=$perr.rest
		fi
		if ! cmp -s "$kerr" "$perr"; then
			fail "$what: its stderr differs under the pager"
			show_diff "$kerr" "$perr" "$name (stderr)"
		fi
		if [ "$WHO" = root ] && [ "${step_faults[$name]}" = 1 ]; then
			if [ ! -s "$work/stats/$name.json" ]; then
				fail "$what: pager-run --stats-json wrote nothing: was the program run under the pager at all?"
			elif ! n=$(json_field "$work/stats/$name.json" faults); then
				fail "$what: --stats-json is not valid JSON:"
				head -c 600 "$work/stats/$name.json" >&2
			elif [ "$n" -le 0 ]; then
				fail "$what: the pager served no fault (it stepped aside?), so this proves nothing"
			fi
		fi
		if [ $failures != "$before" ]; then
			echo "  reproduce: ${step_repro[$name]}" | head -c 2000 >&2
			echo >&2
		fi
	done
	local f
	for f in ${files[@]+"${files[@]}"}; do
		if [ ! -e "$work/KERNEL/$f" ]; then
			fail "the kernel run left no file '$f' (a broken test?)"
		elif [ ! -e "$work/PAGER/$f" ]; then
			fail "file '$f': the kernel run made it, the pager run did not"
		elif ! cmp -s "$work/KERNEL/$f" "$work/PAGER/$f"; then
			fail "file '$f' differs after the pager run"
			show_diff "$work/KERNEL/$f" "$work/PAGER/$f" "$f"
		fi
	done
}

# The verdict; a failure says how to reproduce it by hand.
finish() {
	compare
	if [ $failures -gt 0 ]; then
		echo "$TEST: $failures failure(s).  The inputs, both runs and their outputs" \
			"(.out/STEP.{out,err,rc}) stay for the commands above with:" >&2
		echo "  PAGER_TEST_KEEP=1 $0 $(printf '%q ' "${ARGS[@]}")" >&2
		exit 1
	fi
	local total=0 name
	echo "seconds per step, kernel / pager:"
	for name in "${steps[@]}"; do
		printf '  %-16s %6s / %6s\n' "$name" "$(cat "$work/KERNEL/.out/$name.time")" \
			"$(cat "$work/PAGER/.out/$name.time")"
	done
	if [ "$WHO" = root ]; then
		for name in "${steps[@]}"; do
			[ -s "$work/stats/$name.json" ] && total=$((total + $(json_field "$work/stats/$name.json" faults)))
		done
		echo "ok: $TEST: ${#steps[@]} steps and ${#files[@]} files the same on the kernel and under the pager ($total faults served)"
	else
		echo "ok: $TEST: ${#steps[@]} steps and ${#files[@]} files the same; the pager stepped aside with one warning each time"
	fi
}
files=()
