/*
 * pager-bench.c - the benchmark: the same workloads, in one process and one
 * run, on kernel mmap, on the pager (pager_mmap) and on a minimal
 * userfaultfd handler of our own (the "floor": what the install mechanism
 * costs with no pager logic at all).  Owns the workloads, the floor handler,
 * timing, verification of every byte read and the report (table and JSON).
 *
 * Figures drift between runs on this VM, so only ratios measured in the same
 * run are meaningful; every workload interleaves kernel, pager and floor runs
 * and reports the median of each.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "pager.h"

/* Older headers (the machines here have 6.1's) may lack these. */
#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(0xAA, 0x00)
#endif

#define PAGE 4096UL
/* The floor answers each fault with one copy of --floor-window bytes (aligned, clipped). */
#define FLOOR_WINDOW_DEFAULT (64UL << 10)
#define MAX_RUNS 101
#define EXIT_USAGE 2
#define EXIT_SKIP 77

/* ------------------------------------------------------------------------ */
/* Workloads and mechanisms                                                 */

enum mech { MECH_KERNEL, MECH_PAGER, MECH_FLOOR, NMECH };
static const char *const mech_name[NMECH] = { "kernel", "pager", "floor" };

enum kind { KIND_FILE, KIND_ANON, KIND_SHARED };
enum order { ORDER_SEQ, ORDER_RAND };

struct workload {
	const char *name;
	enum kind kind;
	enum order order;
	bool cold;
	const char *what;
};

static const struct workload workloads[] = {
	{ "seq-warm", KIND_FILE, ORDER_SEQ, false, "sequential 4 KiB-stride read, page cache warm" },
	{ "rand-warm", KIND_FILE, ORDER_RAND, false, "random-order 4 KiB-stride read, page cache warm" },
	{ "seq-cold", KIND_FILE, ORDER_SEQ, true, "sequential 4 KiB-stride read, caches dropped" },
	{ "rand-cold", KIND_FILE, ORDER_RAND, true, "random-order 4 KiB-stride read, caches dropped" },
	{ "anon-first-touch", KIND_ANON, ORDER_SEQ, false, "first write to each page of anonymous memory" },
	{ "shared-write-seq", KIND_SHARED, ORDER_SEQ, false,
	  "sequential 4 KiB-stride stores to a MAP_SHARED file, then msync(MS_SYNC)" },
	{ "shared-write-rand", KIND_SHARED, ORDER_RAND, false,
	  "random-order 4 KiB-stride stores to a MAP_SHARED file, then msync(MS_SYNC)" },
};
#define NWORKLOADS (sizeof(workloads) / sizeof(workloads[0]))

/* Per-run pager statistics are deltas of the engine's counters, all u64. */
_Static_assert(sizeof(struct pager_stats) % sizeof(uint64_t) == 0, "pager_stats is not all u64");

struct result {
	bool ran;
	bool verified; /* every run of every mechanism read the right bytes */
	unsigned runs;
	double ns[NMECH][MAX_RUNS]; /* ns per page, one per run */
	double median[NMECH];
	uint64_t floor_faults; /* first floor run: faults handled */
	double cache_worst; /* warm: lowest resident fraction seen; cold: highest */
	struct pager_stats pst_run[MAX_RUNS]; /* per pager run */
	struct pager_stats pst; /* the pager run whose time is the median: the representative one */
};

static struct result results[NWORKLOADS];

/* ------------------------------------------------------------------------ */
/* Options                                                                  */

static struct {
	size_t size;
	const char *dir;
	unsigned runs;
	bool only[NWORKLOADS];
	const char *json;
	bool keep;
	bool verbose;
	uint64_t seed;
	unsigned timeout;
	size_t floor_window;
} opt = {
	.size = 1UL << 30,
	.dir = "/var/tmp",
	.runs = 3,
	.seed = 0x5eed,
	.timeout = 600,
	.floor_window = FLOOR_WINDOW_DEFAULT,
};

/* ------------------------------------------------------------------------ */
/* State shared with the signal handlers                                    */

static char file_path[PATH_MAX];
static volatile sig_atomic_t file_made;
static char timeout_msg[256];
static const char *volatile cur_workload = "set-up";
static const char *volatile cur_mech = "-";

static void remove_file(void)
{
	if (file_made && !opt.keep) {
		unlink(file_path);
		file_made = 0;
	}
}

static void write_str(const char *s)
{
	ssize_t r = write(2, s, strlen(s));
	(void)r;
}

/* A pager bug may kill us (SIGBUS, SIGSEGV): say where, and leave no 1 GiB file behind. */
static void on_fatal_signal(int sig)
{
	write_str("pager-bench: fatal signal during ");
	write_str((const char *)cur_workload);
	write_str(" on ");
	write_str((const char *)cur_mech);
	write_str("\n");
	remove_file();
	raise(sig); /* SA_RESETHAND: the default action, once we return */
}

/* A fault that is never answered hangs the touch loop: turn that into an error. */
static void on_alarm(int sig)
{
	(void)sig;
	write_str(timeout_msg);
	remove_file();
	_exit(1);
}

static void install_signal_handlers(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_fatal_signal;
	sa.sa_flags = SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	int fatal[] = { SIGINT, SIGTERM, SIGHUP, SIGBUS, SIGSEGV, SIGILL, SIGFPE, SIGABRT };
	for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
		sigaction(fatal[i], &sa, NULL);
	sa.sa_handler = on_alarm;
	sa.sa_flags = 0;
	sigaction(SIGALRM, &sa, NULL);
}

/* ------------------------------------------------------------------------ */
/* Small helpers                                                            */

static void __attribute__((noreturn, format(printf, 1, 2))) die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "pager-bench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	remove_file();
	exit(1);
}

static void __attribute__((noreturn, format(printf, 1, 2))) usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "pager-bench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'pager-bench --help' for the options.\n");
	exit(EXIT_USAGE);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void *map_anon(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		die("mmap %zu bytes: %s", len, strerror(errno));
	return p;
}

static const char *human_size(size_t n, char *buf, size_t len)
{
	if (n >= (1UL << 30) && n % (1UL << 30) == 0)
		snprintf(buf, len, "%zu GiB", n >> 30);
	else if (n >= (1UL << 20) && n % (1UL << 20) == 0)
		snprintf(buf, len, "%zu MiB", n >> 20);
	else if (n >= (1UL << 10) && n % (1UL << 10) == 0)
		snprintf(buf, len, "%zu KiB", n >> 10);
	else
		snprintf(buf, len, "%zu B", n);
	return buf;
}

