/*
 * reclaim.c - the budget, the inactive list and the reclaim thread (see
 * reclaim.h).  The thread scans with mm->lock held for reading, like a
 * fault handler, and never holds it across I/O: it stages a batch, submits
 * the writes, lets the lock go, waits for them, and takes the lock again to
 * finish them.
 */
#include "reclaim.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "kmem.h"
#include "log.h"
#include "stats.h"
#include "sys.h"
#include "thread.h"

#define RUN_MAX 64U /* pages per swap write: 256 KiB */
#define WRITE_DEPTH 64U
#define CLEAN_RUN_MAX 512U /* clean swap cache pages dropped with one MADV_DONTNEED, at most */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

void reclaim_note_peak(struct reclaim *rc)
{
	long r = reclaim_resident(rc), p = __atomic_load_n(&rc->peak, __ATOMIC_RELAXED);

	while (r > p && !__atomic_compare_exchange_n(&rc->peak, &p, r, true, __ATOMIC_RELAXED,
						     __ATOMIC_RELAXED))
		;
	if (rc->enabled && r > rc->high)
		reclaim_kick(rc);
}

void reclaim_kick(struct reclaim *rc)
{
	if (rc->enabled && rc->kick_fd >= 0 && !__atomic_load_n(&rc->busy, __ATOMIC_ACQUIRE))
		eventfd_write(rc->kick_fd, 1);
}

bool reclaim_must_wait(struct reclaim *rc)
{
	if (!rc->enabled || __atomic_load_n(&rc->overrun, __ATOMIC_RELAXED))
		return false;
	if (reclaim_resident(rc) < rc->limit)
		return false;
	reclaim_kick(rc);
	return true;
}

static void wake_handlers(struct reclaim *rc)
{
	eventfd_write(rc->handler_wake_fd, 1);
}

/* ---- the lists of pages in the order they came in ---- */

static int run_fifo_init(struct run_fifo *f, size_t cap)
{
	f->cap = cap;
	f->head = f->len = 0;
	f->runs = kcalloc(cap, sizeof(*f->runs));
	pthread_spin_init(&f->lock, PTHREAD_PROCESS_PRIVATE);
	return f->runs ? 0 : -ENOMEM;
}

static void run_fifo_destroy(struct run_fifo *f)
{
	kfree(f->runs);
	f->runs = NULL;
}

static void run_fifo_push(struct run_fifo *f, uintptr_t owner, uint64_t index, uint32_t nr)
{
	pthread_spin_lock(&f->lock);
	if (f->len == f->cap) {
		/* Forget the oldest run; the clock still finds its pages. */
		f->head = (f->head + 1) % f->cap;
		f->len--;
	}
	f->runs[(f->head + f->len) % f->cap] = (struct lru_run){ .owner = owner, .index = index, .nr = nr };
	f->len++;
	pthread_spin_unlock(&f->lock);
}

/* Put back, at the head, what was popped and not used. */
static void run_fifo_unpop(struct run_fifo *f, const struct lru_run *r)
{
	pthread_spin_lock(&f->lock);
	if (f->len < f->cap) {
		f->head = (f->head + f->cap - 1) % f->cap;
		f->runs[f->head] = *r;
		f->len++;
	}
	pthread_spin_unlock(&f->lock);
}

static bool run_fifo_pop(struct run_fifo *f, struct lru_run *out)
{
	bool got = false;

	pthread_spin_lock(&f->lock);
	if (f->len) {
		*out = f->runs[f->head];
		f->head = (f->head + 1) % f->cap;
		f->len--;
		got = true;
	}
	pthread_spin_unlock(&f->lock);
	return got;
}

/* ---- the inactive list ---- */

static void fifo_push(struct reclaim *rc, swp_entry_t slot, uint32_t nr)
{
	size_t tail;

	if (rc->fifo_len == rc->fifo_cap) {
		/* Full of runs whose pages mostly came back: forget the oldest. */
		rc->fifo_head = (rc->fifo_head + 1) % rc->fifo_cap;
		rc->fifo_len--;
	}
	tail = (rc->fifo_head + rc->fifo_len) % rc->fifo_cap;
	rc->fifo[tail] = (struct sc_run){ .slot = slot, .nr = nr };
	rc->fifo_len++;
}

/* Drop the swap cache page of slot e, which was taken to SC_BUSY: release the cache's reference. */
/* Swap cache pages [e, e + n), taken to SC_BUSY, leave it: their pages go, the cache's references too. */
static void swapcache_drop(struct reclaim *rc, swp_entry_t e, uint32_t n)
{
	sys_madvise((void *)swap_stage_addr(&rc->swap, e), (size_t)n << PAGE_SHIFT, MADV_DONTNEED);
	for (uint32_t k = 0; k < n; k++) {
		swapcache_set(&rc->swap, e + k, SC_NONE);
		swap_free(&rc->swap, e + k);
	}
	__atomic_sub_fetch(&rc->nr_swapcache, n, __ATOMIC_RELAXED);
	__atomic_sub_fetch(&rc->nr_staged, n, __ATOMIC_RELAXED);
}

void swapcache_taken(struct reclaim *rc, swp_entry_t e)
{
	swapcache_drop(rc, e, 1);
}

