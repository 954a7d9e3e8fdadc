/*
 * mm.c - vmas of one address space, and the operations on this process's
 * own memory (local_mm_ops).
 */
#include "kmem.h"
#include "sys.h"
#include "mm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

static long local_copy(struct mm *mm, uintptr_t dst, const void *src, size_t len)
{
	return uffd_copy(&mm->uffd, dst, src, len, false);
}

static long local_zero(struct mm *mm, uintptr_t dst, size_t len)
{
	return uffd_zeropage(&mm->uffd, dst, len, false);
}

static long local_poison(struct mm *mm, uintptr_t dst, size_t len)
{
	return uffd_poison(&mm->uffd, dst, len);
}

static long local_cached(struct mm *mm, uintptr_t dst, size_t len, bool wp)
{
	return uffd_continue(&mm->uffd, dst, len, wp);
}

/*
 * Did UFFDIO_MOVE move the page at src to dst although it failed?  Some
 * kernels move a page, retry it internally (after an -EAGAIN on the way) and
 * then fail on their own work with -EEXIST, reporting nothing moved.  The
 * callers hold both pages against everyone else, so "src empty, dst
 * present" can only be that move.
 */
static bool moved_anyway(struct mm *mm, uintptr_t dst, uintptr_t src)
{
	uint64_t s, d;
	unsigned char vs = 1, vd = 0;

	if (mm->pagemap_fd >= 0 &&
	    sys_pread(mm->pagemap_fd, &s, sizeof(s), (off_t)(src >> PAGE_SHIFT) * 8) == sizeof(s) &&
	    sys_pread(mm->pagemap_fd, &d, sizeof(d), (off_t)(dst >> PAGE_SHIFT) * 8) == sizeof(d))
		return !(s >> 62) && (d >> 63); /* src neither present nor swapped; dst present */
	if (syscall(SYS_mincore, src, PAGE_SIZE, &vs) || syscall(SYS_mincore, dst, PAGE_SIZE, &vd))
		return false;
	return !(vs & 1) && (vd & 1);
}

static long local_move(struct mm *mm, uintptr_t dst, uintptr_t src, size_t len)
{
	long r = uffd_move(&mm->uffd, dst, src, len, false);

	/* Its first page moved: count it, the caller moves the rest on from there. */
	if (r == -EEXIST && moved_anyway(mm, dst, src))
		r = PAGE_SIZE;
	return r;
}

static int local_wake(struct mm *mm, uintptr_t start, size_t len)
{
	return uffd_wake(&mm->uffd, start, len);
}

static int local_drop(struct mm *mm, uintptr_t start, size_t len)
{
	(void)mm;
	return sys_madvise((void *)start, len, MADV_DONTNEED) ? -errno : 0;
}

static int local_writeprotect(struct mm *mm, uintptr_t start, size_t len)
{
	return uffd_writeprotect(&mm->uffd, start, len, true);
}

static int local_unprotect(struct mm *mm, uintptr_t start, size_t len)
{
	return uffd_writeprotect(&mm->uffd, start, len, false);
}

static long local_scan_written(struct mm *mm, uintptr_t start, uintptr_t end,
			       struct page_region *out, size_t n, uintptr_t *next)
{
	struct pm_scan_arg a = {
		.size = sizeof(a),
		.flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC,
		.start = start,
		.end = end,
		.vec = (uintptr_t)out,
		.vec_len = n,
		.category_mask = PAGE_IS_WRITTEN,
		.return_mask = PAGE_IS_WRITTEN,
	};
	long rc = sys_ioctl(mm->pagemap_fd, PAGEMAP_SCAN, &a);

	if (rc < 0)
		return -errno;
	*next = a.walk_end;
	return rc;
}

const struct mm_ops local_mm_ops = {
	.install_copy = local_copy,
	.install_zero = local_zero,
	.install_poison = local_poison,
	.install_cached = local_cached,
	.move = local_move,
	.wake = local_wake,
	.drop = local_drop,
	.writeprotect = local_writeprotect,
	.unprotect = local_unprotect,
	.scan_written = local_scan_written,
};

