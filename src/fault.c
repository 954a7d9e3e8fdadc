/*
 * fault.c - handle_mm_fault and the handler threads (see fault.h).
 *
 * The path reads like the kernel's: handle_mm_fault finds the vma and
 * dispatches to do_anonymous_page or do_read_fault; each returns FAULT_DONE
 * (the page is in, or the access got its SIGBUS) or FAULT_WAIT (a read is in
 * flight; the fault is parked and tried again when reads complete).
 */
#include "sys.h"
#include "kmem.h"
#include "fault.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "stats.h"
#include "thread.h"

enum fault_result { FAULT_DONE, FAULT_WAIT, FAULT_AGAIN /* the page changed under us: look again */ };

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uintptr_t page_addr(const struct vma *v, size_t i)
{
	return v->start + (i << PAGE_SHIFT);
}

/*
 * Install one run of pages.  `src` NULL means zero pages.  A page that is
 * already there (-EEXIST: another fault won the race, or the program's own
 * madvise left our "present" bit stale) is skipped.  Returns false when the
 * range is gone (unmapped under us) or the client is.
 */
static bool install_run(struct handler *h, struct vma *v, size_t first, size_t n, const char *src,
			bool zeropage)
{
	struct mm *mm = h->env->mm;
	size_t done = 0;
	int again = 0;

	while (done < n) {
		uintptr_t dst = page_addr(v, first + done);
		size_t len = (n - done) << PAGE_SHIFT;
		long rc;

		if (zeropage)
			rc = mm->ops->install_zero(mm, dst, len);
		else
			rc = mm->ops->install_copy(mm, dst, src ? src + (done << PAGE_SHIFT) : h->env->zero,
						   len);
		if (rc > 0) {
			size_t pages = (size_t)rc >> PAGE_SHIFT;

			for (size_t i = 0; i < pages; i++)
				pte_set_present(v, first + done + i);
			if (!v->mapping)
				reclaim_charge_anon(h->env->rc, dst, (long)pages);
			stat_add(&h->stats, pages_installed, pages);
			done += pages;
			continue;
		}
		if (rc == -EEXIST) {
			/* Someone installed it; make sure its waiters run. */
			pte_set_present(v, first + done);
			mm->ops->wake(mm, dst, PAGE_SIZE);
			done++;
		} else if (rc == -EAGAIN && again++ < 100) {
			continue; /* the mm is changing under us: try again */
		} else {
			if (rc != -ENOENT && rc != -ESRCH)
				pr_warn("installing %zu pages at %#lx failed: %s", n - done,
					(unsigned long)dst, strerror((int)-rc));
			/* Never leave a thread waiting: if the range is still there, it faults again. */
			mm->ops->wake(mm, dst, len);
			return false;
		}
	}
	return true;
}

/* An access the kernel would answer with SIGBUS (past EOF, I/O error). */
static void do_sigbus(struct handler *h, struct vma *v, uintptr_t addr)
{
	struct mm *mm = h->env->mm;
	long rc;

	/* Marked first: the thread runs on (to its SIGBUS) the moment the poison is in. */
	__atomic_or_fetch(&v->ptes[vma_page(v, addr)], PTE_PRESENT | PTE_POISON, __ATOMIC_RELAXED);
	rc = mm->ops->install_poison(mm, addr & PAGE_MASK, PAGE_SIZE);
	if (rc == -EEXIST) {
		/*
		 * A write-protect marker (shared mappings whose stores we track)
		 * holds the empty entry: lift it, then poison.
		 */
		mm->ops->unprotect(mm, addr & PAGE_MASK, PAGE_SIZE);
		rc = mm->ops->install_poison(mm, addr & PAGE_MASK, PAGE_SIZE);
	}
	if (rc < 0) {
		if (rc != -EEXIST)
			pr_err("cannot raise SIGBUS at %#lx: %s", (unsigned long)addr,
			       strerror((int)-rc));
		/* Never leave the thread waiting: let it fault again. */
		mm->ops->wake(mm, addr & PAGE_MASK, PAGE_SIZE);
	}
	stat_inc(&h->stats, sigbus);
}

/*
 * How far a first touch of anonymous page i is served: one page, or for a
 * sequential toucher the growing window of the readahead logic.
 */
static size_t first_touch_end(struct vma *v, size_t i)
{
	size_t end = i + 1;
	struct ra_decision d;

	pthread_spin_lock(&v->ra_lock);
	if (ra_fault(&v->ra, i, true, vma_pages(v), &d)) {
		end = d.sync.start + d.sync.nr;
		if (d.async.nr && d.async.start + d.async.nr > end)
			end = d.async.start + d.async.nr;
	}
	pthread_spin_unlock(&v->ra_lock);
	/* A window that ends before the fault (the state moved on meanwhile) or past the vma. */
	if (end <= i)
		end = i + 1;
	if (end > vma_pages(v))
		end = vma_pages(v);
	return end - i > ZERO_BUF_PAGES ? i + ZERO_BUF_PAGES : end;
}

/*
 * Anonymous memory: a read gets the zero page, a write a zeroed page.  A
 * first touch just after the previous one (a sequential writer) gets a
 * growing window of pages, the way mTHP would serve it, so that streaming
 * over fresh memory does not pay a fault per page; random touches get one.
 */
