/*
 * io.h - io_uring for one handler thread: reads of files into the page cache,
 * and polls (the uffd, the engine's wake-up eventfd) so that a handler waits
 * in exactly one place, io_uring_wait_cqe.
 *
 * One ring per handler thread; a ring is never shared between threads.
 */
#ifndef PAGER_IO_H
#define PAGER_IO_H

#include <liburing.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* user_data tags that are not requests (requests are pointers, never this small). */
enum { IO_TAG_UFFD = 1, IO_TAG_WAKE = 2 };

struct io_req {
	struct io_req *next_free;
	void *owner; /* the address_space being read */
	uint64_t index; /* first page */
	uint32_t nr; /* pages */
	void *buf; /* the bounce buffer the read lands in */
	int fd;
	off_t off;
	size_t len, done;
	bool background; /* readahead: no fault waits for it */
	bool swap; /* a swap-in: slots [index, index + nr) of the swap file ... */
	uint64_t mask; /* ... of which these (bit k: slot index + k) are this read's to install */
};

struct io_ctx {
	struct io_uring ring;
	struct io_req *reqs, *free;
	char *bounce; /* depth buffers of bounce_len bytes: one per request */
	size_t bounce_len;
	unsigned depth;
	unsigned inflight;
};

/* A ring of `depth` requests, each with a bounce buffer of bounce_len bytes. */
int io_init(struct io_ctx *io, unsigned depth, size_t bounce_len);
void io_exit(struct io_ctx *io);

/* A free request, or NULL when `depth` reads are already in flight. */
struct io_req *io_req_get(struct io_ctx *io);
void io_req_put(struct io_ctx *io, struct io_req *r);

/* Queue the read of r->len - r->done bytes (submitted at the next io_submit). */
int io_queue_read(struct io_ctx *io, struct io_req *r);
/* Arm a multishot poll for POLLIN on fd, reported with `tag`. */
int io_queue_poll(struct io_ctx *io, int fd, uint64_t tag);
int io_submit(struct io_ctx *io);

static inline bool io_is_req(uint64_t user_data)
{
	return user_data > IO_TAG_WAKE;
}

#endif
