/*
 * io.c - one io_uring per handler thread (see io.h).  Requests come from a
 * preallocated pool: nothing is allocated on the fault path.
 */
#include "kmem.h"
#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

int io_init(struct io_ctx *io, unsigned depth, size_t bounce_len)
{
	unsigned entries = depth + 4; /* room for the polls */
	int rc;

	memset(io, 0, sizeof(*io));
	io->reqs = kcalloc(depth, sizeof(*io->reqs));
	if (!io->reqs)
		return -ENOMEM;
	rc = io_uring_queue_init(entries, &io->ring, 0);
	if (rc < 0) {
		kfree(io->reqs);
		io->reqs = NULL;
		return rc;
	}
	/* liburing leaves the ring open across exec: a program's children must not see it. */
	fcntl(io->ring.ring_fd, F_SETFD, FD_CLOEXEC);
	/* Reserved, not committed: a buffer takes memory once used, then is reused. */
	io->bounce = kpages((size_t)depth * bounce_len); /* page-aligned: O_DIRECT swap reads */
	if (!io->bounce) {
		io_uring_queue_exit(&io->ring);
		kfree(io->reqs);
		io->reqs = NULL;
		return -ENOMEM;
	}
	io->bounce_len = bounce_len;
	io->depth = depth;
	for (unsigned i = 0; i < depth; i++) {
		io->reqs[i].buf = io->bounce + (size_t)i * bounce_len;
		io->reqs[i].next_free = io->free;
		io->free = &io->reqs[i];
	}
	return 0;
}

void io_exit(struct io_ctx *io)
{
	if (!io->reqs)
		return;
	io_uring_queue_exit(&io->ring);
	kpages_free(io->bounce, (size_t)io->depth * io->bounce_len);
	kfree(io->reqs);
	io->reqs = NULL;
}

struct io_req *io_req_get(struct io_ctx *io)
{
	struct io_req *r = io->free;

	if (r) {
		io->free = r->next_free;
		r->done = 0;
		r->swap = false;
		io->inflight++;
	}
	return r;
}

void io_req_put(struct io_ctx *io, struct io_req *r)
{
	r->next_free = io->free;
	io->free = r;
	io->inflight--;
}

static struct io_uring_sqe *get_sqe(struct io_ctx *io)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&io->ring);

	if (!sqe) {
		io_uring_submit(&io->ring);
		sqe = io_uring_get_sqe(&io->ring);
	}
	return sqe;
}

int io_queue_read(struct io_ctx *io, struct io_req *r)
{
	struct io_uring_sqe *sqe = get_sqe(io);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_read(sqe, r->fd, (char *)r->buf + r->done, (unsigned)(r->len - r->done),
			   (uint64_t)r->off + r->done);
	/*
	 * Readahead nobody waits for goes to an io-wq worker, on the other
	 * core: done inline it would delay the read a fault is waiting for.
	 * Not a swap read: O_DIRECT, it only submits a request inline.
	 */
	if (r->background && !r->swap)
		sqe->flags |= IOSQE_ASYNC;
	io_uring_sqe_set_data(sqe, r);
	return 0;
}

int io_queue_poll(struct io_ctx *io, int fd, uint64_t tag)
{
	struct io_uring_sqe *sqe = get_sqe(io);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_poll_multishot(sqe, fd, POLLIN);
	sqe->user_data = tag;
	return 0;
}

int io_submit(struct io_ctx *io)
{
	int rc = io_uring_submit(&io->ring);

	return rc < 0 ? rc : 0;
}
