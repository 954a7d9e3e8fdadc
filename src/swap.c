/*
 * swap.c - the swap file, its slot map and the swap cache's staging area
 * (see swap.h).
 */
#include "swap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kmem.h"
#include "log.h"
#include "sys.h"

static int open_file(struct swap *s, const char *path, char *err, size_t errlen)
{
	if (path) {
		snprintf(s->path, sizeof(s->path), "%s", path);
		s->fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (s->fd < 0) {
			int e = errno;

			snprintf(err, errlen, "swap file \"%s\" (PAGER_SWAP_FILE, --swap-file): %s%s", path, strerror(e),
				 e == EEXIST ? " (an existing file is never reused as swap)" : "");
			return -e;
		}
	} else {
		const char *dir = getenv("TMPDIR");

		if (!dir || !*dir)
			dir = "/var/tmp";
		snprintf(s->path, sizeof(s->path), "%s/pager-swap.XXXXXX", dir);
		s->fd = mkostemp(s->path, O_CLOEXEC);
		if (s->fd < 0) {
			int e = errno;

			snprintf(err, errlen, "cannot create a swap file in %s: %s (set PAGER_SWAP_FILE)",
				 dir, strerror(e));
			return -e;
		}
		fchmod(s->fd, 0600);
	}
	/* No name: the file goes with the process, however it ends. */
	unlink(s->path);
	return 0;
}

int swap_open(struct swap *s, struct mm *mm, const char *path, size_t bytes, char *err,
	      size_t errlen)
{
	size_t map_len;
	int rc, fl;

	memset(s, 0, sizeof(*s));
	s->fd = -1;
	s->nr_slots = (uint32_t)(bytes >> PAGE_SHIFT > UINT32_MAX - 1 ? UINT32_MAX - 1 : bytes >> PAGE_SHIFT);
	rc = open_file(s, path, err, errlen);
	if (rc)
		return rc;
	/* Sparse: disk is used as pages are written. */
	if (ftruncate(s->fd, (off_t)s->nr_slots << PAGE_SHIFT)) {
		rc = -errno;
		snprintf(err, errlen, "sizing the swap file %s: %s", s->path, strerror(errno));
		goto fail;
	}
	/* Swap bypasses the kernel's page cache, as the kernel's own does. */
	fl = fcntl(s->fd, F_GETFL);
	s->direct = fl >= 0 && fcntl(s->fd, F_SETFL, fl | O_DIRECT) == 0;
	if (!s->direct)
		pr_info("swap file %s: no O_DIRECT here, writes go through the kernel's cache", s->path);

	map_len = sizeof(struct swap_shared) + (size_t)s->nr_slots * sizeof(uint16_t);
	s->shared = sys_mmap(NULL, map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (s->shared == MAP_FAILED) {
		s->shared = NULL;
		rc = -errno;
		snprintf(err, errlen, "swap map: %s", strerror(errno));
		goto fail;
	}
	s->map = (uint16_t *)(s->shared + 1);
	s->cache = kcalloc(s->nr_slots, 1);
	s->owner = kcalloc(s->nr_slots, sizeof(*s->owner));
	s->sums = kcalloc(s->nr_slots, sizeof(*s->sums));
	if (!s->cache || !s->owner || !s->sums) {
		rc = -ENOMEM;
		snprintf(err, errlen, "swap cache map: out of memory");
		goto fail;
	}
	s->stage = sys_mmap(NULL, (size_t)s->nr_slots << PAGE_SHIFT, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (s->stage == MAP_FAILED) {
		s->stage = NULL;
		rc = -errno;
		snprintf(err, errlen, "swap cache staging area: %s", strerror(errno));
		goto fail;
	}
	/* Never a huge page here: a slot is moved in and out one 4 KiB page at a time. */
	sys_madvise(s->stage, (size_t)s->nr_slots << PAGE_SHIFT, MADV_NOHUGEPAGE);
	rc = swap_register(s, mm);
	if (rc) {
		snprintf(err, errlen, "registering the swap cache: %s", strerror(-rc));
		goto fail;
	}
	return 0;
fail:
	swap_close(s);
	return rc;
}

int swap_register(struct swap *s, struct mm *mm)
{
	return uffd_register(&mm->uffd, (uintptr_t)s->stage, (size_t)s->nr_slots << PAGE_SHIFT,
			     UFFDIO_REGISTER_MODE_MISSING);
}

void swap_close(struct swap *s)
{
	if (s->stage)
		sys_munmap(s->stage, (size_t)s->nr_slots << PAGE_SHIFT);
	if (s->shared)
		sys_munmap(s->shared, sizeof(struct swap_shared) + (size_t)s->nr_slots * sizeof(uint16_t));
	kfree(s->cache);
	kfree(s->owner);
	kfree(s->sums);
	if (s->fd >= 0)
		close(s->fd);
	memset(s, 0, sizeof(*s));
	s->fd = -1;
}

static bool take_slot(struct swap *s, swp_entry_t e)
{
	uint16_t zero = 0;

	if (!__atomic_compare_exchange_n(&s->map[e], &zero, 2, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_RELAXED))
		return false;
	__atomic_add_fetch(&s->shared->nr_used, 1, __ATOMIC_RELAXED);
	return true;
}

uint32_t swap_alloc(struct swap *s, uint32_t want, swp_entry_t *first)
{
	uint32_t scanned = 0, got = 0;

	if (swap_used(s) >= s->nr_slots)
		return 0;
	while (scanned < s->nr_slots) {
		swp_entry_t e = s->cursor;

		if (e >= s->nr_slots)
			e = s->cursor = 0;
		scanned++;
		s->cursor = e + 1;
		/* A slot our swap cache still holds is counted, so it is never taken here. */
		if (!take_slot(s, e))
			continue;
		*first = e;
		got = 1;
		while (got < want && e + got < s->nr_slots && take_slot(s, e + got))
			got++;
		s->cursor = e + got;
		return got;
	}
	return 0;
}

void swap_dup(struct swap *s, swp_entry_t e)
{
	__atomic_add_fetch(&s->map[e], 1, __ATOMIC_ACQ_REL);
}

unsigned swap_free(struct swap *s, swp_entry_t e)
{
	unsigned left = __atomic_sub_fetch(&s->map[e], 1, __ATOMIC_ACQ_REL);

	if (left == 0)
		__atomic_sub_fetch(&s->shared->nr_used, 1, __ATOMIC_RELAXED);
	else if (left == 0xffff)
		pr_err("swap slot %u freed more often than taken", e);
	return left;
}

void page_sum(const void *page, struct page_sum *out)
{
	const uint64_t *w = page;
	uint64_t a = 0x9e3779b97f4a7c15ULL, b = 0xc2b2ae3d27d4eb4fULL;

	/* Each step is a bijection of the word: a change of one word always shows. */
	for (size_t i = 0; i < PAGE_SIZE / sizeof(*w); i++) {
		a = (a ^ w[i]) * 0xff51afd7ed558ccdULL;
		a ^= a >> 32;
		b = (b + w[i] + i) * 0xc4ceb9fe1a85ec53ULL;
		b = (b << 29) | (b >> 35);
	}
	out->a = a;
	out->b = b;
}