static int do_anonymous_page(struct handler *h, struct vma *v, uintptr_t addr, bool write)
{
	size_t i = vma_page(v, addr), end;

	pte_clear(v, i);
	end = first_touch_end(v, i);
	if (write)
		stat_inc(&h->stats, anon_write);
	else
		stat_inc(&h->stats, anon_zero);
	for (size_t j = i; j < end;) {
		size_t k = j;

		/* Around the fault, only pages that hold nothing (not swapped ones). */
		while (k < end && (k == i || !pte_get(v, k)))
			k++;
		if (k > j && !install_run(h, v, j, k - j, NULL, !write))
			break;
		j = k + 1;
	}
	return FAULT_DONE;
}

/* Read slots [e, e + n) in one request; `mask` says which of them this read locked and installs. */
static int start_swap_read(struct handler *h, swp_entry_t e, uint32_t n, uint64_t mask,
			   bool background)
{
	struct reclaim *rc = h->env->rc;
	struct io_req *r = io_req_get(&h->io);

	if (!r)
		return -EBUSY;
	r->owner = NULL;
	r->swap = true;
	r->mask = mask;
	r->index = e;
	r->nr = n;
	r->fd = rc->swap.fd;
	r->off = (off_t)e << PAGE_SHIFT;
	r->len = (size_t)n << PAGE_SHIFT;
	r->background = background;
	if (io_queue_read(&h->io, r)) {
		io_req_put(&h->io, r);
		return -EBUSY;
	}
	/* Locked, not yet charged: the stream leaves them room (swap_read_done takes them off). */
	__atomic_add_fetch(&h->env->swap_reading, __builtin_popcountll(mask), __ATOMIC_RELAXED);
	return 0;
}
/*
 * Lock swapped page j of v for a read of slot e.  The slot's state is looked
 * at only once the lock is held: before it, reclaim may be between putting a
 * page into the swap cache at a fresh slot (state still SC_NONE, nothing on
 * disk yet) and marking its pte swapped, and a read of that slot would put
 * back what the disk held before.  Locked, the slot cannot change and its
 * state cannot become anything but SC_NONE.
 */
static bool swap_lock_for_read(struct reclaim *rc, struct vma *v, size_t j, swp_entry_t e)
{
	if (!pte_cmpxchg(v, j, PTE_SWAP, PTE_SWAP | PTE_LOCKED))
		return false;
	if (v->swp[j] == e && swapcache_state(&rc->swap, e) == SC_NONE)
		return true;
	pte_set(v, j, PTE_SWAP);
	return false;
}

/* The page slot e was swapped out from, if it is still there, swapped, in slot e: its vma. */
static struct vma *swap_owner_vma(struct handler *h, swp_entry_t e, uint8_t want, size_t *idx)
{
	uintptr_t a = swap_owner(&h->env->rc->swap, e);
	struct vma *v = a ? find_vma(h->env->mm, a) : NULL;

	if (!v || v->mapping || !v->swp || a < v->start)
		return NULL;
	*idx = vma_page(v, a);
	if (pte_get(v, *idx) != want || v->swp[*idx] != e)
		return NULL;
	return v;
}

#define SWAP_RA_MAX 256U /* pages read back around one swap fault, at most (1 MiB) */
#define SWAP_READ_MAX 64U /* slots per swap read (its lock mask) */
#define SWAP_CLUSTER 8U /* the kernel's page-cluster 3: slots read around a random fault */
#define SWAP_STREAM_MAX 256U /* slots a stream of swap faults reads ahead of itself, at most */
#define SWAP_STREAM_RESERVE (4 * SWAP_CLUSTER) /* budget pages it leaves to the faults' own reads */

/*
 * Lock, for one read, the slots of [lo, hi) (at most SWAP_READ_MAX of
 * them) that still hold a page of this process to put back: swapped out
 * of it, still at the address the reverse map says, not in the swap cache.
 * Bit s - lo of the result is slot s.
 */
static uint64_t swap_lock_slots(struct handler *h, swp_entry_t lo, swp_entry_t hi)
{
	struct reclaim *rc = h->env->rc;
	uint64_t mask = 0;

	for (swp_entry_t s = lo; s < hi; s++) {
		struct vma *w;
		size_t j;

		if (swapcache_state(&rc->swap, s) != SC_NONE || !swap_count(&rc->swap, s))
			continue;
		w = swap_owner_vma(h, s, PTE_SWAP, &j);
		if (w && swap_lock_for_read(rc, w, j, s))
			mask |= 1ULL << (s - lo);
	}
	return mask;
}

/* The read could not start: the slots of `mask` from `first` go back to swapped, unlocked. */
static void swap_unlock_slots(struct handler *h, swp_entry_t first, uint64_t mask)
{
	for (uint32_t k = 0; mask >> k; k++) {
		struct vma *w;
		size_t j;

		if ((mask >> k) & 1 && (w = swap_owner_vma(h, first + k, PTE_SWAP | PTE_LOCKED, &j)))
			pte_set(w, j, PTE_SWAP);
	}
}

/* Lock and read, in the background, what can be read back of slots [lo, hi). */
static void swap_read_range(struct handler *h, swp_entry_t lo, swp_entry_t hi)
{
	for (swp_entry_t s = lo; s < hi; s += SWAP_READ_MAX) {
		swp_entry_t end = s + SWAP_READ_MAX < hi ? s + SWAP_READ_MAX : hi;
		uint64_t mask = swap_lock_slots(h, s, end);
		unsigned first, last;

		if (!mask)
			continue;
		first = (unsigned)__builtin_ctzll(mask);
		last = 63U - (unsigned)__builtin_clzll(mask);
		mask >>= first;
		if (start_swap_read(h, s + first, last - first + 1, mask, true)) {
			swap_unlock_slots(h, s + first, mask);
			return; /* the ring is full: the rest is read when it faults */
		}
	}
}

