/*
 * mm.h - one client address space: its userfaultfd, its vmas, the per-page
 * state (our "PTEs") and the operations that act on its memory.
 *
 * The operations (install a page by copy, zero or poison, wake, drop) go
 * through struct mm_ops so that the fault path is the same whether the
 * memory is in this process (local_mm_ops) or in a client of pagerd, and so
 * that the way a page is installed (copy now, zero-copy later) can change
 * without touching the fault path.
 */
#ifndef PAGER_MM_H
#define PAGER_MM_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "readahead.h"
#include "uffd.h"

#define PAGE_SHIFT 12
#define PAGE_SIZE (1UL << PAGE_SHIFT)
#define PAGE_MASK (~(PAGE_SIZE - 1))

/* Per-page state of a vma, one byte a page. */
enum {
	PTE_PRESENT = 1 << 0, /* installed in the mapping (a hint: faults are the truth) */
	PTE_POISON = 1 << 1, /* answered with SIGBUS (past EOF, I/O error) */
	/* Private anonymous memory: */
	PTE_SWAP = 1 << 2, /* swapped out: vma->swp[i] is its slot (maybe still in the swap cache) */
	PTE_LOCKED = 1 << 3, /* moving out or being read back: a fault on it waits */
	PTE_SWAP_ERR = 1 << 4, /* reading it back failed: the access gets SIGBUS */
	/*
	 * Present and read back from swap: vma->swp[i] is its slot still, whose
	 * data on disk is what the page held when it came in (the slot's sum
	 * says so); evicted unchanged, it needs no write.
	 */
	PTE_SLOT = 1 << 5,
};

struct address_space;
struct mm;

struct mm_ops {
	/* Each returns bytes installed (a partial count on -EEXIST) or -errno. */
	long (*install_copy)(struct mm *mm, uintptr_t dst, const void *src, size_t len);
	long (*install_zero)(struct mm *mm, uintptr_t dst, size_t len);
	long (*install_poison)(struct mm *mm, uintptr_t dst, size_t len);
	/* Map pages that are in the shared cache already; `wp`: write-protected (tracked). */
	long (*install_cached)(struct mm *mm, uintptr_t dst, size_t len, bool wp);
	/* Move present pages from src to the empty dst, both registered (UFFDIO_MOVE). */
	long (*move)(struct mm *mm, uintptr_t dst, uintptr_t src, size_t len);
	int (*wake)(struct mm *mm, uintptr_t start, size_t len);
	/* Zap pages: the next touch faults again. */
	int (*drop)(struct mm *mm, uintptr_t start, size_t len);
	/* Start tracking writes to [start, start + len) (UFFD_FEATURE_WP_ASYNC). */
	int (*writeprotect)(struct mm *mm, uintptr_t start, size_t len);
	/* Lift write protection (and its markers on empty entries). */
	int (*unprotect)(struct mm *mm, uintptr_t start, size_t len);
	/*
	 * The written pages of [start, end), write-protected again in the same
	 * step (so a store racing with write-back is seen next time): fills up
	 * to n regions, returns how many, or -errno.  *next is where to go on.
	 */
	long (*scan_written)(struct mm *mm, uintptr_t start, uintptr_t end, struct page_region *out,
			     size_t n, uintptr_t *next);
};

extern const struct mm_ops local_mm_ops;

struct vma {
	uintptr_t start, end;
	int prot;
	int flags; /* the mmap flags as given */
	bool may_write; /* the file was open for writing (what mprotect checks for MAP_SHARED) */
	bool minor; /* registered for minor faults too: we map cached pages (UFFDIO_CONTINUE) */
	bool wp; /* registered for write protection: stores are tracked */
	struct address_space *mapping; /* NULL: anonymous */
	pgoff_t pgoff; /* file page at start */
	uint8_t *ptes; /* one per page, accessed atomically */
	uint32_t *swp; /* private anonymous memory: the swap slot of each PTE_SWAP page */
	pthread_spinlock_t ra_lock; /* held only inside ra_fault() */
	struct file_ra_state ra; /* readahead; for anonymous memory the first-touch window */
};