void reclaim_forget_pages(struct reclaim *rc, struct vma *v, size_t first, size_t end)
{
	long anon = 0;

	for (size_t i = first; i < end; i++) {
		uint8_t p = pte_get(v, i);

		if (!p)
			continue;
		if ((p & PTE_PRESENT) && !(p & PTE_SWAP))
			anon++;
		if ((p & PTE_SWAP) && rc->enabled) {
			swp_entry_t e = v->swp[i];

			/*
			 * A read of it is in flight and ours is the last reference:
			 * the slot stays taken until the read lands (swap_install
			 * frees it), or it could be handed out, written and read
			 * again for another page before this read lands on it.
			 */
			if ((p & PTE_LOCKED) && swap_count(&rc->swap, e) == 1 &&
			    swapcache_cmpxchg(&rc->swap, e, SC_NONE, SC_ORPHAN))
				;
			/* Only our swap cache holds it now: no one will ever read it. */
			else if (swap_free(&rc->swap, e) == 1 && swapcache_take(&rc->swap, e))
				swapcache_taken(rc, e);
		}
		if ((p & PTE_SLOT) && rc->enabled)
			swap_free(&rc->swap, v->swp[i]); /* the slot a page read back kept */
		pte_set(v, i, 0);
	}
	if (anon)
		__atomic_sub_fetch(&rc->nr_anon, anon, __ATOMIC_RELAXED);
}

/* ---- anonymous pages: deactivation into the swap cache ---- */

/* Give back slots [e, e + n) that were allocated and not used. */
static void unalloc(struct reclaim *rc, swp_entry_t e, uint32_t n)
{
	for (uint32_t k = 0; k < n; k++) {
		swap_free(&rc->swap, e + k);
		swap_free(&rc->swap, e + k);
	}
}

/*
 * Move the run of present pages [i, i + n) of v into the swap cache.
 * Returns pages moved, or -ENOSPC when the swap file is full.
 */
static long deactivate_run(struct reclaim *rc, struct vma *v, size_t i, uint32_t n)
{
	struct mm *mm = rc->mm;
	swp_entry_t slot;
	uint32_t got = swap_alloc(&rc->swap, n, &slot), locked = 0, done = 0;
	long moved = 0, gone = 0;
	int again = 0;

	if (!got)
		return -ENOSPC;
	while (locked < got && pte_cmpxchg(v, i + locked, PTE_PRESENT, PTE_PRESENT | PTE_LOCKED))
		locked++;
	unalloc(rc, slot + locked, got - locked);
	while (done < locked) {
		uintptr_t src = v->start + ((i + done) << PAGE_SHIFT);
		long r = mm->ops->move(mm, swap_stage_addr(&rc->swap, slot + done), src,
				       (size_t)(locked - done) << PAGE_SHIFT);

		if (r > 0) {
			uint32_t pages = (uint32_t)((size_t)r >> PAGE_SHIFT);

			for (uint32_t k = done; k < done + pages; k++) {
				v->swp[i + k] = slot + k;
				swap_set_owner(&rc->swap, slot + k, v->start + ((i + k) << PAGE_SHIFT));
				swapcache_set(&rc->swap, slot + k, SC_STAGED);
				pte_set(v, i + k, PTE_SWAP);
			}
			done += pages;
			moved += pages;
			continue;
		}
		if (r == -EAGAIN && again++ < 10)
			continue;
		/* This page stays: say why, give its slot back, go on after it. */
		if (r == -ENOENT) {
			pte_set(v, i + done, 0); /* not there after all: our hint was stale */
			gone++;
		} else {
			pte_set(v, i + done, PTE_PRESENT);
			stat_inc(&rc->stats, unevictable);
			if (r != -EBUSY && r != -EINVAL && r != -EAGAIN)
				pr_warn("moving a page into the swap cache: %s", strerror((int)-r));
		}
		unalloc(rc, slot + done, 1);
		done++;
		if (r == -EINVAL) {
			/* Protection differs from the swap cache's (mprotect): the rest too. */
			for (; done < locked; done++) {
				pte_set(v, i + done, PTE_PRESENT);
				unalloc(rc, slot + done, 1);
			}
		}
	}
	if (moved) {
		/* One run per call: slots that stayed are SC_NONE and skipped at write-out. */
		fifo_push(rc, slot, locked);
		__atomic_sub_fetch(&rc->nr_anon, moved + gone, __ATOMIC_RELAXED);
		__atomic_add_fetch(&rc->nr_swapcache, moved, __ATOMIC_RELAXED);
		__atomic_add_fetch(&rc->nr_staged, moved, __ATOMIC_RELAXED);
		stat_add(&rc->stats, reclaim_deactivated, (uint64_t)moved);
	} else if (gone) {
		__atomic_sub_fetch(&rc->nr_anon, gone, __ATOMIC_RELAXED);
	}
	return moved;
}

/*
 * Pages read back that kept their slots (PTE_SLOT), [i, i + n) of v, whose
 * slots follow one another: into the swap cache at those slots, with one
 * move.  Each one unchanged since (its sum) is SC_CLEAN and leaves without a
 * write, the kernel's clean swap cache page; a changed one is written over
 * its own slot, which no one else holds.  Returns pages deactivated.
 */