/*
 * A stream of swap faults: faults that come to slots in the order they
 * were written (a program that goes over its pages again in the order it
 * went the last time, whatever their addresses: reclaim gave them slots in
 * that order).  It gets what the file readahead gives a sequential reader:
 * a window read ahead of it in the background, doubled each time the
 * stream reaches it, up to SWAP_STREAM_MAX slots, so that it rarely waits
 * for the disk.  A fault elsewhere only notes where it is: two clusters in
 * a row make a stream.  caught_up: the fault is on a page whose read is in
 * flight (the program goes as fast as the disk): the next window now.
 * The window never takes the budget's last pages: what is read ahead is
 * installed, charged, and must not make a fault wait.
 */
static void swap_stream(struct handler *h, swp_entry_t e, bool caught_up)
{
	struct fault_env *env = h->env;
	struct reclaim *rc = env->rc;
	struct swap_stream *st = &env->sst;
	swp_entry_t lo = e & ~(SWAP_CLUSTER - 1), from, to;
	long room;
	uint32_t size;

	pthread_spin_lock(&st->lock);
	if (caught_up) {
		if (!st->size || e < st->start || e >= st->next) {
			pthread_spin_unlock(&st->lock);
			return;
		}
	} else if (e < st->start || e >= st->next + SWAP_CLUSTER) {
		/* Not where the last read ended: maybe the first cluster of a stream. */
		st->start = lo;
		st->next = lo + SWAP_CLUSTER;
		st->size = 0;
		pthread_spin_unlock(&st->lock);
		return;
	}
	size = st->size ? st->size * 2 : 2 * SWAP_CLUSTER;
	if (size > SWAP_STREAM_MAX)
		size = SWAP_STREAM_MAX;
	room = rc->limit - reclaim_resident(rc) - __atomic_load_n(&env->swap_reading, __ATOMIC_RELAXED) -
	       (long)SWAP_STREAM_RESERVE;
	if (room < (long)SWAP_CLUSTER) {
		pthread_spin_unlock(&st->lock);
		return; /* no room now: the next fault of the stream tries again */
	}
	if ((long)size > room)
		size = (uint32_t)room & ~(SWAP_CLUSTER - 1);
	from = st->next > lo + SWAP_CLUSTER ? st->next : lo + SWAP_CLUSTER;
	to = from + size;
	if (to > rc->swap.nr_slots)
		to = rc->swap.nr_slots;
	st->start = from;
	st->next = to;
	st->size = size;
	pthread_spin_unlock(&st->lock);
	if (from < to)
		swap_read_range(h, from, to);
}

/*
 * swap_cluster_readahead: slot e faulted and its neighbours on disk were
 * most likely swapped out with it (reclaim takes pages in the order they
 * came in), so they are read with it, from the aligned cluster of
 * SWAP_CLUSTER slots, and put back wherever they were mapped: what a
 * random toucher that comes back in the same order needs next.  Slots not
 * swapped out of this process, or in the swap cache, are read and skipped.
 */
static int swap_cluster_read(struct handler *h, struct vma *v, size_t i, swp_entry_t e)
{
	struct reclaim *rc = h->env->rc;
	swp_entry_t lo = e & ~(SWAP_CLUSTER - 1), hi = lo + SWAP_CLUSTER;
	uint64_t mask;
	unsigned first, last;

	if (hi > rc->swap.nr_slots)
		hi = rc->swap.nr_slots;
	if (!swap_lock_for_read(rc, v, i, e))
		return -EAGAIN; /* another handler has it, or it changed: look again */
	swap_set_owner(&rc->swap, e, page_addr(v, i)); /* what the read goes by: make sure */
	mask = swap_lock_slots(h, lo, hi) | 1ULL << (e - lo);
	/*
	 * Pages after this one, at the next addresses, read with it: a fault
	 * after them follows this one (a sequential toucher whose pages went
	 * out in order gets its growing window from the next fault on).
	 */
	swp_entry_t s = e + 1;

	while (s < hi && (mask >> (s - lo)) & 1 && swap_owner(&rc->swap, s) == page_addr(v, i + (s - e)))
		s++;
	if (s > e + 1) {
		pthread_spin_lock(&v->ra_lock);
		v->ra.prev = i + (s - 1 - e);
		pthread_spin_unlock(&v->ra_lock);
	}
	first = (unsigned)__builtin_ctzll(mask);
	last = 63U - (unsigned)__builtin_clzll(mask);
	mask >>= first;
	if (start_swap_read(h, lo + first, last - first + 1, mask, false) == 0) {
		swap_stream(h, e, false);
		return 0;
	}
	/* The ring is full: unlock what this read had, the fault tries again. */
	swap_unlock_slots(h, lo + first, mask);
	return -EBUSY;
}