/* Median of n values (average of the two middle ones when n is even). */
static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double distance(double a, double b)
{
	return a > b ? a - b : b - a;
}

static double median(const double *v, unsigned n)
{
	double tmp[MAX_RUNS];

	memcpy(tmp, v, n * sizeof(double));
	qsort(tmp, n, sizeof(double), cmp_double);
	return n % 2 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2;
}

/* ------------------------------------------------------------------------ */
/* The machine                                                              */

static struct {
	struct utsname uts;
	long ncpu;
	uint64_t mem_total, mem_avail;
	char cpu_model[128];
	char thp[32];
	char fstype[32];
	char read_ahead_kb[32];
} machine;

static void read_first_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");

	buf[0] = 0;
	if (!f)
		return;
	if (fgets(buf, (int)len, f))
		buf[strcspn(buf, "\n")] = 0;
	fclose(f);
}

static void probe_machine(void)
{
	struct sysinfo si;
	char line[256], thp[128];
	FILE *f;

	uname(&machine.uts);
	machine.ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	if (sysinfo(&si) == 0)
		machine.mem_total = (uint64_t)si.totalram * si.mem_unit;
	f = fopen("/proc/meminfo", "r");
	while (f && fgets(line, sizeof(line), f)) {
		unsigned long long kb;
		if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
			machine.mem_avail = kb * 1024;
	}
	if (f)
		fclose(f);
	strcpy(machine.cpu_model, "unknown CPU");
	f = fopen("/proc/cpuinfo", "r");
	while (f && fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');
		if (strncmp(line, "model name", 10) == 0 && colon) {
			colon += 2;
			colon[strcspn(colon, "\n")] = 0;
			snprintf(machine.cpu_model, sizeof(machine.cpu_model), "%s", colon);
			break;
		}
	}
	if (f)
		fclose(f);
	/* THP decides what the kernel's anonymous first touch costs. */
	read_first_line("/sys/kernel/mm/transparent_hugepage/enabled", thp, sizeof(thp));
	char *l = strchr(thp, '['), *r = l ? strchr(l, ']') : NULL;
	if (l && r) {
		*r = 0;
		snprintf(machine.thp, sizeof(machine.thp), "%s", l + 1);
	} else {
		strcpy(machine.thp, "unknown");
	}
}

/* The file system and the device's readahead shape the cold figures. */
static void probe_dir(void)
{
	struct statfs sfs;
	struct stat st;
	char path[128];

	strcpy(machine.fstype, "unknown");
	if (statfs(opt.dir, &sfs) == 0) {
		switch ((unsigned long)sfs.f_type) {
		case 0xEF53: strcpy(machine.fstype, "ext4"); break;
		case 0x58465342: strcpy(machine.fstype, "xfs"); break;
		case 0x9123683E: strcpy(machine.fstype, "btrfs"); break;
		case 0x01021994: strcpy(machine.fstype, "tmpfs"); break;
		case 0x794c7630: strcpy(machine.fstype, "overlayfs"); break;
		default:
			snprintf(machine.fstype, sizeof(machine.fstype), "0x%lx", (unsigned long)sfs.f_type);
		}
	}
	strcpy(machine.read_ahead_kb, "?");
	if (stat(opt.dir, &st) == 0) {
		/* A whole disk has queue/ itself; a partition has it in its parent. */
		snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/queue/read_ahead_kb", major(st.st_dev),
			 minor(st.st_dev));
		read_first_line(path, machine.read_ahead_kb, sizeof(machine.read_ahead_kb));
		if (!machine.read_ahead_kb[0]) {
			snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/../queue/read_ahead_kb",
				 major(st.st_dev), minor(st.st_dev));
			read_first_line(path, machine.read_ahead_kb, sizeof(machine.read_ahead_kb));
		}
		if (!machine.read_ahead_kb[0])
			strcpy(machine.read_ahead_kb, "?");
	}
}

/* ------------------------------------------------------------------------ */
/* The test file, the expected bytes and the page caches                    */

static int file_fd = -1;
static size_t npages;
static unsigned char *expect; /* the file's bytes: the oracle and the floor's source */
static uint32_t *perm; /* random page order, fixed seed */
static unsigned char *mincore_vec;
static bool can_drop_caches;
static const char *cold_method;

static void make_file(void)
{
	uint64_t st = opt.seed;
	uint64_t *w = (uint64_t *)expect;
	const size_t chunk = 8UL << 20;

	/* Non-zero pseudo-random words: a zero page installed by mistake shows. */
	for (size_t i = 0; i < opt.size / sizeof(uint64_t); i++) {
		uint64_t v;
		do
			v = splitmix64(&st);
		while (v == 0);
		w[i] = v;
	}
	snprintf(file_path, sizeof(file_path), "%s/pager-bench.%d.dat", opt.dir, (int)getpid());
	file_fd = open(file_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (file_fd < 0)
		die("create %s: %s", file_path, strerror(errno));
	file_made = 1;
	for (size_t off = 0; off < opt.size;) {
		size_t n = opt.size - off < chunk ? opt.size - off : chunk;
		ssize_t r = pwrite(file_fd, expect + off, n, (off_t)off);
		if (r < 0)
			die("write %s: %s", file_path, strerror(errno));
		off += (size_t)r;
	}
	if (fsync(file_fd) < 0)
		die("fsync %s: %s", file_path, strerror(errno));
}

/* Fraction of the file's pages in the kernel's page cache (mincore on a mapping never touched). */
static double resident_fraction(void)
{
	void *p = mmap(NULL, opt.size, PROT_READ, MAP_SHARED, file_fd, 0);
	size_t n = 0;

	if (p == MAP_FAILED)
		die("mmap for mincore: %s", strerror(errno));
	if (mincore(p, opt.size, mincore_vec) < 0)
		die("mincore: %s", strerror(errno));
	munmap(p, opt.size);
	for (size_t i = 0; i < npages; i++)
		n += mincore_vec[i] & 1;
	return (double)n / (double)npages;
}

static uint64_t __attribute__((noinline)) read_pages(const unsigned char *base, const uint32_t *order);

/*
 * read(2) the whole file, then one untimed pass over a kernel mapping of it:
 * the first mapping of freshly cached pages costs the kernel about 10x more
 * than later ones (measured here), and "warm" should mean the steady state
 * for every run, not just the second.
 */
static void warm_cache(void)
{
	static unsigned char buf[1 << 20];

	for (size_t off = 0; off < opt.size;) {
		ssize_t r = pread(file_fd, buf, sizeof(buf), (off_t)off);
		if (r <= 0)
			die("read %s: %s", file_path, r < 0 ? strerror(errno) : "short file");
		off += (size_t)r;
	}
	void *p = mmap(NULL, opt.size, PROT_READ, MAP_PRIVATE, file_fd, 0);
	if (p == MAP_FAILED)
		die("mmap %s: %s", file_path, strerror(errno));
	read_pages(p, NULL);
	munmap(p, opt.size);
}

static void probe_drop_caches(void)
{
	int fd = geteuid() == 0 ? open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC) : -1;

	can_drop_caches = fd >= 0;
	if (fd >= 0)
		close(fd);
	cold_method = can_drop_caches ? "fsync + posix_fadvise(DONTNEED) + drop_caches=3 (root)"
				      : "fsync + posix_fadvise(DONTNEED) only (not root: no drop_caches)";
}

