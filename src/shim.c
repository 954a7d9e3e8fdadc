/*
 * shim.c - the LD_PRELOAD library: takes over mmap and its family in an
 * unmodified program and hands what the pager can serve exactly to the
 * engine; everything else goes to the kernel untouched.
 *
 * Served: MAP_PRIVATE mappings of regular files that are not executable
 * (MAP_SHARED ones too with PAGER_SHARED_FILES=1, see below), and anonymous
 * mappings, private or shared, of at least PAGER_MIN_ANON bytes.  Left to the kernel: executable mappings, devices,
 * MAP_HUGETLB, MAP_GROWSDOWN, MAP_STACK.  A fallback that always
 * works beats a takeover that breaks.
 *
 * Writes to a mapped file with write(2) and friends, and its truncation, are
 * passed on to the page cache (pager_engine_file_written), so that mappings
 * see them as they would under the kernel: databases map a file read-only
 * and write it with pwrite.
 *
 * The kernel is reached with raw system calls, never through libc's symbols:
 * nothing to resolve at start-up, and no way to recurse into ourselves.  A
 * thread already inside the shim (the engine allocating, a preloaded malloc
 * calling mmap) goes straight to the kernel.
 */
/* mmap and mmap64 are two symbols here; the header must not rename one into the other. */
#undef _FILE_OFFSET_BITS
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "pager.h"
#include "sys.h"
#include "uffd_compat.h"

#define EXPORT __attribute__((visibility("default")))

static __thread int in_shim __attribute__((tls_model("initial-exec")));

enum { SHIM_UNSET, SHIM_ON, SHIM_OFF };
static int shim_state = SHIM_UNSET;
static pthread_mutex_t shim_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t min_anon = 1 << 20;
/*
 * MAP_SHARED file mappings are coherent within this process and its
 * children (one memfd cache), not with an unrelated process that maps or
 * writes the same file (that needs pagerd's shared cache): two SQLite
 * processes on one database would see each other's writes late.  So they stay
 * the kernel's unless PAGER_SHARED_FILES=1 says the file is this program's.
 */
static bool shared_files;
static struct pager_engine *engine;

/* Make the engine (once, from shim_init); NULL: step aside. */
static struct pager_engine *shim_engine(void)
{
	int state = __atomic_load_n(&shim_state, __ATOMIC_ACQUIRE);
	const char *v;

	if (state != SHIM_UNSET)
		return state == SHIM_ON ? engine : NULL;
	pthread_mutex_lock(&shim_lock);
	if (shim_state == SHIM_UNSET) {
		state = SHIM_OFF;
		v = getenv("PAGER_DISABLE");
		if (!(v && *v && strcmp(v, "0"))) {
			v = getenv("PAGER_SHARED_FILES");
			shared_files = v && *v && strcmp(v, "0");
			v = getenv("PAGER_MIN_ANON");
			if (v && parse_size(v, &min_anon)) {
				pr_err("PAGER_MIN_ANON=\"%s\": expected a size in bytes, with an optional "
				       "K, M or G suffix; the pager steps aside",
				       v);
			} else {
				struct pager_config cfg;
				char err[512];

				pager_config_default(&cfg);
				if (pager_config_from_env(&cfg, err, sizeof(err)) == 0)
					engine = pager_engine_new(&cfg, err, sizeof(err));
				if (engine)
					state = SHIM_ON;
				else /* one line, with the reason */
					pr_warn("the pager steps aside, this program runs on the kernel's "
						"own paging: %s",
						err);
			}
		}
		__atomic_store_n(&shim_state, state, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&shim_lock);
	return engine;
}

/*
 * The engine is made by our constructor, never from inside an mmap call:
 * that call may come from a preloaded malloc (jemalloc maps its chunks while
 * it initialises, holding its lock, even from other libraries'
 * constructors), and making the engine allocates (threads, the ring), which
 * would call back into that malloc and wait on itself forever.  Mappings made
 * before the constructor runs stay the kernel's.
 */
static int stats_fd = -1; /* stderr as it was at start: programs close theirs before exit */

__attribute__((constructor)) static void shim_init(void)
{
	const char *v = getenv("PAGER_STATS");

	if (v && *v && strcmp(v, "0"))
		stats_fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
	in_shim++;
	shim_engine();
	in_shim--;
}

/* The engine if it exists already (never creates it). */
static struct pager_engine *shim_engine_if_any(void)
{
	return __atomic_load_n(&shim_state, __ATOMIC_ACQUIRE) == SHIM_ON ? engine : NULL;
}

static bool serve_this(void *addr, size_t len, int prot, int flags, int fd)
{
	struct stat st;

	(void)addr;
	if ((prot & PROT_EXEC) || (flags & (MAP_HUGETLB | MAP_GROWSDOWN | MAP_STACK)))
		return false;
	if (flags & MAP_ANONYMOUS)
		return len >= min_anon;
	if (!shared_files) {
		/*
		 * Without --shared-files, only files this process cannot write
		 * through this descriptor: a private mapping of a file that is also
		 * mapped shared (the kernel's, then) or written by another process
		 * must see those stores, and our cache would not.
		 */
		if ((flags & MAP_TYPE) != MAP_PRIVATE || fd < 0 ||
		    (fcntl(fd, F_GETFL) & O_ACCMODE) != O_RDONLY)
			return false;
	}
	return fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
}

EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	struct pager_engine *eng;
	void *p;