/*
 * do_swap_page: the page was swapped out.  In the swap cache (unmapped,
 * not yet written, or written and still there): move it back, no I/O, the
 * cheap refault that keeps a page in use resident.  Else read it with
 * swapin_readahead: for a sequential toucher the growing window of pages
 * after it (the pages whose slots follow its own, in as few reads as their
 * slots allow), else the slots around its own; park the fault until the
 * read lands.
 */
static int do_swap_page(struct handler *h, struct vma *v, uintptr_t addr, bool retry)
{
	struct fault_env *env = h->env;
	struct reclaim *rc = env->rc;
	struct mm *mm = env->mm;
	size_t i = vma_page(v, addr), end, j;
	uint8_t p = pte_get(v, i);
	swp_entry_t e = v->swp[i];
	long r;
	int sc;

	if (p & PTE_SWAP_ERR) {
		/* Its data could not be read back: SIGBUS, as the kernel's swap-in error. */
		swap_free(&rc->swap, e);
		pte_set(v, i, 0);
		do_sigbus(h, v, addr);
		return FAULT_DONE;
	}
	if (!retry)
		stat_inc(&h->stats, swap_faults);
	switch ((sc = swapcache_state(&rc->swap, e))) {
	case SC_STAGED:
	case SC_CLEAN:
		/*
		 * The pte first, then the slot: a slot taken to SC_BUSY and put
		 * back could be passed over by write-out in between, and stay
		 * off its list, in memory, until touched again.
		 */
		if (!pte_cmpxchg(v, i, PTE_SWAP, PTE_SWAP | PTE_LOCKED))
			return FAULT_WAIT;
		if (v->swp[i] != e || !swapcache_cmpxchg(&rc->swap, e, sc, SC_BUSY)) {
			pte_set(v, i, PTE_SWAP);
			return FAULT_AGAIN; /* being written, or another slot by now: look again */
		}
		r = mm->ops->move(mm, addr & PAGE_MASK, swap_stage_addr(&rc->swap, e), PAGE_SIZE);
		if (r == -EBUSY || r == -EINVAL)
			/* Shared with a child since fork, or protection changed: copy it. */
			r = mm->ops->install_copy(mm, addr & PAGE_MASK,
						  (const void *)swap_stage_addr(&rc->swap, e), PAGE_SIZE);
		if (r > 0 && sc == SC_CLEAN) {
			/* Unchanged since it was read back: it keeps its slot. */
			swapcache_taken(rc, e);
			pte_set(v, i, PTE_PRESENT | PTE_SLOT);
			reclaim_charge_anon(rc, addr & PAGE_MASK, 1);
			stat_inc(&h->stats, swapcache_hits);
			stat_inc(&h->stats, pages_installed);
		} else if (r > 0 || r == -EEXIST) {
			swapcache_taken(rc, e);
			swap_free(&rc->swap, e);
			pte_set(v, i, PTE_PRESENT);
			reclaim_charge_anon(rc, addr & PAGE_MASK, 1);
			stat_inc(&h->stats, swapcache_hits);
			stat_inc(&h->stats, pages_installed);
			if (r == -EEXIST)
				mm->ops->wake(mm, addr & PAGE_MASK, PAGE_SIZE);
		} else {
			pr_warn("moving a page back from the swap cache: %s", strerror((int)-r));
			swapcache_set(&rc->swap, e, sc);
			pte_set(v, i, PTE_SWAP);
			mm->ops->wake(mm, addr & PAGE_MASK, PAGE_SIZE);
		}
		return FAULT_DONE;
	case SC_NONE:
		break;
	default:
		return FAULT_WAIT; /* being written, or being moved back by another handler */
	}
	if (reclaim_must_wait(rc)) {
		if (!retry)
			stat_inc(&h->stats, budget_waits);
		return FAULT_WAIT;
	}
	end = first_touch_end(v, i);
	if (end - i > SWAP_RA_MAX)
		end = i + SWAP_RA_MAX;
	if (end == i + 1) {
		if (swap_cluster_read(h, v, i, e) == -EAGAIN && !(pte_get(v, i) & PTE_LOCKED))
			return FAULT_AGAIN;
		return FAULT_WAIT;
	}
	for (j = i; j < end;) {
		size_t k = j;

		while (k < end && pte_get(v, k) == PTE_SWAP && v->swp[k] == v->swp[j] + (k - j) &&
		       k - j < SWAP_READ_MAX && swap_lock_for_read(rc, v, k, v->swp[j] + (k - j))) {
			swap_set_owner(&rc->swap, v->swp[k], page_addr(v, k));
			k++;
		}
		if (k == j) {
			j++;
			continue;
		}
		if (start_swap_read(h, v->swp[j], (uint32_t)(k - j),
				    k - j == SWAP_READ_MAX ? ~0ULL : (1ULL << (k - j)) - 1, false)) {
			/* The ring is full: what was not started is read another time. */
			for (size_t m = j; m < k; m++)
				pte_set(v, m, PTE_SWAP);
			break;
		}
		j = k;
	}
	return FAULT_WAIT;
}

/*
 * Install the pages of slots [first, first + n) of a swap read, from buf,
 * where they belong: runs of pages whose addresses follow go in with one
 * copy.  Returns pages installed.
 */
