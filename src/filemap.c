/*
 * filemap.c - the page cache in a memfd (see filemap.h).
 */
#include "filemap.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "kmem.h"
#include "log.h"
#include "stats.h"
#include "sys.h"
#include "writeback.h"

/* Room to grow: a window is reserved well past what the first mapping needs. */
#define WINDOW_MIN_PAGES (1ULL << 24) /* 64 GiB of address space, not memory */

static uint64_t window_pages_for(uint64_t pages)
{
	uint64_t n = pages * 2;

	if (n < WINDOW_MIN_PAGES)
		n = WINDOW_MIN_PAGES;
	return n > FILEMAP_MAX_PAGES ? FILEMAP_MAX_PAGES : n;
}

/* Map and register a window of `pages` pages, sized memfd and state with it. */
static int window_create(struct mm *mm, struct address_space *as, uint64_t pages, char **win,
			 uint8_t **state)
{
	size_t len = (size_t)pages << PAGE_SHIFT;
	int rc;

	if (sys_ftruncate(as->memfd, (off_t)len))
		return -errno;
	*win = sys_mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, as->memfd, 0);
	if (*win == MAP_FAILED)
		return -errno;
	rc = uffd_register(&mm->uffd, (uintptr_t)*win, len, UFFDIO_REGISTER_MODE_MISSING);
	if (rc == 0) {
		*state = kzalloc(pages);
		if (*state)
			return 0;
		rc = -ENOMEM;
	}
	sys_munmap(*win, len);
	return rc;
}

struct address_space *mapping_create(struct mm *mm, int fd, const struct stat *st, uint64_t pages)
{
	struct address_space *as = kzalloc(sizeof(*as));
	int rc = -ENOMEM;

	if (!as)
		goto fail;
	as->fd = as->memfd = -1;
	as->anon = fd < 0;
	if (!as->anon && (as->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3)) < 0)
		goto fail_errno;
	as->memfd = memfd_create("pager-cache", MFD_CLOEXEC);
	if (as->memfd < 0)
		goto fail_errno;
	as->nr_pages = window_pages_for(pages);
	rc = window_create(mm, as, as->nr_pages, &as->window, &as->state);
	if (rc == -ENOMEM && as->nr_pages > pages) {
		/* A huge mapping: no room to spare in the address space. */
		as->nr_pages = pages;
		rc = window_create(mm, as, as->nr_pages, &as->window, &as->state);
	}
	if (rc)
		goto fail;
	if (st) {
		as->dev = st->st_dev;
		as->ino = st->st_ino;
		as->size = st->st_size;
	} else {
		/* Shared anonymous memory is as long as it was made: past it, SIGBUS (mremap growth). */
		as->size = (int64_t)(pages << PAGE_SHIFT);
	}
	as->refcount = 1;
	pthread_mutex_init(&as->wb_lock, NULL);
	return as;

fail_errno:
	rc = -errno;
fail:
	if (as) {
		if (as->fd >= 0)
			close(as->fd);
		if (as->memfd >= 0)
			close(as->memfd);
		kfree(as);
	}
	errno = -rc;
	return NULL;
}

int mapping_grow(struct mm *mm, struct address_space *as, uint64_t pages)
{
	uint64_t n;
	uint8_t *state;
	char *win;
	int rc;

	if (pages <= as->nr_pages)
		return 0;
	if (pages > FILEMAP_MAX_PAGES)
		return -EOVERFLOW;
	n = window_pages_for(pages);
	rc = window_create(mm, as, n, &win, &state);
	if (rc)
		return rc;
	memcpy(state, as->state, as->nr_pages);
	sys_munmap(as->window, (size_t)as->nr_pages << PAGE_SHIFT);
	kfree(as->state);
	as->window = win;
	as->state = state;
	as->nr_pages = n;
	return 0;
}

int mapping_register(struct mm *mm, struct address_space *as)
{
	return uffd_register(&mm->uffd, (uintptr_t)as->window, (size_t)as->nr_pages << PAGE_SHIFT,
			     UFFDIO_REGISTER_MODE_MISSING);
}

void mapping_get(struct address_space *as)
{
	__atomic_add_fetch(&as->refcount, 1, __ATOMIC_RELAXED);
}