static long deactivate_kept(struct reclaim *rc, struct vma *v, size_t i, uint32_t n)
{
	struct mm *mm = rc->mm;
	swp_entry_t e = v->swp[i];
	uint32_t locked = 0, done = 0;
	long moved = 0;

	while (locked < n && pte_cmpxchg(v, i + locked, PTE_PRESENT | PTE_SLOT,
					 PTE_PRESENT | PTE_SLOT | PTE_LOCKED)) {
		if (v->swp[i + locked] != e + locked || swap_count(&rc->swap, e + locked) != 1) {
			/* A child of fork holds the slot too: its data must stay; a slot of its own later. */
			if (v->swp[i + locked] == e + locked) {
				swap_free(&rc->swap, e + locked);
				pte_set(v, i + locked, PTE_PRESENT);
			} else {
				pte_set(v, i + locked, PTE_PRESENT | PTE_SLOT);
			}
			break;
		}
		swap_dup(&rc->swap, e + locked); /* the swap cache's reference */
		locked++;
	}
	__atomic_thread_fence(__ATOMIC_ACQUIRE); /* the sums the states vouch for */
	while (done < locked) {
		uintptr_t src = v->start + ((i + done) << PAGE_SHIFT);
		long r = mm->ops->move(mm, swap_stage_addr(&rc->swap, e + done), src,
				       (size_t)(locked - done) << PAGE_SHIFT);

		if (r <= 0) {
			uint32_t k = done;

			if (r == -ENOENT) {
				/* Not there after all: nothing to keep. */
				swap_free(&rc->swap, e + k);
				swap_free(&rc->swap, e + k);
				pte_set(v, i + k, 0);
				__atomic_sub_fetch(&rc->nr_anon, 1, __ATOMIC_RELAXED);
				k++;
			} else {
				stat_inc(&rc->stats, unevictable);
			}
			/* The rest stays as it was. */
			for (; k < locked; k++) {
				swap_free(&rc->swap, e + k);
				pte_set(v, i + k, PTE_PRESENT | PTE_SLOT);
			}
			break;
		}
		for (uint32_t k = done; k < done + (uint32_t)((size_t)r >> PAGE_SHIFT); k++) {
			struct page_sum now;
			bool clean;

			page_sum((const void *)swap_stage_addr(&rc->swap, e + k), &now);
			clean = now.a == rc->swap.sums[e + k].a && now.b == rc->swap.sums[e + k].b;
			swap_set_owner(&rc->swap, e + k, v->start + ((i + k) << PAGE_SHIFT));
			swapcache_set(&rc->swap, e + k, clean ? SC_CLEAN : SC_STAGED);
			pte_set(v, i + k, PTE_SWAP);
			moved++;
		}
		done += (uint32_t)((size_t)r >> PAGE_SHIFT);
	}
	if (moved) {
		fifo_push(rc, e, (uint32_t)moved);
		__atomic_sub_fetch(&rc->nr_anon, moved, __ATOMIC_RELAXED);
		__atomic_add_fetch(&rc->nr_swapcache, moved, __ATOMIC_RELAXED);
		__atomic_add_fetch(&rc->nr_staged, moved, __ATOMIC_RELAXED);
		stat_add(&rc->stats, reclaim_deactivated, (uint64_t)moved);
	}
	return moved;
}

/* The run of kept pages from i (at most `max`) that deactivate_kept takes in one move. */
static uint32_t kept_run(struct vma *v, size_t i, size_t end, uint32_t max)
{
	uint32_t n = 1;

	while (i + n < end && n < max && pte_get(v, i + n) == (PTE_PRESENT | PTE_SLOT) &&
	       v->swp[i + n] == v->swp[i] + n)
		n++;
	return n;
}

static bool swappable(const struct vma *v)
{
	return v && !v->mapping && v->swp && (v->prot & PROT_WRITE);
}

/*
 * Deactivate up to `want` pages of [*i, end) of v: runs of present pages
 * into fresh slots, runs of kept pages into their own.  Advances *i past
 * what it looked at; returns pages deactivated, or -ENOSPC (swap full, *i
 * at the run that did not fit) when it did none.
 */
static long deactivate_range(struct reclaim *rc, struct vma *v, size_t *i, size_t end, long want)
{
	long done = 0;

	while (*i < end && done < want) {
		uint8_t p = pte_get(v, *i);
		uint32_t n = 0;
		long r;

		stat_inc(&rc->stats, reclaim_scanned);
		if (p == (PTE_PRESENT | PTE_SLOT)) {
			n = kept_run(v, *i, end, RUN_MAX);
			done += deactivate_kept(rc, v, *i, n);
			*i += n;
			continue;
		}
		if (p != PTE_PRESENT) {
			(*i)++;
			continue;
		}
		while (*i + n < end && n < RUN_MAX && (long)n < want - done &&
		       pte_get(v, *i + n) == PTE_PRESENT)
			n++;
		stat_add(&rc->stats, reclaim_scanned, n - 1);
		r = deactivate_run(rc, v, *i, n);
		if (r < 0)
			return done ? done : r;
		done += r;
		*i += n;
	}
	return done;
}

/*
 * Deactivate up to `want` present pages, oldest installed first: the
 * kernel's LRU order, which slots follow, so that pages touched together
 * come back together (swap_cluster_readahead) whatever their addresses.
 */
