/*
 * pager.h - the public API of libpager.
 *
 * pager_mmap() and friends take the same arguments, return the same values
 * and set the same errno as mmap(2), munmap(2), mprotect(2) and madvise(2).
 * The memory they return is served by a user-space pager: page faults are
 * caught with userfaultfd and resolved from our own page cache (file
 * mappings) or with zero pages (anonymous mappings).
 *
 * No set-up is needed: the first pager_mmap() creates a default engine,
 * configured from the environment (PAGER_* variables, see pager(7)).  An
 * application that wants its own settings creates an engine with
 * pager_engine_new() and maps through pager_engine_mmap().
 */
#ifndef PAGER_H
#define PAGER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The library is built with hidden visibility: only this API is exported. */
#pragma GCC visibility push(default)

#define PAGER_VERSION_MAJOR 0
#define PAGER_VERSION_MINOR 1
#define PAGER_VERSION_PATCH 0
#define PAGER_VERSION_STRING "0.1.0"

/*
 * mmap-compatible calls on the default engine.
 *
 * Served by the pager: MAP_PRIVATE|MAP_ANONYMOUS, and mappings of regular
 * files, MAP_PRIVATE and MAP_SHARED, writable ones included: stores to a
 * MAP_SHARED mapping reach the file on pager_msync, pager_munmap, engine
 * shutdown and normal exit (a kernel without UFFD_FEATURE_WP_ASYNC and
 * PAGEMAP_SCAN, before Linux 6.7, refuses writable ones with ENOTSUP).
 * Left to the kernel (a plain mmap(2), still unmapped by pager_munmap):
 * MAP_SHARED anonymous memory, MAP_HUGETLB, MAP_GROWSDOWN and files that are
 * not regular files.
 */
void *pager_mmap(void *addr, size_t length, int prot, int flags, int fd, off_t offset);
int pager_munmap(void *addr, size_t length);
int pager_mprotect(void *addr, size_t length, int prot);
int pager_madvise(void *addr, size_t length, int advice);
/*
 * msync(2): stores made through MAP_SHARED file mappings reach the file
 * (MS_SYNC: durably, before it returns).  They also reach it on munmap, at
 * pager_engine_destroy and at normal exit, but not if the process is killed.
 */
int pager_msync(void *addr, size_t length, int flags);
/*
 * Tell the pager that [offset, offset + length) of the file open as fd was
 * just written with write(2), pwrite(2) and friends (length 0: its size
 * changed, as by ftruncate(2)), so that its mappings see the new bytes as
 * they would under the kernel.  The shim does this for unmodified programs;
 * a program that maps files with pager_mmap and also writes them calls it.
 * An offset of -1 means the write was at the file offset (write(2)).
 * Returns 1 if the file is mapped by the pager, else 0.
 */
int pager_file_written(int fd, off_t offset, size_t length);
/*
 * Tell the pager that read(2) or pread(2) just put [offset, offset + length)
 * of the file open as fd into buf: stores made through its MAP_SHARED
 * mappings that have not reached the file yet are copied over, so the read
 * sees what the kernel's single page cache would show (offset -1: the read
 * was at the file offset).  Returns 1 if the file is mapped by the pager.
 */
int pager_file_read(int fd, void *buf, off_t offset, size_t length);
/* mremap(2): move or resize a mapping; a pager mapping stays served. */
void *pager_mremap(void *old_address, size_t old_size, size_t new_size, int flags, ...);

/* Log levels for pager_config.log_level and PAGER_LOG. */
enum pager_log_level {
	PAGER_LOG_ERROR = 0,
	PAGER_LOG_WARN = 1,
	PAGER_LOG_INFO = 2,
	PAGER_LOG_DEBUG = 3,
};

/*
 * Engine configuration.  pager_config_default() fills in the documented
 * defaults; pager_config_from_env() then applies PAGER_* variables.
 * Sizes are in bytes and are rounded to whole pages.
 */
struct pager_config {
	size_t fault_around_bytes; /* PAGER_FAULT_AROUND, default 64 KiB */
	size_t readahead_min_bytes; /* PAGER_READAHEAD_MIN, default 128 KiB */
	size_t readahead_max_bytes; /* PAGER_READAHEAD_MAX, default 2 MiB; 0 turns readahead off */
	unsigned handler_threads; /* PAGER_THREADS, default 1 (1..64) */
	unsigned io_queue_depth; /* PAGER_IO_DEPTH, default 64 (1..4096) */
	int log_level; /* PAGER_LOG: error|warn|info|debug (or 0..3), default warn */
	/*
	 * The memory budget: bytes of resident memory for everything the engine
	 * maps (anonymous pages, the page cache, the swap cache).  0: no limit.
	 * Above it, reclaim drops clean file pages, writes dirty shared ones
	 * back and sends anonymous pages to the swap file.
	 */
	size_t budget_bytes; /* PAGER_BUDGET, default 0 (no limit) */
	/*
	 * The swap file: created (O_EXCL, mode 0600) at this path, or, if NULL,
	 * as a temporary file in $TMPDIR (else /var/tmp); its name is removed at
	 * once, so it never outlives the process.  The string is copied.
	 */
	const char *swap_path; /* PAGER_SWAP_FILE, default NULL */
	size_t swap_bytes; /* PAGER_SWAP_SIZE, default 8 GiB: the most the swap file may hold */
};