void mapping_put(struct address_space *as)
{
	if (__atomic_sub_fetch(&as->refcount, 1, __ATOMIC_ACQ_REL))
		return;
	if (as->acct)
		__atomic_sub_fetch(as->acct, as->nr_cached, __ATOMIC_RELAXED);
	sys_munmap(as->window, (size_t)as->nr_pages << PAGE_SHIFT);
	kfree(as->state);
	kfree(as->dirty);
	pthread_mutex_destroy(&as->wb_lock);
	close(as->memfd);
	if (as->fd >= 0)
		close(as->fd);
	kfree(as);
}

bool page_in_cache(struct address_space *as, pgoff_t index)
{
	unsigned char v = 0;

	/* mincore on a shmem mapping reports the page cache, mapped here or not. */
	if (mincore(as->window + (index << PAGE_SHIFT), PAGE_SIZE, &v))
		return false;
	return v & 1;
}

static void account(struct address_space *as, long pages)
{
	if (!pages)
		return;
	__atomic_add_fetch(&as->nr_cached, pages, __ATOMIC_RELAXED);
	if (as->acct)
		__atomic_add_fetch(as->acct, pages, __ATOMIC_RELAXED);
}

static void punch(struct address_space *as, pgoff_t from, pgoff_t to)
{
	long gone = 0;

	if (to <= from)
		return;
	sys_fallocate(as->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)(from << PAGE_SHIFT),
		  (off_t)((to - from) << PAGE_SHIFT));
	for (pgoff_t i = from; i < to && i < as->nr_pages; i++) {
		uint8_t s = PG_UPTODATE;

		if (__atomic_compare_exchange_n(&as->state[i], &s, PG_NONE, false, __ATOMIC_ACQ_REL,
						__ATOMIC_RELAXED))
			gone++;
	}
	account(as, -gone);
}

/* Pages [index, index + nr) of the cache into buf (page-sized, as many).  0 or -errno. */
static int read_cached(struct address_space *as, pgoff_t index, uint32_t nr, char *buf)
{
	size_t len = (size_t)nr << PAGE_SHIFT, done = 0;

	while (done < len) {
		ssize_t n = sys_pread(as->memfd, buf + done, len - done,
				      (off_t)(index << PAGE_SHIFT) + (off_t)done);

		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		done += (size_t)n;
	}
	return 0;
}