	if (in_shim)
		return sys_mmap(addr, len, prot, flags, fd, off);
	in_shim++;
	if ((eng = shim_engine_if_any()) && serve_this(addr, len, prot, flags, fd)) {
		p = pager_engine_mmap(eng, addr, len, prot, flags, fd, off);
	} else {
		/* A fixed kernel mapping over ours replaces it: forget ours first. */
		if (eng && (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) == MAP_FIXED &&
		    pager_engine_overlaps(eng, addr, len))
			pager_engine_munmap(eng, addr, len);
		p = sys_mmap(addr, len, prot, flags, fd, off);
	}
	in_shim--;
	return p;
}

EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off64_t off)
{
	return mmap(addr, len, prot, flags, fd, (off_t)off);
}

EXPORT int munmap(void *addr, size_t len)
{
	struct pager_engine *eng = shim_engine_if_any();
	int rc;

	if (in_shim || !eng)
		return sys_munmap(addr, len);
	in_shim++;
	rc = pager_engine_overlaps(eng, addr, len) ? pager_engine_munmap(eng, addr, len) :
						     sys_munmap(addr, len);
	in_shim--;
	return rc;
}

EXPORT int mprotect(void *addr, size_t len, int prot)
{
	struct pager_engine *eng = shim_engine_if_any();
	int rc;

	if (in_shim || !eng)
		return sys_mprotect(addr, len, prot);
	in_shim++;
	rc = pager_engine_overlaps(eng, addr, len) ? pager_engine_mprotect(eng, addr, len, prot) :
						     sys_mprotect(addr, len, prot);
	in_shim--;
	return rc;
}

EXPORT int madvise(void *addr, size_t len, int advice)
{
	struct pager_engine *eng = shim_engine_if_any();
	int rc;

	if (in_shim || !eng)
		return sys_madvise(addr, len, advice);
	in_shim++;
	rc = pager_engine_overlaps(eng, addr, len) ? pager_engine_madvise(eng, addr, len, advice) :
						     sys_madvise(addr, len, advice);
	in_shim--;
	return rc;
}

EXPORT int posix_madvise(void *addr, size_t len, int advice)
{
	int saved = errno, rc;

	/* glibc's posix_madvise ignores POSIX_MADV_DONTNEED: it would discard data. */
	if (advice == POSIX_MADV_DONTNEED)
		return 0;
	rc = madvise(addr, len, advice) ? errno : 0;
	errno = saved;
	return rc;
}

EXPORT void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...)
{
	struct pager_engine *eng = shim_engine_if_any();
	void *new_addr = NULL, *p;
	va_list ap;

	if (flags & (MREMAP_FIXED | MREMAP_DONTUNMAP)) {
		va_start(ap, flags);
		new_addr = va_arg(ap, void *);
		va_end(ap);
	}
	if (in_shim || !eng)
		return sys_mremap(old, old_len, new_len, flags, new_addr);
	in_shim++;
	if (pager_engine_overlaps(eng, old, old_len ? old_len : 1) ||
	    ((flags & MREMAP_FIXED) && pager_engine_overlaps(eng, new_addr, new_len)))
		p = pager_engine_mremap(eng, old, old_len, new_len, flags, new_addr);
	else
		p = sys_mremap(old, old_len, new_len, flags, new_addr);
	in_shim--;
	return p;
}

EXPORT int msync(void *addr, size_t len, int flags)
{
	struct pager_engine *eng = shim_engine_if_any();
	int rc;

	if (in_shim || !eng)
		return sys_msync(addr, len, flags);
	in_shim++;
	rc = pager_engine_overlaps(eng, addr, len) ? pager_engine_msync(eng, addr, len, flags) :
						     sys_msync(addr, len, flags);
	in_shim--;
	return rc;
}

/* ---- writes to mapped files ---- */

