/*
 * filemap.h - the page cache: one struct address_space per file (keyed by
 * device and inode, shared by every mapping of that file in the engine).
 *
 * The cache's pages live in a memfd, and the program's file mappings are
 * mappings of that memfd (MAP_PRIVATE or MAP_SHARED as asked), registered
 * for MISSING faults.  So a page that is in the cache is mapped by the kernel
 * itself, with its own fault-around, copy-on-write for private mappings and
 * coherence between every shared mapping; only a page that is not in the
 * cache comes to us.  We read it from the file with io_uring into a bounce
 * buffer and put it into the memfd with UFFDIO_COPY through a registered
 * "window" mapping of the memfd that nothing ever touches: the copy is
 * atomic (a page that is already there, perhaps dirty, is never overwritten:
 * -EEXIST) and nobody can see a half-filled page.
 *
 * Why a memfd rather than pages of our own copied into each mapping (the
 * first design): measured here, the copy design paid a UFFDIO_COPY for every
 * page of every mapping and could not make two MAP_SHARED mappings coherent;
 * with the memfd a warm page costs a kernel minor fault, and shared stores
 * are seen by every mapping and process at once.
 */
#ifndef PAGER_FILEMAP_H
#define PAGER_FILEMAP_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "io.h"
#include "mm.h"
#include "pager.h"
#include "readahead.h"

/* Largest run of pages one read brings in (and one bounce buffer holds). */
#define READ_RUN_PAGES 512U
/* Largest file page the cache can index: more than the address space, so the kernel's ENOMEM comes first. */
#define FILEMAP_MAX_PAGES (1ULL << 36)

/* Page states: the kernel's PG_locked (read in flight), PG_uptodate, PG_error. */
enum { PG_NONE = 0, PG_LOCKED = 1, PG_UPTODATE = 2, PG_ERROR = 3 };

struct address_space {
	dev_t dev;
	ino_t ino;
	bool anon; /* MAP_SHARED|MAP_ANONYMOUS memory: no file, missing pages are zero */
	int fd; /* our own descriptor of the file (the program may close its own); -1 if anon */
	int memfd; /* the cache */
	long refcount; /* the engine's list (while nr_vmas > 0) + reads in flight */
	unsigned nr_vmas; /* under mm->lock */
	int64_t size; /* i_size as last seen (atomic) */
	/* Under mm->lock (read to use, write to grow): */
	char *window; /* MAP_SHARED view of the memfd, registered, never touched */
	uint64_t nr_pages; /* extent of window, state and memfd */
	uint8_t *state; /* one byte a page, accessed atomically */
	/* Write-back (writeback.c): pages written through shared mappings, not yet in the file. */
	pthread_mutex_t wb_lock;
	struct wb_range *dirty;
	size_t nr_dirty, cap_dirty;
	int wb_err; /* a write-back error not yet reported by msync */
	/*
	 * A child of a fork shares our shared mappings: its stores are tracked in
	 * its page tables, not ours, and it may _exit without writing back.  From
	 * then on every cached page counts as dirty when we write back.
	 */
	bool shared_with_child;
	/*
	 * A shared mapping that writes has mapped this file: its pages may be
	 * on the dirty list, or differ from the file, even once that mapping is
	 * gone, so reclaim writes them back before dropping them.
	 */
	bool ever_written;
	/* Pages in the memfd, as we count them (the budget's share of this file). */
	long nr_cached;
	long *acct; /* the engine's count of page-cache pages, or NULL */
	struct address_space *next;
};

/* File pages [start, end). */
struct wb_range {
	pgoff_t start, end;
};

/*
 * A new page cache for the file open as fd (duplicated), covering at least
 * `pages` pages, its window registered with mm's uffd.  fd -1 (and st NULL):
 * shared anonymous memory.  NULL with errno.
 */