static void drop_caches(void)
{
	if (fsync(file_fd) < 0)
		die("fsync: %s", strerror(errno));
	int err = posix_fadvise(file_fd, 0, 0, POSIX_FADV_DONTNEED);
	if (err)
		die("posix_fadvise(DONTNEED): %s", strerror(err));
	if (can_drop_caches) {
		int fd = open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);
		sync();
		if (fd < 0 || write(fd, "3", 1) != 1)
			die("drop_caches: %s", strerror(errno));
		close(fd);
	}
}

/* ------------------------------------------------------------------------ */
/* What is done to each page                                                */

/* Where page i is read or written: one word, at an offset that moves with i,
 * so a page installed at the wrong place or shifted within the page shows. */
static inline size_t word_off(size_t i)
{
	return i * PAGE + (i % (PAGE / sizeof(uint64_t))) * sizeof(uint64_t);
}

/* Order-independent checksum term: sequential and random passes give the same sum. */
static inline uint64_t mix(uint64_t v, uint64_t i)
{
	uint64_t x = v ^ (i * 0x9e3779b97f4a7c15ULL);

	x ^= x >> 29;
	x *= 0xbf58476d1ce4e5b9ULL;
	return x ^ (x >> 32);
}

static inline uint64_t anon_word(size_t i)
{
	return ((uint64_t)i + 1) * 0x9e3779b97f4a7c15ULL | 1;
}

/* The timed read loop; volatile so that each page is really loaded, in this order. */
static __attribute__((noinline)) uint64_t read_pages(const unsigned char *base, const uint32_t *order)
{
	uint64_t sum = 0;

	for (size_t k = 0; k < npages; k++) {
		size_t i = order ? order[k] : k;
		sum += mix(*(const volatile uint64_t *)(base + word_off(i)), i);
	}
	return sum;
}

static __attribute__((noinline)) void write_pages(unsigned char *base)
{
	for (size_t i = 0; i < npages; i++)
		*(volatile uint64_t *)(base + word_off(i)) = anon_word(i);
}

/* The word a shared-write pass stores in page i: differs from the file's, and per run. */
static inline uint64_t shared_word(size_t i, unsigned salt)
{
	return anon_word(i) ^ ((uint64_t)salt << 48) ^ 0x5a5a;
}

/* The timed store loop of the shared-write workloads. */
static __attribute__((noinline)) void store_pages(unsigned char *base, const uint32_t *order,
						  unsigned salt)
{
	for (size_t k = 0; k < npages; k++) {
		size_t i = order ? order[k] : k;
		*(volatile uint64_t *)(base + word_off(i)) = shared_word(i, salt);
	}
}

/*
 * After a shared-write pass and its unmap: the file holds every stored word
 * (read with pread: the file, not a mapping), and then gets its own bytes
 * back for the workloads that follow.
 */
static bool verify_and_restore_shared(unsigned salt, const char *who)
{
	size_t bad = 0, first = 0;

	for (size_t i = 0; i < npages; i++) {
		uint64_t v = 0;

		if (pread(file_fd, &v, sizeof(v), (off_t)word_off(i)) != (ssize_t)sizeof(v) ||
		    v != shared_word(i, salt)) {
			if (!bad++)
				first = i;
		}
	}
	if (bad)
		fprintf(stderr, "pager-bench: %s: %zu pages lost their store in the file (first: page %zu)\n",
			who, bad, first);
	for (size_t off = 0; off < opt.size;) {
		ssize_t n = pwrite(file_fd, expect + off, opt.size - off, (off_t)off);

		if (n <= 0)
			die("restoring the test file: %s", strerror(errno));
		off += (size_t)n;
	}
	return bad == 0;
}

static uint64_t file_sum, anon_sum; /* what read_pages must return */

static void expected_sums(void)
{
	file_sum = read_pages(expect, NULL);
	anon_sum = 0;
	for (size_t i = 0; i < npages; i++)
		anon_sum += mix(anon_word(i), i);
}

/* Byte-for-byte check of a whole file mapping, after its timed pass. */
static bool verify_file_full(const unsigned char *p, const char *who)
{
	if (memcmp(p, expect, opt.size) == 0)
		return true;
	for (size_t i = 0; i < npages; i++) {
		if (memcmp(p + i * PAGE, expect + i * PAGE, PAGE) == 0)
			continue;
		size_t b = 0;
		while (p[i * PAGE + b] == expect[i * PAGE + b])
			b++;
		fprintf(stderr,
			"pager-bench: %s: %s mapping differs from the file at offset %zu (page %zu): "
			"read 0x%02x, file has 0x%02x\n",
			cur_workload, who, i * PAGE + b, i, p[i * PAGE + b], expect[i * PAGE + b]);
		break;
	}
	return false;
}

/* Every page holds its one written word and zeros elsewhere.  Clobbers the mapping. */
static bool verify_anon_full(unsigned char *p, const char *who)
{
	static const unsigned char zero[PAGE];

	for (size_t i = 0; i < npages; i++) {
		uint64_t *w = (uint64_t *)(p + word_off(i));
		if (*w != anon_word(i)) {
			fprintf(stderr, "pager-bench: %s: %s page %zu lost its write\n", cur_workload, who, i);
			return false;
		}
		*w = 0;
		if (memcmp(p + i * PAGE, zero, PAGE) != 0) {
			fprintf(stderr, "pager-bench: %s: %s page %zu is not zero outside the written word\n",
				cur_workload, who, i);
			return false;
		}
	}
	return true;
}

