#!/usr/bin/env bash
# git-packs.sh PAGER_RUN root|user - git reading its packs through mmap: a
# repository of 400 generated commits (git-history.py, deterministic), packed
# with git gc and repack, then log -p, fsck, grep, rev-list, cat-file, blame,
# archive and a clone; on the kernel and under pager-run, each side on its own
# copy of the repository.  Small pack windows (core.packedGitWindowSize) make
# git map and unmap pieces of the pack all the time.
source "$(dirname "$0")/lib.sh"

git init -q "$in/repo"
python3 "$HERE/git-history.py" 400 | git -C "$in/repo" fast-import --quiet
git -C "$in/repo" config pack.threads 1 # the same pack on both sides
small=(-c core.packedGitWindowSize=16k -c core.packedGitLimit=128k -c core.deltaBaseCacheLimit=64k)

program() {
	as_who cp -a "$in/repo" repo
	cd repo
	step gc git gc -q --prune=now
	step repack git repack -q -a -d -f --depth=20 --window=10
	plain packs sh -c 'sha256sum .git/objects/pack/*.pack .git/objects/pack/*.idx'
	step --no-faults verify-pack git verify-pack -v "$(ls .git/objects/pack/pack-*.idx)"
	step fsck git fsck --full --strict --no-dangling
	step log git log -p --stat --format=fuller main
	step log-small git "${small[@]}" log -p --reverse main~100
	step grep git grep -n -e 'changed in commit 3[0-9]7 ' main main~57 v3
	step grep-count git grep -c appended main~10
	step rev-list git rev-list --objects --all
	step cat-file git cat-file --batch-all-objects --batch
	step cat-small git "${small[@]}" cat-file --batch-all-objects --batch-check='%(objectname) %(objecttype) %(objectsize) %(deltabase)'
	step blame git blame -s main -- src/f07.txt
	step archive git archive --format=tar main
	step checkout git checkout -q -f main
	plain worktree sh -c 'find . -path ./.git -prune -o -type f -print | sort | xargs sha256sum'
	step clone git clone -q --no-local --bare . ../clone.git
	cd ..
	step clone-log git -C clone.git log --format='%H %T %s' --all
	step clone-fsck git -C clone.git fsck --full --no-dangling
}
files=()
run_both
finish