void pager_config_default(struct pager_config *cfg);
/*
 * Apply PAGER_* environment variables to cfg.  Returns 0, or -1 with errno
 * EINVAL and a message naming the bad setting in err (if err != NULL).
 */
int pager_config_from_env(struct pager_config *cfg, char *err, size_t errlen);

struct pager_engine;

/*
 * Create an engine: opens a userfaultfd (from /dev/userfaultfd, then the
 * syscall), negotiates features and starts the handler threads.  Returns
 * NULL with errno set (and a message in err) when userfaultfd is not
 * available or only serves user-mode faults: ENOSYS, EPERM or EACCES.
 */
struct pager_engine *pager_engine_new(const struct pager_config *cfg, char *err, size_t errlen);
/* Unmap everything the engine still maps, stop its threads, free it. */
void pager_engine_destroy(struct pager_engine *eng);

void *pager_engine_mmap(struct pager_engine *eng, void *addr, size_t length, int prot, int flags,
			int fd, off_t offset);
int pager_engine_munmap(struct pager_engine *eng, void *addr, size_t length);
int pager_engine_mprotect(struct pager_engine *eng, void *addr, size_t length, int prot);
int pager_engine_madvise(struct pager_engine *eng, void *addr, size_t length, int advice);
int pager_engine_msync(struct pager_engine *eng, void *addr, size_t length, int flags);
int pager_engine_file_written(struct pager_engine *eng, int fd, off_t offset, size_t length);
int pager_engine_file_read(struct pager_engine *eng, int fd, void *buf, off_t offset,
			   size_t length);
void *pager_engine_mremap(struct pager_engine *eng, void *old_address, size_t old_size,
			  size_t new_size, int flags, void *new_address);

/*
 * The default engine: created on first use by pager_mmap(); NULL with
 * errno set if it cannot be created.  pager_shutdown() destroys it.
 */
struct pager_engine *pager_default_engine(void);
void pager_shutdown(void);

/* Is addr inside a mapping of this engine? */
int pager_engine_owns(struct pager_engine *eng, const void *addr);
/* Does [addr, addr + length) overlap a mapping of this engine? */
int pager_engine_overlaps(struct pager_engine *eng, const void *addr, size_t length);
/*
 * Stop serving [addr, addr + length): file pages inside the file are read in
 * first, then the range is unregistered and forgotten, and stays mapped as
 * plain memory.  For a program that registers the range with a userfaultfd of
 * its own.  Returns 0 or -1 with errno.
 */
int pager_engine_release(struct pager_engine *eng, void *addr, size_t length);

#define PAGER_LAT_BUCKETS 32 /* bucket i counts faults of [2^i, 2^(i+1)) ns */

struct pager_stats {
	uint64_t faults; /* fault messages handled */
	uint64_t anon_zero; /* anonymous read faults answered with the zero page */
	uint64_t anon_write; /* anonymous write faults answered with a zeroed page */
	uint64_t file_hit; /* file faults served from our page cache */
	uint64_t file_miss; /* file faults that had to read the file */
	uint64_t readahead; /* readahead windows started */
	uint64_t readahead_pages; /* pages read by readahead beyond the faulting one */
	uint64_t sigbus; /* faults answered with SIGBUS (past EOF, I/O error) */
	uint64_t pages_installed; /* pages put into mappings (copy and zero) */
	uint64_t pages_read; /* pages read from files */
	uint64_t bytes_read; /* bytes read from files */
	uint64_t lat_hist[PAGER_LAT_BUCKETS]; /* fault latency histogram */
	/* Swap and reclaim (0 without a budget). */
	uint64_t swap_faults; /* faults on pages that were swapped out (do_swap_page) */
	uint64_t swapcache_hits; /* ... served from the swap cache, no I/O: a refault */
	uint64_t swap_in; /* pages read back from the swap file */
	uint64_t swap_readahead; /* of those, pages read by swap-in readahead, not faulted */
	uint64_t swap_out; /* pages written to the swap file */
	uint64_t swap_clean; /* pages evicted again unchanged since read back: no write, their slot kept */
	uint64_t reclaim_scanned; /* pages looked at by reclaim */
	uint64_t reclaim_deactivated; /* pages unmapped into the swap cache or inactive list */
	uint64_t file_dropped; /* clean file pages dropped from the page cache */
	uint64_t file_written; /* dirty file pages written back by reclaim */
	uint64_t swap_errors; /* swap writes or reads that failed */
	uint64_t budget_waits; /* faults that waited for reclaim to make room */
	uint64_t unevictable; /* pages reclaim had to skip (shared with a child, not writable) */
	/* Gauges, at the time of the snapshot: */
	uint64_t resident_bytes; /* resident memory as counted against the budget */
	uint64_t peak_resident_bytes; /* the most it has been */
	uint64_t swapcache_bytes; /* of resident_bytes: pages in the swap cache */
	uint64_t swap_used_bytes; /* swap slots in use */
	uint64_t budget_bytes; /* the budget (0: none) */
};

/* Snapshot of the engine's statistics. */
void pager_engine_stats(struct pager_engine *eng, struct pager_stats *st);
/* Latency percentile (0..100) from a histogram, in nanoseconds (upper bucket bound). */
uint64_t pager_stats_percentile(const struct pager_stats *st, double pct);
/* Human-readable summary. */
void pager_stats_print(const struct pager_stats *st, FILE *out);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