static long shrink_anon_fifo(struct reclaim *rc, long want)
{
	struct mm *mm = rc->mm;
	struct lru_run run;
	long done = 0;

	pthread_rwlock_rdlock(&mm->lock);
	while (done < want && run_fifo_pop(&rc->afifo, &run)) {
		struct vma *v = find_vma(mm, (uintptr_t)run.index);
		size_t i, end;
		long r;

		if (!swappable(v) || run.index < v->start)
			continue;
		i = vma_page(v, (uintptr_t)run.index);
		end = i + run.nr < vma_pages(v) ? i + run.nr : vma_pages(v);
		r = deactivate_range(rc, v, &i, end, want - done);
		if (r < 0) {
			/* The swap file is full: these pages stay first in line. */
			run.index = v->start + (i << PAGE_SHIFT);
			run.nr = (uint32_t)(end - i);
			run_fifo_unpop(&rc->afifo, &run);
			pthread_rwlock_unlock(&mm->lock);
			return done ? done : r;
		}
		done += r;
		if (i < end) {
			run.index = v->start + (i << PAGE_SHIFT);
			run.nr = (uint32_t)(end - i);
			run_fifo_unpop(&rc->afifo, &run);
		}
	}
	pthread_rwlock_unlock(&mm->lock);
	return done;
}

/* The clock over private anonymous memory: deactivate up to `want` present pages. */
static long shrink_anon(struct reclaim *rc, long want)
{
	struct mm *mm = rc->mm;
	long done = 0;
	size_t k, visited = 0;

	pthread_rwlock_rdlock(&mm->lock);
	for (k = 0; k < mm->nr_vmas && mm->vmas[k]->end <= rc->anon_hand; k++)
		;
	while (done < want && visited <= mm->nr_vmas && mm->nr_vmas) {
		struct vma *v;
		size_t i, n;
		long r;

		if (k >= mm->nr_vmas) {
			k = 0;
			rc->anon_hand = 0;
		}
		v = mm->vmas[k];
		visited++;
		if (!swappable(v)) {
			rc->anon_hand = v->end;
			k++;
			continue;
		}
		i = rc->anon_hand > v->start ? vma_page(v, rc->anon_hand) : 0;
		n = vma_pages(v);
		r = deactivate_range(rc, v, &i, n, want - done);
		if (r < 0) {
			/* The swap file is full. */
			rc->anon_hand = v->start + (i << PAGE_SHIFT);
			pthread_rwlock_unlock(&mm->lock);
			return done ? done : r;
		}
		done += r;
		if (i >= n) {
			rc->anon_hand = v->end;
			k++;
		} else {
			rc->anon_hand = v->start + (i << PAGE_SHIFT);
		}
	}
	pthread_rwlock_unlock(&mm->lock);
	return done;
}

/* ---- anonymous pages: write-out ---- */

static uint64_t wr_tag(swp_entry_t slot, uint32_t nr)
{
	return ((uint64_t)slot << 8) | nr;
}