static long swap_install(struct handler *h, const struct io_req *r, bool ok)
{
	struct mm *mm = h->env->mm;
	struct reclaim *rc = h->env->rc;
	long in = 0;

	/* Pages read back keep their slots while the file has room: unchanged, they need no write. */
	bool keep = swap_keep_slots(&rc->swap);

	for (uint32_t k = 0; k < r->nr;) {
		struct vma *v;
		size_t j;
		uint32_t n = 1;

		if (!((r->mask >> k) & 1) ||
		    !(v = swap_owner_vma(h, (swp_entry_t)r->index + k, PTE_SWAP | PTE_LOCKED, &j))) {
			/* Unmapped while it was read: the slot was kept for this read to free. */
			if (((r->mask >> k) & 1) && swapcache_cmpxchg(&rc->swap, r->index + k, SC_ORPHAN, SC_NONE))
				swap_free(&rc->swap, (swp_entry_t)r->index + k);
			k++; /* not this read's, or unmapped or moved while it was read */
			continue;
		}
		while (k + n < r->nr && ((r->mask >> (k + n)) & 1) && j + n < vma_pages(v) &&
		       pte_get(v, j + n) == (PTE_SWAP | PTE_LOCKED) && v->swp[j + n] == r->index + k + n)
			n++;
		if (!ok) {
			for (uint32_t m = 0; m < n; m++)
				pte_set(v, j + m, PTE_SWAP | PTE_SWAP_ERR);
			stat_inc(&h->stats, swap_errors);
			mm->ops->wake(mm, v->start + (j << PAGE_SHIFT), (size_t)n << PAGE_SHIFT);
			k += n;
			continue;
		}
		for (uint32_t done = 0; done < n;) {
			uintptr_t a = v->start + ((j + done) << PAGE_SHIFT);
			long c = mm->ops->install_copy(mm, a, (char *)r->buf + ((size_t)(k + done) << PAGE_SHIFT),
						       (size_t)(n - done) << PAGE_SHIFT);
			uint32_t pages = c > 0 ? (uint32_t)((size_t)c >> PAGE_SHIFT) : 1;

			if (c <= 0 && c != -EEXIST) {
				/* Gone under us (ESRCH, ENOENT): leave it swapped, unlocked. */
				for (uint32_t m = done; m < n; m++)
					pte_set(v, j + m, PTE_SWAP);
				break;
			}
			for (uint32_t m = done; m < done + pages; m++) {
				swp_entry_t s = v->swp[j + m];

				if (keep && c > 0) {
					page_sum((char *)r->buf + ((size_t)(k + m) << PAGE_SHIFT), &rc->swap.sums[s]);
					__atomic_thread_fence(__ATOMIC_RELEASE); /* the sum before the state */
					pte_set(v, j + m, PTE_PRESENT | PTE_SLOT);
				} else {
					swap_free(&rc->swap, s);
					pte_set(v, j + m, PTE_PRESENT);
				}
			}
			reclaim_list_anon(rc, a, pages); /* charged once for the read, below */
			in += pages;
			done += pages;
		}
		k += n;
	}
	if (in)
		reclaim_charge(rc, &rc->nr_anon, in);
	return in;
}

/* A swap-in landed: install what is still wanted, where it still is. */
static void swap_read_done(struct handler *h, struct io_req *r, int res)
{
	bool ok;
	long in;

	if (res == -EINTR || res == -EAGAIN || (res > 0 && r->done + (size_t)res < r->len)) {
		if (res > 0)
			r->done += (size_t)res;
		if (res != 0 && io_queue_read(&h->io, r) == 0)
			return;
	}
	ok = res >= 0 && r->done + (size_t)res == r->len;
	if (!ok)
		pr_warn("reading %u pages back from swap slot %llu: %s", r->nr,
			(unsigned long long)r->index, res < 0 ? strerror(-res) : "short read");
	in = swap_install(h, r, ok);
	__atomic_sub_fetch(&h->env->swap_reading, __builtin_popcountll(r->mask), __ATOMIC_RELAXED);
	if (in) {
		stat_add(&h->stats, swap_in, (uint64_t)in);
		stat_add(&h->stats, swap_readahead, (uint64_t)in - 1);
		stat_add(&h->stats, pages_installed, (uint64_t)in);
	}
	io_req_put(&h->io, r);
}

/* Private anonymous memory: swapped, being moved, or a first touch. */
static int handle_anon_fault(struct handler *h, struct vma *v, uintptr_t addr, bool write, bool retry)
{
	size_t i = vma_page(v, addr);
	unsigned again = 0;
	uint8_t p;

look:
	p = pte_get(v, i);
	if (p & PTE_LOCKED) {
		if ((p & PTE_SWAP) && !retry && h->env->rc->enabled)
			swap_stream(h, v->swp[i], true); /* its read is in flight: caught up? */
		return FAULT_WAIT; /* reclaim is moving it, or its read is in flight */
	}
	if (p & PTE_SWAP) {
		int r = do_swap_page(h, v, addr, retry);

		if (r != FAULT_AGAIN)
			return r;
		if (again++ < 4)
			goto look;
		return FAULT_WAIT;
	}
	if (retry && (p & PTE_PRESENT)) {
		h->env->mm->ops->wake(h->env->mm, addr & PAGE_MASK, PAGE_SIZE);
		return FAULT_DONE;
	}
	if (reclaim_must_wait(h->env->rc)) {
		if (!retry)
			stat_inc(&h->stats, budget_waits);
		return FAULT_WAIT;
	}
	return do_anonymous_page(h, v, addr, write);
}