static inline size_t vma_pages(const struct vma *v)
{
	return (v->end - v->start) >> PAGE_SHIFT;
}

static inline size_t vma_page(const struct vma *v, uintptr_t addr)
{
	return (addr - v->start) >> PAGE_SHIFT;
}

static inline bool pte_present(const struct vma *v, size_t i)
{
	return __atomic_load_n(&v->ptes[i], __ATOMIC_RELAXED) & PTE_PRESENT;
}

static inline void pte_set_present(struct vma *v, size_t i)
{
	__atomic_or_fetch(&v->ptes[i], PTE_PRESENT, __ATOMIC_RELAXED);
}

static inline void pte_clear(struct vma *v, size_t i)
{
	__atomic_and_fetch(&v->ptes[i], (uint8_t)~PTE_PRESENT, __ATOMIC_RELAXED);
}

static inline uint8_t pte_get(const struct vma *v, size_t i)
{
	return __atomic_load_n(&v->ptes[i], __ATOMIC_ACQUIRE);
}

static inline void pte_set(struct vma *v, size_t i, uint8_t val)
{
	__atomic_store_n(&v->ptes[i], val, __ATOMIC_RELEASE);
}

static inline bool pte_cmpxchg(struct vma *v, size_t i, uint8_t from, uint8_t to)
{
	return __atomic_compare_exchange_n(&v->ptes[i], &from, to, false, __ATOMIC_ACQ_REL,
					   __ATOMIC_RELAXED);
}

struct mm {
	struct uffd uffd;
	int pagemap_fd; /* /proc/self/pagemap, for scan_written */
	const struct mm_ops *ops;
	/*
	 * Readers: the fault handlers, for one fault at a time and never
	 * across I/O.  Writers: mmap, munmap, mprotect, madvise, fork.
	 */
	pthread_rwlock_t lock;
	struct vma **vmas; /* sorted by start, not overlapping */
	size_t nr_vmas, cap_vmas;
};

int mm_init(struct mm *mm);
/* (Re)initialise mm->lock: also in a child after fork, where the parent's holder is gone. */
int mm_lock_init(struct mm *mm);
void mm_destroy(struct mm *mm);

/* The vma containing addr, or NULL.  Caller holds mm->lock. */
struct vma *find_vma(struct mm *mm, uintptr_t addr);

/* A new vma (not yet inserted); NULL on ENOMEM. */
struct vma *vma_alloc(uintptr_t start, uintptr_t end, int prot, int flags,
		      struct address_space *mapping, pgoff_t pgoff);
void vma_free(struct vma *v);
/* Insert; caller holds mm->lock for writing. */
int vma_insert(struct mm *mm, struct vma *v);

/*
 * The file behind `mapping` changed size from old to new bytes: like the
 * kernel's truncate, zap what every vma of it maps wholly past the new end
 * (private copies too), and pages poisoned because they were past the old
 * end, which the file now covers.  Caller holds mm->lock.
 */
void mm_file_resized(struct mm *mm, const void *mapping, int64_t old, int64_t new);

/* What the layer that owns vma->mapping does when vmas come and go. */
struct vma_hooks {
	void (*split)(struct vma *v, void *arg); /* a new vma now shares v->mapping */
	void (*gone)(struct vma *v, void *arg); /* v left the list: drop its mapping, free it */
	/* Pages [first, end) of v are going away: release what they hold (memory, swap). */
	void (*release)(struct vma *v, size_t first, size_t end, void *arg);
};

/*
 * Remove [start, end) from the vma list, splitting vmas that straddle it.
 * Caller holds mm->lock for writing.  Returns 0 or -ENOMEM (nothing changed).
 */
int mm_unmap_range(struct mm *mm, uintptr_t start, uintptr_t end, const struct vma_hooks *h,
		   void *arg);

#endif
