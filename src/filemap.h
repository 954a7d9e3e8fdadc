/*
 * filemap.h - the page cache: one struct address_space per file (keyed by
 * device and inode, shared by every mapping of that file in the engine),
 * filled by io_uring reads.  Like the kernel's mm/filemap.c, with names to
 * match: find_get_page, page_cache_read, filemap_fault's helpers.
 *
 * Pages live in 2 MiB chunks so that a run of neighbouring file pages is
 * contiguous in memory and goes into a mapping with one UFFDIO_COPY.  The
 * index is a fixed two-level table: lookups take no lock.
 */
#ifndef PAGER_FILEMAP_H
#define PAGER_FILEMAP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "io.h"
#include "mm.h"
#include "pager.h"
#include "readahead.h"

#define CHUNK_SHIFT 9 /* pages per chunk: 512, 2 MiB */
#define CHUNK_PAGES (1U << CHUNK_SHIFT)
#define LEAF_SHIFT 10
#define LEAF_CHUNKS (1U << LEAF_SHIFT)
#define DIR_LEAVES 4096U
/* Largest file page the cache can index (8 TiB of file). */
#define FILEMAP_MAX_PAGES ((uint64_t)DIR_LEAVES * LEAF_CHUNKS * CHUNK_PAGES)

/* Page states: the kernel's PG_locked (read in flight), PG_uptodate, PG_error. */
enum { PG_NONE = 0, PG_LOCKED = 1, PG_UPTODATE = 2, PG_ERROR = 3 };

struct cache_chunk {
	uint8_t *data; /* CHUNK_PAGES pages */
	uint8_t state[CHUNK_PAGES]; /* accessed atomically */
};

struct address_space {
	dev_t dev;
	ino_t ino;
	int fd; /* our own descriptor: the program may close its own */
	long refcount; /* the engine's list (while nr_vmas > 0) + reads in flight */
	unsigned nr_vmas; /* under mm->lock */
	int64_t size; /* i_size as last seen (atomic) */
	uint64_t nr_chunks; /* 1 + highest chunk ever allocated (atomic) */
	struct cache_chunk **dir[DIR_LEAVES];
	struct address_space *next;
};

/* A new page cache for the file open as fd (duplicated).  NULL with errno. */
struct address_space *mapping_create(int fd, const struct stat *st);
void mapping_get(struct address_space *as);
void mapping_put(struct address_space *as);

/* The chunk holding page index, allocating it if `alloc`; NULL if absent or ENOMEM. */
struct cache_chunk *find_chunk(struct address_space *as, pgoff_t index, bool alloc);

static inline int page_state(struct address_space *as, pgoff_t index)
{
	struct cache_chunk *c = find_chunk(as, index, false);

	return c ? __atomic_load_n(&c->state[index & (CHUNK_PAGES - 1)], __ATOMIC_ACQUIRE) : PG_NONE;
}

static inline void *page_address(struct cache_chunk *c, pgoff_t index)
{
	return c->data + ((index & (CHUNK_PAGES - 1)) << PAGE_SHIFT);
}

/*
 * Re-read the file's size; if it changed, drop cached pages from the old or
 * new last page on (a grown file's old last page had a zero tail; a shrunk
 * file's pages past EOF are gone).  Returns the size, or -errno.
 */
int64_t filemap_update_size(struct address_space *as);

static inline pgoff_t size_to_pages(int64_t size)
{
	return (pgoff_t)((size + (int64_t)PAGE_SIZE - 1) >> PAGE_SHIFT);
}

/*
 * page_cache_read: start reads of the pages of [index, index + nr) that are
 * neither cached nor being read.  Returns the number of pages whose read was
 * started, or -errno (ENOMEM, or the ring is full: -EBUSY, some started).
 */
long page_cache_read(struct io_ctx *io, struct address_space *as, pgoff_t index, uint32_t nr,
		     struct pager_stats *st);

/* A read finished: mark its pages uptodate (zero tail at EOF) or error, or resubmit. */
void filemap_read_done(struct io_ctx *io, struct io_req *r, int res, struct pager_stats *st);

/* An error was reported on this page: let the next access try again. */
void filemap_clear_error(struct address_space *as, pgoff_t index);

/* After fork in the child: reads the parent started will never complete here. */
void filemap_forget_reads(struct address_space *as);

#endif