/* After a successful write of n bytes at off: tell the page cache. */
static void written(int fd, off_t off, ssize_t n)
{
	struct pager_engine *eng = shim_engine_if_any();
	int saved = errno;

	if (!eng || in_shim || n <= 0)
		return;
	in_shim++;
	pager_engine_file_written(eng, fd, off, (size_t)n);
	in_shim--;
	errno = saved;
}

static void resized(int fd)
{
	struct pager_engine *eng = shim_engine_if_any();
	int saved = errno;

	if (!eng || in_shim)
		return;
	in_shim++;
	pager_engine_file_written(eng, fd, 0, 0);
	in_shim--;
	errno = saved;
}

/* A write(2) at the file offset: the engine finds where (only if the file is mapped). */
static void written_at_offset(int fd, ssize_t n)
{
	written(fd, -1, n);
}

/* After a successful read of n bytes at off (-1: at the file offset) into buf. */
static void read_done(int fd, void *buf, off_t off, ssize_t n)
{
	struct pager_engine *eng = shim_engine_if_any();
	int saved = errno;

	if (!eng || in_shim || n <= 0)
		return;
	in_shim++;
	pager_engine_file_read(eng, fd, buf, off, (size_t)n);
	in_shim--;
	errno = saved;
}

EXPORT ssize_t read(int fd, void *buf, size_t n)
{
	ssize_t rc = syscall(SYS_read, fd, buf, n);

	read_done(fd, buf, -1, rc);
	return rc;
}

EXPORT ssize_t pread(int fd, void *buf, size_t n, off_t off)
{
	ssize_t rc = syscall(SYS_pread64, fd, buf, n, off);

	read_done(fd, buf, off, rc);
	return rc;
}

EXPORT ssize_t pread64(int fd, void *buf, size_t n, off64_t off)
{
	return pread(fd, buf, n, (off_t)off);
}

EXPORT ssize_t write(int fd, const void *buf, size_t n)
{
	ssize_t rc = syscall(SYS_write, fd, buf, n);

	written_at_offset(fd, rc);
	return rc;
}

EXPORT ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
	ssize_t rc = syscall(SYS_pwrite64, fd, buf, n, off);

	written(fd, off, rc);
	return rc;
}

EXPORT ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off)
{
	return pwrite(fd, buf, n, (off_t)off);
}

EXPORT ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	ssize_t rc = syscall(SYS_writev, fd, iov, cnt);

	written_at_offset(fd, rc);
	return rc;
}

EXPORT ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
	ssize_t rc = syscall(SYS_pwritev, fd, iov, cnt, (unsigned long)off, 0UL);

	written(fd, off, rc);
	return rc;
}

EXPORT ssize_t pwritev64(int fd, const struct iovec *iov, int cnt, off64_t off)
{
	return pwritev(fd, iov, cnt, (off_t)off);
}

EXPORT ssize_t pwritev2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
	ssize_t rc;

	if (off == -1) {
		rc = syscall(SYS_pwritev2, fd, iov, cnt, -1L, -1L, flags);
		written_at_offset(fd, rc);
	} else {
		rc = syscall(SYS_pwritev2, fd, iov, cnt, (unsigned long)off, 0UL, flags);
		written(fd, off, rc);
	}
	return rc;
}

EXPORT int ftruncate(int fd, off_t len)
{
	int rc = (int)syscall(SYS_ftruncate, fd, len);

	if (rc == 0)
		resized(fd);
	return rc;
}

EXPORT int ftruncate64(int fd, off64_t len)
{
	return ftruncate(fd, (off_t)len);
}

EXPORT int fallocate(int fd, int mode, off_t off, off_t len)
{
	int rc = (int)syscall(SYS_fallocate, fd, mode, off, len);

	/* A punched or zeroed range reads differently now; a grown file is longer. */
	if (rc == 0)
		written(fd, off, (ssize_t)len);
	return rc;
}

EXPORT int fallocate64(int fd, int mode, off64_t off, off64_t len)
{
	return fallocate(fd, mode, (off_t)off, (off_t)len);
}

/*
 * A program that uses userfaultfd itself registers ranges it mapped; if one
 * is ours the kernel would say EBUSY.  Give the range up first.
 */
EXPORT int ioctl(int fd, unsigned long req, ...)
{
	struct pager_engine *eng = shim_engine_if_any();
	va_list ap;
	void *arg;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (req == UFFDIO_REGISTER && eng && !in_shim && arg) {
		struct uffdio_register reg;

		memcpy(&reg, arg, sizeof(reg));
		in_shim++;
		if (pager_engine_overlaps(eng, (void *)(uintptr_t)reg.range.start, reg.range.len))
			pager_engine_release(eng, (void *)(uintptr_t)reg.range.start, reg.range.len);
		in_shim--;
	}
	return (int)syscall(SYS_ioctl, fd, req, arg);
}

