/*
 * kmem.h - the engine's own memory, straight from the kernel.
 *
 * Under the shim, malloc may be the program's (a preloaded allocator) and
 * may hand out memory from a range we serve; a handler thread that touched
 * its own bookkeeping there would wait on itself.  So the engine allocates
 * with raw mmap: its memory is never in a registered range.  Allocations are
 * few and made outside the fault path.
 */
#ifndef PAGER_KMEM_H
#define PAGER_KMEM_H

#include <stddef.h>

void *kzalloc(size_t size);
void *kcalloc(size_t n, size_t size);
void kfree(void *p);
/* Whole zeroed pages, page-aligned (O_DIRECT buffers); free with the same size. */
void *kpages(size_t size);
void kpages_free(void *p, size_t size);
/* Like realloc; new bytes are zero. */
void *krealloc(void *p, size_t size);

#endif
