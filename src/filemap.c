/*
 * filemap.c - the page cache (see filemap.h).
 */
#include "kmem.h"
#include "sys.h"
#include "filemap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"
#include "stats.h"

#define CHUNK_BYTES ((size_t)CHUNK_PAGES << PAGE_SHIFT)

struct address_space *mapping_create(int fd, const struct stat *st)
{
	struct address_space *as = kcalloc(1, sizeof(*as));

	if (!as)
		return NULL;
	as->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (as->fd < 0) {
		kfree(as);
		return NULL;
	}
	as->dev = st->st_dev;
	as->ino = st->st_ino;
	as->size = st->st_size;
	as->refcount = 1;
	return as;
}

void mapping_get(struct address_space *as)
{
	__atomic_add_fetch(&as->refcount, 1, __ATOMIC_RELAXED);
}

static void chunk_free(struct cache_chunk *c)
{
	sys_munmap(c->data, CHUNK_BYTES);
	kfree(c);
}

void mapping_put(struct address_space *as)
{
	if (__atomic_sub_fetch(&as->refcount, 1, __ATOMIC_ACQ_REL))
		return;
	for (unsigned i = 0; i < DIR_LEAVES; i++) {
		if (!as->dir[i])
			continue;
		for (unsigned j = 0; j < LEAF_CHUNKS; j++)
			if (as->dir[i][j])
				chunk_free(as->dir[i][j]);
		kfree(as->dir[i]);
	}
	close(as->fd);
	kfree(as);
}

static struct cache_chunk *chunk_alloc(void)
{
	struct cache_chunk *c = kcalloc(1, sizeof(*c));

	if (!c)
		return NULL;
	/* NORESERVE: only the pages we fill take memory. */
	c->data = sys_mmap(NULL, CHUNK_BYTES, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (c->data == MAP_FAILED) {
		kfree(c);
		return NULL;
	}
	return c;
}

/* Publish *slot = n unless someone beat us to it; returns the winner. */
static void *publish(void *slot, void *n)
{
	void *expected = NULL;

	if (__atomic_compare_exchange_n((void **)slot, &expected, n, false, __ATOMIC_ACQ_REL,
					__ATOMIC_ACQUIRE))
		return n;
	return expected;
}

struct cache_chunk *find_chunk(struct address_space *as, pgoff_t index, bool alloc)
{
	uint64_t ci = index >> CHUNK_SHIFT;
	unsigned li = (unsigned)(ci >> LEAF_SHIFT), ei = (unsigned)(ci & (LEAF_CHUNKS - 1));
	struct cache_chunk **leaf, *c;