long filemap_evict(struct mm *mm, struct address_space *as, pgoff_t index, uint32_t nr,
		   bool writeback, long *written)
{
	char *before = NULL, *after = NULL;
	uint32_t locked = 0;
	long gone = 0;

	if (!writeback) {
		/*
		 * Each page locked first: a write(2) being copied into the cache
		 * (filemap_write_through) holds the lock too, and a pwrite into a
		 * page punched under it would put back a page of zeros and new bytes.
		 */
		for (uint32_t k = 0; k < nr;) {
			uint32_t n = 0;

			while (k + n < nr) {
				uint8_t st = PG_UPTODATE;

				if (!__atomic_compare_exchange_n(&as->state[index + k + n], &st, PG_LOCKED,
								 false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
					break;
				n++;
			}
			if (n) {
				sys_fallocate(as->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
					      (off_t)((index + k) << PAGE_SHIFT), (off_t)n << PAGE_SHIFT);
				for (uint32_t m = 0; m < n; m++)
					set_page_state(as, index + k + m, PG_NONE);
				gone += n;
				k += n;
			} else {
				k++;
			}
		}
		account(as, -gone);
		return gone;
	}
	/* Faults on these pages wait (PG_LOCKED) until they are out. */
	while (locked < nr) {
		uint8_t s = PG_UPTODATE;

		if (!__atomic_compare_exchange_n(&as->state[index + locked], &s, PG_LOCKED, false,
						 __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
			break;
		locked++;
	}
	if (!locked)
		return 0;
	/*
	 * What the shared mappings wrote goes to the dirty list, then they are
	 * unmapped: from there on the memfd holds every store and nothing can
	 * add one.  A store between the scan and the unmap set a written bit
	 * the unmap forgot; it shows as a page that changed between a copy
	 * taken before the scan and one taken after the unmap.  (Never a
	 * comparison with the file: a write(2) not yet copied into the cache
	 * makes them differ, and writing the cache back would undo it.)
	 */
	before = kpages((size_t)locked << PAGE_SHIFT);
	after = kpages((size_t)locked << PAGE_SHIFT);
	if (!before || !after || read_cached(as, index, locked, before))
		goto keep;
	for (size_t k = 0; k < mm->nr_vmas; k++) {
		struct vma *v = mm->vmas[k];
		pgoff_t lo = index, hi = index + locked;

		if (v->mapping != as || !v->wp)
			continue;
		if (lo < v->pgoff)
			lo = v->pgoff;
		if (hi > v->pgoff + vma_pages(v))
			hi = v->pgoff + vma_pages(v);
		if (lo >= hi)
			continue;
		uintptr_t a = v->start + ((lo - v->pgoff) << PAGE_SHIFT), b = v->start + ((hi - v->pgoff) << PAGE_SHIFT);

		writeback_collect(mm, v, a, b);
		mm->ops->drop(mm, a, b - a);
		for (pgoff_t i = lo; i < hi; i++)
			pte_clear(v, (size_t)(i - v->pgoff));
	}
	if (read_cached(as, index, locked, after)) {
		/* Cannot tell what changed: all of it counts as written. */
		writeback_mark_dirty(as, index, index + locked);
	} else {
		for (uint32_t k = 0; k < locked; k++)
			if (memcmp(before + ((size_t)k << PAGE_SHIFT), after + ((size_t)k << PAGE_SHIFT),
				   PAGE_SIZE))
				writeback_mark_dirty(as, index + k, index + k + 1);
	}
	pthread_mutex_lock(&as->wb_lock);
	for (size_t k = 0; k < as->nr_dirty; k++)
		*written += (long)(as->dirty[k].end - as->dirty[k].start);
	pthread_mutex_unlock(&as->wb_lock);
	if (writeback_flush(as, false, false) || as->wb_err)
		goto keep; /* the pages stay dirty on the list, in memory */
	kpages_free(before, (size_t)locked << PAGE_SHIFT);
	kpages_free(after, (size_t)locked << PAGE_SHIFT);
	sys_fallocate(as->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)(index << PAGE_SHIFT),
		      (off_t)locked << PAGE_SHIFT);
	for (uint32_t k = 0; k < locked; k++) {
		set_page_state(as, index + k, PG_NONE);
		gone++;
	}
	account(as, -gone);
	return gone;

keep:
	kpages_free(before, (size_t)locked << PAGE_SHIFT);
	kpages_free(after, (size_t)locked << PAGE_SHIFT);
	for (uint32_t k = 0; k < locked; k++)
		set_page_state(as, index + k, PG_UPTODATE);
	return 0;
}

/* Take an uptodate page's lock (for a change that must not race with its eviction). */
static bool trylock_uptodate(struct address_space *as, pgoff_t index)
{
	uint8_t s = PG_UPTODATE;

	return index < as->nr_pages &&
	       __atomic_compare_exchange_n(&as->state[index], &s, PG_LOCKED, false, __ATOMIC_ACQ_REL,
					   __ATOMIC_RELAXED);
}

/* Bytes [from, to) of the cached page `index` get the file's bytes (or zeros past EOF). */
static void refresh_tail(struct address_space *as, int64_t from, int64_t to, int64_t size)
{
	char buf[PAGE_SIZE];
	ssize_t n = 0;
	pgoff_t index = (pgoff_t)from >> PAGE_SHIFT;
	bool locked;

	if (to <= from)
		return;
	/* An uptodate page is locked against reclaim; one in another state is not ours to touch here. */
	locked = trylock_uptodate(as, index);
	if (!locked)
		return;
	if (!page_in_cache(as, index)) {
		set_page_state(as, index, PG_UPTODATE);
		return;
	}
	if (from < size) {
		n = sys_pread(as->fd, buf, (size_t)(to - from), from);
		if (n < 0)
			n = 0;
	}
	memset(buf + n, 0, (size_t)(to - from - n));
	/* The page is in the memfd, so this writes into it and allocates nothing. */
	if (sys_pwrite(as->memfd, buf, (size_t)(to - from), from) < 0)
		pr_warn("updating the cached last page: %s", strerror(errno));
	set_page_state(as, index, PG_UPTODATE);
}

int64_t filemap_update_size(struct address_space *as, int64_t *oldp)
{
	struct stat st;
	int64_t old, new;

	if (oldp)
		*oldp = as->size;
	if (as->anon)
		return as->size; /* no file, no end but the mapping's */
	if (fstat(as->fd, &st))
		return -errno;
	new = st.st_size;
	old = __atomic_exchange_n(&as->size, new, __ATOMIC_ACQ_REL);
	if (oldp)
		*oldp = old;
	if (old == new)
		return new;
	if (new < old) {
		/* Shrunk: pages wholly past the end leave; the last one reads zero past it. */
		punch(as, size_to_pages(new), size_to_pages(old));
		if (new & (PAGE_SIZE - 1))
			refresh_tail(as, new, (new | (int64_t)(PAGE_SIZE - 1)) + 1, new);
	} else if (old & (PAGE_SIZE - 1)) {
		/* Grown: the old last page had zeros where the file now has data. */
		int64_t end = (old | (int64_t)(PAGE_SIZE - 1)) + 1;

		refresh_tail(as, old, end < new ? end : new, new);
	}
	return new;
}

static bool trylock_page(struct address_space *as, pgoff_t index)
{
	uint8_t s = PG_NONE;

	return __atomic_compare_exchange_n(&as->state[index], &s, PG_LOCKED, false, __ATOMIC_ACQ_REL,
					   __ATOMIC_RELAXED);
}

/* Start one read of the locked run [index, index + nr). */
static int submit_run(struct io_ctx *io, struct address_space *as, pgoff_t index, uint32_t nr,
		      bool background)
{
	struct io_req *r = io_req_get(io);

	if (!r)
		return -EBUSY;
	mapping_get(as);
	r->owner = as;
	r->index = index;
	r->nr = nr;
	r->fd = as->fd;
	r->off = (off_t)(index << PAGE_SHIFT);
	r->len = (size_t)nr << PAGE_SHIFT;
	r->background = background;
	if (io_queue_read(io, r)) {
		mapping_put(as);
		io_req_put(io, r);
		return -EBUSY;
	}
	return 0;
}

long page_cache_read(struct io_ctx *io, struct address_space *as, pgoff_t index, uint32_t nr,
		     bool background)
{
	pgoff_t i = index, end = index + nr;
	long started = 0;

	if (end > as->nr_pages)
		end = as->nr_pages;
	while (i < end) {
		pgoff_t run;
		int rc;

		if (!trylock_page(as, i++))
			continue; /* cached, or another read has it */
		run = i - 1;
		while (i < end && i - run < READ_RUN_PAGES && trylock_page(as, i))
			i++;
		rc = submit_run(io, as, run, (uint32_t)(i - run), background);
		if (rc) {
			for (pgoff_t j = run; j < i; j++)
				set_page_state(as, j, PG_NONE);
			return started ? started : rc;
		}
		started += (long)(i - run);
	}
	return started;
}

/* Put pages [index, index + nr) from buf into the memfd; pages already there stay as they are. */
static void add_to_page_cache(struct mm *mm, struct address_space *as, pgoff_t index, uint32_t nr,
			      const char *buf)
{
	uint32_t done = 0;
	long added = 0;

	while (done < nr) {
		long rc = mm->ops->install_copy(mm, (uintptr_t)as->window + ((index + done) << PAGE_SHIFT),
						buf + ((size_t)done << PAGE_SHIFT),
						(size_t)(nr - done) << PAGE_SHIFT);

		if (rc > 0) {
			done += (uint32_t)((size_t)rc >> PAGE_SHIFT);
			added += rc >> PAGE_SHIFT;
		}
		else if (rc == -EEXIST || rc == -EAGAIN)
			done += rc == -EEXIST; /* there already: perhaps dirty, never overwrite */
		else {
			pr_err("cannot add %u pages to the cache: %s", nr - done, strerror((int)-rc));
			for (; done < nr; done++)
				set_page_state(as, index + done, PG_ERROR);
			break;
		}
	}
	/*
	 * The copy mapped the pages in the window too; unmap them there (they
	 * stay in the memfd): the window is only a way in, and pages mapped twice
	 * would count twice in the process's resident size.
	 */
	sys_madvise(as->window + (index << PAGE_SHIFT), (size_t)nr << PAGE_SHIFT, MADV_DONTNEED);
	account(as, added);
}

void filemap_add_zero_pages(struct mm *mm, struct address_space *as, pgoff_t index, uint32_t nr,
			    const void *zero)
{
	if (index + nr > as->nr_pages)
		nr = (uint32_t)(as->nr_pages - index);
	add_to_page_cache(mm, as, index, nr, zero);
	for (uint32_t i = 0; i < nr; i++)
		set_page_state(as, index + i, PG_UPTODATE);
}

bool filemap_read_done(struct mm *mm, struct io_ctx *io, struct io_req *r, int res,
		       struct pager_stats *st)
{
	struct address_space *as = r->owner;
	int state = PG_UPTODATE;

	if (res == -EINTR || res == -EAGAIN || (res > 0 && r->done + (size_t)res < r->len)) {
		/* Interrupted or short, not at EOF yet: read the rest. */
		if (res > 0)
			r->done += (size_t)res;
		if (io_queue_read(io, r) == 0)
			return false;
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
		add_to_page_cache(mm, as, r->index, r->nr, r->buf);
		stat_add(st, pages_installed, r->nr);
		stat_add(st, pages_read, r->nr);
		stat_add(st, bytes_read, r->done);
	}
	for (pgoff_t i = r->index; i < r->index + r->nr; i++) {
		uint8_t s = PG_LOCKED;

		/* add_to_page_cache may have marked errors already. */
		__atomic_compare_exchange_n(&as->state[i], &s, (uint8_t)state, false, __ATOMIC_ACQ_REL,
					    __ATOMIC_RELAXED);
	}
	io_req_put(io, r);
	mapping_put(as);
	return state == PG_UPTODATE;
}

bool filemap_write_through(struct address_space *as, off_t off, size_t len)
{
	off_t end = off + (off_t)len;
	bool done = true;
	char *buf;

	buf = kzalloc(PAGE_SIZE);
	if (!buf)
		return true;
	for (off_t pos = off; pos < end;) {
		pgoff_t index = (pgoff_t)pos >> PAGE_SHIFT;
		off_t stop = (off_t)((index + 1) << PAGE_SHIFT);
		ssize_t n;

		if (stop > end)
			stop = end;
		if (index >= as->nr_pages)
			break;
		/*
		 * A read in flight may carry the old bytes: let it land, then do
		 * this page again.  Not here: the handler needs mm->lock to land it.
		 */
		if (page_state(as, index) == PG_LOCKED) {
			done = false;
		} else if (trylock_uptodate(as, index)) {
			/* Locked: reclaim cannot punch it while we copy into it. */
			if (page_in_cache(as, index)) {
				n = sys_pread(as->fd, buf, (size_t)(stop - pos), pos);
				if (n > 0 && sys_pwrite(as->memfd, buf, (size_t)n, pos) < 0)
					pr_warn("updating the cache after a write: %s", strerror(errno));
			}
			set_page_state(as, index, PG_UPTODATE);
		}
		pos = stop;
	}
	kfree(buf);
	return done;
}

void filemap_read_through(struct address_space *as, char *buf, off_t off, size_t len)
{
	pgoff_t first = (pgoff_t)off >> PAGE_SHIFT, last = ((pgoff_t)off + len - 1) >> PAGE_SHIFT;
	unsigned char vec[256];

	if (!len || last >= as->nr_pages)
		return;
	for (pgoff_t base = first; base <= last; base += sizeof(vec)) {
		pgoff_t cnt = last + 1 - base < sizeof(vec) ? last + 1 - base : sizeof(vec);

		if (mincore(as->window + (base << PAGE_SHIFT), cnt << PAGE_SHIFT, vec))
			return;
		for (pgoff_t i = 0; i < cnt; i++) {
			off_t lo = (off_t)((base + i) << PAGE_SHIFT), hi = lo + (off_t)PAGE_SIZE;

			if (!(vec[i] & 1))
				continue;
			if (lo < off)
				lo = off;
			if (hi > off + (off_t)len)
				hi = off + (off_t)len;
			if (sys_pread(as->memfd, buf + (lo - off), (size_t)(hi - lo), lo) < 0)
				return;
		}
	}
}

void filemap_clear_error(struct address_space *as, pgoff_t index)
{
	uint8_t s = PG_ERROR;

	if (index < as->nr_pages)
		__atomic_compare_exchange_n(&as->state[index], &s, PG_NONE, false, __ATOMIC_ACQ_REL,
					    __ATOMIC_RELAXED);
}

void filemap_forget_reads(struct address_space *as)
{
	/* Reads are clipped to EOF: no page past it was ever locked. */
	uint64_t n = size_to_pages(as->size) + READ_RUN_PAGES;

	if (n > as->nr_pages)
		n = as->nr_pages;
	for (uint64_t i = 0; i < n; i++)
		if (as->state[i] == PG_LOCKED)
			as->state[i] = PG_NONE;
}
