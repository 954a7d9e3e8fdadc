/*
 * engine.c - the engine behind libpager: its lifetime, the default engine,
 * fork, and the mmap-compatible calls (pager_mmap and friends), which check
 * their arguments the way the kernel does, reserve anonymous memory, register
 * it with the userfaultfd and record a vma.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kmem.h"
#include "sys.h"
#include "fault.h"
#include "filemap.h"
#include "log.h"
#include "mm.h"
#include "pager.h"
#include "reclaim.h"
#include "stats.h"
#include "writeback.h"

/* The vmas that overlap [start, end) (the body sees each as v). */
#define for_each_vma_in(mm, start, end, v, i)                                      \
	for (size_t i = 0; i < (mm)->nr_vmas; i++)                                 \
		if (((v) = (mm)->vmas[i]), (v)->end > (start) && (v)->start < (end))

struct pager_engine {
	struct pager_config cfg;
	struct mm mm;
	struct fault_env env;
	struct address_space *mappings; /* under mm.lock */
	struct handler *handlers;
	unsigned nr_handlers;
	void *zero;
	struct pager_stats dead_stats; /* of handlers that were replaced (fork) */
	struct reclaim rc; /* the budget, reclaim and swap */
	char swap_path[4096];
	struct pager_engine *next; /* all engines, for fork */
};

/* POISON for SIGBUS past EOF; WP_ASYNC (on shmem) for dirty tracking without faults; MOVE for swap. */
#define UFFD_WANT                                                                      \
	(UFFD_FEATURE_POISON | UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_HUGETLBFS_SHMEM | \
	 UFFD_FEATURE_MISSING_SHMEM | UFFD_FEATURE_MINOR_SHMEM | UFFD_FEATURE_MOVE)

static pthread_mutex_t engines_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pager_engine *engines;

/* ---- vma bookkeeping ---- */

static void vma_split_hook(struct vma *v, void *arg)
{
	(void)arg;
	if (v->mapping)
		v->mapping->nr_vmas++;
}

static void unlink_mapping(struct pager_engine *eng, struct address_space *as)
{
	for (struct address_space **pp = &eng->mappings; *pp; pp = &(*pp)->next) {
		if (*pp == as) {
			*pp = as->next;
			break;
		}
	}
}

/* Undo get_mapping. */
static void put_mapping(struct pager_engine *eng, struct address_space *as)
{
	if (as && --as->nr_vmas == 0) {
		unlink_mapping(eng, as);
		mapping_put(as);
	}
}

static void vma_gone_hook(struct vma *v, void *arg)
{
	struct pager_engine *eng = arg;
	struct address_space *as = v->mapping;

	/* The page cache of a file lives while a mapping of it does. */
	put_mapping(eng, as);
	vma_free(v);
}

static void vma_release_hook(struct vma *v, size_t first, size_t end, void *arg)
{
	struct pager_engine *eng = arg;

	if (!v->mapping)
		reclaim_forget_pages(&eng->rc, v, first, end);
}

static const struct vma_hooks engine_vma_hooks = {
	.split = vma_split_hook,
	.gone = vma_gone_hook,
	.release = vma_release_hook,
};