	if (ci >= (uint64_t)DIR_LEAVES * LEAF_CHUNKS)
		return NULL;
	leaf = __atomic_load_n(&as->dir[li], __ATOMIC_ACQUIRE);
	if (!leaf) {
		if (!alloc)
			return NULL;
		leaf = kcalloc(LEAF_CHUNKS, sizeof(*leaf));
		if (!leaf)
			return NULL;
		struct cache_chunk **won = publish(&as->dir[li], leaf);
		if (won != leaf)
			kfree(leaf);
		leaf = won;
	}
	c = __atomic_load_n(&leaf[ei], __ATOMIC_ACQUIRE);
	if (c || !alloc)
		return c;
	c = chunk_alloc();
	if (!c)
		return NULL;
	struct cache_chunk *won = publish(&leaf[ei], c);
	if (won != c) {
		chunk_free(c);
		return won;
	}
	uint64_t n = __atomic_load_n(&as->nr_chunks, __ATOMIC_RELAXED);
	while (n < ci + 1 && !__atomic_compare_exchange_n(&as->nr_chunks, &n, ci + 1, false,
							   __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
	return c;
}

/* Drop every cached page from `from` on (reads in flight are left alone). */
static void invalidate_from(struct address_space *as, pgoff_t from)
{
	uint64_t nr = __atomic_load_n(&as->nr_chunks, __ATOMIC_RELAXED);

	for (uint64_t ci = from >> CHUNK_SHIFT; ci < nr; ci++) {
		struct cache_chunk *c = find_chunk(as, ci << CHUNK_SHIFT, false);

		if (!c)
			continue;
		for (unsigned i = 0; i < CHUNK_PAGES; i++) {
			uint8_t s = PG_UPTODATE;

			if ((ci << CHUNK_SHIFT) + i < from)
				continue;
			__atomic_compare_exchange_n(&c->state[i], &s, PG_NONE, false,
						    __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
			s = PG_ERROR;
			__atomic_compare_exchange_n(&c->state[i], &s, PG_NONE, false,
						    __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
		}
	}
}

int64_t filemap_update_size(struct address_space *as)
{
	struct stat st;
	int64_t old;

	if (fstat(as->fd, &st))
		return -errno;
	old = __atomic_exchange_n(&as->size, (int64_t)st.st_size, __ATOMIC_ACQ_REL);
	if (old != st.st_size) {
		int64_t low = old < st.st_size ? old : st.st_size;

		invalidate_from(as, (pgoff_t)low >> PAGE_SHIFT);
	}
	return st.st_size;
}

static bool trylock_page(struct cache_chunk *c, pgoff_t index)
{
	uint8_t s = PG_NONE;

	return __atomic_compare_exchange_n(&c->state[index & (CHUNK_PAGES - 1)], &s, PG_LOCKED,
					   false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
}

static void set_state(struct cache_chunk *c, pgoff_t index, uint8_t s)
{
	__atomic_store_n(&c->state[index & (CHUNK_PAGES - 1)], s, __ATOMIC_RELEASE);
}

/* Start one read of the locked run [index, index + nr), all in chunk c. */
static int submit_run(struct io_ctx *io, struct address_space *as, struct cache_chunk *c,
		      pgoff_t index, uint32_t nr)
{
	struct io_req *r = io_req_get(io);

	if (!r)
		return -EBUSY;
	/*
	 * Populate the run's pages in one call: letting the read fault them in
	 * one at a time costs a trap each, which is most of the price of a page
	 * in a VM.
	 */
	sys_madvise(page_address(c, index), (size_t)nr << PAGE_SHIFT, MADV_POPULATE_WRITE);
	mapping_get(as);
	r->owner = as;
	r->index = index;
	r->nr = nr;
	r->buf = page_address(c, index);
	r->fd = as->fd;
	r->off = (off_t)(index << PAGE_SHIFT);
	r->len = (size_t)nr << PAGE_SHIFT;
	if (io_queue_read(io, r)) {
		mapping_put(as);
		io_req_put(io, r);
		return -EBUSY;
	}
	return 0;
}

long page_cache_read(struct io_ctx *io, struct address_space *as, pgoff_t index, uint32_t nr,
		     struct pager_stats *st)
{
	pgoff_t i = index, end = index + nr;
	long started = 0;

	(void)st;
	while (i < end) {
		struct cache_chunk *c = find_chunk(as, i, true);
		pgoff_t chunk_end = (i | (CHUNK_PAGES - 1)) + 1;

		if (!c)
			return started ? started : -ENOMEM;
		if (chunk_end > end)
			chunk_end = end;
		while (i < chunk_end) {
			pgoff_t run;
			int rc;

			if (!trylock_page(c, i++))
				continue; /* cached, or another read has it */
			run = i - 1;
			while (i < chunk_end && trylock_page(c, i))
				i++;
			rc = submit_run(io, as, c, run, (uint32_t)(i - run));
			if (rc) {
				for (pgoff_t j = run; j < i; j++)
					set_state(c, j, PG_NONE);
				return started ? started : rc;
			}
			started += (long)(i - run);
		}
	}
	return started;
}

void filemap_read_done(struct io_ctx *io, struct io_req *r, int res, struct pager_stats *st)
{
	struct address_space *as = r->owner;
	struct cache_chunk *c = find_chunk(as, r->index, false);
	uint8_t state = PG_UPTODATE;

	if (res == -EINTR || res == -EAGAIN || (res > 0 && r->done + (size_t)res < r->len)) {
		/* Interrupted or short, not at EOF yet: read the rest. */
		if (res > 0)
			r->done += (size_t)res;
		if (io_queue_read(io, r) == 0)
			return;
		res = -EIO;
	}
	if (res < 0) {
		pr_warn("read of %u pages at offset %lld of fd %d failed: %s", r->nr,
			(long long)r->off, as->fd, strerror(-res));
		state = PG_ERROR;
	} else {
		r->done += (size_t)res;
		/* EOF inside the run: the tail reads zero, as it does in the kernel. */
		memset((char *)r->buf + r->done, 0, r->len - r->done);
		stat_add(st, pages_read, r->nr);
		stat_add(st, bytes_read, r->done);
	}
	for (pgoff_t i = r->index; i < r->index + r->nr; i++)
		set_state(c, i, state);
	io_req_put(io, r);
	mapping_put(as);
}

void filemap_clear_error(struct address_space *as, pgoff_t index)
{
	struct cache_chunk *c = find_chunk(as, index, false);
	uint8_t s = PG_ERROR;

	if (c)
		__atomic_compare_exchange_n(&c->state[index & (CHUNK_PAGES - 1)], &s, PG_NONE, false,
					    __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
}

void filemap_forget_reads(struct address_space *as)
{
	uint64_t nr = __atomic_load_n(&as->nr_chunks, __ATOMIC_RELAXED);

	for (uint64_t ci = 0; ci < nr; ci++) {
		struct cache_chunk *c = find_chunk(as, ci << CHUNK_SHIFT, false);

		for (unsigned i = 0; c && i < CHUNK_PAGES; i++)
			if (c->state[i] == PG_LOCKED)
				c->state[i] = PG_NONE;
	}
}
