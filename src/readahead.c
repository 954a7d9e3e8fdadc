/*
 * readahead.c - the on-demand readahead window (see readahead.h).
 *
 * Why a window that doubles: a fault costs tens of microseconds here, far more
 * than reading a page that is in the kernel's cache, so a sequential reader
 * should cause as few faults as possible.  Reading the next window while the
 * reader consumes this one keeps the I/O off its path.
 */
#include "readahead.h"

void ra_init(struct file_ra_state *ra, uint32_t min_pages, uint32_t max_pages)
{
	ra->start = 0;
	ra->size = 0;
	ra->async_size = 0;
	ra->prev = PGOFF_NONE;
	ra->max_pages = max_pages;
	ra->min_pages = min_pages > max_pages ? max_pages : min_pages;
	ra->mode = RA_MODE_NORMAL;
}

void ra_set_mode(struct file_ra_state *ra, enum ra_mode mode)
{
	ra->mode = mode;
	if (mode == RA_MODE_RANDOM)
		ra->size = ra->async_size = 0;
}

uint32_t ra_next_size(uint32_t cur, uint32_t max)
{
	uint64_t n = cur < max / 16 ? (uint64_t)cur * 4 : (uint64_t)cur * 2;

	if (n == 0)
		n = 1;
	return n > max ? max : (uint32_t)n;
}

static void clip(struct ra_window *w, pgoff_t eof)
{
	if (w->start >= eof) {
		w->nr = 0;
		return;
	}
	if (w->start + w->nr > eof)
		w->nr = (uint32_t)(eof - w->start);
}

void ra_read_around(struct file_ra_state *ra, pgoff_t start, uint32_t nr)
{
	if (ra->mode == RA_MODE_RANDOM || ra->max_pages == 0)
		return;
	/* Like the kernel's read-around: the last quarter is the marker. */
	ra->start = start;
	ra->size = nr;
	ra->async_size = nr / 4 ? nr / 4 : 1;
}

bool ra_in_window(const struct file_ra_state *ra, pgoff_t index)
{
	return ra->size && index >= ra->start && index < ra->start + ra->size;
}

static bool in_marker(const struct file_ra_state *ra, pgoff_t index)
{
	return ra->size && index >= ra->start + ra->size - ra->async_size &&
	       index < ra->start + ra->size;
}

static bool is_sequential(const struct file_ra_state *ra, pgoff_t index)
{
	if (ra->mode == RA_MODE_SEQUENTIAL || index == 0)
		return true;
	if (ra->prev != PGOFF_NONE && (index == ra->prev + 1 || index == ra->prev))
		return true;
	return ra->size && index == ra->start + ra->size;
}

bool ra_fault(struct file_ra_state *ra, pgoff_t index, bool miss, pgoff_t eof,
	      struct ra_decision *d)
{
	d->sync.nr = 0;
	d->async.nr = 0;
	if (ra->max_pages == 0 || ra->mode == RA_MODE_RANDOM) {
		ra->prev = index;
		return false;
	}
	if (miss && !in_marker(ra, index) && !ra_in_window(ra, index)) {
		if (!is_sequential(ra, index)) {
			/* A random miss ends any stream: fault-around only. */
			ra->size = ra->async_size = 0;
			ra->prev = index;
			return false;
		}
		if (ra->size && index == ra->start + ra->size) {
			/* The reader outran the window (it was mapped ahead): ramp on. */
			ra->size = ra_next_size(ra->size, ra->max_pages);
		} else {
			ra->size = ra->mode == RA_MODE_SEQUENTIAL ? ra->max_pages : ra->min_pages;
		}
		ra->start = index;
		ra->async_size = ra->size;
		d->sync.start = ra->start;
		d->sync.nr = ra->size;
		clip(&d->sync, eof);
	}
	if (in_marker(ra, index)) {
		/* The reader reached the marker: read the next window now. */
		ra->start += ra->size;
		ra->size = ra_next_size(ra->size, ra->max_pages);
		ra->async_size = ra->size;
		d->async.start = ra->start;
		d->async.nr = ra->size;
		clip(&d->async, eof);
	} else if (miss && ra_in_window(ra, index) && !d->sync.nr) {
		/* A miss inside a window whose read has not landed: read from here. */
		d->sync.start = index;
		d->sync.nr = (uint32_t)(ra->start + ra->size - index);
		clip(&d->sync, eof);
	}
	ra->prev = index;
	return d->sync.nr || d->async.nr;
}