/* ---- statistics at exit ---- */

static uint64_t peak_rss_kib(void)
{
	char line[256];
	uint64_t kib = 0;
	FILE *f = fopen("/proc/self/status", "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmHWM: %" SCNu64, &kib) == 1)
			break;
	fclose(f);
	return kib;
}

static void write_json(const char *path, const struct pager_stats *st)
{
	FILE *f = fopen(path, "we");

	if (!f) {
		pr_err("PAGER_STATS_JSON=%s: %s", path, strerror(errno));
		return;
	}
	fprintf(f,
		"{\"pid\": %d, \"faults\": %" PRIu64 ", \"anon_zero\": %" PRIu64
		", \"anon_write\": %" PRIu64 ", \"file_hit\": %" PRIu64 ", \"file_miss\": %" PRIu64
		", \"readahead\": %" PRIu64 ", \"readahead_pages\": %" PRIu64 ", \"sigbus\": %" PRIu64
		", \"pages_installed\": %" PRIu64 ", \"pages_read\": %" PRIu64
		", \"bytes_read\": %" PRIu64 ", \"peak_rss_kib\": %" PRIu64,
		getpid(), st->faults, st->anon_zero, st->anon_write, st->file_hit, st->file_miss,
		st->readahead, st->readahead_pages, st->sigbus, st->pages_installed, st->pages_read,
		st->bytes_read, peak_rss_kib());
	/* The memory budget and swap: counts in pages, the gauges in bytes. */
	fprintf(f,
		", \"swap_faults\": %" PRIu64 ", \"swapcache_hits\": %" PRIu64 ", \"swap_in\": %" PRIu64
		", \"swap_readahead\": %" PRIu64 ", \"swap_out\": %" PRIu64 ", \"swap_clean\": %" PRIu64
		", \"reclaim_scanned\": %" PRIu64 ", \"reclaim_deactivated\": %" PRIu64
		", \"file_dropped\": %" PRIu64 ", \"file_written\": %" PRIu64
		", \"swap_errors\": %" PRIu64
		", \"budget_waits\": %" PRIu64 ", \"unevictable\": %" PRIu64
		", \"resident_bytes\": %" PRIu64 ", \"peak_resident_bytes\": %" PRIu64
		", \"swapcache_bytes\": %" PRIu64 ", \"swap_used_bytes\": %" PRIu64
		", \"budget_bytes\": %" PRIu64,
		st->swap_faults, st->swapcache_hits, st->swap_in, st->swap_readahead, st->swap_out,
		st->swap_clean, st->reclaim_scanned, st->reclaim_deactivated, st->file_dropped, st->file_written,
		st->swap_errors, st->budget_waits, st->unevictable,
		st->resident_bytes, st->peak_resident_bytes, st->swapcache_bytes, st->swap_used_bytes,
		st->budget_bytes);
	fprintf(f,
		", \"latency_ns\": {\"p50\": %" PRIu64 ", \"p90\": %" PRIu64 ", \"p99\": %" PRIu64
		", \"max\": %" PRIu64 "}}\n",
		pager_stats_percentile(st, 50), pager_stats_percentile(st, 90),
		pager_stats_percentile(st, 99), pager_stats_percentile(st, 100));
	fclose(f);
}

__attribute__((destructor)) static void shim_exit(void)
{
	const char *text = getenv("PAGER_STATS"), *json = getenv("PAGER_STATS_JSON");
	const char *pid = getenv("PAGER_STATS_PID");
	struct pager_engine *eng = shim_engine_if_any();
	struct pager_stats st;

	/* Only the process pager-run started reports, not its children. */
	if (pid && atoi(pid) != getpid())
		return;
	if (!(text && *text && strcmp(text, "0")) && !json)
		return;
	memset(&st, 0, sizeof(st));
	if (eng)
		pager_engine_stats(eng, &st);
	in_shim++;
	if (text && *text && strcmp(text, "0")) {
		FILE *out = stats_fd >= 0 ? fdopen(stats_fd, "w") : stderr;

		if (!out)
			out = stderr;
		fflush(stdout);
		pager_stats_print(&st, out);
		fprintf(out, "pager: peak resident %.1f MiB%s\n", (double)peak_rss_kib() / 1024.0,
			eng ? "" :
			shim_state == SHIM_OFF ? " (the pager stepped aside: nothing was served)" :
						 " (no mapping the pager serves was made)");
		if (out != stderr)
			fclose(out);
		else
			fflush(out);
	}
	if (json)
		write_json(json, &st);
	in_shim--;
}
