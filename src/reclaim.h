/*
 * reclaim.h - the memory budget and the thread that keeps it: our vmscan.
 *
 * Resident memory is counted by us, in pages: anonymous pages we installed,
 * pages in the page cache (the memfds), pages in the swap cache.  Above the
 * high watermark the reclaim thread works until the low one is reached:
 *
 *  - anonymous pages: there is no accessed bit to read, so a page is first
 *    moved into the swap cache (UFFDIO_MOVE: unmapped, not copied, still in
 *    memory) at the tail of the inactive list.  Pages are taken in the
 *    order they were installed (the kernel's LRU order; a clock over the
 *    address space when that list has nothing), and slots are handed out in
 *    that order, so pages a program touched one after the other lie side by
 *    side in the swap file whatever their addresses.  A touch moves it back (a
 *    cheap refault: the accessed signal, second chance); a page that reaches
 *    the head untouched is written to the swap file and freed.
 *  - clean file pages are dropped from the cache (a hole punched in the
 *    memfd takes them out of every mapping at once; private copies stay);
 *    pages of files written through shared mappings are written back first.
 *
 * Faults wait while resident memory is at the budget (each fault may add at
 * most one window, RECLAIM_BATCH pages), so the budget holds under load; if
 * reclaim can make no room (the swap file is full, or writing it fails, or
 * nothing is evictable), the budget is exceeded with one warning rather
 * than a page lost or a thread left waiting.
 */
#ifndef PAGER_RECLAIM_H
#define PAGER_RECLAIM_H

#include <liburing.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "filemap.h"
#include "mm.h"
#include "pager.h"
#include "swap.h"

/* The most one fault installs (the anonymous first-touch window): the budget's slack. */
#define RECLAIM_BATCH 512

/* A run of pages: of file `owner` from page `index`, or (owner 0) of memory from address `index`. */
struct lru_run {
	uintptr_t owner;
	uint64_t index;
	uint32_t nr;
};

/* A ring of runs, pushed by the handlers and popped by reclaim; full, it forgets its oldest. */
struct run_fifo {
	struct lru_run *runs;
	size_t cap, head, len;
	pthread_spinlock_t lock; /* held for a few stores */
};

struct reclaim {
	struct mm *mm;
	struct address_space **mappings; /* the engine's page caches, under mm->lock */
	bool enabled; /* a budget is set: the thread runs and swap exists */
	struct swap swap;
	long limit, high, low; /* pages */
	/* Counters, in pages, updated atomically from every thread. */
	long nr_anon, nr_swapcache, nr_file, peak;
	long nr_staged; /* swap cache pages not yet being written */
	bool overrun; /* reclaim could not keep the budget: faults no longer wait */
	bool warned;
	int kick_fd; /* eventfd: wakes the reclaim thread */
	int handler_wake_fd; /* the handlers' eventfd: parked faults look again */
	bool stopping, started;
	bool busy; /* the thread is at work: no need to wake it (spares a syscall per fault) */
	bool forked; /* this process is a child of fork: it shares the slot map */
	pthread_t thread;
	struct io_uring ring;
	unsigned depth, inflight;
	/* The inactive list of anonymous pages: runs of slots, oldest first. */
	struct sc_run {
		swp_entry_t slot;
		uint32_t nr;
	} *fifo;
	size_t fifo_cap, fifo_head, fifo_len;
	/*
	 * The pages as they came in, oldest first: file pages read into the
	 * cache (as, index) and anonymous pages installed (address): what
	 * reclaim looks at first, so that pages leave in the order they came
	 * (the kernel's LRU order) and pages swapped out together come back
	 * together.  Hints: every run is checked again before use.
	 */
	struct run_fifo ffifo, afifo;
	uintptr_t anon_hand; /* the clock over anonymous memory */
	uintptr_t file_hand_as; /* the clock over the page cache: which file ... */
	pgoff_t file_hand; /* ... and where in it */
	uint64_t swap_broken_until; /* after a failed write, when to try again (ns) */
	struct pager_stats stats; /* written by the reclaim thread only */
};

/* Set up accounting; with a budget, also the swap file and the thread.  0 or -errno, err says why. */
int reclaim_init(struct reclaim *rc, struct mm *mm, struct address_space **mappings,
		 const struct pager_config *cfg, int handler_wake_fd, char *err, size_t errlen);
int reclaim_start(struct reclaim *rc);
void reclaim_stop(struct reclaim *rc);
void reclaim_destroy(struct reclaim *rc);

/* fork: before (mm->lock held for writing), and in the child. */
void reclaim_fork_prepare(struct reclaim *rc);
int reclaim_fork_child(struct reclaim *rc, int handler_wake_fd);

static inline long reclaim_resident(const struct reclaim *rc)
{
	return __atomic_load_n(&rc->nr_anon, __ATOMIC_RELAXED) +
	       __atomic_load_n(&rc->nr_swapcache, __ATOMIC_RELAXED) +
	       __atomic_load_n(&rc->nr_file, __ATOMIC_RELAXED);
}

void reclaim_note_peak(struct reclaim *rc);

static inline void reclaim_charge(struct reclaim *rc, long *counter, long pages)
{
	__atomic_add_fetch(counter, pages, __ATOMIC_RELAXED);
	if (pages > 0)
		reclaim_note_peak(rc);
}

void reclaim_kick(struct reclaim *rc);

/* Pages [index, index + nr) of as were read into the cache: the tail of the file list. */
void reclaim_note_fill(struct reclaim *rc, struct address_space *as, pgoff_t index, uint32_t nr);

/* nr private anonymous pages from addr were installed: charged and listed, or only listed. */
void reclaim_charge_anon(struct reclaim *rc, uintptr_t addr, long nr);
void reclaim_list_anon(struct reclaim *rc, uintptr_t addr, long nr);

/*
 * Must a fault that adds memory wait for reclaim?  (At the budget, unless
 * reclaim has given up on it.)  Kicks reclaim when it says yes.
 */
bool reclaim_must_wait(struct reclaim *rc);

/*
 * Pages [first, end) of private anonymous vma v are gone (munmap,
 * MADV_DONTNEED): uncharge what was resident, free swap slots and swap
 * cache pages.  Caller holds mm->lock for writing.
 */
void reclaim_forget_pages(struct reclaim *rc, struct vma *v, size_t first, size_t end);

/*
 * The swap cache page of slot e is being moved back (the fault path took it
 * from SC_STAGED to SC_BUSY): done; release the cache's reference.
 */
void swapcache_taken(struct reclaim *rc, swp_entry_t e);

/*
 * At exit: give back every reference this process holds in the slot map
 * (its swapped pages, its swap cache); the reclaim thread is stopped and
 * mm->lock held for writing.  Swapped pages can no longer be read after it.
 */
void reclaim_release_all(struct reclaim *rc);

/* Bring every swapped page of [first, end) of v back, synchronously (release of a range). */
int reclaim_swapin_range(struct reclaim *rc, struct vma *v, size_t first, size_t end);

/* Engine-level figures for a stats snapshot. */
void reclaim_stats(struct reclaim *rc, struct pager_stats *st);

#endif