/* Write the oldest `want` pages of the inactive list to the swap file and free them. */
static long writeout(struct reclaim *rc, long want)
{
	struct mm *mm = rc->mm;
	long queued = 0, written = 0, dropped = 0;
	unsigned nreq = 0;
	/* Clean slots that follow one another, across runs, leave with one MADV_DONTNEED. */
	swp_entry_t cs = 0;
	uint32_t cn = 0;

	pthread_rwlock_rdlock(&mm->lock);
	while (rc->fifo_len && queued + dropped + cn < want && nreq < rc->depth) {
		struct sc_run *run = &rc->fifo[rc->fifo_head];
		swp_entry_t s;
		uint32_t n = 0;

		/* The next stretch of still-staged slots; clean ones on the way just go ... */
		while (run->nr && !swapcache_cmpxchg(&rc->swap, run->slot, SC_STAGED, SC_WRITEBACK)) {
			uint32_t c = 0;

			while (c < run->nr && swapcache_cmpxchg(&rc->swap, run->slot + c, SC_CLEAN, SC_BUSY))
				c++;
			if (c) {
				/* The same on disk: no write. */
				if (cn && (cs + cn != run->slot || cn + c > CLEAN_RUN_MAX)) {
					swapcache_drop(rc, cs, cn);
					dropped += cn;
					cn = 0;
				}
				if (!cn)
					cs = run->slot;
				cn += c;
				stat_add(&rc->stats, swap_clean, c);
			} else {
				c = 1;
			}
			run->slot += c;
			run->nr -= c;
		}
		if (!run->nr) {
			rc->fifo_head = (rc->fifo_head + 1) % rc->fifo_cap;
			rc->fifo_len--;
			continue;
		}
		/*
		 * ... which goes on into the next runs while their slots follow
		 * (pages deactivated one by one got consecutive slots): one write
		 * of up to RUN_MAX pages, not one per run.
		 */
		s = run->slot;
		for (;;) {
			run->slot++;
			run->nr--;
			n++;
			if (!run->nr) {
				rc->fifo_head = (rc->fifo_head + 1) % rc->fifo_cap;
				rc->fifo_len--;
				if (!rc->fifo_len)
					break;
				run = &rc->fifo[rc->fifo_head];
				if (run->slot != s + n)
					break;
			}
			if (n == RUN_MAX || queued + n >= want ||
			    !swapcache_cmpxchg(&rc->swap, run->slot, SC_STAGED, SC_WRITEBACK))
				break;
		}
		struct io_uring_sqe *sqe = io_uring_get_sqe(&rc->ring);

		if (!sqe) {
			for (uint32_t k = 0; k < n; k++)
				swapcache_set(&rc->swap, s + k, SC_STAGED);
			fifo_push(rc, s, n);
			break;
		}
		io_uring_prep_write(sqe, rc->swap.fd, (void *)swap_stage_addr(&rc->swap, s),
				    n << PAGE_SHIFT, (uint64_t)s << PAGE_SHIFT);
		sqe->user_data = wr_tag(s, n);
		nreq++;
		queued += n;
	}
	if (cn) {
		swapcache_drop(rc, cs, cn);
		dropped += cn;
	}
	__atomic_sub_fetch(&rc->nr_staged, queued, __ATOMIC_RELAXED);
	pthread_rwlock_unlock(&mm->lock);
	if (dropped)
		wake_handlers(rc);
	if (!nreq)
		return dropped;

	io_uring_submit_and_wait(&rc->ring, nreq);
	for (unsigned got = 0; got < nreq;) {
		struct io_uring_cqe *cqe;
		swp_entry_t s;
		uint32_t n;
		int r = io_uring_wait_cqe(&rc->ring, &cqe);

		if (r == -EINTR)
			continue;
		if (r < 0) {
			pr_err("swap write completion: %s", strerror(-r));
			break;
		}
		s = (swp_entry_t)(cqe->user_data >> 8);
		n = (uint32_t)(cqe->user_data & 0xff);
		r = cqe->res;
		io_uring_cqe_seen(&rc->ring, cqe);
		got++;
		pthread_rwlock_rdlock(&mm->lock);
		if (r == (int)(n << PAGE_SHIFT)) {
			sys_madvise((void *)swap_stage_addr(&rc->swap, s), (size_t)n << PAGE_SHIFT,
				    MADV_DONTNEED);
			for (uint32_t k = 0; k < n; k++) {
				swapcache_set(&rc->swap, s + k, SC_NONE);
				swap_free(&rc->swap, s + k);
			}
			__atomic_sub_fetch(&rc->nr_swapcache, n, __ATOMIC_RELAXED);
			stat_add(&rc->stats, swap_out, n);
			written += n;
		} else {
			/* The pages stay in memory, staged; nothing is lost. */
			for (uint32_t k = 0; k < n; k++)
				swapcache_set(&rc->swap, s + k, SC_STAGED);
			fifo_push(rc, s, n);
			__atomic_add_fetch(&rc->nr_staged, n, __ATOMIC_RELAXED);
			stat_inc(&rc->stats, swap_errors);
			rc->swap_broken_until = now_ns() + 1000000000ULL;
			if (!rc->warned)
				pr_warn("writing the swap file failed: %s; pages stay in memory, over the "
					"budget", r < 0 ? strerror(-r) : "short write");
			rc->warned = true;
		}
		pthread_rwlock_unlock(&mm->lock);
	}
	wake_handlers(rc);
	return written + dropped;
}

/* ---- file pages ---- */

static bool as_listed(struct reclaim *rc, uintptr_t as)
{
	for (struct address_space *a = *rc->mappings; a; a = a->next)
		if ((uintptr_t)a == as)
			return true;
	return false;
}

static long evict_file_run(struct reclaim *rc, struct address_space *as, pgoff_t i, uint32_t n,
			   bool tracked)
{
	long written = 0, r = filemap_evict(rc->mm, as, i, n, tracked, &written);

	if (r > 0)
		stat_add(&rc->stats, file_dropped, (uint64_t)r);
	stat_add(&rc->stats, file_written, (uint64_t)written);
	return r > 0 ? r : 0;
}

/*
 * Drop up to `want` clean pages of the page cache, clock-wise over the
 * files.  Pages of files that shared mappings write are written back first
 * (filemap_evict does it, with the pages locked against faults).
 */
static long shrink_file(struct reclaim *rc, long want)
{
	struct mm *mm = rc->mm;
	struct address_space *as;
	long done = 0;
	unsigned files = 0;

	pthread_rwlock_rdlock(&mm->lock);
	as = as_listed(rc, rc->file_hand_as) ? (struct address_space *)rc->file_hand_as : *rc->mappings;
	if ((uintptr_t)as != rc->file_hand_as)
		rc->file_hand = 0;
	while (as && done < want && files++ < 4096) {
		pgoff_t end = size_to_pages(__atomic_load_n(&as->size, __ATOMIC_RELAXED));
		bool tracked;

		if (end > as->nr_pages)
			end = as->nr_pages;
		if (as->anon || as->shared_with_child || !__atomic_load_n(&as->nr_cached, __ATOMIC_RELAXED))
			rc->file_hand = end;
		/* Every file a tracked mapping maps is marked ever_written (vma_register). */
		tracked = as->ever_written;
		while (rc->file_hand < end && done < want) {
			pgoff_t i = rc->file_hand;
			uint32_t n = 0;
			long r;

			stat_inc(&rc->stats, reclaim_scanned);
			if (page_state(as, i) != PG_UPTODATE) {
				rc->file_hand++;
				continue;
			}
			while (i + n < end && n < READ_RUN_PAGES && (long)n < want - done &&
			       page_state(as, i + n) == PG_UPTODATE)
				n++;
			r = evict_file_run(rc, as, i, n, tracked);
			done += r;
			rc->file_hand = i + n;
		}
		if (rc->file_hand >= end) {
			as = as->next ? as->next : *rc->mappings;
			rc->file_hand = 0;
		}
		rc->file_hand_as = (uintptr_t)as;
	}
	pthread_rwlock_unlock(&mm->lock);
	if (done)
		wake_handlers(rc);
	return done;
}