/* ------------------------------------------------------------------------ */
/* The floor: a minimal userfaultfd handler                                 */

struct floor {
	int uffd;
	unsigned char *base;
	const unsigned char *src; /* the file's bytes, or NULL: answer with zeros */
	pthread_t thread;
	uint64_t faults;
};

static const char *uffd_how = "?";
static unsigned char *zero_window; /* never written: reads as zeros */

static int uffd_new(void)
{
	int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);

	if (dev >= 0) {
		int fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC);
		close(dev);
		if (fd >= 0) {
			uffd_how = "/dev/userfaultfd";
			return fd;
		}
	}
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);
	if (fd >= 0)
		uffd_how = "userfaultfd(2)";
	return fd;
}

static void floor_copy(struct floor *f, size_t off, size_t len)
{
	struct uffdio_copy c = {
		.dst = (uintptr_t)(f->base + off),
		.src = (uintptr_t)(f->src ? f->src + off : zero_window),
		.len = len,
	};

	while (ioctl(f->uffd, UFFDIO_COPY, &c) < 0) {
		if (errno == EEXIST)
			return; /* already there: nothing to wait for */
		if (errno != EAGAIN) {
			fprintf(stderr, "pager-bench: floor: UFFDIO_COPY: %s\n", strerror(errno));
			remove_file();
			_exit(1);
		}
		if (c.copy > 0) { /* partial copy: go on after it */
			c.dst += (uint64_t)c.copy;
			c.src += (uint64_t)c.copy;
			c.len -= (uint64_t)c.copy;
		}
		c.copy = 0;
	}
}

/*
 * Blocking read of fault messages (the cheapest way to wait: one syscall per
 * batch), one UFFDIO_COPY of the aligned 64 KiB window around each fault.
 * Stopped by pthread_cancel; read() is a cancellation point.
 */
static void *floor_handler(void *arg)
{
	struct floor *f = arg;
	struct uffd_msg msgs[16];

	for (;;) {
		ssize_t n = read(f->uffd, msgs, sizeof(msgs));
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			fprintf(stderr, "pager-bench: floor: read uffd: %s\n", strerror(errno));
			remove_file();
			_exit(1);
		}
		for (size_t k = 0; k < (size_t)n / sizeof(msgs[0]); k++) {
			if (msgs[k].event != UFFD_EVENT_PAGEFAULT)
				continue;
			size_t off = (size_t)((uintptr_t)msgs[k].arg.pagefault.address - (uintptr_t)f->base);
			size_t woff = off & ~(opt.floor_window - 1);
			size_t len = opt.size - woff < opt.floor_window ? opt.size - woff : opt.floor_window;
			f->faults++;
			floor_copy(f, woff, len);
		}
	}
	return NULL;
}

static void floor_start(struct floor *f, const unsigned char *src)
{
	memset(f, 0, sizeof(*f));
	f->src = src;
	f->uffd = uffd_new();
	if (f->uffd < 0)
		die("floor: no userfaultfd: %s", strerror(errno));
	struct uffdio_api api = { .api = UFFD_API };
	if (ioctl(f->uffd, UFFDIO_API, &api) < 0)
		die("floor: UFFDIO_API: %s", strerror(errno));
	f->base = map_anon(opt.size);
	struct uffdio_register reg = {
		.range = { .start = (uintptr_t)f->base, .len = opt.size },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};
	if (ioctl(f->uffd, UFFDIO_REGISTER, &reg) < 0)
		die("floor: UFFDIO_REGISTER: %s", strerror(errno));
	if (!(reg.ioctls & (1ULL << _UFFDIO_COPY)))
		die("floor: UFFDIO_COPY not offered on an anonymous range");
	int err = pthread_create(&f->thread, NULL, floor_handler, f);
	if (err)
		die("floor: pthread_create: %s", strerror(err));
}

static void floor_stop(struct floor *f)
{
	pthread_cancel(f->thread);
	pthread_join(f->thread, NULL);
	munmap(f->base, opt.size); /* unregisters the range too */
	close(f->uffd);
}

/* ------------------------------------------------------------------------ */
/* One measurement: map, time the pass, verify, unmap                       */

static struct pager_engine *engine;

static void stats_delta(struct pager_stats *d, const struct pager_stats *after,
			const struct pager_stats *before)
{
	uint64_t a[sizeof(*d) / 8], b[sizeof(*d) / 8];

	memcpy(a, after, sizeof(a));
	memcpy(b, before, sizeof(b));
	for (size_t i = 0; i < sizeof(a) / 8; i++)
		a[i] -= b[i];
	memcpy(d, a, sizeof(a));
}

static unsigned char *map_for(const struct workload *w, enum mech m, struct floor *fl)
{
	void *p = MAP_FAILED;
	bool file = w->kind != KIND_ANON;
	int prot = w->kind == KIND_FILE ? PROT_READ : PROT_READ | PROT_WRITE;
	int flags = w->kind == KIND_SHARED ? MAP_SHARED :
		    file ? MAP_PRIVATE : MAP_PRIVATE | MAP_ANONYMOUS;
	int fd = file ? file_fd : -1;

	switch (m) {
	case MECH_KERNEL:
		p = mmap(NULL, opt.size, prot, flags, fd, 0);
		break;
	case MECH_PAGER:
		p = pager_mmap(NULL, opt.size, prot, flags, fd, 0);
		break;
	case MECH_FLOOR:
		floor_start(fl, file ? expect : NULL);
		p = fl->base;
		break;
	case NMECH:
		break;
	}
	if (p == MAP_FAILED)
		die("%s: %s mmap of %zu bytes: %s", w->name, mech_name[m], opt.size, strerror(errno));
	return p;
}

static void unmap_for(enum mech m, unsigned char *p, struct floor *fl)
{
	int rc = 0;

	if (m == MECH_KERNEL)
		rc = munmap(p, opt.size);
	else if (m == MECH_PAGER)
		rc = pager_munmap(p, opt.size);
	else
		floor_stop(fl);
	if (rc < 0)
		die("%s munmap: %s", mech_name[m], strerror(errno));
}

