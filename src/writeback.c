/*
 * writeback.c - stores through MAP_SHARED mappings reach the file (see
 * writeback.h).
 */
#include "sys.h"
#include "writeback.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kmem.h"
#include "log.h"

#define SCAN_REGIONS 64
#define COPY_BYTES (1 << 20)

/* Caller holds as->wb_lock. */
static int dirty_add(struct address_space *as, pgoff_t start, pgoff_t end)
{
	if (as->nr_dirty && as->dirty[as->nr_dirty - 1].end == start) {
		as->dirty[as->nr_dirty - 1].end = end; /* the common case: scans go up */
		return 0;
	}
	if (as->nr_dirty == as->cap_dirty) {
		size_t cap = as->cap_dirty ? as->cap_dirty * 2 : 64;
		struct wb_range *n = krealloc(as->dirty, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		as->dirty = n;
		as->cap_dirty = cap;
	}
	as->dirty[as->nr_dirty++] = (struct wb_range){ start, end };
	return 0;
}

int writeback_collect(struct mm *mm, struct vma *v, uintptr_t start, uintptr_t end)
{
	struct address_space *as = v->mapping;
	struct page_region r[SCAN_REGIONS];
	int rc = 0;

	if (start < v->start)
		start = v->start;
	if (end > v->end)
		end = v->end;
	pthread_mutex_lock(&as->wb_lock);
	while (start < end) {
		uintptr_t next = end;
		long n = mm->ops->scan_written(mm, start, end, r, SCAN_REGIONS, &next);

		if (n < 0) {
			rc = (int)n;
			pr_err("cannot scan %#lx-%#lx for written pages: %s", (unsigned long)start,
			       (unsigned long)end, strerror((int)-n));
			break;
		}
		for (long k = 0; k < n && !rc; k++)
			rc = dirty_add(as, v->pgoff + vma_page(v, r[k].start),
				       v->pgoff + vma_page(v, r[k].end));
		if (rc || next <= start)
			break;
		start = next;
	}
	pthread_mutex_unlock(&as->wb_lock);
	return rc;
}

/* Copy file pages [start, end) from the cache to the file, up to its current end. */
static int write_range(struct address_space *as, char *buf, pgoff_t start, pgoff_t end, off_t size)
{
	off_t pos = (off_t)(start << PAGE_SHIFT), stop = (off_t)(end << PAGE_SHIFT);

	/* Stores past EOF stay in memory, as in the kernel. */
	if (stop > size)
		stop = size;
	while (pos < stop) {
		size_t len = stop - pos > COPY_BYTES ? COPY_BYTES : (size_t)(stop - pos);
		ssize_t n = sys_pread(as->memfd, buf, len, pos);

		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		for (ssize_t done = 0; done < n;) {
			ssize_t w = sys_pwrite(as->fd, buf + done, (size_t)(n - done), pos + done);

			if (w < 0) {
				if (errno == EINTR)
					continue;
				return -errno;
			}
			done += w;
		}
		pos += n;
	}
	return 0;
}

/* Every page in the cache, as dirty (see shared_with_child).  Caller holds as->wb_lock. */
static void add_resident(struct address_space *as)
{
	pgoff_t n = size_to_pages(__atomic_load_n(&as->size, __ATOMIC_RELAXED));
	unsigned char vec[4096];

	if (n > as->nr_pages)
		n = as->nr_pages;
	for (pgoff_t base = 0; base < n; base += sizeof(vec)) {
		pgoff_t cnt = n - base < sizeof(vec) ? n - base : sizeof(vec);

		if (mincore(as->window + (base << PAGE_SHIFT), cnt << PAGE_SHIFT, vec))
			return;
		for (pgoff_t i = 0; i < cnt; i++)
			if (vec[i] & 1)
				dirty_add(as, base + i, base + i + 1);
	}
}

int writeback_flush(struct address_space *as, bool sync, bool report)
{
	size_t kept = 0;
	char *buf = NULL;
	off_t size;
	int rc = 0;

	pthread_mutex_lock(&as->wb_lock);
	if (as->shared_with_child)
		add_resident(as);
	if (as->nr_dirty) {
		size = lseek(as->fd, 0, SEEK_END);
		buf = kzalloc(COPY_BYTES);
		if (!buf || size < 0)
			rc = buf ? -errno : -ENOMEM;
		for (size_t i = 0; i < as->nr_dirty; i++) {
			int err = rc ? rc : write_range(as, buf, as->dirty[i].start, as->dirty[i].end, size);

			if (err) {
				/* Keep it dirty: the data is still in memory; msync will say so. */
				as->dirty[kept++] = as->dirty[i];
				if (!rc)
					pr_warn("write-back to fd %d failed: %s", as->fd, strerror(-err));
				rc = err;
			}
		}
		as->nr_dirty = kept;
		kfree(buf);
	}
	if (!rc && sync && fdatasync(as->fd))
		rc = -errno;
	if (!report) {
		if (rc)
			as->wb_err = rc;
		rc = 0;
	} else if (!rc && as->wb_err) {
		rc = as->wb_err; /* reported once, like the kernel's errseq */
		as->wb_err = 0;
	}
	pthread_mutex_unlock(&as->wb_lock);
	return rc;
}

int writeback_mark_dirty(struct address_space *as, pgoff_t start, pgoff_t end)
{
	int rc;

	pthread_mutex_lock(&as->wb_lock);
	rc = dirty_add(as, start, end);
	pthread_mutex_unlock(&as->wb_lock);
	return rc;
}