struct address_space *mapping_create(struct mm *mm, int fd, const struct stat *st, uint64_t pages);
/* Make the cache cover `pages` pages.  Caller holds mm->lock for writing. */
int mapping_grow(struct mm *mm, struct address_space *as, uint64_t pages);
void mapping_get(struct address_space *as);
void mapping_put(struct address_space *as);
/* After fork, in the child: register the window with the child's new uffd. */
int mapping_register(struct mm *mm, struct address_space *as);

static inline int page_state(const struct address_space *as, pgoff_t index)
{
	return index < as->nr_pages ? __atomic_load_n(&as->state[index], __ATOMIC_ACQUIRE) : PG_NONE;
}

static inline void set_page_state(struct address_space *as, pgoff_t index, int s)
{
	__atomic_store_n(&as->state[index], (uint8_t)s, __ATOMIC_RELEASE);
}

/* Is page index in the memfd?  (The state is a hint; this asks the kernel.) */
bool page_in_cache(struct address_space *as, pgoff_t index);

static inline pgoff_t size_to_pages(int64_t size)
{
	return (pgoff_t)((size + (int64_t)PAGE_SIZE - 1) >> PAGE_SHIFT);
}

/*
 * Re-read the file's size; if it changed, bring the cache in line the way
 * truncate does in the kernel: pages past the new end leave the cache (and
 * every mapping), the partial last page reads zero past the end, and a page
 * that was the old partial last page gets the file's new bytes.
 * Returns the size, or -errno; *old (if not NULL) gets the size seen before.
 */
int64_t filemap_update_size(struct address_space *as, int64_t *old);

/*
 * page_cache_read: start reads of the pages of [index, index + nr) that are
 * neither cached nor being read (`background`: readahead no fault waits for).
 * Returns the number of pages whose read was started, or -errno (-EBUSY: the
 * ring is full).
 */
long page_cache_read(struct io_ctx *io, struct address_space *as, pgoff_t index, uint32_t nr,
		     bool background);

/* Shared anonymous memory: zero pages [index, index + nr) into the cache, where missing. */
void filemap_add_zero_pages(struct mm *mm, struct address_space *as, pgoff_t index, uint32_t nr,
			    const void *zero);

/*
 * A read finished: put its pages into the cache (zero tail at EOF) and mark
 * them uptodate, or mark them in error, or resubmit a short read.  Caller
 * holds mm->lock for reading.
 */
/* Returns true when pages went into the cache (false: error, or the read goes on). */
bool filemap_read_done(struct mm *mm, struct io_ctx *io, struct io_req *r, int res,
		       struct pager_stats *st);

/*
 * The program wrote [off, off + len) of the file with write(2) and friends:
 * cached pages of that range take the file's new bytes, so that every
 * mapping sees them, as it would with the kernel's single page cache.
 */
/* Returns false if a read of the range was in flight: call again (without mm->lock held between). */
bool filemap_write_through(struct address_space *as, off_t off, size_t len);

/*
 * The program read [off, off + len) of the file with read(2) into buf: pages
 * in the cache may hold stores made through shared mappings that are not in
 * the file yet; copy them over, so read(2) sees what the mappings see.
 */
void filemap_read_through(struct address_space *as, char *buf, off_t off, size_t len);

/*
 * Reclaim: take the pages of [index, index + nr) that are uptodate out of
 * the cache (out of every mapping at once; private copies stay).  With
 * `writeback` (a file that shared mappings write), each page is locked
 * against faults, unmapped from the shared mappings and written to the file
 * first (only pages that differ from the file are written: *written counts
 * them); a page whose write fails stays.  Caller holds mm->lock for
 * reading.  Returns the pages dropped.
 */
long filemap_evict(struct mm *mm, struct address_space *as, pgoff_t index, uint32_t nr,
		   bool writeback, long *written);

/* An error was reported on this page: let the next access try again. */
void filemap_clear_error(struct address_space *as, pgoff_t index);

/* After fork in the child: reads the parent started will never complete here. */
void filemap_forget_reads(struct address_space *as);

#endif