/* Returns false if the mapping read or kept the wrong bytes. */
static bool measure(const struct workload *w, struct result *r, enum mech m, unsigned run)
{
	struct pager_stats before, after;
	struct floor fl;
	bool ok = true;
	uint64_t sum, t0, t1;

	cur_workload = w->name;
	cur_mech = mech_name[m];

	if (w->kind == KIND_SHARED && m == MECH_FLOOR) {
		r->ns[m][run] = 0; /* stores and write-back: no floor handler for that */
		return true;
	}
	if (w->kind == KIND_FILE && m != MECH_FLOOR) {
		if (w->cold)
			drop_caches();
		double res = resident_fraction();
		if (w->cold ? res > r->cache_worst : res < r->cache_worst)
			r->cache_worst = res;
	}

	if (m == MECH_PAGER)
		pager_engine_stats(engine, &before);
	unsigned char *p = map_for(w, m, &fl);

	snprintf(timeout_msg, sizeof(timeout_msg),
		 "pager-bench: %s on %s: pass not done after %u s (a fault never answered?)\n", w->name,
		 mech_name[m], opt.timeout);
	alarm(opt.timeout);
	t0 = now_ns();
	if (w->kind == KIND_FILE) {
		sum = read_pages(p, w->order == ORDER_RAND ? perm : NULL);
	} else if (w->kind == KIND_SHARED) {
		unsigned salt = run * NMECH + (unsigned)m + 1;
		int rc;

		store_pages(p, w->order == ORDER_RAND ? perm : NULL, salt);
		rc = m == MECH_PAGER ? pager_msync(p, opt.size, MS_SYNC) : msync(p, opt.size, MS_SYNC);
		if (rc)
			die("%s: %s msync: %s", w->name, mech_name[m], strerror(errno));
		sum = 0;
	} else {
		write_pages(p);
		sum = 0;
	}
	t1 = now_ns();
	alarm(0);

	/* Untimed: check what the pass saw (or left), every byte on the first run. */
	if (w->kind == KIND_SHARED) {
		/* Checked in the file itself, after the unmap below. */
	} else if (w->kind == KIND_FILE) {
		if (sum != file_sum) {
			fprintf(stderr, "pager-bench: %s: %s run %u: checksum %016" PRIx64 ", file's is %016" PRIx64 "\n",
				w->name, mech_name[m], run + 1, sum, file_sum);
			ok = false;
		}
		if (run == 0 && !verify_file_full(p, mech_name[m]))
			ok = false;
	} else {
		sum = read_pages(p, NULL);
		if (sum != anon_sum) {
			fprintf(stderr, "pager-bench: %s: %s run %u: read back checksum %016" PRIx64 ", wrote %016" PRIx64 "\n",
				w->name, mech_name[m], run + 1, sum, anon_sum);
			ok = false;
		}
		if (run == 0 && !verify_anon_full(p, mech_name[m]))
			ok = false;
	}

	unmap_for(m, p, &fl);
	if (w->kind == KIND_SHARED && !verify_and_restore_shared(run * NMECH + (unsigned)m + 1, mech_name[m]))
		ok = false;
	if (m == MECH_FLOOR && run == 0)
		r->floor_faults = fl.faults;
	if (m == MECH_PAGER) {
		struct pager_stats d;
		pager_engine_stats(engine, &after);
		stats_delta(&d, &after, &before);
		r->pst_run[run] = d;
	}
	r->ns[m][run] = (double)(t1 - t0) / (double)npages;
	cur_workload = "between workloads";
	cur_mech = "-";
	return ok;
}

static void run_workload(size_t wi)
{
	const struct workload *w = &workloads[wi];
	struct result *r = &results[wi];

	r->ran = true;
	r->verified = true;
	r->runs = opt.runs;
	r->cache_worst = w->cold ? 0.0 : 1.0;
	if (w->kind == KIND_FILE && !w->cold)
		warm_cache();
	fprintf(stderr, "%s: %s\n", w->name, w->what);
	/* Interleave the mechanisms so that drift hits all of them alike. */
	for (unsigned run = 0; run < opt.runs; run++) {
		fprintf(stderr, "  run %u/%u:", run + 1, opt.runs);
		for (int m = 0; m < NMECH; m++) {
			if (!measure(w, r, (enum mech)m, run))
				r->verified = false;
			fprintf(stderr, " %s %.1f", mech_name[m], r->ns[m][run]);
		}
		fprintf(stderr, " ns/page\n");
		if (opt.verbose)
			pager_stats_print(&r->pst_run[run], stderr);
	}
	for (int m = 0; m < NMECH; m++)
		r->median[m] = median(r->ns[m], opt.runs);
	/* The run closest to the median (the first run also pays the engine's one-time set-up). */
	unsigned best = 0;
	for (unsigned run = 1; run < opt.runs; run++)
		if (distance(r->ns[MECH_PAGER][run], r->median[MECH_PAGER]) <
		    distance(r->ns[MECH_PAGER][best], r->median[MECH_PAGER]))
			best = run;
	r->pst = r->pst_run[best];
	if (w->kind == KIND_FILE) {
		if (!w->cold && r->cache_worst < 0.99)
			fprintf(stderr, "  warning: only %.1f%% of the file was in the page cache before a run\n",
				r->cache_worst * 100);
		if (w->cold && r->cache_worst > 0.01)
			fprintf(stderr, "  warning: %.1f%% of the file stayed in the page cache after dropping it\n",
				r->cache_worst * 100);
	}
	if (opt.verbose) {
		fprintf(stderr, "  floor: %" PRIu64 " faults in run 1 (%.1f pages per fault)\n", r->floor_faults,
			r->floor_faults ? (double)npages / (double)r->floor_faults : 0.0);
		fprintf(stderr, "  page cache before runs: %s %.1f%% resident\n", w->cold ? "at most" : "at least",
			r->cache_worst * 100);
	}
}

/* ------------------------------------------------------------------------ */
/* Report                                                                   */

static struct pager_config pcfg;