/* The page cache of a file, covering `pages`.  Caller holds mm.lock for writing. */
static struct address_space *get_mapping(struct pager_engine *eng, int fd, const struct stat *st,
					 uint64_t pages)
{
	struct address_space *as;
	int rc;

	/* Shared anonymous memory (st NULL) never shares a cache. */
	for (as = st ? eng->mappings : NULL; as; as = as->next)
		if (!as->anon && as->dev == st->st_dev && as->ino == st->st_ino)
			break;
	if (!as) {
		as = mapping_create(&eng->mm, fd, st, pages);
		if (!as)
			return NULL;
		/*
		 * Shared anonymous memory cannot be evicted (no swap for it yet):
		 * counting it would only make reclaim evict everything else.
		 */
		if (!as->anon)
			as->acct = &eng->rc.nr_file;
		as->next = eng->mappings;
		eng->mappings = as;
	} else if ((rc = mapping_grow(&eng->mm, as, pages))) {
		errno = -rc;
		return NULL;
	}
	/*
	 * The cache's own descriptor came from the first mapping; if that one
	 * was read-only and this one can write, take this one, or write-back
	 * would fail with EBADF.  dup3 swaps the file under the same number:
	 * reads already queued on it stay valid.
	 */
	if (!as->anon && (fcntl(as->fd, F_GETFL) & O_ACCMODE) == O_RDONLY &&
	    (fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDWR)
		dup3(fd, as->fd, O_CLOEXEC);
	as->nr_vmas++;
	return as;
}

/* ---- write-back around unmaps ---- */

/* Are stores to this vma tracked (a MAP_SHARED mapping of a file open for writing)? */
static bool vma_tracks_writes(const struct vma *v)
{
	int type = v->flags & MAP_TYPE;

	return v->mapping && v->may_write && (type == MAP_SHARED || type == MAP_SHARED_VALIDATE);
}

/* The files whose written pages an operation collected, to write back after it. */
struct wb_set {
	struct address_space *as[16];
	unsigned n;
	int err;
};

static void wb_set_add(struct wb_set *set, struct address_space *as)
{
	for (unsigned i = 0; i < set->n; i++)
		if (set->as[i] == as)
			return;
	if (set->n == 16) {
		/* Full: write this one back now rather than lose track of it. */
		int rc = writeback_flush(as, false, false);
		(void)rc;
		return;
	}
	mapping_get(as);
	set->as[set->n++] = as;
}

/*
 * Before [start, end) is unmapped, moved or replaced: move what was written
 * there to the dirty lists (the page tables are about to forget it).  With
 * `whole_file`, every shared mapping of those files is collected (msync:
 * the file's dirty pages, whichever mapping wrote them).  Caller holds mm.lock.
 */
static void wb_collect(struct pager_engine *eng, uintptr_t start, uintptr_t end, bool whole_file,
		       struct wb_set *set)
{
	struct vma *v;

	for_each_vma_in(&eng->mm, start, end, v, i) {
		if (!vma_tracks_writes(v))
			continue;
		if (writeback_collect(&eng->mm, v, start, end) && !set->err)
			set->err = -ENOMEM;
		wb_set_add(set, v->mapping);
	}
	if (!whole_file)
		return;
	for (size_t i = 0; i < eng->mm.nr_vmas; i++) {
		struct vma *w = eng->mm.vmas[i];

		for (unsigned k = 0; k < set->n; k++)
			if (w->mapping == set->as[k] && vma_tracks_writes(w))
				writeback_collect(&eng->mm, w, w->start, w->end);
	}
}

/* Keep what wb_collect found on the dirty lists, for the next write-back. */
static void wb_keep(struct wb_set *set)
{
	for (unsigned i = 0; i < set->n; i++)
		mapping_put(set->as[i]);
	set->n = 0;
}

/* Write back what wb_collect found; with `report`, return the first error. */
static int wb_flush(struct wb_set *set, bool sync, bool report)
{
	int rc = set->err;

	for (unsigned i = 0; i < set->n; i++) {
		int err = writeback_flush(set->as[i], sync, report);

		if (err && !rc)
			rc = err;
		mapping_put(set->as[i]);
	}
	set->n = 0;
	return rc;
}

/* ---- handler threads ---- */

static int start_handlers(struct pager_engine *eng)
{
	eng->handlers = kcalloc(eng->nr_handlers, sizeof(*eng->handlers));
	if (!eng->handlers)
		return -ENOMEM;
	for (unsigned i = 0; i < eng->nr_handlers; i++) {
		int rc = handler_start(&eng->handlers[i], &eng->env, eng->cfg.io_queue_depth);

		if (rc)
			return rc;
	}
	return 0;
}

static void stop_handlers(struct pager_engine *eng)
{
	if (!eng->handlers)
		return;
	__atomic_store_n(&eng->env.stopping, true, __ATOMIC_RELEASE);
	eventfd_write(eng->env.wake_fd, 1);
	for (unsigned i = 0; i < eng->nr_handlers; i++) {
		handler_join(&eng->handlers[i]);
		stats_sum(&eng->dead_stats, &eng->handlers[i].stats);
	}
	kfree(eng->handlers);
	eng->handlers = NULL;
}

/* ---- fork ---- */

/*
 * Without UFFD_FEATURE_EVENT_FORK (which needs CAP_SYS_PTRACE) a child's
 * copies of our ranges are unregistered, and its missing pages would read as
 * zero.  So the child gets an engine of its own before fork() returns: a new
 * uffd with the same ranges registered, new rings and threads.  It starts
 * with the parent's page cache, copied with the rest of its memory.
 */
static void atfork_prepare(void)
{
	pthread_mutex_lock(&engines_lock);
	for (struct pager_engine *e = engines; e; e = e->next) {
		pthread_rwlock_wrlock(&e->mm.lock); /* no fault half done */
		for (size_t i = 0; i < e->mm.nr_vmas; i++)
			if (vma_tracks_writes(e->mm.vmas[i]))
				e->mm.vmas[i]->mapping->shared_with_child = true;
		reclaim_fork_prepare(&e->rc);
	}
}

static void atfork_parent(void)
{
	for (struct pager_engine *e = engines; e; e = e->next)
		pthread_rwlock_unlock(&e->mm.lock);
	pthread_mutex_unlock(&engines_lock);
}

/*
 * Register a vma's range with the uffd: missing pages; for a shared mapping
 * whose stores are tracked, writes too (write protection disables the
 * kernel's fault-around there, a trap a page; so minor faults come to us as
 * well, and we map a whole run of cached pages with one UFFDIO_CONTINUE).
 */
static int vma_register(struct pager_engine *eng, struct vma *v)
{
	bool wp = vma_tracks_writes(v);
	uint64_t mode = UFFDIO_REGISTER_MODE_MISSING;
	int rc;

	v->minor = wp && (eng->mm.uffd.features & UFFD_FEATURE_MINOR_SHMEM);
	v->wp = wp;
	if (wp) {
		v->mapping->ever_written = true;
		mode |= UFFDIO_REGISTER_MODE_WP;
	}
	if (v->minor)
		mode |= UFFDIO_REGISTER_MODE_MINOR;
	rc = uffd_register(&eng->mm.uffd, v->start, v->end - v->start, mode);
	if (!rc && wp)
		rc = eng->mm.ops->writeprotect(&eng->mm, v->start, v->end - v->start);
	return rc;
}

static int engine_rebirth(struct pager_engine *eng)
{
	char err[256];
	int rc;

	/* The parent's threads did not come along; their rings are the parent's. */
	for (unsigned i = 0; i < eng->nr_handlers; i++) {
		io_exit(&eng->handlers[i].io);
		stats_sum(&eng->dead_stats, &eng->handlers[i].stats);
	}
	kfree(eng->handlers);
	eng->handlers = NULL;
	close(eng->env.wake_fd);
	eng->env.wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	pthread_mutex_init(&eng->env.req_lock, NULL);
	pthread_spin_init(&eng->env.sst.lock, PTHREAD_PROCESS_PRIVATE);
	eng->env.sst.size = 0;
	eng->env.swap_reading = 0; /* the parent's reads are not ours */
	uffd_close(&eng->mm.uffd);
	rc = uffd_open(&eng->mm.uffd, UFFD_WANT, err, sizeof(err));
	if (rc) {
		pr_err("after fork: %s", err);
		return rc;
	}
	for (struct address_space *as = eng->mappings; as; as = as->next) {
		filemap_forget_reads(as);
		rc = mapping_register(&eng->mm, as);
		if (rc) {
			pr_err("after fork: cannot register a page cache: %s", strerror(-rc));
			return rc;
		}
	}
	close(eng->mm.pagemap_fd);
	eng->mm.pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	rc = reclaim_fork_child(&eng->rc, eng->env.wake_fd);
	if (rc) {
		pr_err("after fork: cannot set up swap: %s", strerror(-rc));
		return rc;
	}
	for (size_t i = 0; i < eng->mm.nr_vmas; i++) {
		struct vma *v = eng->mm.vmas[i];

		rc = vma_register(eng, v);
		if (rc) {
			pr_err("after fork: cannot register %#lx-%#lx: %s", (unsigned long)v->start,
			       (unsigned long)v->end, strerror(-rc));
			return rc;
		}
	}
	return start_handlers(eng);
}

static void atfork_child(void)
{
	/* The locks were taken by a thread that has another id here: start them afresh. */
	pthread_mutex_init(&engines_lock, NULL);
	for (struct pager_engine *e = engines; e; e = e->next) {
		mm_lock_init(&e->mm);
		if (engine_rebirth(e))
			pr_err("the child's pager mappings cannot be served; touching a page that was "
			       "not present at fork will read zeros");
	}
}

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void atfork_register(void)
{
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

/* Stores through shared mappings reach the file when the process exits normally. */
static void engine_writeback_all(struct pager_engine *eng, bool report, int *err)
{
	struct wb_set set = { .n = 0 };
	int rc;

	pthread_rwlock_rdlock(&eng->mm.lock);
	wb_collect(eng, 0, UINTPTR_MAX, false, &set);
	pthread_rwlock_unlock(&eng->mm.lock);
	rc = wb_flush(&set, false, report);
	if (err && rc && !*err)
		*err = rc;
}

static void atexit_writeback(void)
{
	pthread_mutex_lock(&engines_lock);
	for (struct pager_engine *e = engines; e; e = e->next) {
		engine_writeback_all(e, false, NULL);
		/*
		 * A child of fork shares the swap file's slot map with its parent:
		 * what it still holds there must go back, or the parent's swap
		 * fills with slots nobody uses.  (The parent's own file goes with it.)
		 */
		if (e->rc.forked) {
			reclaim_stop(&e->rc);
			pthread_rwlock_wrlock(&e->mm.lock);
			reclaim_release_all(&e->rc);
			pthread_rwlock_unlock(&e->mm.lock);
		}
	}
	pthread_mutex_unlock(&engines_lock);
}

static pthread_once_t atexit_once = PTHREAD_ONCE_INIT;

static void atexit_register(void)
{
	atexit(atexit_writeback);
}

/* ---- lifetime ---- */

static uint32_t pages_pow2(size_t bytes)
{
	uint32_t n = 1;

	while (((size_t)n << 1) <= bytes >> PAGE_SHIFT)
		n <<= 1;
	return n;
}

struct pager_engine *pager_engine_new(const struct pager_config *cfg, char *err, size_t errlen)
{
	struct pager_engine *eng;
	char buf[256];
	int rc;

	if (!err) {
		err = buf;
		errlen = sizeof(buf);
	}
	err[0] = 0;
	if (sysconf(_SC_PAGESIZE) != (long)PAGE_SIZE) {
		snprintf(err, errlen, "page size %ld is not supported (4096 only)",
			 sysconf(_SC_PAGESIZE));
		errno = ENOTSUP;
		return NULL;
	}
	eng = kcalloc(1, sizeof(*eng));
	if (!eng) {
		snprintf(err, errlen, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	if (cfg)
		eng->cfg = *cfg;
	else
		pager_config_default(&eng->cfg);
	if (eng->cfg.swap_path) {
		snprintf(eng->swap_path, sizeof(eng->swap_path), "%s", eng->cfg.swap_path);
		eng->cfg.swap_path = eng->swap_path;
	}
	pager_log_level = eng->cfg.log_level;
	rc = mm_init(&eng->mm);
	if (rc)
		goto fail_free;
	rc = uffd_open(&eng->mm.uffd, UFFD_WANT, err, errlen);
	if (rc)
		goto fail_mm;
	if (!(eng->mm.uffd.features & UFFD_FEATURE_POISON))
		pr_warn("this kernel has no UFFDIO_POISON (Linux >= 6.6): file mappings are refused");
	eng->mm.pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (eng->mm.pagemap_fd < 0 || !(eng->mm.uffd.features & UFFD_FEATURE_WP_ASYNC))
		pr_info("no PAGEMAP_SCAN or UFFD_FEATURE_WP_ASYNC: writable MAP_SHARED file mappings "
			"are refused");
	eng->zero = sys_mmap(NULL, ZERO_BUF_PAGES * PAGE_SIZE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS,
			 -1, 0);
	if (eng->zero == MAP_FAILED) {
		rc = -errno;
		snprintf(err, errlen, "mmap: %s", strerror(errno));
		goto fail_uffd;
	}
	eng->env.mm = &eng->mm;
	eng->env.zero = eng->zero;
	eng->env.fa_pages = pages_pow2(eng->cfg.fault_around_bytes);
	eng->env.ra_min = (uint32_t)(eng->cfg.readahead_min_bytes >> PAGE_SHIFT);
	eng->env.ra_max = (uint32_t)(eng->cfg.readahead_max_bytes >> PAGE_SHIFT);
	if (eng->env.ra_min == 0)
		eng->env.ra_min = 1;
	if (eng->env.ra_min > eng->env.ra_max)
		eng->env.ra_min = eng->env.ra_max;
	/*
	 * A random miss reads a whole readahead window around it: cheap when
	 * memory is plenty.  Under a budget, the kernel's own read-around
	 * (read_ahead_kb, 128 KiB): 2 MiB per random touch would evict faster
	 * than a random reader can use what it brought in.
	 */
	eng->env.around_pages = eng->env.ra_max;
	if (eng->cfg.budget_bytes && eng->env.around_pages > 32)
		eng->env.around_pages = eng->env.fa_pages > 32 ? eng->env.fa_pages : 32;
	eng->env.nr_handlers = eng->nr_handlers = eng->cfg.handler_threads ? eng->cfg.handler_threads : 1;
	pthread_mutex_init(&eng->env.req_lock, NULL);
	pthread_spin_init(&eng->env.sst.lock, PTHREAD_PROCESS_PRIVATE);
	eng->env.wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (eng->env.wake_fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		goto fail_zero;
	}
	rc = reclaim_init(&eng->rc, &eng->mm, &eng->mappings, &eng->cfg, eng->env.wake_fd, err,
			  errlen);
	if (rc)
		goto fail_efd;
	eng->env.rc = &eng->rc;
	rc = start_handlers(eng);
	if (!rc)
		rc = reclaim_start(&eng->rc);
	if (rc) {
		snprintf(err, errlen, "starting handler threads: %s", strerror(-rc));
		stop_handlers(eng);
		reclaim_destroy(&eng->rc);
		goto fail_efd;
	}
	pthread_once(&atfork_once, atfork_register);
	pthread_once(&atexit_once, atexit_register);
	pthread_mutex_lock(&engines_lock);
	eng->next = engines;
	engines = eng;
	pthread_mutex_unlock(&engines_lock);
	return eng;

fail_efd:
	close(eng->env.wake_fd);
fail_zero:
	sys_munmap(eng->zero, ZERO_BUF_PAGES * PAGE_SIZE);
fail_uffd:
	if (eng->mm.pagemap_fd >= 0)
		close(eng->mm.pagemap_fd);
	uffd_close(&eng->mm.uffd);
fail_mm:
	mm_destroy(&eng->mm);
fail_free:
	kfree(eng);
	errno = -rc;
	return NULL;
}

void pager_engine_destroy(struct pager_engine *eng)
{
	if (!eng)
		return;
	pthread_mutex_lock(&engines_lock);
	for (struct pager_engine **pp = &engines; *pp; pp = &(*pp)->next) {
		if (*pp == eng) {
			*pp = eng->next;
			break;
		}
	}
	pthread_mutex_unlock(&engines_lock);
	engine_writeback_all(eng, false, NULL);
	reclaim_stop(&eng->rc);
	/* Unmap first: a thread still touching these ranges must not hang. */
	pthread_rwlock_wrlock(&eng->mm.lock);
	while (eng->mm.nr_vmas) {
		struct vma *v = eng->mm.vmas[0];
		uintptr_t start = v->start, end = v->end;

		sys_munmap((void *)start, end - start);
		mm_unmap_range(&eng->mm, start, end, &engine_vma_hooks, eng);
	}
	pthread_rwlock_unlock(&eng->mm.lock);
	stop_handlers(eng);
	while (eng->env.reqs) {
		struct fault_request *r = eng->env.reqs;

		eng->env.reqs = r->next;
		mapping_put(r->as);
		kfree(r);
	}
	reclaim_destroy(&eng->rc);
	close(eng->env.wake_fd);
	uffd_close(&eng->mm.uffd);
	sys_munmap(eng->zero, ZERO_BUF_PAGES * PAGE_SIZE);
	mm_destroy(&eng->mm);
	kfree(eng);
}

void pager_engine_stats(struct pager_engine *eng, struct pager_stats *st)
{
	memset(st, 0, sizeof(*st));
	stats_sum(st, &eng->dead_stats);
	pthread_mutex_lock(&engines_lock);
	for (unsigned i = 0; eng->handlers && i < eng->nr_handlers; i++)
		stats_sum(st, &eng->handlers[i].stats);
	pthread_mutex_unlock(&engines_lock);
	reclaim_stats(&eng->rc, st);
}

int pager_engine_owns(struct pager_engine *eng, const void *addr)
{
	int owns;

	pthread_rwlock_rdlock(&eng->mm.lock);
	owns = find_vma(&eng->mm, (uintptr_t)addr) != NULL;
	pthread_rwlock_unlock(&eng->mm.lock);
	return owns;
}

int pager_engine_overlaps(struct pager_engine *eng, const void *addr, size_t len)
{
	uintptr_t start = (uintptr_t)addr, end = start + len;
	int hit = 0;

	if (!__atomic_load_n(&eng->mm.nr_vmas, __ATOMIC_RELAXED))
		return 0;
	pthread_rwlock_rdlock(&eng->mm.lock);
	for (size_t i = 0; i < eng->mm.nr_vmas && !hit; i++)
		hit = eng->mm.vmas[i]->end > start && eng->mm.vmas[i]->start < end;
	pthread_rwlock_unlock(&eng->mm.lock);
	return hit;
}

/* ---- the default engine ---- */

static pthread_mutex_t default_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pager_engine *default_engine;
static int default_errno;

struct pager_engine *pager_default_engine(void)
{
	struct pager_engine *eng = __atomic_load_n(&default_engine, __ATOMIC_ACQUIRE);
	struct pager_config cfg;
	char err[512];

	if (eng)
		return eng;
	pthread_mutex_lock(&default_lock);
	eng = default_engine;
	if (!eng && !default_errno) {
		pager_config_default(&cfg);
		if (pager_config_from_env(&cfg, err, sizeof(err))) {
			pr_err("%s", err);
			default_errno = EINVAL;
		} else {
			eng = pager_engine_new(&cfg, err, sizeof(err));
			if (!eng) {
				default_errno = errno;
				pr_err("%s", err);
			}
			__atomic_store_n(&default_engine, eng, __ATOMIC_RELEASE);
		}
	}
	pthread_mutex_unlock(&default_lock);
	if (!eng)
		errno = default_errno;
	return eng;
}

void pager_shutdown(void)
{
	pthread_mutex_lock(&default_lock);
	pager_engine_destroy(default_engine);
	default_engine = NULL;
	default_errno = 0;
	pthread_mutex_unlock(&default_lock);
}

/* ---- the mmap-compatible calls ---- */

static bool is_shared(int flags)
{
	int type = flags & MAP_TYPE;

	return type == MAP_SHARED || type == MAP_SHARED_VALIDATE;
}

#define FIXED_FLAGS (MAP_FIXED | MAP_FIXED_NOREPLACE)
/* Flags that would fill our anonymous reservation with zeros before we register it. */
#define POPULATE_FLAGS (MAP_POPULATE | MAP_LOCKED)

/*
 * The kernel is the oracle for the arguments of a file mapping: make the
 * same mapping (anywhere, not populated), take its errno, undo it.
 */
static int probe_file_mapping(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	void *p = sys_mmap(NULL, len, prot, flags & ~(FIXED_FLAGS | POPULATE_FLAGS | MAP_NONBLOCK), fd, off);

	if (p == MAP_FAILED) {
		int e = errno;
		/* A misaligned fixed address is seen before the file's mode. */
		if ((flags & FIXED_FLAGS) && ((uintptr_t)addr & ~PAGE_MASK) && e != EBADF)
			e = EINVAL;
		return -e;
	}
	sys_munmap(p, len);
	if ((flags & FIXED_FLAGS) && ((uintptr_t)addr & ~PAGE_MASK))
		return -EINVAL;
	return 0;
}

static bool can_track_writes(struct pager_engine *eng)
{
	return eng->mm.pagemap_fd >= 0 && (eng->mm.uffd.features & UFFD_FEATURE_WP_ASYNC);
}

static void *fail(int e)
{
	errno = e;
	return MAP_FAILED;
}

void *pager_engine_mmap(struct pager_engine *eng, void *addr, size_t len, int prot, int flags,
			int fd, off_t off)
{
	bool anon = flags & MAP_ANONYMOUS;
	int type = flags & MAP_TYPE;
	bool shared_anon = anon && type == MAP_SHARED;
	struct address_space *as = NULL;
	struct wb_set set = { .n = 0 };
	struct stat st;
	struct vma *v;
	void *p;
	int rc;

	if (!eng)
		return MAP_FAILED;
	if (!anon) {
		rc = probe_file_mapping(addr, len, prot, flags, fd, off);
		if (rc)
			return fail(-rc);
		if (fstat(fd, &st))
			return MAP_FAILED;
		if (!S_ISREG(st.st_mode))
			return sys_mmap(addr, len, prot, flags, fd, off); /* devices: the kernel's */
		if (is_shared(flags) && (prot & PROT_WRITE) && !can_track_writes(eng))
			return fail(ENOTSUP); /* no way to know what to write back */
		if (!(eng->mm.uffd.features & UFFD_FEATURE_POISON))
			return fail(ENOTSUP);
		if (((uint64_t)off >> PAGE_SHIFT) + ((len + PAGE_SIZE - 1) >> PAGE_SHIFT) >
		    FILEMAP_MAX_PAGES)
			return fail(EOVERFLOW);
	} else if ((flags & (MAP_HUGETLB | MAP_GROWSDOWN)) ||
		   (type != MAP_PRIVATE && type != MAP_SHARED)) {
		/* Not ours to serve (MAP_DROPPABLE, MAP_SHARED_VALIDATE...): the kernel's, errors too. */
		return sys_mmap(addr, len, prot, flags, fd, off);
	} else if (shared_anon) {
		/* The kernel is the oracle for the arguments: the same mapping, undone. */
		p = sys_mmap(NULL, len, prot, flags & ~(FIXED_FLAGS | POPULATE_FLAGS), -1, off);
		if (p == MAP_FAILED)
			return MAP_FAILED;
		sys_munmap(p, len);
		if ((flags & FIXED_FLAGS) && ((uintptr_t)addr & ~PAGE_MASK))
			return fail(EINVAL);
		off = 0;
	}

	pthread_rwlock_wrlock(&eng->mm.lock);
	if ((!anon || shared_anon) &&
	    !(as = get_mapping(eng, shared_anon ? -1 : fd, shared_anon ? NULL : &st,
			       ((uint64_t)off >> PAGE_SHIFT) + ((len + PAGE_SIZE - 1) >> PAGE_SHIFT)))) {
		rc = -errno;
		goto out_unlock;
	}
	/* A fixed mapping replaces ours: what was written there must not be lost. */
	if ((flags & FIXED_FLAGS) == MAP_FIXED)
		wb_collect(eng, (uintptr_t)addr, (uintptr_t)addr + len, false, &set);
	if (anon && !shared_anon)
		p = sys_mmap(addr, len, prot, flags, -1, off);
	else
		p = sys_mmap(addr, len, prot,
			     (flags & MAP_TYPE) | (flags & (FIXED_FLAGS | MAP_NORESERVE | MAP_32BIT)),
			     as->memfd, off);
	if (p == MAP_FAILED) {
		rc = -errno;
		goto out_put;
	}
	len = (len + PAGE_SIZE - 1) & PAGE_MASK;
	rc = mm_unmap_range(&eng->mm, (uintptr_t)p, (uintptr_t)p + len, &engine_vma_hooks, eng);
	if (rc)
		goto out_unmap;
	v = vma_alloc((uintptr_t)p, (uintptr_t)p + len, prot, flags, as, (pgoff_t)off >> PAGE_SHIFT);
	if (!v) {
		rc = -ENOMEM;
		goto out_unmap;
	}
	v->may_write = !anon && (fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDWR &&
		       (!is_shared(flags) || can_track_writes(eng));
	rc = vma_register(eng, v);
	if (rc && anon && !shared_anon) {
		/* A region userfaultfd will not take: it stays the kernel's, as asked. */
		vma_free(v);
		pthread_rwlock_unlock(&eng->mm.lock);
		wb_flush(&set, false, false);
		return p;
	}
	if (rc || vma_insert(&eng->mm, v)) {
		rc = rc ? rc : -ENOMEM;
		vma_free(v);
		goto out_unmap;
	}
	if (anon || shared_anon)
		ra_init(&v->ra, 1, eng->env.ra_max);
	else
		ra_init(&v->ra, eng->env.ra_min, eng->env.ra_max);
	pthread_rwlock_unlock(&eng->mm.lock);
	wb_flush(&set, false, false);

	if (!anon && (flags & POPULATE_FLAGS)) {
		/* Like the kernel's populate: fault in what is inside the file, ignore the rest. */
		size_t in_file = st.st_size > off ? (size_t)(st.st_size - off) : 0;

		if (in_file > len)
			in_file = len;
		in_file = (in_file + PAGE_SIZE - 1) & PAGE_MASK;
		if (in_file)
			sys_madvise(p, in_file, MADV_POPULATE_READ);
		if (flags & MAP_LOCKED)
			sys_mlock(p, in_file);
	}
	return p;

out_unmap:
	sys_munmap(p, len);
out_put:
	put_mapping(eng, as);
out_unlock:
	pthread_rwlock_unlock(&eng->mm.lock);
	wb_flush(&set, false, false);
	return fail(-rc);
}

int pager_engine_munmap(struct pager_engine *eng, void *addr, size_t len)
{
	uintptr_t start = (uintptr_t)addr, end = start + ((len + PAGE_SIZE - 1) & PAGE_MASK);
	struct wb_set set = { .n = 0 };
	int rc;

	pthread_rwlock_wrlock(&eng->mm.lock);
	/* Stores in the range reach the file after the unmap, from the cache. */
	if (!(start & ~PAGE_MASK) && end > start) {
		wb_collect(eng, start, end, false, &set);
		/*
		 * Our vmas first: splitting them allocates, and an allocation made
		 * after the kernel's unmap could land in the hole the program just
		 * made (and would not fault there as the kernel's unmap says).
		 */
		if (mm_unmap_range(&eng->mm, start, end, &engine_vma_hooks, eng))
			pr_err("out of memory splitting a vma at %#lx", (unsigned long)start);
	}
	rc = sys_munmap(addr, len);
	pthread_rwlock_unlock(&eng->mm.lock);
	wb_flush(&set, false, false);
	return rc;
}

int pager_engine_mprotect(struct pager_engine *eng, void *addr, size_t len, int prot)
{
	uintptr_t start = (uintptr_t)addr, end = start + ((len + PAGE_SIZE - 1) & PAGE_MASK);
	struct vma *v;
	int rc;

	pthread_rwlock_wrlock(&eng->mm.lock);
	if (!(start & ~PAGE_MASK) && (prot & PROT_WRITE)) {
		for_each_vma_in(&eng->mm, start, end, v, i) {
			if (v->mapping && is_shared(v->flags) && !v->may_write) {
				/* The kernel's answer for a file not open for writing. */
				pthread_rwlock_unlock(&eng->mm.lock);
				errno = EACCES;
				return -1;
			}
		}
	}
	rc = sys_mprotect(addr, len, prot);
	pthread_rwlock_unlock(&eng->mm.lock);
	return rc;
}

static void madvise_vma(struct pager_engine *eng, struct vma *v, uintptr_t start, uintptr_t end,
			int advice)
{
	uintptr_t lo = start > v->start ? start : v->start, hi = end < v->end ? end : v->end;

	switch (advice) {
	case MADV_REMOVE:
		/*
		 * The kernel punched our cache (the memfd); the program asked for
		 * the file's range to go, as it would with the kernel's cache.
		 */
		if (v->mapping && !v->mapping->anon)
			sys_fallocate(v->mapping->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				      (off_t)((v->pgoff + vma_page(v, lo)) << PAGE_SHIFT),
				      (off_t)(hi - lo));
		/* fall through */
	case MADV_DONTNEED:
	case MADV_DONTNEED_LOCKED:
	case MADV_FREE:
		if (!v->mapping) {
			/* Back to zero: what was resident or swapped is gone. */
			reclaim_forget_pages(&eng->rc, v, vma_page(v, lo), vma_page(v, hi));
			break;
		}
		for (uintptr_t a = lo; a < hi; a += PAGE_SIZE)
			pte_clear(v, vma_page(v, a));
		break;
	case MADV_NORMAL:
	case MADV_SEQUENTIAL:
	case MADV_RANDOM:
		pthread_spin_lock(&v->ra_lock);
		ra_set_mode(&v->ra, advice == MADV_SEQUENTIAL ? RA_MODE_SEQUENTIAL :
				    advice == MADV_RANDOM   ? RA_MODE_RANDOM :
							      RA_MODE_NORMAL);
		pthread_spin_unlock(&v->ra_lock);
		break;
	case MADV_WILLNEED:
		if (v->mapping) {
			pgoff_t first = v->pgoff + vma_page(v, lo);
			pgoff_t last = v->pgoff + vma_page(v, hi - 1) + 1;
			pgoff_t eof = size_to_pages(__atomic_load_n(&v->mapping->size, __ATOMIC_RELAXED));

			if (last > eof)
				last = eof;
			if (first < last)
				fault_queue_willneed(&eng->env, v->mapping, first, last - first);
		}
		break;
	default:
		break;
	}
}

int pager_engine_madvise(struct pager_engine *eng, void *addr, size_t len, int advice)
{
	uintptr_t start = (uintptr_t)addr, end = start + ((len + PAGE_SIZE - 1) & PAGE_MASK);
	struct wb_set set = { .n = 0 };
	struct vma *v;
	int rc;

	pthread_rwlock_wrlock(&eng->mm.lock);
	/*
	 * Advice that zaps page table entries also forgets which pages were
	 * written: move them to the dirty lists first (the data stays cached).
	 */
	if (!(start & ~PAGE_MASK) && end > start &&
	    (advice == MADV_DONTNEED || advice == MADV_DONTNEED_LOCKED || advice == MADV_FREE ||
	     advice == MADV_REMOVE || advice == MADV_PAGEOUT || advice == MADV_COLD))
		wb_collect(eng, start, end, false, &set);
	/* The kernel checks the arguments and zaps pages of our ranges. */
	rc = sys_madvise(addr, len, advice);
	if (rc == 0) {
		for_each_vma_in(&eng->mm, start, end, v, i)
			madvise_vma(eng, v, start, end, advice);
	}
	pthread_rwlock_unlock(&eng->mm.lock);
	wb_keep(&set);
	return rc;
}

/*
 * mremap: the kernel moves the pages that are in; a moved range loses its
 * userfaultfd registration (we do not ask for UFFD_EVENT_REMAP), so the new
 * range is registered again and the vma follows the pages.
 */
void *pager_engine_mremap(struct pager_engine *eng, void *old, size_t old_len, size_t new_len,
			  int flags, void *new_addr)
{
	uintptr_t os = (uintptr_t)old, oe = os + ((old_len + PAGE_SIZE - 1) & PAGE_MASK);
	struct wb_set set = { .n = 0 };
	struct vma *v, *n = NULL;
	uintptr_t ns, ne;
	void *p;
	int rc;

	pthread_rwlock_wrlock(&eng->mm.lock);
	v = find_vma(&eng->mm, os);
	if (v && oe <= v->end) {
		/* Prepare the new vma first: past the kernel call nothing may fail. */
		n = vma_alloc(0, (new_len + PAGE_SIZE - 1) & PAGE_MASK, v->prot, v->flags, v->mapping,
			      v->mapping ? v->pgoff + vma_page(v, os) : 0);
		if (!n) {
			pthread_rwlock_unlock(&eng->mm.lock);
			errno = ENOMEM;
			return MAP_FAILED;
		}
	}
	/* The page tables that remember what was written are about to move. */
	wb_collect(eng, os, oe, false, &set);
	if (flags & MREMAP_FIXED)
		wb_collect(eng, (uintptr_t)new_addr, (uintptr_t)new_addr + new_len, false, &set);
	p = sys_mremap(old, old_len, new_len, flags, new_addr);
	if (p == MAP_FAILED) {
		rc = errno;
		vma_free(n);
		pthread_rwlock_unlock(&eng->mm.lock);
		wb_flush(&set, false, false);
		errno = rc;
		return MAP_FAILED;
	}
	ns = (uintptr_t)p;
	ne = ns + ((new_len + PAGE_SIZE - 1) & PAGE_MASK);
	if (n) {
		size_t keep = vma_pages(n) < (oe - os) >> PAGE_SHIFT ? vma_pages(n) : (oe - os) >> PAGE_SHIFT;

		n->start = ns;
		n->end = ne;
		memcpy(n->ptes, v->ptes + vma_page(v, os), keep);
		if (v->swp && n->swp)
			memcpy(n->swp, v->swp + vma_page(v, os), keep * sizeof(*n->swp));
		/*
		 * The pages (and swap slots) moved with the mapping: the old range
		 * no longer holds them.  A swap-in in flight is done again at the
		 * new address.
		 */
		for (size_t k = 0; k < keep; k++) {
			pte_set(n, k, pte_get(n, k) & (uint8_t)~PTE_LOCKED);
			if ((pte_get(n, k) & PTE_SWAP) && eng->rc.enabled)
				swap_set_owner(&eng->rc.swap, n->swp[k], ns + (k << PAGE_SHIFT));
			pte_set(v, vma_page(v, os) + k, 0);
		}
		n->ra = v->ra;
		n->may_write = v->may_write;
		n->wp = v->wp;
		if (n->mapping)
			n->mapping->nr_vmas++;
		/* With MREMAP_DONTUNMAP the old range stays, emptied above and still registered. */
		if (!(flags & MREMAP_DONTUNMAP))
			mm_unmap_range(&eng->mm, os, oe, &engine_vma_hooks, eng);
	}
	/* The destination replaced whatever was there (MREMAP_FIXED). */
	mm_unmap_range(&eng->mm, ns, ne, &engine_vma_hooks, eng);
	if (n) {
		vma_insert(&eng->mm, n);
		rc = vma_register(eng, n);
		if (rc)
			pr_err("mremap: cannot register %#lx-%#lx again: %s", (unsigned long)ns,
			       (unsigned long)ne, strerror(-rc));
	}
	pthread_rwlock_unlock(&eng->mm.lock);
	wb_flush(&set, false, false);
	return p;
}

/*
 * msync: the kernel checks the arguments; then the written pages of the
 * files mapped in the range go to those files (MS_SYNC: durably, before we
 * return; MS_ASYNC: written to the file, which is what "started" means when
 * the file's own cache is the kernel's).  A failed write-back is reported
 * here and the data stays dirty in memory.
 */
int pager_engine_msync(struct pager_engine *eng, void *addr, size_t len, int flags)
{
	uintptr_t start = (uintptr_t)addr, end = start + ((len + PAGE_SIZE - 1) & PAGE_MASK);
	struct wb_set set = { .n = 0 };
	int rc;

	pthread_rwlock_rdlock(&eng->mm.lock);
	rc = sys_msync(addr, len, flags);
	if (rc == 0)
		wb_collect(eng, start, end, true, &set);
	pthread_rwlock_unlock(&eng->mm.lock);
	if (rc)
		return rc;
	rc = wb_flush(&set, flags & MS_SYNC, true);
	if (rc) {
		errno = -rc;
		return -1;
	}
	return 0;
}

/* The page cache of the file open as fd, with a reference; NULL if it has none. */
static struct address_space *mapping_of_fd(struct pager_engine *eng, int fd, bool only_written)
{
	struct address_space *as;
	struct stat st;

	if (!__atomic_load_n(&eng->mappings, __ATOMIC_RELAXED) || fstat(fd, &st) ||
	    !S_ISREG(st.st_mode))
		return NULL;
	pthread_rwlock_rdlock(&eng->mm.lock);
	for (as = eng->mappings; as; as = as->next)
		if (!as->anon && as->dev == st.st_dev && as->ino == st.st_ino)
			break;
	if (as && only_written) {
		size_t i;

		for (i = 0; i < eng->mm.nr_vmas; i++)
			if (eng->mm.vmas[i]->mapping == as && vma_tracks_writes(eng->mm.vmas[i]))
				break;
		if (i == eng->mm.nr_vmas && !as->shared_with_child)
			as = NULL;
	}
	if (as)
		mapping_get(as);
	pthread_rwlock_unlock(&eng->mm.lock);
	return as;
}

int pager_engine_file_read(struct pager_engine *eng, int fd, void *buf, off_t off, size_t len)
{
	struct address_space *as = mapping_of_fd(eng, fd, true);

	if (!as)
		return 0;
	if (off < 0)
		off = lseek(fd, 0, SEEK_CUR) - (off_t)len;
	pthread_rwlock_rdlock(&eng->mm.lock);
	if (off >= 0)
		filemap_read_through(as, buf, off, len);
	pthread_rwlock_unlock(&eng->mm.lock);
	mapping_put(as);
	return 1;
}

int pager_engine_file_written(struct pager_engine *eng, int fd, off_t off, size_t len)
{
	struct address_space *as = mapping_of_fd(eng, fd, false);

	if (!as)
		return 0;
	if (off < 0) {
		/* Written at the file offset, which now stands just past the bytes. */
		off = lseek(fd, 0, SEEK_CUR) - (off_t)len;
		if (off < 0) {
			mapping_put(as);
			return 1;
		}
	}
	/* Under the read lock: the window must not move while we use it. */
	for (;;) {
		bool done = true;
		int64_t old, new;

		pthread_rwlock_rdlock(&eng->mm.lock);
		new = filemap_update_size(as, &old);
		if (new >= 0 && new != old)
			mm_file_resized(&eng->mm, as, old, new);
		if (len)
			done = filemap_write_through(as, off, len);
		pthread_rwlock_unlock(&eng->mm.lock);
		if (done)
			break;
		sched_yield(); /* a read of the range is landing */
	}
	mapping_put(as);
	return 1;
}

int pager_engine_release(struct pager_engine *eng, void *addr, size_t len)
{
	uintptr_t start = (uintptr_t)addr & PAGE_MASK, end = ((uintptr_t)addr + len + PAGE_SIZE - 1) & PAGE_MASK;
	struct wb_set set = { .n = 0 };
	struct vma *v;
	int rc = 0;

	/*
	 * File pages must be in before the range stops being ours, or they
	 * would read zero.  Fault them in without holding the lock: the
	 * handler needs it to serve the faults.
	 */
	struct { uintptr_t lo, hi; } pop[16];
	unsigned npop = 0;

	pthread_rwlock_rdlock(&eng->mm.lock);
	for_each_vma_in(&eng->mm, start, end, v, i) {
		if (v->mapping && !v->mapping->anon && npop < 16) {
			uintptr_t lo = start > v->start ? start : v->start, hi = end < v->end ? end : v->end;
			int64_t size = filemap_update_size(v->mapping, NULL);
			uint64_t in_file = size > (int64_t)(v->pgoff << PAGE_SHIFT) ?
						   (uint64_t)size - (v->pgoff << PAGE_SHIFT) : 0;
			uintptr_t eof = v->start + ((in_file + PAGE_SIZE - 1) & PAGE_MASK);

			if (hi > eof)
				hi = eof;
			if (hi > lo) {
				pop[npop].lo = lo;
				pop[npop++].hi = hi;
			}
		}
	}
	pthread_rwlock_unlock(&eng->mm.lock);
	for (unsigned k = 0; k < npop; k++)
		sys_madvise((void *)pop[k].lo, pop[k].hi - pop[k].lo, MADV_POPULATE_READ);
	pthread_rwlock_wrlock(&eng->mm.lock);
	wb_collect(eng, start, end, false, &set);
	for_each_vma_in(&eng->mm, start, end, v, i) {
		uintptr_t lo = start > v->start ? start : v->start, hi = end < v->end ? end : v->end;

		/* Swapped pages come back first, or they would read zero. */
		if (!v->mapping && (rc = reclaim_swapin_range(&eng->rc, v, vma_page(v, lo),
							      vma_page(v, hi))))
			break;
		rc = uffd_unregister(&eng->mm.uffd, lo, hi - lo);
		if (rc)
			break;
	}
	if (!rc)
		rc = mm_unmap_range(&eng->mm, start, end, &engine_vma_hooks, eng);
	pthread_rwlock_unlock(&eng->mm.lock);
	wb_flush(&set, false, false);
	if (rc) {
		errno = -rc;
		return -1;
	}
	return 0;
}

void *pager_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return pager_engine_mmap(pager_default_engine(), addr, len, prot, flags, fd, off);
}

int pager_munmap(void *addr, size_t len)
{
	struct pager_engine *eng = __atomic_load_n(&default_engine, __ATOMIC_ACQUIRE);

	return eng ? pager_engine_munmap(eng, addr, len) : sys_munmap(addr, len);
}

int pager_mprotect(void *addr, size_t len, int prot)
{
	struct pager_engine *eng = __atomic_load_n(&default_engine, __ATOMIC_ACQUIRE);

	return eng ? pager_engine_mprotect(eng, addr, len, prot) : sys_mprotect(addr, len, prot);
}

void *pager_mremap(void *old, size_t old_len, size_t new_len, int flags, ...)
{
	struct pager_engine *eng = __atomic_load_n(&default_engine, __ATOMIC_ACQUIRE);
	void *new_addr = NULL;
	va_list ap;

	if (flags & (MREMAP_FIXED | MREMAP_DONTUNMAP)) {
		va_start(ap, flags);
		new_addr = va_arg(ap, void *);
		va_end(ap);
	}
	return eng ? pager_engine_mremap(eng, old, old_len, new_len, flags, new_addr) :
		     sys_mremap(old, old_len, new_len, flags, new_addr);
}

int pager_file_written(int fd, off_t off, size_t len)
{
	struct pager_engine *eng = __atomic_load_n(&default_engine, __ATOMIC_ACQUIRE);

	return eng ? pager_engine_file_written(eng, fd, off, len) : 0;
}

int pager_file_read(int fd, void *buf, off_t off, size_t len)
{
	struct pager_engine *eng = __atomic_load_n(&default_engine, __ATOMIC_ACQUIRE);

	return eng ? pager_engine_file_read(eng, fd, buf, off, len) : 0;
}

int pager_msync(void *addr, size_t len, int flags)
{
	struct pager_engine *eng = __atomic_load_n(&default_engine, __ATOMIC_ACQUIRE);

	return eng ? pager_engine_msync(eng, addr, len, flags) : sys_msync(addr, len, flags);
}

int pager_madvise(void *addr, size_t len, int advice)
{
	struct pager_engine *eng = __atomic_load_n(&default_engine, __ATOMIC_ACQUIRE);

	return eng ? pager_engine_madvise(eng, addr, len, advice) : sys_madvise(addr, len, advice);
}
