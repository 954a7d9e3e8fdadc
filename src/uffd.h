/*
 * uffd.h - the userfaultfd handle: creation, feature negotiation and one
 * function per ioctl.  Errors come back as -errno with the meaning callers act
 * on (DESIGN.md): -EEXIST the page is already there (another fault filled
 * it), -EAGAIN retry after reading events, -ENOENT the range is no longer
 * registered (unmapped under us), -ESRCH the client is gone.
 */
#ifndef PAGER_UFFD_H
#define PAGER_UFFD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uffd_compat.h"

struct uffd {
	int fd;
	uint64_t features; /* what UFFDIO_API granted */
	uint64_t ioctls; /* ioctls available on a MISSING registration */
};

/*
 * Open a userfaultfd that serves kernel-mode faults too (/dev/userfaultfd,
 * then the syscall), non-blocking, and negotiate `want` features (only those
 * the kernel offers are asked for).  Returns 0 or -errno with a sentence in err.
 */
int uffd_open(struct uffd *u, uint64_t want, char *err, size_t errlen);
void uffd_close(struct uffd *u);

int uffd_register(const struct uffd *u, uintptr_t start, size_t len, uint64_t mode);
int uffd_unregister(const struct uffd *u, uintptr_t start, size_t len);

/* Return bytes installed (>0), or -errno; a partial install returns the count. */
long uffd_copy(const struct uffd *u, uintptr_t dst, const void *src, size_t len, bool dontwake);
long uffd_zeropage(const struct uffd *u, uintptr_t dst, size_t len, bool dontwake);
long uffd_poison(const struct uffd *u, uintptr_t dst, size_t len);
/* Map pages already in the shmem file behind dst (MINOR registration); `wp`: write-protected. */
long uffd_continue(const struct uffd *u, uintptr_t dst, size_t len, bool wp);
/*
 * Move present pages from src to the empty dst (both registered anonymous
 * ranges of this uffd, same protection): no copy, atomic against the
 * program's accesses.  -EBUSY: a page is shared (copy-on-write after fork).
 */
long uffd_move(const struct uffd *u, uintptr_t dst, uintptr_t src, size_t len, bool dontwake);
int uffd_wake(const struct uffd *u, uintptr_t start, size_t len);
int uffd_writeprotect(const struct uffd *u, uintptr_t start, size_t len, bool wp);

#endif