static void print_header(FILE *out)
{
	char sz[32], sz2[32];

	fprintf(out, "pager-bench %s: kernel mmap vs pager vs a minimal userfaultfd handler (floor)\n",
		PAGER_VERSION_STRING);
	fprintf(out, "machine: %s %s %s, %ld CPUs (%s), %.1f GiB RAM, THP %s\n", machine.uts.sysname,
		machine.uts.release, machine.uts.machine, machine.ncpu, machine.cpu_model,
		(double)machine.mem_total / (1 << 30), machine.thp);
	fprintf(out, "file:    %s (%s, device read-ahead %s KiB), %s = %zu pages, %s\n", file_path,
		machine.fstype, machine.read_ahead_kb, human_size(opt.size, sz, sizeof(sz)), npages,
		opt.keep ? "kept" : "removed at exit");
	fprintf(out, "runs:    %u per mechanism, median reported; seed 0x%" PRIx64 "; every byte checked on run 1\n",
		opt.runs, opt.seed);
	fprintf(out, "cold:    %s\n", cold_method);
	fprintf(out, "pager:   fault-around %s, readahead %s..%s, %u handler thread(s), io depth %u (PAGER_* env)\n",
		human_size(pcfg.fault_around_bytes, sz, sizeof(sz)),
		human_size(pcfg.readahead_min_bytes, sz2, sizeof(sz2)),
		pcfg.readahead_max_bytes ? human_size(pcfg.readahead_max_bytes, (char[32]){ 0 }, 32) : "off",
		pcfg.handler_threads, pcfg.io_queue_depth);
	fprintf(out, "floor:   own userfaultfd (%s), 1 blocking handler thread, one UFFDIO_COPY of %s per fault,\n"
		     "         from memory (no I/O); anon floor copies zeros\n",
		uffd_how, human_size(opt.floor_window, sz, sizeof(sz)));
	fprintf(out, "kernel:  mmap(MAP_PRIVATE) of the same file / MAP_PRIVATE|MAP_ANONYMOUS / MAP_SHARED for the writes, no hints\n");
}

static void print_ratio(FILE *out, double a, double b)
{
	if (a > 0 && b > 0)
		fprintf(out, " %11.2fx", a / b);
	else
		fprintf(out, " %12s", "-");
}

static void print_table(FILE *out)
{
	fprintf(out, "\n%-17s %11s %11s %11s %12s %12s  %s\n", "workload", "kernel", "pager", "floor",
		"pager/kernel", "pager/floor", "data");
	fprintf(out, "%-17s %11s %11s %11s\n", "", "ns/page", "ns/page", "ns/page");
	for (size_t wi = 0; wi < NWORKLOADS; wi++) {
		const struct result *r = &results[wi];
		if (!r->ran)
			continue;
		fprintf(out, "%-17s %11.1f %11.1f ", workloads[wi].name, r->median[MECH_KERNEL],
			r->median[MECH_PAGER]);
		if (r->median[MECH_FLOOR] > 0)
			fprintf(out, "%11.1f", r->median[MECH_FLOOR]);
		else
			fprintf(out, "%11s", "-");
		print_ratio(out, r->median[MECH_PAGER], r->median[MECH_KERNEL]);
		print_ratio(out, r->median[MECH_PAGER], r->median[MECH_FLOOR]);
		fprintf(out, "  %s\n", r->verified ? "ok" : "WRONG");
	}

	fprintf(out, "\npager statistics, median run of each workload:\n");
	fprintf(out, "%-17s %8s %11s %9s %8s %9s %8s %10s %10s\n", "workload", "faults", "pages/fault",
		"installed", "file hit", "file miss", "read MiB", "p50 fault", "p99 fault");
	for (size_t wi = 0; wi < NWORKLOADS; wi++) {
		const struct result *r = &results[wi];
		const struct pager_stats *s = &r->pst;
		if (!r->ran)
			continue;
		/* Every page was touched once: pages/fault is what the program saw. */
		fprintf(out, "%-17s %8" PRIu64 " %11.1f %9" PRIu64 " %8" PRIu64 " %9" PRIu64 " %8.1f %8.1fus %8.1fus\n",
			workloads[wi].name, s->faults, s->faults ? (double)npages / (double)s->faults : 0.0,
			s->pages_installed, s->file_hit, s->file_miss, (double)s->bytes_read / 1048576.0,
			(double)pager_stats_percentile(s, 50) / 1000.0,
			(double)pager_stats_percentile(s, 99) / 1000.0);
	}
	fprintf(out, "(latency percentiles are upper bounds of power-of-two buckets)\n");
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void json_num(FILE *f, double v)
{
	if (v > 0)
		fprintf(f, "%.3f", v);
	else
		fprintf(f, "null");
}

static void write_json(FILE *f)
{
	fprintf(f, "{\n  \"tool\": \"pager-bench\",\n  \"version\": \"%s\",\n", PAGER_VERSION_STRING);
	fprintf(f, "  \"machine\": {\"sysname\": ");
	json_str(f, machine.uts.sysname);
	fprintf(f, ", \"release\": ");
	json_str(f, machine.uts.release);
	fprintf(f, ", \"arch\": ");
	json_str(f, machine.uts.machine);
	fprintf(f, ", \"cpus\": %ld, \"cpu_model\": ", machine.ncpu);
	json_str(f, machine.cpu_model);
	fprintf(f, ", \"mem_bytes\": %" PRIu64 ", \"thp\": ", machine.mem_total);
	json_str(f, machine.thp);
	fprintf(f, "},\n  \"config\": {\"size_bytes\": %zu, \"pages\": %zu, \"runs\": %u, \"seed\": %" PRIu64
		   ", \"file\": ", opt.size, npages, opt.runs, opt.seed);
	json_str(f, file_path);
	fprintf(f, ", \"fstype\": ");
	json_str(f, machine.fstype);
	fprintf(f, ", \"cold_method\": ");
	json_str(f, cold_method);
	fprintf(f, ", \"floor_window_bytes\": %zu, \"floor_uffd\": ", opt.floor_window);
	json_str(f, uffd_how);
	fprintf(f, ", \"pager\": {\"fault_around_bytes\": %zu, \"readahead_min_bytes\": %zu, "
		   "\"readahead_max_bytes\": %zu, \"handler_threads\": %u, \"io_queue_depth\": %u}},\n",
		pcfg.fault_around_bytes, pcfg.readahead_min_bytes, pcfg.readahead_max_bytes,
		pcfg.handler_threads, pcfg.io_queue_depth);
	fprintf(f, "  \"workloads\": [");
	bool first = true;
	for (size_t wi = 0; wi < NWORKLOADS; wi++) {
		const struct result *r = &results[wi];
		const struct pager_stats *s = &r->pst;
		if (!r->ran)
			continue;
		fprintf(f, "%s\n    {\"name\": \"%s\", \"verified\": %s", first ? "" : ",", workloads[wi].name,
			r->verified ? "true" : "false");
		first = false;
		for (int m = 0; m < NMECH; m++) {
			fprintf(f, ", \"%s_ns_per_page\": ", mech_name[m]);
			json_num(f, r->median[m]);
			fprintf(f, ", \"%s_runs\": [", mech_name[m]);
			for (unsigned i = 0; i < r->runs; i++) {
				fprintf(f, "%s", i ? ", " : "");
				json_num(f, r->ns[m][i]);
			}
			fprintf(f, "]");
		}
		fprintf(f, ", \"pager_over_kernel\": ");
		json_num(f, r->median[MECH_KERNEL] > 0 ? r->median[MECH_PAGER] / r->median[MECH_KERNEL] : 0);
		fprintf(f, ", \"pager_over_floor\": ");
		json_num(f, r->median[MECH_FLOOR] > 0 ? r->median[MECH_PAGER] / r->median[MECH_FLOOR] : 0);
		fprintf(f, ", \"floor_faults\": %" PRIu64, r->floor_faults);
		fprintf(f, ", \"pager_stats_median_run\": {\"faults\": %" PRIu64 ", \"anon_zero\": %" PRIu64
			   ", \"anon_write\": %" PRIu64 ", \"file_hit\": %" PRIu64 ", \"file_miss\": %" PRIu64
			   ", \"readahead\": %" PRIu64 ", \"readahead_pages\": %" PRIu64 ", \"sigbus\": %" PRIu64
			   ", \"pages_installed\": %" PRIu64 ", \"pages_read\": %" PRIu64 ", \"bytes_read\": %" PRIu64
			   ", \"p50_ns\": %" PRIu64 ", \"p99_ns\": %" PRIu64 "}}",
			s->faults, s->anon_zero, s->anon_write, s->file_hit, s->file_miss, s->readahead,
			s->readahead_pages, s->sigbus, s->pages_installed, s->pages_read, s->bytes_read,
			pager_stats_percentile(s, 50), pager_stats_percentile(s, 99));
	}
	fprintf(f, "\n  ]\n}\n");
}

/* ------------------------------------------------------------------------ */
/* Command line                                                             */

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: pager-bench [OPTION]...\n"
		"Run each workload on kernel mmap, on the pager (pager_mmap) and on a minimal\n"
		"userfaultfd handler (the floor), in one process, and print ns per page, the\n"
		"pager/kernel and pager/floor ratios, and the pager's statistics.\n"
		"\n"
		"Options:\n"
		"  -s, --size SIZE      file and anonymous region size; suffix K, M, G or T\n"
		"                       (powers of 1024), rounded up to 4 KiB (default 1G)\n"
		"  -d, --dir DIR        where to create the test file (default /var/tmp)\n"
		"  -r, --runs N         runs per mechanism; the median is reported (default 3, max %d)\n"
		"  -o, --only LIST      comma-separated workloads to run (default: all)\n"
		"  -j, --json FILE      also write the results as JSON to FILE\n"
		"  -k, --keep           keep the test file\n"
		"      --seed N         seed for the file's data and the random order (default 0x5eed)\n"
		"      --timeout SEC    fail a pass that takes longer than SEC seconds; 0 = never\n"
		"                       (default 600)\n"
		"      --floor-window SIZE  bytes the floor handler installs per fault: a power\n"
		"                       of two from 4K to 1G (default 64K)\n"
		"  -v, --verbose        print the pager's statistics for every pager run, and more\n"
		"  -h, --help           print this help and exit\n"
		"  -V, --version        print the version and exit\n"
		"\n"
		"Workloads:\n",
		MAX_RUNS);
	for (size_t i = 0; i < NWORKLOADS; i++)
		fprintf(out, "  %-17s  %s\n", workloads[i].name, workloads[i].what);
	fprintf(out,
		"\n"
		"The pager is configured from PAGER_* environment variables (see pager(7)).\n"
		"Dropping caches for the cold workloads writes /proc/sys/vm/drop_caches when root.\n"
		"Exit status: 0 ok, 1 error or wrong data read, 2 bad usage, 77 no userfaultfd.\n");
}

