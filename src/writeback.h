/*
 * writeback.h - getting stores made through MAP_SHARED mappings into the
 * file: msync, munmap, exit.
 *
 * Dirty tracking costs no fault: shared file mappings are registered for
 * write protection with UFFD_FEATURE_WP_ASYNC, so the kernel lifts the
 * protection itself on the first store to a page and remembers it was
 * written; PAGEMAP_SCAN reports those pages and protects them again in the
 * same step.  A store that races with write-back therefore marks the page
 * written again and is caught by the next one: nothing is lost.
 *
 * What a scan finds is moved to the address_space's dirty list at once (the
 * page table no longer remembers it), and leaves the list only when the file
 * has it; a failed write keeps it there and the error goes to the next msync.
 */
#ifndef PAGER_WRITEBACK_H
#define PAGER_WRITEBACK_H

#include <stdbool.h>

#include "filemap.h"
#include "mm.h"

/* Move the written pages of [start, end) of shared vma v to its file's dirty list. */
int writeback_collect(struct mm *mm, struct vma *v, uintptr_t start, uintptr_t end);

/* Put file pages [start, end) on the dirty list (stores found another way than a scan). */
int writeback_mark_dirty(struct address_space *as, pgoff_t start, pgoff_t end);

/*
 * Write the dirty list to the file; with `sync`, also make it durable
 * (fdatasync).  On failure the pages stay dirty.  With `report`, returns 0
 * or -errno of this failure or of an earlier one not yet reported (the way
 * msync reports); without, keeps the error for the next report and returns 0.
 */
int writeback_flush(struct address_space *as, bool sync, bool report);

#endif
