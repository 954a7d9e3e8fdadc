/*
 * readahead.h - on-demand readahead window, in the spirit of the kernel's
 * mm/readahead.c (ondemand_readahead).  Pure logic: no I/O, no locking; the
 * caller owns one struct file_ra_state per mapping (the kernel keeps it in
 * struct file, which is one per mmap() as well).
 */
#ifndef PAGER_READAHEAD_H
#define PAGER_READAHEAD_H

#include <stdbool.h>
#include <stdint.h>

typedef uint64_t pgoff_t;

enum ra_mode {
	RA_MODE_NORMAL = 0, /* detect sequential access, grow the window */
	RA_MODE_SEQUENTIAL, /* MADV_SEQUENTIAL: start at the largest window */
	RA_MODE_RANDOM, /* MADV_RANDOM: no readahead at all */
};

struct file_ra_state {
	pgoff_t start; /* first page of the most recent window */
	uint32_t size; /* pages in that window (0: no window yet) */
	uint32_t async_size; /* the last async_size pages of it are the marker */
	pgoff_t prev; /* last page that faulted, or PGOFF_NONE */
	uint32_t min_pages; /* initial window */
	uint32_t max_pages; /* largest window; 0 turns readahead off */
	enum ra_mode mode;
};

#define PGOFF_NONE UINT64_MAX

struct ra_window {
	pgoff_t start;
	uint32_t nr; /* 0: nothing to read */
};

/* What one fault asks of the page cache. */
struct ra_decision {
	struct ra_window sync; /* read now, the fault waits for it */
	struct ra_window async; /* read in the background, ahead of the reader */
};

void ra_init(struct file_ra_state *ra, uint32_t min_pages, uint32_t max_pages);
void ra_set_mode(struct file_ra_state *ra, enum ra_mode mode);

/*
 * Account for a fault on page `index`.  `miss` says the page was not in the
 * page cache.  `eof` is the number of pages in the file (windows are clipped
 * to it).  Fills *d with the windows to read; returns true if any.
 *
 * A sequential miss (the page after the previous fault, page 0, or any miss
 * under RA_MODE_SEQUENTIAL) opens a synchronous window of min_pages (max_pages
 * under RA_MODE_SEQUENTIAL) at `index` and, at once, an asynchronous one after
 * it.  A miss on the page just after the most recent window (the reader
 * outran it, because pages were mapped ahead of it) opens a synchronous
 * window of the next size there: the stream keeps ramping.
 * A fault that lands in the marker of the most recent window (its last
 * async_size pages) opens the next asynchronous window, twice as large up to
 * max_pages.  A random miss opens nothing: the caller reads fault-around.
 */
bool ra_fault(struct file_ra_state *ra, pgoff_t index, bool miss, pgoff_t eof,
	      struct ra_decision *d);

/*
 * The caller read [start, start + nr) around a random miss (the kernel's mmap
 * read-around): if the reader goes on past it, that is a stream, and it ramps.
 */
void ra_read_around(struct file_ra_state *ra, pgoff_t start, uint32_t nr);

/* The window that covers `index` if the stream is sequential (for install sizing). */
bool ra_in_window(const struct file_ra_state *ra, pgoff_t index);

/* Next window size: x4 while small, then x2, capped at max. */
uint32_t ra_next_size(uint32_t cur, uint32_t max);

#endif