/* SIZE with an optional binary suffix; exact, or rounded up to whole pages. */
static size_t parse_size(const char *s, bool round_up)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	errno = 0;
	if (*s == '-' || *s == 0)
		usage_error("bad size '%s'", s);
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		usage_error("bad size '%s'", s);
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	}
	if (shift && (strcmp(end, "iB") == 0 || strcmp(end, "B") == 0))
		end += strlen(end);
	if (*end)
		usage_error("bad size '%s' (a number with an optional K, M, G or T suffix)", s);
	if (v == 0)
		usage_error("size must be more than zero");
	if (v > (ULLONG_MAX >> shift) || (v << shift) > (1ULL << 44))
		usage_error("size '%s' is too large (at most 16T)", s);
	v <<= shift;
	if (round_up)
		v = (v + PAGE - 1) & ~(unsigned long long)(PAGE - 1);
	return (size_t)v;
}

static unsigned long long parse_uint(const char *s, const char *what, unsigned long long max)
{
	char *end;
	unsigned long long v;

	errno = 0;
	if (*s == '-' || *s == 0)
		usage_error("bad %s '%s'", what, s);
	v = strtoull(s, &end, 0);
	if (errno || *end || v > max)
		usage_error("bad %s '%s'", what, s);
	return v;
}

static void parse_only(char *list)
{
	bool any = false;

	for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		size_t i;
		if (strcmp(tok, "all") == 0) {
			for (i = 0; i < NWORKLOADS; i++)
				opt.only[i] = true;
			any = true;
			continue;
		}
		for (i = 0; i < NWORKLOADS; i++)
			if (strcmp(tok, workloads[i].name) == 0)
				break;
		if (i == NWORKLOADS) {
			char known[256] = "";
			for (size_t j = 0; j < NWORKLOADS; j++) {
				strcat(known, j ? ", " : "");
				strcat(known, workloads[j].name);
			}
			usage_error("unknown workload '%s' (known: %s)", tok, known);
		}
		opt.only[i] = true;
		any = true;
	}
	if (!any)
		usage_error("--only needs at least one workload");
}

