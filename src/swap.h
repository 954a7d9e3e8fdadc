/*
 * swap.h - the swap file, its slot map and the swap cache.
 *
 * Like the kernel's swap_info_struct: a file of 4 KiB slots and a map of
 * counts, one per slot (swap_map).  A slot's count is the number of
 * references to it: one per page table entry that points to it, in this
 * process or in a child of fork (the map lives in MAP_SHARED memory, so
 * parent and children count into the same map and a slot is never copied),
 * plus one while this process holds the page in its swap cache.  A slot is
 * free when its count is zero.
 *
 * The swap cache: a page being swapped out is first moved (UFFDIO_MOVE, no
 * copy) into the staging area, at the address of its slot, and stays there
 * until it is written.  A fault on it moves it back: the cheap refault that
 * tells reclaim the page is in use.  The staging area is a registered
 * anonymous range that nothing ever touches; swap-out writes go from it
 * straight to the file (O_DIRECT where the file system allows it).
 *
 * Slots are handed out in runs from a moving cursor (clustered allocation),
 * so pages evicted together are contiguous on disk and come back with one
 * read.
 */
#ifndef PAGER_SWAP_H
#define PAGER_SWAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mm.h"

typedef uint32_t swp_entry_t; /* a slot number */

/* The swap cache state of a slot, in this process (cache[]). */
enum {
	SC_NONE = 0,
	SC_STAGED, /* in the staging area, not yet written */
	SC_BUSY, /* being moved back, or dropped */
	SC_WRITEBACK, /* being written */
	SC_CLEAN, /* in the staging area and the same on disk: dropped without a write */
	SC_ORPHAN, /* its page went (munmap) while a read of it was in flight: that read frees it */
};

/* What a page held: two independent 64-bit sums of its words (a change goes unseen at 2^-128). */
struct page_sum {
	uint64_t a, b;
};

void page_sum(const void *page, struct page_sum *out);

/* Shared between parent and children (MAP_SHARED). */
struct swap_shared {
	uint32_t nr_used; /* slots with a count > 0 */
	uint32_t pad[1023]; /* the counts start a page further */
};

struct swap {
	int fd;
	bool direct; /* O_DIRECT writes and reads */
	uint32_t nr_slots;
	struct swap_shared *shared;
	uint16_t *map; /* count per slot, atomically, shared */
	uint8_t *cache; /* SC_* per slot, atomically, this process */
	/*
	 * Where each slot's page was mapped when it went out, in this process:
	 * the reverse map that lets a swap-in read the slots around its own
	 * and put each page back where it belongs.  A hint, checked against
	 * the vma's own swp[] before use.
	 */
	uintptr_t *owner;
	struct page_sum *sums; /* of a slot kept by a page read back (PTE_SLOT), this process */
	char *stage; /* nr_slots pages, registered with the uffd */
	uint32_t cursor; /* next slot to try (the reclaim thread's) */
	char path[256];
};

/*
 * Create the swap file (at `path`, O_EXCL, mode 0600, or a temporary file in
 * $TMPDIR or /var/tmp when path is NULL; its name is removed at once), of at
 * most `bytes`, and the staging area, registered with mm's uffd.  Returns 0
 * or -errno with a sentence in err.
 */
int swap_open(struct swap *s, struct mm *mm, const char *path, size_t bytes, char *err,
	      size_t errlen);
void swap_close(struct swap *s);
/* After fork, in the child: the staging area goes to the child's new uffd. */
int swap_register(struct swap *s, struct mm *mm);

/*
 * A run of up to `want` free slots, each with a count of 2 (the page table
 * entry and the swap cache).  Returns how many (0: the file is full); the
 * first is in *first.
 */
uint32_t swap_alloc(struct swap *s, uint32_t want, swp_entry_t *first);
/* One reference more (fork). */
void swap_dup(struct swap *s, swp_entry_t e);
/* One reference less; returns the count left. */
unsigned swap_free(struct swap *s, swp_entry_t e);

static inline unsigned swap_count(const struct swap *s, swp_entry_t e)
{
	return __atomic_load_n(&s->map[e], __ATOMIC_ACQUIRE);
}

static inline uintptr_t swap_stage_addr(const struct swap *s, swp_entry_t e)
{
	return (uintptr_t)s->stage + ((uintptr_t)e << PAGE_SHIFT);
}

static inline void swap_set_owner(struct swap *s, swp_entry_t e, uintptr_t addr)
{
	__atomic_store_n(&s->owner[e], addr, __ATOMIC_RELAXED);
}

static inline uintptr_t swap_owner(const struct swap *s, swp_entry_t e)
{
	return __atomic_load_n(&s->owner[e], __ATOMIC_RELAXED);
}

static inline int swapcache_state(const struct swap *s, swp_entry_t e)
{
	return __atomic_load_n(&s->cache[e], __ATOMIC_ACQUIRE);
}

static inline bool swapcache_cmpxchg(struct swap *s, swp_entry_t e, int from, int to)
{
	uint8_t f = (uint8_t)from;

	return __atomic_compare_exchange_n(&s->cache[e], &f, (uint8_t)to, false, __ATOMIC_ACQ_REL,
					   __ATOMIC_RELAXED);
}

/* Take a page that waits in the swap cache (staged or clean) to SC_BUSY. */
static inline bool swapcache_take(struct swap *s, swp_entry_t e)
{
	return swapcache_cmpxchg(s, e, SC_STAGED, SC_BUSY) || swapcache_cmpxchg(s, e, SC_CLEAN, SC_BUSY);
}

static inline void swapcache_set(struct swap *s, swp_entry_t e, int to)
{
	__atomic_store_n(&s->cache[e], (uint8_t)to, __ATOMIC_RELEASE);
}

static inline uint32_t swap_used(const struct swap *s)
{
	return __atomic_load_n(&s->shared->nr_used, __ATOMIC_RELAXED);
}

/* Is a slot that a page read back keeps worth its space?  While the file is at most half full. */
static inline bool swap_keep_slots(const struct swap *s)
{
	return swap_used(s) < s->nr_slots / 2;
}

#endif