static long start_read(struct handler *h, struct address_space *as, pgoff_t index, uint64_t nr,
		       bool background)
{
	long rc = page_cache_read(&h->io, as, index, (uint32_t)nr, background);

	if (rc < 0 && rc != -EBUSY)
		pr_warn("cannot start a read of the page cache: %s", strerror((int)-rc));
	return rc;
}

/*
 * The page is in the cache.  Usually the faulting thread only needs to retry:
 * the kernel maps it (with its fault-around).  Where minor faults come to us
 * (tracked shared mappings), map the run of cached pages from this one in a
 * single UFFDIO_CONTINUE, write-protected so that stores stay tracked.
 */
static int map_cached_page(struct handler *h, struct vma *v, uintptr_t addr)
{
	struct mm *mm = h->env->mm;
	size_t i = vma_page(v, addr), end = i + 1, limit = i + h->env->ra_max;
	long rc;

	if (!v->minor) {
		mm->ops->wake(mm, addr & PAGE_MASK, PAGE_SIZE);
		return FAULT_DONE;
	}
	if (limit > vma_pages(v))
		limit = vma_pages(v);
	while (end < limit && page_state(v->mapping, v->pgoff + end) == PG_UPTODATE)
		end++;
	rc = mm->ops->install_cached(mm, addr & PAGE_MASK, (end - i) << PAGE_SHIFT, v->wp);
	if (rc <= 0 && end > i + 1) /* a page of the run is not what we thought: just this one */
		rc = mm->ops->install_cached(mm, addr & PAGE_MASK, PAGE_SIZE, v->wp);
	if (rc > 0)
		stat_add(&h->stats, pages_installed, (uint64_t)rc >> PAGE_SHIFT);
	else
		mm->ops->wake(mm, addr & PAGE_MASK, PAGE_SIZE); /* there already, or gone: fault again */
	return FAULT_DONE;
}

/*
 * Shared anonymous memory (a memfd without a file): a missing page is a zero
 * page put into the memfd, so every process that shares the mapping sees the
 * same page.  Sequential first touches get a growing window, as for private
 * anonymous memory.
 */
static int do_shared_anonymous_page(struct handler *h, struct vma *v, uintptr_t addr)
{
	struct address_space *as = v->mapping;
	size_t i = vma_page(v, addr), end;
	pgoff_t index = v->pgoff + i;

	if (index >= size_to_pages(as->size)) {
		do_sigbus(h, v, addr); /* grown by mremap past the object: as the kernel's shmem */
		return FAULT_DONE;
	}
	if (page_state(as, index) == PG_UPTODATE && page_in_cache(as, index))
		return map_cached_page(h, v, addr);
	end = first_touch_end(v, i);
	if (end > size_to_pages(as->size))
		end = size_to_pages(as->size);
	stat_inc(&h->stats, anon_write);
	filemap_add_zero_pages(h->env->mm, as, index, (uint32_t)(end - i), h->env->zero);
	stat_add(&h->stats, pages_installed, end - i);
	return map_cached_page(h, v, addr);
}

/*
 * do_read_fault: a file page that is not in the cache (the kernel maps the
 * ones that are).  Like the kernel's filemap_fault: start readahead (a
 * synchronous window for this fault, an asynchronous one ahead of it) or,
 * for a random miss, read the fault-around window; park the fault until the
 * read lands, then wake the thread.  Also serves write faults: the page must
 * be in before a private copy is made or a shared page is dirtied.
 */
static int do_read_fault(struct handler *h, struct vma *v, uintptr_t addr, bool retry)
{
	struct fault_env *env = h->env;
	struct address_space *as = v->mapping;
	size_t i = vma_page(v, addr), npages = vma_pages(v);
	pgoff_t index = v->pgoff + i, eof;
	size_t lo, hi;
	int64_t size, old_size;
	int state = page_state(as, index);

	if (retry) {
		/* Parked: the only question is whether the read landed. */
		if (state == PG_LOCKED)
			return FAULT_WAIT;
		if (state == PG_UPTODATE)
			return map_cached_page(h, v, addr);
	}
	size = filemap_update_size(as, &old_size);
	if (size >= 0 && size != old_size)
		mm_file_resized(env->mm, as, old_size, size);
	if (size < 0) {
		do_sigbus(h, v, addr);
		return FAULT_DONE;
	}
	eof = size_to_pages(size);
	if (index >= eof) {
		do_sigbus(h, v, addr);
		return FAULT_DONE;
	}
	state = page_state(as, index);
	if (state == PG_ERROR) {
		filemap_clear_error(as, index);
		do_sigbus(h, v, addr);
		return FAULT_DONE;
	}
	if (state == PG_UPTODATE) {
		/* Filled since the fault was raised, or gone since we filled it? */
		if (page_in_cache(as, index)) {
			stat_inc(&h->stats, file_hit);
			return map_cached_page(h, v, addr);
		}
		set_page_state(as, index, PG_NONE);
		state = PG_NONE;
	}

	/* The fault-around window, aligned in the mapping like the kernel's. */
	lo = i & ~((size_t)env->fa_pages - 1);
	hi = lo + env->fa_pages;
	if (hi > npages)
		hi = npages;
	if (v->pgoff + hi > eof)
		hi = (size_t)(eof - v->pgoff);

	if (!retry) {
		struct ra_decision d;
		bool ra;

		pthread_spin_lock(&v->ra_lock);
		ra = ra_fault(&v->ra, index, state != PG_UPTODATE, eof, &d);
		pthread_spin_unlock(&v->ra_lock);
		stat_inc(&h->stats, file_miss);
		if (ra) {
			if (d.sync.nr)
				start_read(h, as, d.sync.start, d.sync.nr, false);
			/* At the budget, reading ahead would only push out what is in use. */
			if (d.async.nr && env->rc->enabled &&
			    reclaim_resident(env->rc) + (long)d.async.nr > env->rc->limit)
				d.async.nr = 0;
			if (d.async.nr) {
				long n = start_read(h, as, d.async.start, d.async.nr, true);

				stat_inc(&h->stats, readahead);
				if (n > 0)
					stat_add(&h->stats, readahead_pages, (uint64_t)n);
			}
		}
	}
	if (page_state(as, index) == PG_NONE) {
		/*
		 * A random miss: read around it, like the kernel's mmap read-around
		 * (do_sync_mmap_readahead), a readahead window aligned on the
		 * fault; under MADV_RANDOM only the fault-around window.
		 */
		if (v->ra.mode != RA_MODE_RANDOM && env->around_pages > env->fa_pages) {
			lo = i - i % env->around_pages;
			hi = lo + env->around_pages;
			if (hi > npages)
				hi = npages;
			if (v->pgoff + hi > eof)
				hi = (size_t)(eof - v->pgoff);
			pthread_spin_lock(&v->ra_lock);
			ra_read_around(&v->ra, v->pgoff + lo, (uint32_t)(hi - lo));
			pthread_spin_unlock(&v->ra_lock);
		}
		start_read(h, as, v->pgoff + lo, hi - lo, false);
	}
	state = page_state(as, index);
	if (state == PG_UPTODATE)
		return map_cached_page(h, v, addr);
	if (state == PG_ERROR) {
		filemap_clear_error(as, index);
		do_sigbus(h, v, addr);
		return FAULT_DONE;
	}
	return FAULT_WAIT;
}