static FILE *parse_args(int argc, char **argv)
{
	enum { OPT_SEED = 256, OPT_TIMEOUT, OPT_FLOOR_WINDOW };
	static const struct option longopts[] = {
		{ "size", required_argument, NULL, 's' },
		{ "dir", required_argument, NULL, 'd' },
		{ "runs", required_argument, NULL, 'r' },
		{ "only", required_argument, NULL, 'o' },
		{ "json", required_argument, NULL, 'j' },
		{ "keep", no_argument, NULL, 'k' },
		{ "seed", required_argument, NULL, OPT_SEED },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "floor-window", required_argument, NULL, OPT_FLOOR_WINDOW },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	bool only_given = false;
	FILE *json = NULL;
	int c;

	opterr = 0; /* our own messages, then exit 2 */
	while ((c = getopt_long(argc, argv, ":s:d:r:o:j:kvhV", longopts, NULL)) != -1) {
		switch (c) {
		case 's': opt.size = parse_size(optarg, true); break;
		case 'd': opt.dir = optarg; break;
		case 'r': opt.runs = (unsigned)parse_uint(optarg, "run count", MAX_RUNS); break;
		case 'o': parse_only(optarg); only_given = true; break;
		case 'j': opt.json = optarg; break;
		case 'k': opt.keep = true; break;
		case OPT_SEED: opt.seed = parse_uint(optarg, "seed", ULLONG_MAX); break;
		case OPT_TIMEOUT: opt.timeout = (unsigned)parse_uint(optarg, "timeout", 86400); break;
		case OPT_FLOOR_WINDOW:
			opt.floor_window = parse_size(optarg, false);
			if (opt.floor_window & (opt.floor_window - 1) || opt.floor_window < PAGE ||
			    opt.floor_window > (1UL << 30))
				usage_error("--floor-window must be a power of two from 4K to 1G");
			break;
		case 'v': opt.verbose = true; break;
		case 'h': usage(stdout); exit(0);
		case 'V': printf("pager-bench %s\n", PAGER_VERSION_STRING); exit(0);
		case ':': usage_error("option '%s' needs an argument", argv[optind - 1]);
		default:
			if (optopt)
				usage_error("unknown option '-%c'", optopt);
			usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	if (opt.runs == 0)
		usage_error("--runs must be at least 1");
	if (!only_given)
		for (size_t i = 0; i < NWORKLOADS; i++)
			opt.only[i] = true;
	struct stat st;
	if (stat(opt.dir, &st) < 0 || !S_ISDIR(st.st_mode))
		usage_error("--dir '%s' is not a directory%s%s", opt.dir, errno ? ": " : "", errno ? strerror(errno) : "");
	if (access(opt.dir, W_OK) < 0)
		usage_error("--dir '%s' is not writable: %s", opt.dir, strerror(errno));
	if (opt.json) { /* open now: a bad path should not cost a whole run */
		json = fopen(opt.json, "w");
		if (!json)
			usage_error("--json '%s': %s", opt.json, strerror(errno));
	}
	return json;
}

/* ------------------------------------------------------------------------ */

int main(int argc, char **argv)
{
	char err[256] = "";
	FILE *json = parse_args(argc, argv);
	uint64_t t_start = now_ns();
	bool any_file = false, all_ok = true;

	npages = opt.size / PAGE;
	if (npages > UINT32_MAX)
		usage_error("size too large for this benchmark's page permutation");
	for (size_t i = 0; i < NWORKLOADS; i++)
		any_file |= opt.only[i] && workloads[i].kind != KIND_ANON;

	probe_machine();
	probe_dir();
	probe_drop_caches();
	install_signal_handlers();

	pager_config_default(&pcfg);
	if (pager_config_from_env(&pcfg, err, sizeof(err)) < 0)
		usage_error("bad PAGER_* setting: %s", err);
	engine = pager_default_engine();
	if (!engine) {
		int e = errno;
		fprintf(stderr, "pager-bench: no pager engine: %s\n", strerror(e));
		exit(e == ENOSYS || e == EPERM || e == EACCES ? EXIT_SKIP : 1);
	}
	/* Probe the floor's uffd once, so the header can say how it was opened. */
	int probe = uffd_new();
	if (probe < 0)
		die("no userfaultfd for the floor handler: %s", strerror(errno));
	close(probe);

	if (machine.mem_avail && machine.mem_avail < 4 * (uint64_t)opt.size)
		fprintf(stderr, "pager-bench: warning: %.1f GiB available; a %.1f GiB run needs about 4x that\n",
			(double)machine.mem_avail / (1 << 30), (double)opt.size / (1 << 30));
	if (any_file && strcmp(machine.fstype, "tmpfs") == 0)
		fprintf(stderr, "pager-bench: warning: %s is tmpfs: the cold workloads cannot drop its pages\n",
			opt.dir);

	expect = map_anon(opt.size);
	zero_window = map_anon(opt.floor_window);
	mincore_vec = malloc(npages);
	perm = malloc(npages * sizeof(*perm));
	if (!mincore_vec || !perm)
		die("out of memory");
	uint64_t st = opt.seed ^ 0xa5a5a5a5a5a5a5a5ULL;
	for (size_t i = 0; i < npages; i++)
		perm[i] = (uint32_t)i;
	for (size_t i = npages - 1; i > 0; i--) { /* Fisher-Yates */
		size_t j = (size_t)(splitmix64(&st) % (i + 1));
		uint32_t t = perm[i];
		perm[i] = perm[j];
		perm[j] = t;
	}
	if (any_file) {
		make_file();
	} else {
		snprintf(file_path, sizeof(file_path), "(none: no file workload)");
	}
	expected_sums();

	print_header(stdout);
	fflush(stdout);
	fputc('\n', stderr);

	for (size_t wi = 0; wi < NWORKLOADS; wi++) {
		if (!opt.only[wi])
			continue;
		run_workload(wi);
		all_ok &= results[wi].verified;
	}

	print_table(stdout);
	if (opt.verbose) {
		printf("\npager statistics, median run of each workload:\n");
		for (size_t wi = 0; wi < NWORKLOADS; wi++) {
			if (!results[wi].ran)
				continue;
			printf("%s:\n", workloads[wi].name);
			pager_stats_print(&results[wi].pst, stdout);
		}
	}
	printf("\ntotal time %.1f s%s\n", (double)(now_ns() - t_start) / 1e9,
	       all_ok ? "" : "; WRONG DATA READ: see the messages above");

	if (json) {
		write_json(json);
		if (fclose(json) != 0)
			die("write %s: %s", opt.json, strerror(errno));
	}
	if (file_fd >= 0)
		close(file_fd);
	if (opt.keep && file_made)
		printf("kept %s\n", file_path);
	remove_file();
	pager_shutdown();
	return all_ok ? 0 : 1;
}
