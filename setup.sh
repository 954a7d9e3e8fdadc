#!/usr/bin/env bash
# setup.sh - the first command of the quick start: install what pager needs
# (Debian packages), build it, and run the main job: a real program (SQLite,
# with mmap on) under the pager, printing what the pager did.
#
#   ./setup.sh            install, build, run the demo
#   ./setup.sh --no-demo  install and build only
set -euo pipefail
cd "$(dirname "$0")"

# The library: meson ninja-build pkg-config gcc libc6-dev liburing-dev; its tests: check, and
# the programs they run under the pager: python3 (with its own test suite, gdbm), sqlite3,
# git, ripgrep, ag, file, util-linux (setpriv), e2fsprogs (a small file system for ENOSPC).
packages=(meson ninja-build pkg-config gcc libc6-dev liburing-dev check python3
          libpython3.11-testsuite python3-gdbm sqlite3 git util-linux e2fsprogs ripgrep
          silversearcher-ag file diffutils gawk)

say() { printf '\n== %s\n' "$*"; }

if [ "$(uname -s)" != Linux ]; then
	echo "setup.sh: pager runs on Linux only (userfaultfd, io_uring)" >&2
	exit 1
fi
if ! command -v apt-get >/dev/null; then
	echo "setup.sh: no apt-get here; install by hand: ${packages[*]}" >&2
	exit 1
fi
sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	say "installing ${missing[*]}"
	"${sudo[@]}" apt-get update -qq
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

say "building (meson + ninja) in build/"
if [ ! -f build/build.ninja ]; then
	meson setup build > build-setup.log 2>&1 || { cat build-setup.log >&2; exit 1; }
	rm -f build-setup.log
fi
ninja -C build > /dev/null || ninja -C build
echo "built: build/libpager.so, build/libpager-shim.so, build/tools/pager-run, build/tools/pager-bench"

[ "${1:-}" = --no-demo ] && exit 0
exec tools/demo.sh build