static int handle_mm_fault(struct handler *h, uintptr_t addr, bool write, bool retry)
{
	struct mm *mm = h->env->mm;
	struct vma *v;
	int ret = FAULT_DONE;

	pthread_rwlock_rdlock(&mm->lock);
	v = find_vma(mm, addr);
	/* No vma: unmapped under us; the unmap woke the thread already. */
	if (v) {
		if (!retry)
			stat_inc(&h->stats, faults);
		if (!v->mapping)
			ret = handle_anon_fault(h, v, addr, write, retry);
		else if (!v->mapping->anon &&
			 page_state(v->mapping, v->pgoff + vma_page(v, addr)) != PG_UPTODATE &&
			 reclaim_must_wait(h->env->rc)) {
			/* A page for the cache and no room yet (shared anonymous memory is not counted). */
			if (!retry)
				stat_inc(&h->stats, budget_waits);
			ret = FAULT_WAIT;
		} else if (v->mapping->anon)
			ret = do_shared_anonymous_page(h, v, addr);
		else
			ret = do_read_fault(h, v, addr, retry);
	}
	pthread_rwlock_unlock(&mm->lock);
	return ret;
}

static void park(struct handler *h, uintptr_t addr, bool write, uint64_t t0)
{
	h->parked[h->nr_parked++] = (struct parked_fault){ .addr = addr, .t0 = t0, .write = write };
}

static void retry_parked(struct handler *h)
{
	unsigned n = h->nr_parked, kept = 0;

	for (unsigned k = 0; k < n; k++) {
		struct parked_fault *p = &h->parked[k];

		if (handle_mm_fault(h, p->addr, p->write, true) == FAULT_WAIT)
			h->parked[kept++] = *p;
		else
			stat_latency(&h->stats, now_ns() - p->t0);
	}
	h->nr_parked = kept;
}

/* Read fault messages while there is room to park what they need. */
static void read_faults(struct handler *h)
{
	struct uffd_msg msgs[32];

	while (h->nr_parked < MAX_PARKED) {
		size_t room = MAX_PARKED - h->nr_parked;
		size_t want = room < 32 ? room : 32;
		ssize_t n = sys_read(h->env->mm->uffd.fd, msgs, want * sizeof(msgs[0]));

		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && errno != EAGAIN)
				pr_err("reading the userfaultfd: %s", strerror(errno));
			h->uffd_ready = false;
			return;
		}
		for (size_t k = 0; k < (size_t)n / sizeof(msgs[0]); k++) {
			struct uffd_msg *m = &msgs[k];
			uint64_t t0;
			bool write;

			if (m->event != UFFD_EVENT_PAGEFAULT)
				continue;
			t0 = now_ns();
			write = m->arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WRITE;
			if (handle_mm_fault(h, (uintptr_t)m->arg.pagefault.address, write, false) ==
			    FAULT_WAIT) {
				park(h, (uintptr_t)m->arg.pagefault.address, write, t0);
			} else {
				stat_latency(&h->stats, now_ns() - t0);
			}
		}
		if ((size_t)n < want * sizeof(msgs[0])) {
			/*
			 * Fewer than asked for: most likely all there was.  A fault
			 * from now on wakes the multishot poll, so there is no read
			 * that only says EAGAIN (a syscall per fault).
			 */
			h->uffd_ready = false;
			return;
		}
	}
}