int mm_lock_init(struct mm *mm)
{
	pthread_rwlockattr_t attr;
	int rc;

	/* mmap/munmap must not starve behind a stream of faults. */
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	rc = pthread_rwlock_init(&mm->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	return -rc;
}

int mm_init(struct mm *mm)
{
	memset(mm, 0, sizeof(*mm));
	mm->uffd.fd = -1;
	mm->pagemap_fd = -1;
	mm->ops = &local_mm_ops;
	return mm_lock_init(mm);
}

void mm_destroy(struct mm *mm)
{
	kfree(mm->vmas);
	mm->vmas = NULL;
	mm->nr_vmas = mm->cap_vmas = 0;
	pthread_rwlock_destroy(&mm->lock);
}

/* Index of the first vma that ends above addr. */
static size_t vma_search(struct mm *mm, uintptr_t addr)
{
	size_t lo = 0, hi = mm->nr_vmas;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (mm->vmas[mid]->end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct vma *find_vma(struct mm *mm, uintptr_t addr)
{
	size_t i = vma_search(mm, addr);

	if (i < mm->nr_vmas && mm->vmas[i]->start <= addr)
		return mm->vmas[i];
	return NULL;
}

static uint8_t *ptes_alloc(size_t n)
{
	return kcalloc(n ? n : 1, 1);
}

struct vma *vma_alloc(uintptr_t start, uintptr_t end, int prot, int flags,
		      struct address_space *mapping, pgoff_t pgoff)
{
	struct vma *v = kcalloc(1, sizeof(*v));

	if (!v)
		return NULL;
	v->start = start;
	v->end = end;
	v->prot = prot;
	v->flags = flags;
	v->mapping = mapping;
	v->pgoff = pgoff;
	v->ptes = ptes_alloc(vma_pages(v));
	/* Reserved, not committed (kmem maps it): pages of it exist once used. */
	if (v->ptes && !mapping)
		v->swp = kcalloc(vma_pages(v) ? vma_pages(v) : 1, sizeof(*v->swp));
	if (!v->ptes || (!mapping && !v->swp)) {
		kfree(v->ptes);
		kfree(v);
		return NULL;
	}
	pthread_spin_init(&v->ra_lock, PTHREAD_PROCESS_PRIVATE);
	ra_init(&v->ra, 0, 0);
	return v;
}

void vma_free(struct vma *v)
{
	if (!v)
		return;
	pthread_spin_destroy(&v->ra_lock);
	kfree(v->ptes);
	kfree(v->swp);
	kfree(v);
}

static int vmas_reserve(struct mm *mm, size_t extra)
{
	size_t cap = mm->cap_vmas ? mm->cap_vmas : 16;
	struct vma **n;

	while (cap < mm->nr_vmas + extra)
		cap *= 2;
	if (cap == mm->cap_vmas)
		return 0;
	n = krealloc(mm->vmas, cap * sizeof(*n));
	if (!n)
		return -ENOMEM;
	mm->vmas = n;
	mm->cap_vmas = cap;
	return 0;
}

int vma_insert(struct mm *mm, struct vma *v)
{
	size_t i;

	if (vmas_reserve(mm, 1))
		return -ENOMEM;
	i = vma_search(mm, v->start);
	memmove(&mm->vmas[i + 1], &mm->vmas[i], (mm->nr_vmas - i) * sizeof(*mm->vmas));
	mm->vmas[i] = v;
	mm->nr_vmas++;
	return 0;
}

/* A copy of v covering [start, end) of it, with its page states. */
static struct vma *vma_slice(const struct vma *v, uintptr_t start, uintptr_t end)
{
	struct vma *n = vma_alloc(start, end, v->prot, v->flags, v->mapping,
				  v->pgoff + ((start - v->start) >> PAGE_SHIFT));

	if (!n)
		return NULL;
	memcpy(n->ptes, v->ptes + vma_page(v, start), vma_pages(n));
	if (v->swp && n->swp)
		memcpy(n->swp, v->swp + vma_page(v, start), vma_pages(n) * sizeof(*n->swp));
	n->ra = v->ra;
	n->may_write = v->may_write;
	n->minor = v->minor;
	n->wp = v->wp;
	return n;
}

int mm_unmap_range(struct mm *mm, uintptr_t start, uintptr_t end, const struct vma_hooks *h,
		   void *arg)
{
	size_t i = vma_search(mm, start);

	/* At most one vma straddles each edge: reserve for two pieces at once. */
	if (vmas_reserve(mm, 2))
		return -ENOMEM;
	while (i < mm->nr_vmas && mm->vmas[i]->start < end) {
		struct vma *v = mm->vmas[i], *lo = NULL, *hi = NULL;

		if (v->start < start && !(lo = vma_slice(v, v->start, start)))
			return -ENOMEM;
		if (v->end > end && !(hi = vma_slice(v, end, v->end))) {
			vma_free(lo);
			return -ENOMEM;
		}
		if (h->release) {
			uintptr_t lo_a = v->start > start ? v->start : start;
			uintptr_t hi_a = v->end < end ? v->end : end;

			h->release(v, vma_page(v, lo_a), vma_page(v, hi_a), arg);
		}
		memmove(&mm->vmas[i], &mm->vmas[i + 1], (mm->nr_vmas - i - 1) * sizeof(*mm->vmas));
		mm->nr_vmas--;
		if (lo) {
			h->split(lo, arg);
			vma_insert(mm, lo);
			i++;
		}
		if (hi) {
			h->split(hi, arg);
			vma_insert(mm, hi);
			i++;
		}
		h->gone(v, arg);
	}
	return 0;
}

void mm_file_resized(struct mm *mm, const void *mapping, int64_t old, int64_t new)
{
	pgoff_t new_pages = (pgoff_t)((new + (int64_t)PAGE_SIZE - 1) >> PAGE_SHIFT);

	for (size_t k = 0; k < mm->nr_vmas; k++) {
		struct vma *v = mm->vmas[k];
		pgoff_t first = v->pgoff, end = v->pgoff + vma_pages(v);

		if (v->mapping != mapping)
			continue;
		if (new < old && end > new_pages) {
			uintptr_t from = v->start + ((new_pages > first ? new_pages - first : 0) << PAGE_SHIFT);

			mm->ops->drop(mm, from, v->end - from);
			for (size_t i = vma_page(v, from); i < vma_pages(v); i++)
				__atomic_store_n(&v->ptes[i], 0, __ATOMIC_RELAXED);
		} else if (new > old) {
			for (size_t i = 0; i < vma_pages(v) && first + i < new_pages; i++) {
				if (__atomic_load_n(&v->ptes[i], __ATOMIC_RELAXED) & PTE_POISON) {
					mm->ops->drop(mm, v->start + (i << PAGE_SHIFT), PAGE_SIZE);
					__atomic_store_n(&v->ptes[i], 0, __ATOMIC_RELAXED);
				}
			}
		}
	}
}