void reclaim_note_fill(struct reclaim *rc, struct address_space *as, pgoff_t index, uint32_t nr)
{
	reclaim_note_peak(rc);
	if (rc->enabled)
		run_fifo_push(&rc->ffifo, (uintptr_t)as, index, nr);
}

void reclaim_list_anon(struct reclaim *rc, uintptr_t addr, long nr)
{
	if (rc->enabled && nr > 0)
		run_fifo_push(&rc->afifo, 0, addr, (uint32_t)nr);
}

void reclaim_charge_anon(struct reclaim *rc, uintptr_t addr, long nr)
{
	reclaim_list_anon(rc, addr, nr);
	reclaim_charge(rc, &rc->nr_anon, nr);
}

/*
 * The oldest runs read into the cache go first (the kernel puts new file
 * pages on its inactive list too): a sequential reader's pages leave behind
 * it, never the readahead ahead of it.
 */
static long shrink_file_fifo(struct reclaim *rc, long want)
{
	struct mm *mm = rc->mm;
	struct lru_run run;
	long done = 0;

	pthread_rwlock_rdlock(&mm->lock);
	while (done < want && run_fifo_pop(&rc->ffifo, &run)) {
		struct address_space *as = (struct address_space *)run.owner;

		if (!as_listed(rc, run.owner) || as->anon || as->shared_with_child)
			continue;
		if (run.index >= as->nr_pages)
			continue;
		if (run.index + run.nr > as->nr_pages)
			run.nr = (uint32_t)(as->nr_pages - run.index);
		stat_add(&rc->stats, reclaim_scanned, run.nr);
		done += evict_file_run(rc, as, run.index, run.nr, as->ever_written);
	}
	pthread_rwlock_unlock(&mm->lock);
	if (done)
		wake_handlers(rc);
	return done;
}

/* ---- the thread ---- */

static void wait_kick(struct reclaim *rc, int timeout_ms)
{
	struct pollfd p = { .fd = rc->kick_fd, .events = POLLIN };
	eventfd_t v;

	if (poll(&p, 1, timeout_ms) > 0)
		eventfd_read(rc->kick_fd, &v);
}

static void give_up(struct reclaim *rc, const char *why, bool warn)
{
	if (warn && !rc->warned) {
		pr_warn("cannot keep the memory budget (%ld MiB): %s; going over it",
			(rc->limit << PAGE_SHIFT) >> 20, why);
		rc->warned = true;
	}
	if (!__atomic_load_n(&rc->overrun, __ATOMIC_RELAXED)) {
		__atomic_store_n(&rc->overrun, true, __ATOMIC_RELEASE);
		wake_handlers(rc);
	}
}

static void *reclaim_main(void *arg)
{
	struct reclaim *rc = arg;
	unsigned stuck = 0;

	while (!__atomic_load_n(&rc->stopping, __ATOMIC_ACQUIRE)) {
		long resident, need, anon, file, progress = 0;
		bool can_swap;

		/* Idle before looking: a charge from now on wakes us. */
		__atomic_store_n(&rc->busy, false, __ATOMIC_RELEASE);
		resident = reclaim_resident(rc);
		if (resident <= rc->high) {
			if (__atomic_load_n(&rc->overrun, __ATOMIC_RELAXED)) {
				__atomic_store_n(&rc->overrun, false, __ATOMIC_RELEASE);
				wake_handlers(rc);
			}
			wait_kick(rc, 1000);
			continue;
		}
		__atomic_store_n(&rc->busy, true, __ATOMIC_RELEASE);
		need = resident - rc->low;
		if (need > 16384)
			need = 16384;
		anon = __atomic_load_n(&rc->nr_anon, __ATOMIC_RELAXED) +
		       __atomic_load_n(&rc->nr_swapcache, __ATOMIC_RELAXED);
		file = __atomic_load_n(&rc->nr_file, __ATOMIC_RELAXED);
		can_swap = now_ns() >= rc->swap_broken_until;

		/*
		 * Like the kernel's swappiness (60): file pages are cheaper to
		 * drop, so they are scanned more than their share.
		 */
		if (file) {
			long f = anon ? need * file * 140 / (file * 140 + anon * 60) + 1 : need;

			if (!can_swap || swap_used(&rc->swap) >= rc->swap.nr_slots)
				f = need;
			long got = shrink_file_fifo(rc, f);

			if (got < f)
				got += shrink_file(rc, f - got);
			progress += got;
		}
		if (can_swap && (anon || __atomic_load_n(&rc->nr_staged, __ATOMIC_RELAXED))) {
			long left = need - progress, target = rc->limit / 8;

			if (left > 0) {
				long staged = __atomic_load_n(&rc->nr_staged, __ATOMIC_RELAXED);

				/* Keep the inactive list long enough for a page to be touched again. */
				if (staged < left + target) {
					long want = left + target - staged;

					long got;

					if (want > 8192)
						want = 8192;
					got = shrink_anon_fifo(rc, want);
					if (got >= 0 && got < want)
						got = shrink_anon(rc, want - got);
					if (got == -ENOSPC &&
					    !__atomic_load_n(&rc->nr_staged, __ATOMIC_RELAXED))
						give_up(rc, "the swap file is full", true);
				}
				progress += writeout(rc, left);
			}
		}
		if (progress > 0) {
			stuck = 0;
			wake_handlers(rc);
			continue;
		}
		/*
		 * No room made this round: let faults go over the budget rather
		 * than wait on nothing; say so once it is not a passing moment
		 * (pages in flight, being touched again) but the state of things.
		 */
		stuck++;
		if (!can_swap)
			give_up(rc, "writing the swap file fails", true);
		else if (swap_used(&rc->swap) >= rc->swap.nr_slots)
			give_up(rc, "the swap file is full", true);
		else
			give_up(rc, "nothing more can be evicted (pages shared with a child since fork, "
				    "or not writable)", stuck >= 50);
		__atomic_store_n(&rc->busy, false, __ATOMIC_RELEASE);
		wait_kick(rc, 100);
	}
	return NULL;
}