static void run_requests(struct handler *h)
{
	struct fault_env *env = h->env;
	struct fault_request *r;
	uint64_t v;

	if (sys_read(env->wake_fd, &v, sizeof(v)) < 0) {
		/* EAGAIN: another handler took the wake-up; the queue still counts */
	}
	pthread_mutex_lock(&env->req_lock);
	r = env->reqs;
	env->reqs = NULL;
	pthread_mutex_unlock(&env->req_lock);
	if (!r)
		return;
	pthread_rwlock_rdlock(&env->mm->lock);
	while (r) {
		struct fault_request *next = r->next;

		for (uint64_t done = 0; done < r->nr;) {
			uint64_t n = r->nr - done > READ_RUN_PAGES ? READ_RUN_PAGES : r->nr - done;

			if (start_read(h, r->as, r->index + done, n, true) == -EBUSY)
				break; /* the ring is full: a hint may be dropped */
			done += n;
		}
		mapping_put(r->as);
		kfree(r);
		r = next;
	}
	pthread_rwlock_unlock(&env->mm->lock);
}

int fault_queue_willneed(struct fault_env *env, struct address_space *as, pgoff_t index, uint64_t nr)
{
	struct fault_request *r = kzalloc(sizeof(*r));

	if (!r)
		return -ENOMEM;
	mapping_get(as);
	r->as = as;
	r->index = index;
	r->nr = nr;
	pthread_mutex_lock(&env->req_lock);
	r->next = env->reqs;
	env->reqs = r;
	pthread_mutex_unlock(&env->req_lock);
	eventfd_write(env->wake_fd, 1);
	return 0;
}

static void *handler_main(void *arg)
{
	struct handler *h = arg;
	struct fault_env *env = h->env;

	io_queue_poll(&h->io, env->mm->uffd.fd, IO_TAG_UFFD);
	io_queue_poll(&h->io, env->wake_fd, IO_TAG_WAKE);
	h->uffd_ready = true;
	while (!__atomic_load_n(&env->stopping, __ATOMIC_ACQUIRE)) {
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0;
		bool io_done = false, woken = false;
		int rc;

		if (h->uffd_ready)
			read_faults(h);
		/* Wait only when nothing is ready to be read. */
		if (h->uffd_ready && h->nr_parked < MAX_PARKED) {
			rc = io_uring_submit(&h->io.ring);
		} else if (h->nr_parked && env->nr_handlers > 1) {
			/*
			 * A parked fault may wait on another handler's read; its
			 * wake-up goes through a shared eventfd that a third
			 * handler can drain first.  Look again every millisecond.
			 */
			struct __kernel_timespec ts = { .tv_sec = 0, .tv_nsec = 1000000 };
			struct io_uring_cqe *c;

			rc = io_uring_submit_and_wait_timeout(&h->io.ring, &c, 1, &ts, NULL);
			if (rc == -ETIME) {
				retry_parked(h);
				rc = 0;
			}
		} else {
			rc = io_uring_submit_and_wait(&h->io.ring, 1);
		}
		if (rc < 0 && rc != -EINTR && rc != -EBUSY && rc != -EAGAIN && rc != -ETIME) {
			pr_err("io_uring: %s", strerror(-rc));
			break;
		}
		io_uring_for_each_cqe(&h->io.ring, head, cqe) {
			seen++;
			if (cqe->user_data == IO_TAG_UFFD) {
				h->uffd_ready = true;
				if (!(cqe->flags & IORING_CQE_F_MORE))
					io_queue_poll(&h->io, env->mm->uffd.fd, IO_TAG_UFFD);
			} else if (cqe->user_data == IO_TAG_WAKE) {
				run_requests(h);
				woken = true; /* another handler may have finished our page */
				if (!(cqe->flags & IORING_CQE_F_MORE))
					io_queue_poll(&h->io, env->wake_fd, IO_TAG_WAKE);
			} else {
				struct io_req *r = io_uring_cqe_get_data(cqe);

				pthread_rwlock_rdlock(&env->mm->lock);
				if (r->swap) {
					swap_read_done(h, r, cqe->res);
				} else {
					/* Only the address is kept: reclaim checks it is still a cache. */
					struct address_space *as = r->owner;
					pgoff_t index = r->index;
					uint32_t nr = r->nr;

					if (filemap_read_done(env->mm, &h->io, r, cqe->res, &h->stats))
						reclaim_note_fill(env->rc, as, index, nr);
				}
				pthread_rwlock_unlock(&env->mm->lock);
				io_done = true;
			}
		}
		io_uring_cq_advance(&h->io.ring, seen);
		/* Tell the other handlers: their parked faults may wait on our reads. */
		if (io_done && env->nr_handlers > 1)
			eventfd_write(env->wake_fd, 1);
		if (io_done || woken)
			retry_parked(h);
	}
	return NULL;
}

int handler_start(struct handler *h, struct fault_env *env, unsigned io_depth)
{
	int rc;

	h->env = env;
	h->nr_parked = 0;
	rc = io_init(&h->io, io_depth, (size_t)READ_RUN_PAGES << PAGE_SHIFT);
	if (rc)
		return rc;
	rc = engine_thread_create(&h->thread, handler_main, h);
	if (rc) {
		io_exit(&h->io);
		return -rc;
	}
	h->started = true;
	return 0;
}

void handler_join(struct handler *h)
{
	if (!h->started)
		return;
	pthread_join(h->thread, NULL);
	io_exit(&h->io);
	h->started = false;
}