/* ---- lifetime ---- */

int reclaim_init(struct reclaim *rc, struct mm *mm, struct address_space **mappings,
		 const struct pager_config *cfg, int handler_wake_fd, char *err, size_t errlen)
{
	long delta;
	int r;

	memset(rc, 0, sizeof(*rc));
	rc->mm = mm;
	rc->mappings = mappings;
	rc->kick_fd = -1;
	rc->swap.fd = -1;
	rc->handler_wake_fd = handler_wake_fd;
	if (!cfg->budget_bytes)
		return 0;
	rc->limit = (long)(cfg->budget_bytes >> PAGE_SHIFT);
	delta = rc->limit / 64 > 256 ? rc->limit / 64 : 256;
	rc->high = rc->limit - delta;
	rc->low = rc->limit - 2 * delta;
	if (rc->low < rc->limit / 4)
		rc->low = rc->limit / 4;
	if (!(mm->uffd.features & UFFD_FEATURE_MOVE)) {
		snprintf(err, errlen, "PAGER_BUDGET needs UFFDIO_MOVE (Linux 6.8 or later)");
		return -ENOTSUP;
	}
	r = swap_open(&rc->swap, mm, cfg->swap_path, cfg->swap_bytes, err, errlen);
	if (r)
		return r;
	rc->fifo_cap = (size_t)rc->limit * 2 + 4096;
	rc->fifo = kcalloc(rc->fifo_cap, sizeof(*rc->fifo));
	r = run_fifo_init(&rc->ffifo, (size_t)rc->limit + 4096);
	if (!r)
		r = run_fifo_init(&rc->afifo, (size_t)rc->limit + 4096);
	rc->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	rc->depth = WRITE_DEPTH;
	if (!rc->fifo || r || rc->kick_fd < 0) {
		snprintf(err, errlen, "reclaim: %s", strerror(rc->fifo ? errno : ENOMEM));
		reclaim_destroy(rc);
		return -ENOMEM;
	}
	rc->enabled = true;
	return 0;
}

int reclaim_start(struct reclaim *rc)
{
	int r;

	if (!rc->enabled)
		return 0;
	r = io_uring_queue_init(rc->depth, &rc->ring, 0);
	if (r < 0)
		return r;
	fcntl(rc->ring.ring_fd, F_SETFD, FD_CLOEXEC);
	rc->stopping = false;
	r = engine_thread_create(&rc->thread, reclaim_main, rc);
	if (r) {
		io_uring_queue_exit(&rc->ring);
		return -r;
	}
	rc->started = true;
	return 0;
}

void reclaim_stop(struct reclaim *rc)
{
	if (!rc->started)
		return;
	__atomic_store_n(&rc->stopping, true, __ATOMIC_RELEASE);
	eventfd_write(rc->kick_fd, 1);
	pthread_join(rc->thread, NULL);
	io_uring_queue_exit(&rc->ring);
	rc->started = false;
}

void reclaim_destroy(struct reclaim *rc)
{
	reclaim_stop(rc);
	if (rc->swap.stage || rc->swap.fd >= 0)
		swap_close(&rc->swap);
	kfree(rc->fifo);
	rc->fifo = NULL;
	run_fifo_destroy(&rc->ffifo);
	run_fifo_destroy(&rc->afifo);
	if (rc->kick_fd >= 0)
		close(rc->kick_fd);
	rc->kick_fd = -1;
	rc->enabled = false;
}

void reclaim_fork_prepare(struct reclaim *rc)
{
	struct mm *mm = rc->mm;

	if (!rc->enabled)
		return;
	/* The child will hold references of its own: count them before it exists. */
	for (size_t k = 0; k < mm->nr_vmas; k++) {
		struct vma *v = mm->vmas[k];

		if (v->mapping || !v->swp)
			continue;
		for (size_t i = 0; i < vma_pages(v); i++)
			if (pte_get(v, i) & (PTE_SWAP | PTE_SLOT))
				swap_dup(&rc->swap, v->swp[i]);
	}
	for (swp_entry_t e = 0; e < rc->swap.nr_slots; e++)
		if (swapcache_state(&rc->swap, e) != SC_NONE && swapcache_state(&rc->swap, e) != SC_ORPHAN)
			swap_dup(&rc->swap, e);
}

int reclaim_fork_child(struct reclaim *rc, int handler_wake_fd)
{
	struct mm *mm = rc->mm;
	swp_entry_t e;
	int r;

	rc->handler_wake_fd = handler_wake_fd;
	if (!rc->enabled)
		return 0;
	rc->forked = true;
	rc->started = false;
	pthread_spin_init(&rc->ffifo.lock, PTHREAD_PROCESS_PRIVATE);
	pthread_spin_init(&rc->afifo.lock, PTHREAD_PROCESS_PRIVATE);
	close(rc->kick_fd);
	rc->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	/* Reads the parent started will not complete here. */
	for (size_t k = 0; k < mm->nr_vmas; k++) {
		struct vma *v = mm->vmas[k];

		if (v->mapping || !v->swp)
			continue;
		for (size_t i = 0; i < vma_pages(v); i++)
			if (pte_get(v, i) & PTE_LOCKED)
				pte_set(v, i, pte_get(v, i) & (uint8_t)~PTE_LOCKED);
	}
	/* Our copy of the swap cache: every page in it is staged, in slot order. */
	rc->fifo_head = rc->fifo_len = 0;
	rc->nr_staged = 0;
	for (e = 0; e < rc->swap.nr_slots; e++) {
		if (swapcache_state(&rc->swap, e) == SC_NONE)
			continue;
		if (swapcache_state(&rc->swap, e) == SC_ORPHAN) {
			/* The parent's read, the parent's reference: not ours. */
			swapcache_set(&rc->swap, e, SC_NONE);
			continue;
		}
		swapcache_set(&rc->swap, e, SC_STAGED);
		rc->nr_staged++;
		if (rc->fifo_len && rc->fifo[(rc->fifo_head + rc->fifo_len - 1) % rc->fifo_cap].slot +
						rc->fifo[(rc->fifo_head + rc->fifo_len - 1) % rc->fifo_cap].nr ==
					e &&
		    rc->fifo[(rc->fifo_head + rc->fifo_len - 1) % rc->fifo_cap].nr < RUN_MAX)
			rc->fifo[(rc->fifo_head + rc->fifo_len - 1) % rc->fifo_cap].nr++;
		else
			fifo_push(rc, e, 1);
	}
	r = swap_register(&rc->swap, mm);
	if (r)
		return r;
	return reclaim_start(rc);
}

void reclaim_release_all(struct reclaim *rc)
{
	struct mm *mm = rc->mm;

	if (!rc->enabled)
		return;
	for (size_t k = 0; k < mm->nr_vmas; k++) {
		struct vma *v = mm->vmas[k];

		if (!v->mapping && v->swp)
			reclaim_forget_pages(rc, v, 0, vma_pages(v));
	}
	/* A page being written too: the thread that would finish it is stopped. */
	for (swp_entry_t e = 0; e < rc->swap.nr_slots; e++) {
		if (swapcache_take(&rc->swap, e) || swapcache_cmpxchg(&rc->swap, e, SC_WRITEBACK, SC_BUSY))
			swapcache_taken(rc, e);
		else if (swapcache_cmpxchg(&rc->swap, e, SC_ORPHAN, SC_NONE))
			swap_free(&rc->swap, e); /* its read will not land now */
	}
}

int reclaim_swapin_range(struct reclaim *rc, struct vma *v, size_t first, size_t end)
{
	struct mm *mm = rc->mm;
	char *buf = NULL;
	int err = 0;

	for (size_t i = first; i < end; i++) {
		uint8_t p = pte_get(v, i);
		uintptr_t addr = v->start + (i << PAGE_SHIFT);
		swp_entry_t e;
		const void *src;
		long r;

		if (!(p & PTE_SWAP) || !rc->enabled)
			continue;
		e = v->swp[i];
		if (swapcache_state(&rc->swap, e) != SC_NONE) {
			src = (const void *)swap_stage_addr(&rc->swap, e); /* staged or being written: there */
		} else {
			if (!buf && !(buf = kpages(PAGE_SIZE)))
				return -ENOMEM;
			if (sys_pread(rc->swap.fd, buf, PAGE_SIZE, (off_t)e << PAGE_SHIFT) != (ssize_t)PAGE_SIZE) {
				err = -EIO;
				continue;
			}
			src = buf;
		}
		r = mm->ops->install_copy(mm, addr, src, PAGE_SIZE);
		if (r < 0 && r != -EEXIST) {
			err = (int)r;
			continue;
		}
		if (swap_free(&rc->swap, e) == 1 && swapcache_take(&rc->swap, e))
			swapcache_taken(rc, e);
		pte_set(v, i, PTE_PRESENT);
		__atomic_add_fetch(&rc->nr_anon, 1, __ATOMIC_RELAXED);
	}
	kpages_free(buf, PAGE_SIZE);
	return err;
}

void reclaim_stats(struct reclaim *rc, struct pager_stats *st)
{
	stats_sum(st, &rc->stats);
	st->resident_bytes = (uint64_t)reclaim_resident(rc) << PAGE_SHIFT;
	st->peak_resident_bytes = (uint64_t)__atomic_load_n(&rc->peak, __ATOMIC_RELAXED) << PAGE_SHIFT;
	st->swapcache_bytes = (uint64_t)__atomic_load_n(&rc->nr_swapcache, __ATOMIC_RELAXED) << PAGE_SHIFT;
	st->swap_used_bytes = rc->enabled ? (uint64_t)swap_used(&rc->swap) << PAGE_SHIFT : 0;
	st->budget_bytes = (uint64_t)rc->limit << PAGE_SHIFT;
}
