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
 *
 * The swap workloads are different: a working set larger than a memory
 * budget, on the kernel's own swap (a memory cgroup limit and a swap file
 * we swapon) and on the pager (an engine with the same budget), each in a
 * child process; no floor.
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
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/swap.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <sys/wait.h>
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
/* The swap workloads: write; verify and rewrite; verify. */
#define SWAP_PASSES 3
#define SWAP_WORDS 3 /* words written and checked in each page, per pass */
#define CGROUP_MEMORY "/sys/fs/cgroup/memory"
#define SKIP_LEN (PATH_MAX + 256) /* room for a message about a path */

/* ------------------------------------------------------------------------ */
/* Workloads and mechanisms                                                 */

enum mech { MECH_KERNEL, MECH_PAGER, MECH_FLOOR, NMECH };
static const char *const mech_name[NMECH] = { "kernel", "pager", "floor" };

enum kind { KIND_FILE, KIND_ANON, KIND_SHARED, KIND_SWAP };
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
	{ "swap-seq", KIND_SWAP, ORDER_SEQ, false,
	  "swap: write, verify+rewrite, verify each page of --swap-ws, in page order" },
	{ "swap-rand", KIND_SWAP, ORDER_RAND, false,
	  "swap: the same three passes in a fixed random page order" },
};
#define NWORKLOADS (sizeof(workloads) / sizeof(workloads[0]))

/* Per-run pager statistics are deltas of the engine's counters, all u64. */
_Static_assert(sizeof(struct pager_stats) % sizeof(uint64_t) == 0, "pager_stats is not all u64");

/* One run of a swap workload on one side, as its child reported it (and the parent measured). */
struct swap_run {
	uint64_t pass_ns[SWAP_PASSES];
	uint64_t hwm_bytes; /* the child's peak RSS (VmHWM) */
	uint64_t cg_max_usage; /* memory.max_usage_in_bytes of the child's cgroup; 0: no cgroup */
	/* Kernel side, deltas of /proc/vmstat (system-wide, but nothing else swaps): */
	uint64_t pswpout, pswpin, swap_ra, swap_ra_hit;
};

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
	/* Swap workloads: ns[] are ns per page touch; kernel and pager only. */
	char skip[NMECH][SKIP_LEN]; /* why a side did not run ("": it did) */
	struct swap_run sw[NMECH][MAX_RUNS];
	unsigned sw_best[NMECH]; /* the run closest to the median, per side */
	uint64_t cg_limit; /* the kernel side's cgroup limit, as read back */
	unsigned cg_swappiness;
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
	size_t swap_ws, swap_budget;
} opt = {
	.size = 1UL << 30,
	.dir = "/var/tmp",
	.runs = 3,
	.seed = 0x5eed,
	.timeout = 600,
	.floor_window = FLOOR_WINDOW_DEFAULT,
	.swap_ws = 2UL << 30,
	.swap_budget = 512UL << 20,
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

/*
 * What the kernel side of the swap workloads sets up, undone by
 * kswap_teardown(), also from the signal handlers: so only system calls
 * there.  A child clears these flags: only the parent owns the objects.
 */
static char kswap_path[PATH_MAX]; /* our swap file */
static volatile sig_atomic_t kswap_made, kswap_on;
static char kcg_path[PATH_MAX]; /* our memory cgroup */
static volatile sig_atomic_t kcg_made;
static volatile pid_t swap_child; /* a child running a swap workload */

static void kswap_teardown(void)
{
	pid_t c = swap_child;

	if (c > 0) {
		kill(c, SIGKILL);
		while (waitpid(c, NULL, 0) < 0 && errno == EINTR)
			;
		swap_child = 0;
	}
	if (kcg_made) {
		rmdir(kcg_path);
		kcg_made = 0;
	}
	if (kswap_on) {
		swapoff(kswap_path);
		kswap_on = 0;
	}
	if (kswap_made) {
		unlink(kswap_path);
		kswap_made = 0;
	}
}

/* Leave nothing behind: the test file, the swap file, the cgroup, a child. */
static void cleanup(void)
{
	kswap_teardown();
	remove_file();
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
	cleanup();
	raise(sig); /* SA_RESETHAND: the default action, once we return */
}

/* A fault that is never answered hangs the touch loop: turn that into an error. */
static void on_alarm(int sig)
{
	(void)sig;
	write_str(timeout_msg);
	cleanup();
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
	cleanup();
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

static void expected_sums(bool any_file)
{
	/* Reading the untouched buffer would cost a page each (this kernel allocates on read faults). */
	file_sum = any_file ? read_pages(expect, NULL) : 0;
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
			cleanup();
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
			cleanup();
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
static struct pager_config pcfg; /* the pager's settings, from PAGER_* */

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

/* ------------------------------------------------------------------------ */
/* The swap workloads: the kernel's swap against the pager's, same budget   */

static size_t swap_npages;
static uint32_t *swap_perm; /* random page order of the working set, fixed seed */

/* Word k of page i: the first, one that moves with i (a page at the wrong place shows), the last. */
static inline size_t swap_word_idx(size_t i, unsigned k)
{
	const size_t words = PAGE / sizeof(uint64_t);

	return k == 0 ? 0 : k == 1 ? 1 + i % (words - 2) : words - 1;
}

/* What pass `pass` (from 1) stores in word k of page i: never zero, different in every pass. */
static inline uint64_t swap_value(size_t i, unsigned pass, unsigned k)
{
	uint64_t st = opt.seed ^ ((uint64_t)i << 8) ^ ((uint64_t)pass << 2) ^ k;

	return splitmix64(&st) | 1;
}

struct swap_check {
	uint64_t bad; /* pages with a word that is not what the previous pass stored */
	uint64_t page, word, got, want; /* the first of them */
};

/*
 * One timed pass over the working set, in page order or in the permutation:
 * check the words that pass `check` stored (0: none), then store the words of
 * pass `store` (0: none).  volatile: every page is touched, in this order.
 */
static __attribute__((noinline)) void swap_pass(unsigned char *base, const uint32_t *order,
						unsigned check, unsigned store, struct swap_check *c)
{
	for (size_t n = 0; n < swap_npages; n++) {
		size_t i = order ? order[n] : n;
		volatile uint64_t *pg = (volatile uint64_t *)(base + i * PAGE);
		bool bad = false;

		for (unsigned k = 0; check && k < SWAP_WORDS; k++) {
			size_t w = swap_word_idx(i, k);
			uint64_t v = pg[w], want = swap_value(i, check, k);

			if (v != want && !bad) {
				bad = true;
				if (!c->bad++) {
					c->page = i;
					c->word = w;
					c->got = v;
					c->want = want;
				}
			}
		}
		for (unsigned k = 0; store && k < SWAP_WORDS; k++)
			pg[swap_word_idx(i, k)] = swap_value(i, store, k);
	}
}

enum { SWAP_OK, SWAP_SKIPPED, SWAP_FAILED };

/* What a child sends its parent when it is done (one message, smaller than PIPE_BUF). */
struct swap_report {
	int status;
	char msg[200];
	uint64_t pass_ns[SWAP_PASSES];
	struct swap_check check[SWAP_PASSES]; /* what pass p found of the words pass p - 1 stored */
	uint64_t hwm_bytes;
	struct pager_stats st; /* pager side */
};

static void send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return; /* the parent is gone */
		p += n;
		len -= (size_t)n;
	}
}

static void __attribute__((noreturn, format(printf, 4, 5)))
child_fail(int sock, struct swap_report *rep, int status, const char *fmt, ...)
{
	va_list ap;

	rep->status = status;
	va_start(ap, fmt);
	vsnprintf(rep->msg, sizeof(rep->msg), fmt, ap);
	va_end(ap);
	send_all(sock, rep, sizeof(*rep));
	_exit(status == SWAP_FAILED ? 1 : 0);
}

static uint64_t vm_hwm_bytes(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	unsigned long long kb = 0;
	char line[128];

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmHWM: %llu kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb * 1024;
}

/*
 * The child of one swap run: waits until its parent has put it into its
 * cgroup, maps the working set (the kernel's mmap, or an engine of its own
 * with the budget), runs the three timed passes, reports and exits.  Both
 * sides run this same code.
 */
static void __attribute__((noreturn)) swap_child_run(const struct workload *w, enum mech m, int sock)
{
	const uint32_t *order = w->order == ORDER_RAND ? swap_perm : NULL;
	const size_t ws = swap_npages * PAGE;
	struct pager_engine *eng = NULL;
	struct swap_report rep;
	unsigned char *p;
	char go;

	/* The test file, the swap file and the cgroup are the parent's to remove, not ours. */
	file_made = 0;
	kswap_made = 0;
	kswap_on = 0;
	kcg_made = 0;
	swap_child = 0;
	memset(&rep, 0, sizeof(rep));
	while (recv(sock, &go, 1, 0) != 1)
		if (errno != EINTR)
			_exit(1);
	/* Only the working set should count: drop the parent's data, restart the peak RSS. */
	munmap(expect, opt.size);
	int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t r = write(fd, "5", 1);
		(void)r;
		close(fd);
	}

	if (m == MECH_KERNEL) {
		p = mmap(NULL, ws, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			child_fail(sock, &rep, SWAP_FAILED, "mmap of %zu bytes: %s", ws, strerror(errno));
	} else {
		struct pager_config cfg = pcfg;
		char err[256] = "";

		cfg.budget_bytes = opt.swap_budget;
		if (cfg.swap_bytes < ws)
			cfg.swap_bytes = ws;
		if (!cfg.swap_path) /* the default temporary swap file: on the disk of the kernel's */
			setenv("TMPDIR", opt.dir, 1);
		eng = pager_engine_new(&cfg, err, sizeof(err));
		if (!eng) {
			int e = errno;
			child_fail(sock, &rep, e == ENOSYS || e == EPERM || e == EACCES ? SWAP_SKIPPED : SWAP_FAILED,
				   "pager_engine_new: %s", err[0] ? err : strerror(e));
		}
		p = pager_engine_mmap(eng, NULL, ws, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			child_fail(sock, &rep, SWAP_FAILED, "pager_engine_mmap of %zu bytes: %s", ws, strerror(errno));
	}

	for (unsigned pass = 1; pass <= SWAP_PASSES; pass++) {
		uint64_t t0;

		snprintf(timeout_msg, sizeof(timeout_msg),
			 "pager-bench: %s on %s: pass %u not done after %u s (a fault never answered?)\n", w->name,
			 mech_name[m], pass, opt.timeout);
		alarm(opt.timeout);
		t0 = now_ns();
		swap_pass(p, order, pass - 1, pass < SWAP_PASSES ? pass : 0, &rep.check[pass - 1]);
		rep.pass_ns[pass - 1] = now_ns() - t0;
		alarm(0);
	}
	rep.hwm_bytes = vm_hwm_bytes();
	if (eng)
		pager_engine_stats(eng, &rep.st);
	rep.status = SWAP_OK;
	send_all(sock, &rep, sizeof(rep));
	/* Untimed, after the report; a crash here still fails the run (the exit status). */
	if (eng) {
		if (pager_engine_munmap(eng, p, ws) < 0)
			_exit(1);
		pager_engine_destroy(eng);
	}
	_exit(0);
}

static bool write_text(const char *path, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool write_text(const char *path, const char *fmt, ...)
{
	char buf[64];
	va_list ap;
	int fd, n;
	bool ok;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ok = write(fd, buf, (size_t)n) == n;
	int e = errno;
	close(fd);
	errno = e;
	return ok;
}

static uint64_t read_u64(const char *path)
{
	char buf[64];
	read_first_line(path, buf, sizeof(buf));
	return strtoull(buf, NULL, 10);
}

struct vmstat_swap {
	uint64_t pswpin, pswpout, swap_ra, swap_ra_hit;
};

static void read_vmstat(struct vmstat_swap *v)
{
	FILE *f = fopen("/proc/vmstat", "r");
	char name[64];
	unsigned long long x;

	memset(v, 0, sizeof(*v));
	while (f && fscanf(f, "%63s %llu", name, &x) == 2) {
		if (strcmp(name, "pswpin") == 0)
			v->pswpin = x;
		else if (strcmp(name, "pswpout") == 0)
			v->pswpout = x;
		else if (strcmp(name, "swap_ra") == 0)
			v->swap_ra = x;
		else if (strcmp(name, "swap_ra_hit") == 0)
			v->swap_ra_hit = x;
	}
	if (f)
		fclose(f);
}

/* mkswap(8), its chatter to /dev/null.  posix_spawn: our signal handlers do not run in the child. */
static int run_mkswap(const char *path, char *why, size_t len)
{
	static const char *const cands[] = { "mkswap", "/usr/sbin/mkswap", "/sbin/mkswap" };
	posix_spawn_file_actions_t fa;
	extern char **environ;
	pid_t pid = -1;
	int rc = ENOENT, status;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	for (size_t i = 0; i < sizeof(cands) / sizeof(cands[0]) && rc == ENOENT; i++) {
		char *argv[] = { (char *)cands[i], (char *)"-q", (char *)path, NULL };
		rc = posix_spawnp(&pid, cands[i], &fa, NULL, argv, environ);
	}
	posix_spawn_file_actions_destroy(&fa);
	if (rc) {
		snprintf(why, len, "cannot run mkswap (util-linux): %s", strerror(rc));
		return -1;
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			snprintf(why, len, "waitpid(mkswap): %s", strerror(errno));
			return -1;
		}
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		snprintf(why, len, "mkswap %s failed (status 0x%x)", path, status);
		return -1;
	}
	return 0;
}

/*
 * The kernel side's swap: a file of --swap-ws + 1 GiB in --dir (the disk of
 * the pager's swap file), mkswap, swapon at the highest priority.  On
 * failure, r->skip says why and nothing is left behind.
 */
static bool kswap_setup(struct result *r)
{
	char *why = r->skip[MECH_KERNEL];
	const size_t len = sizeof(r->skip[MECH_KERNEL]);
	const off_t size = (off_t)(opt.swap_ws + (1UL << 30));
	int fd, e;

	if (geteuid() != 0) {
		snprintf(why, len, "not root (the kernel side needs swapon and a memory cgroup)");
		return false;
	}
	if (access(CGROUP_MEMORY "/memory.limit_in_bytes", F_OK) < 0) {
		snprintf(why, len, "no cgroup v1 memory controller at " CGROUP_MEMORY);
		return false;
	}
	snprintf(kswap_path, sizeof(kswap_path), "%s/pager-bench.%d.swap", opt.dir, (int)getpid());
	fd = open(kswap_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(why, len, "create %s: %s", kswap_path, strerror(errno));
		return false;
	}
	kswap_made = 1;
	if (fchmod(fd, 0600) < 0) {
		snprintf(why, len, "chmod %s: %s", kswap_path, strerror(errno));
		goto fail_fd;
	}
	if (fallocate(fd, 0, 0, size) < 0) {
		static const char zeros[1 << 20];

		if (errno != EOPNOTSUPP) {
			snprintf(why, len, "fallocate %s (%jd bytes): %s", kswap_path, (intmax_t)size, strerror(errno));
			goto fail_fd;
		}
		for (off_t off = 0; off < size; off += (off_t)sizeof(zeros)) /* like dd */
			if (pwrite(fd, zeros, sizeof(zeros), off) != (ssize_t)sizeof(zeros)) {
				snprintf(why, len, "write %s: %s", kswap_path, strerror(errno));
				goto fail_fd;
			}
		if (fsync(fd) < 0) {
			snprintf(why, len, "fsync %s: %s", kswap_path, strerror(errno));
			goto fail_fd;
		}
	}
	close(fd);
	if (run_mkswap(kswap_path, why, len) < 0)
		goto fail;
	if (swapon(kswap_path, SWAP_FLAG_PREFER | ((32767 << SWAP_FLAG_PRIO_SHIFT) & SWAP_FLAG_PRIO_MASK)) < 0) {
		e = errno;
		snprintf(why, len, "swapon %s: %s", kswap_path, strerror(e));
		goto fail;
	}
	kswap_on = 1;

	/* Another swap area would take pages too (at a lower priority): say so. */
	FILE *f = fopen("/proc/swaps", "r");
	char line[512];
	unsigned others = 0;
	while (f && fgets(line, sizeof(line), f))
		others += line[0] == '/' && strncmp(line, kswap_path, strlen(kswap_path)) != 0;
	if (f)
		fclose(f);
	if (others)
		fprintf(stderr, "  warning: %u other swap area(s) active; ours has the highest priority\n", others);
	return true;

fail_fd:
	close(fd);
fail:
	kswap_teardown();
	return false;
}

/* swapoff and remove the file, saying so if swapoff fails. */
static void kswap_finish(void)
{
	if (kswap_on && swapoff(kswap_path) < 0)
		fprintf(stderr, "pager-bench: warning: swapoff %s: %s\n", kswap_path, strerror(errno));
	else
		kswap_on = 0;
	kswap_teardown();
}

/* A memory cgroup for one child: with a limit (kernel side), or none (pager side: accounting only). */
static bool kcg_create(uint64_t limit, char *why, size_t len)
{
	char path[PATH_MAX + 32];

	if (geteuid() != 0 || access(CGROUP_MEMORY "/memory.limit_in_bytes", F_OK) < 0) {
		snprintf(why, len, "%s", geteuid() ? "not root" : "no cgroup v1 memory controller at " CGROUP_MEMORY);
		return false;
	}
	snprintf(kcg_path, sizeof(kcg_path), CGROUP_MEMORY "/pager-bench.%d", (int)getpid());
	if (mkdir(kcg_path, 0755) < 0 && (errno != EEXIST || rmdir(kcg_path) < 0 || mkdir(kcg_path, 0755) < 0)) {
		snprintf(why, len, "mkdir %s: %s", kcg_path, strerror(errno));
		return false;
	}
	kcg_made = 1;
	snprintf(path, sizeof(path), "%s/memory.limit_in_bytes", kcg_path);
	if (limit && !write_text(path, "%" PRIu64 "\n", limit)) {
		snprintf(why, len, "write %s: %s", path, strerror(errno));
		rmdir(kcg_path);
		kcg_made = 0;
		return false;
	}
	return true;
}

static uint64_t kcg_read(const char *file)
{
	char path[PATH_MAX + 32];

	snprintf(path, sizeof(path), "%s/%s", kcg_path, file);
	return read_u64(path);
}

static void kcg_remove(void)
{
	if (!kcg_made)
		return;
	/* The child is reaped; its cgroup may take a moment to let go. */
	for (int i = 0; rmdir(kcg_path) < 0; i++) {
		if (errno != EBUSY || i == 100) {
			fprintf(stderr, "pager-bench: warning: rmdir %s: %s\n", kcg_path, strerror(errno));
			break;
		}
		usleep(10000);
	}
	kcg_made = 0;
}

static void describe_status(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exit status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by signal %d (%s)%s", WTERMSIG(status), strsignal(WTERMSIG(status)),
			 WTERMSIG(status) == SIGKILL ? ": the OOM killer? see dmesg" : "");
	else
		snprintf(buf, len, "status 0x%x", status);
}

/* One run of a swap workload on one side.  Returns false if it failed or read wrong data. */
static bool swap_measure(const struct workload *w, struct result *r, enum mech m, unsigned run)
{
	struct swap_run *sr = &r->sw[m][run];
	struct vmstat_swap v0, v1;
	struct swap_report rep;
	char why[SKIP_LEN] = "", how[128];
	size_t got = 0;
	int sv[2], status = 0;
	bool in_cg, ok = true;
	pid_t pid;

	memset(sr, 0, sizeof(*sr));
	r->ns[m][run] = 0;
	if (r->skip[m][0])
		return true;
	cur_workload = w->name;
	cur_mech = mech_name[m];

	/* Kernel: the budget is the cgroup's limit.  Pager: no limit, the cgroup only measures. */
	in_cg = kcg_create(m == MECH_KERNEL ? opt.swap_budget : 0, why, sizeof(why));
	if (!in_cg && m == MECH_KERNEL) {
		snprintf(r->skip[m], sizeof(r->skip[m]), "%s", why);
		return true;
	}
	if (in_cg && m == MECH_KERNEL) {
		r->cg_limit = kcg_read("memory.limit_in_bytes");
		r->cg_swappiness = (unsigned)kcg_read("memory.swappiness");
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		die("socketpair: %s", strerror(errno));
	read_vmstat(&v0);
	fflush(NULL); /* or the child's buffers would repeat ours */
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		close(sv[0]);
		swap_child_run(w, m, sv[1]);
	}
	swap_child = pid;
	close(sv[1]);
	if (in_cg) {
		char path[PATH_MAX + 32];

		snprintf(path, sizeof(path), "%s/cgroup.procs", kcg_path);
		if (!write_text(path, "%d\n", (int)pid)) {
			snprintf(why, sizeof(why), "write %s: %s", path, strerror(errno));
			kill(pid, SIGKILL);
			while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
				;
			swap_child = 0;
			close(sv[0]);
			kcg_remove();
			if (m == MECH_KERNEL) {
				snprintf(r->skip[m], sizeof(r->skip[m]), "%s", why);
				return true;
			}
			fprintf(stderr, "pager-bench: %s: %s\n", mech_name[m], why);
			return false;
		}
	}
	char go = 1;
	send_all(sv[0], &go, 1);

	/* The child times each of its passes out; this is for a child stuck anywhere else. */
	snprintf(timeout_msg, sizeof(timeout_msg), "pager-bench: %s on %s: the child is not done after %u s\n",
		 w->name, mech_name[m], SWAP_PASSES * opt.timeout + 120);
	if (opt.timeout)
		alarm(SWAP_PASSES * opt.timeout + 120);
	while (got < sizeof(rep)) {
		ssize_t n = recv(sv[0], (char *)&rep + got, sizeof(rep) - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	swap_child = 0;
	alarm(0);
	close(sv[0]);
	read_vmstat(&v1);
	if (in_cg)
		sr->cg_max_usage = kcg_read("memory.max_usage_in_bytes");
	kcg_remove();
	cur_workload = "between workloads";
	cur_mech = "-";

	describe_status(status, how, sizeof(how));
	if (got < sizeof(rep)) {
		fprintf(stderr, "pager-bench: %s on %s, run %u: the child died without a report: %s\n", w->name,
			mech_name[m], run + 1, how);
		return false;
	}
	rep.msg[sizeof(rep.msg) - 1] = 0;
	if (rep.status == SWAP_SKIPPED) {
		snprintf(r->skip[m], sizeof(r->skip[m]), "%s", rep.msg);
		return true;
	}
	if (rep.status != SWAP_OK) {
		fprintf(stderr, "pager-bench: %s on %s, run %u: %s\n", w->name, mech_name[m], run + 1, rep.msg);
		return false;
	}
	for (unsigned pass = 2; pass <= SWAP_PASSES; pass++) {
		const struct swap_check *c = &rep.check[pass - 1];
		if (c->bad) {
			fprintf(stderr,
				"pager-bench: %s on %s, run %u: pass %u found %" PRIu64 " of %zu pages wrong (first: "
				"page %" PRIu64 " word %" PRIu64 " read 0x%016" PRIx64 ", pass %u stored 0x%016" PRIx64 ")\n",
				w->name, mech_name[m], run + 1, pass, c->bad, swap_npages, c->page, c->word, c->got,
				pass - 1, c->want);
			ok = false;
		}
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "pager-bench: %s on %s, run %u: the child failed after its passes: %s\n", w->name,
			mech_name[m], run + 1, how);
		ok = false;
	}

	uint64_t total = 0;
	for (unsigned pass = 0; pass < SWAP_PASSES; pass++) {
		sr->pass_ns[pass] = rep.pass_ns[pass];
		total += rep.pass_ns[pass];
	}
	sr->hwm_bytes = rep.hwm_bytes;
	sr->pswpout = v1.pswpout - v0.pswpout;
	sr->pswpin = v1.pswpin - v0.pswpin;
	sr->swap_ra = v1.swap_ra - v0.swap_ra;
	sr->swap_ra_hit = v1.swap_ra_hit - v0.swap_ra_hit;
	if (m == MECH_PAGER)
		r->pst_run[run] = rep.st;
	r->ns[m][run] = (double)total / (double)(swap_npages * SWAP_PASSES);
	return ok;
}

static void run_swap_workload(size_t wi)
{
	const struct workload *w = &workloads[wi];
	struct result *r = &results[wi];
	static const enum mech sides[] = { MECH_KERNEL, MECH_PAGER };

	r->ran = true;
	r->verified = true;
	r->runs = opt.runs;
	fprintf(stderr, "%s: %s\n", w->name, w->what);
	if (!kswap_setup(r))
		fprintf(stderr, "  kernel: skipped: %s\n", r->skip[MECH_KERNEL]);
	for (unsigned run = 0; run < opt.runs; run++) {
		fprintf(stderr, "  run %u/%u:", run + 1, opt.runs);
		for (size_t s = 0; s < 2; s++) {
			enum mech m = sides[s];
			if (!swap_measure(w, r, m, run))
				r->verified = false;
			if (r->skip[m][0])
				fprintf(stderr, " %s skipped", mech_name[m]);
			else
				fprintf(stderr, " %s %.1f", mech_name[m], r->ns[m][run]);
		}
		fprintf(stderr, " ns/touch\n");
		if (opt.verbose && !r->skip[MECH_PAGER][0])
			pager_stats_print(&r->pst_run[run], stderr);
	}
	kswap_finish();
	for (size_t s = 0; s < 2; s++) {
		enum mech m = sides[s];
		unsigned best = 0;

		if (r->skip[m][0]) {
			r->median[m] = 0;
			if (m == MECH_PAGER)
				fprintf(stderr, "  pager: skipped: %s\n", r->skip[m]);
			continue;
		}
		r->median[m] = median(r->ns[m], opt.runs);
		for (unsigned run = 1; run < opt.runs; run++)
			if (distance(r->ns[m][run], r->median[m]) < distance(r->ns[m][best], r->median[m]))
				best = run;
		r->sw_best[m] = best;
	}
	r->pst = r->pst_run[r->sw_best[MECH_PAGER]];
}

static void run_workload(size_t wi)
{
	const struct workload *w = &workloads[wi];
	struct result *r = &results[wi];

	r->ran = true;
	r->verified = true;
	r->runs = opt.runs;
	r->cache_worst = w->cold ? 0.0 : 1.0;
	if (w->kind == KIND_SWAP) {
		run_swap_workload(wi);
		return;
	}
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

static bool any_selected(enum kind k)
{
	for (size_t i = 0; i < NWORKLOADS; i++)
		if (opt.only[i] && workloads[i].kind == k)
			return true;
	return false;
}

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
	if (any_selected(KIND_SWAP)) {
		fprintf(out, "swap:    %s of anonymous memory (%zu pages), %s budget; %d passes in one child per run:\n"
			     "         write, verify + rewrite, verify (%d words a page); no floor\n",
			human_size(opt.swap_ws, sz, sizeof(sz)), swap_npages,
			human_size(opt.swap_budget, sz2, sizeof(sz2)), SWAP_PASSES, SWAP_WORDS);
		fprintf(out, "         kernel: mmap(MAP_PRIVATE|MAP_ANONYMOUS), memory cgroup v1 limit = budget,\n"
			     "         swap file %s/pager-bench.%d.swap of %s (fallocate, mkswap, swapon; removed after)\n",
			opt.dir, (int)getpid(), human_size(opt.swap_ws + (1UL << 30), sz, sizeof(sz)));
		fprintf(out, "         pager: its own engine, budget_bytes = budget, swap file %s%s\n",
			pcfg.swap_path ? pcfg.swap_path : "a temporary in ", pcfg.swap_path ? "" : opt.dir);
	}
}

static void print_ratio(FILE *out, double a, double b)
{
	if (a > 0 && b > 0)
		fprintf(out, " %11.2fx", a / b);
	else
		fprintf(out, " %12s", "-");
}

static void print_mib(FILE *out, uint64_t bytes)
{
	if (bytes)
		fprintf(out, " %9.1f", (double)bytes / 1048576.0);
	else
		fprintf(out, " %9s", "-");
}

static double per_page(uint64_t ns)
{
	return (double)ns / (double)swap_npages;
}

static void print_swap_table(FILE *out)
{
	static const enum mech sides[] = { MECH_KERNEL, MECH_PAGER };
	bool any = false;
	char sz[32], sz2[32];

	for (size_t wi = 0; wi < NWORKLOADS; wi++)
		any |= results[wi].ran && workloads[wi].kind == KIND_SWAP;
	if (!any)
		return;
	fprintf(out, "\nswap: %s working set, %s budget; ns per page touch = time / (%zu pages x %d passes)\n",
		human_size(opt.swap_ws, sz, sizeof(sz)), human_size(opt.swap_budget, sz2, sizeof(sz2)), swap_npages,
		SWAP_PASSES);
	fprintf(out, "%-17s %11s %11s %12s  %s\n", "workload", "kernel", "pager", "pager/kernel", "data");
	fprintf(out, "%-17s %11s %11s\n", "", "ns/touch", "ns/touch");
	for (size_t wi = 0; wi < NWORKLOADS; wi++) {
		const struct result *r = &results[wi];
		if (!r->ran || workloads[wi].kind != KIND_SWAP)
			continue;
		fprintf(out, "%-17s", workloads[wi].name);
		for (size_t s = 0; s < 2; s++) {
			if (r->skip[sides[s]][0])
				fprintf(out, " %11s", "skipped");
			else if (r->median[sides[s]] > 0)
				fprintf(out, " %11.1f", r->median[sides[s]]);
			else
				fprintf(out, " %11s", "-");
		}
		print_ratio(out, r->median[MECH_PAGER], r->median[MECH_KERNEL]);
		fprintf(out, "  %s\n", r->verified ? "ok" : "WRONG");
	}
	for (size_t wi = 0; wi < NWORKLOADS; wi++)
		for (size_t s = 0; s < 2; s++)
			if (results[wi].ran && workloads[wi].kind == KIND_SWAP && results[wi].skip[sides[s]][0])
				fprintf(out, "%s %s: skipped: %s\n", workloads[wi].name, mech_name[sides[s]],
					results[wi].skip[sides[s]]);

	fprintf(out, "\nswap figures, median run of each side:\n");
	fprintf(out, "%-17s %-6s %9s %9s %9s %9s %9s %9s %9s %9s %9s %9s\n", "workload", "side", "pass 1",
		"pass 2", "pass 3", "swap out", "swap in", "hits", "peak", "budget", "peak RSS", "cgroup");
	fprintf(out, "%-17s %-6s %9s %9s %9s %9s %9s %9s %9s %9s %9s %9s\n", "", "", "ns/page", "ns/page",
		"ns/page", "pages", "pages", "pages", "MiB", "MiB", "MiB", "MiB");
	for (size_t wi = 0; wi < NWORKLOADS; wi++) {
		const struct result *r = &results[wi];
		if (!r->ran || workloads[wi].kind != KIND_SWAP)
			continue;
		for (size_t s = 0; s < 2; s++) {
			enum mech m = sides[s];
			const struct swap_run *sr = &r->sw[m][r->sw_best[m]];
			const struct pager_stats *st = &r->pst;

			if (r->skip[m][0] || r->median[m] <= 0)
				continue;
			fprintf(out, "%-17s %-6s", workloads[wi].name, mech_name[m]);
			for (unsigned pass = 0; pass < SWAP_PASSES; pass++)
				fprintf(out, " %9.1f", per_page(sr->pass_ns[pass]));
			if (m == MECH_KERNEL) {
				fprintf(out, " %9" PRIu64 " %9" PRIu64 " %9" PRIu64, sr->pswpout, sr->pswpin,
					sr->swap_ra_hit);
				print_mib(out, sr->cg_max_usage);
				print_mib(out, r->cg_limit);
			} else {
				fprintf(out, " %9" PRIu64 " %9" PRIu64 " %9" PRIu64, st->swap_out, st->swap_in,
					st->swapcache_hits);
				print_mib(out, st->peak_resident_bytes);
				print_mib(out, st->budget_bytes);
			}
			print_mib(out, sr->hwm_bytes);
			print_mib(out, sr->cg_max_usage);
			fputc('\n', out);
		}
	}
	fprintf(out, "kernel: swap out/in = pswpout/pswpin of /proc/vmstat, hits = swap_ra_hit (readahead);\n"
		     "        peak = the cgroup's memory.max_usage_in_bytes, budget = its memory.limit_in_bytes\n"
		     "pager:  pager_engine_stats(): swap_out, swap_in, hits = swapcache_hits,\n"
		     "        peak = peak_resident_bytes, budget = budget_bytes\n"
		     "both:   peak RSS = the child's VmHWM; cgroup = memory.max_usage_in_bytes of the child's\n"
		     "        memory cgroup (the pager's has no limit: it only measures what the kernel charged)\n");
	for (size_t wi = 0; wi < NWORKLOADS; wi++) {
		const struct result *r = &results[wi];
		const struct pager_stats *st = &r->pst;
		if (!r->ran || workloads[wi].kind != KIND_SWAP || r->skip[MECH_PAGER][0] || r->median[MECH_PAGER] <= 0)
			continue;
		if (st->budget_bytes == 0)
			fprintf(out, "%s: note: the engine reports no budget (budget_bytes 0): it did not apply %s\n",
				workloads[wi].name, human_size(opt.swap_budget, sz, sizeof(sz)));
		else if (st->peak_resident_bytes > st->budget_bytes)
			fprintf(out, "%s: note: the pager's peak resident %.1f MiB is over its budget %.1f MiB\n",
				workloads[wi].name, (double)st->peak_resident_bytes / 1048576.0,
				(double)st->budget_bytes / 1048576.0);
	}
}

static void print_table(FILE *out)
{
	bool any = false;

	for (size_t wi = 0; wi < NWORKLOADS; wi++)
		any |= results[wi].ran && workloads[wi].kind != KIND_SWAP;
	if (!any) {
		print_swap_table(out);
		return;
	}
	fprintf(out, "\n%-17s %11s %11s %11s %12s %12s  %s\n", "workload", "kernel", "pager", "floor",
		"pager/kernel", "pager/floor", "data");
	fprintf(out, "%-17s %11s %11s %11s\n", "", "ns/page", "ns/page", "ns/page");
	for (size_t wi = 0; wi < NWORKLOADS; wi++) {
		const struct result *r = &results[wi];
		if (!r->ran || workloads[wi].kind == KIND_SWAP)
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
		if (!r->ran || workloads[wi].kind == KIND_SWAP)
			continue;
		/* Every page was touched once: pages/fault is what the program saw. */
		fprintf(out, "%-17s %8" PRIu64 " %11.1f %9" PRIu64 " %8" PRIu64 " %9" PRIu64 " %8.1f %8.1fus %8.1fus\n",
			workloads[wi].name, s->faults, s->faults ? (double)npages / (double)s->faults : 0.0,
			s->pages_installed, s->file_hit, s->file_miss, (double)s->bytes_read / 1048576.0,
			(double)pager_stats_percentile(s, 50) / 1000.0,
			(double)pager_stats_percentile(s, 99) / 1000.0);
	}
	fprintf(out, "(latency percentiles are upper bounds of power-of-two buckets)\n");
	print_swap_table(out);
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

static void json_str_or_null(FILE *f, const char *s)
{
	if (s && *s)
		json_str(f, s);
	else
		fprintf(f, "null");
}

/* A swap workload's entry: ns per page touch, the kernel's and the pager's swap figures. */
static void write_json_swap(FILE *f, size_t wi)
{
	static const enum mech sides[] = { MECH_KERNEL, MECH_PAGER };
	const struct result *r = &results[wi];
	const struct pager_stats *s = &r->pst;

	fprintf(f, "    {\"name\": \"%s\", \"verified\": %s, \"unit\": \"ns_per_page_touch\", \"pages\": %zu, "
		   "\"passes\": %d, \"ws_bytes\": %zu, \"budget_bytes\": %zu",
		workloads[wi].name, r->verified ? "true" : "false", swap_npages, SWAP_PASSES, opt.swap_ws,
		opt.swap_budget);
	for (size_t k = 0; k < 2; k++) {
		enum mech m = sides[k];
		fprintf(f, ", \"%s_ns_per_touch\": ", mech_name[m]);
		json_num(f, r->median[m]);
		fprintf(f, ", \"%s_runs\": [", mech_name[m]);
		for (unsigned i = 0; i < r->runs; i++) {
			fprintf(f, "%s", i ? ", " : "");
			json_num(f, r->ns[m][i]);
		}
		fprintf(f, "], \"%s_skipped\": ", mech_name[m]);
		json_str_or_null(f, r->skip[m]);
	}
	fprintf(f, ", \"pager_over_kernel\": ");
	json_num(f, r->median[MECH_KERNEL] > 0 ? r->median[MECH_PAGER] / r->median[MECH_KERNEL] : 0);
	for (size_t k = 0; k < 2; k++) {
		enum mech m = sides[k];
		const struct swap_run *sr = &r->sw[m][r->sw_best[m]];

		fprintf(f, ", \"%s_median_run\": ", mech_name[m]);
		if (r->skip[m][0] || r->median[m] <= 0) {
			fprintf(f, "null");
			continue;
		}
		fprintf(f, "{\"pass_ns_per_page\": [");
		for (unsigned pass = 0; pass < SWAP_PASSES; pass++) {
			fprintf(f, "%s", pass ? ", " : "");
			json_num(f, per_page(sr->pass_ns[pass]));
		}
		fprintf(f, "], \"peak_rss_bytes\": %" PRIu64 ", \"cgroup_max_usage_bytes\": %" PRIu64, sr->hwm_bytes,
			sr->cg_max_usage);
		if (m == MECH_KERNEL)
			fprintf(f, ", \"cgroup_limit_bytes\": %" PRIu64 ", \"swappiness\": %u, \"pswpout\": %" PRIu64
				   ", \"pswpin\": %" PRIu64 ", \"swap_ra\": %" PRIu64 ", \"swap_ra_hit\": %" PRIu64 "}",
				r->cg_limit, r->cg_swappiness, sr->pswpout, sr->pswpin, sr->swap_ra, sr->swap_ra_hit);
		else
			fprintf(f, ", \"faults\": %" PRIu64 ", \"swap_faults\": %" PRIu64 ", \"swapcache_hits\": %" PRIu64
				   ", \"swap_in\": %" PRIu64 ", \"swap_readahead\": %" PRIu64 ", \"swap_out\": %" PRIu64
				   ", \"swap_errors\": %" PRIu64 ", \"budget_waits\": %" PRIu64
				   ", \"peak_resident_bytes\": %" PRIu64 ", \"budget_bytes\": %" PRIu64
				   ", \"p50_ns\": %" PRIu64 ", \"p99_ns\": %" PRIu64 "}",
				s->faults, s->swap_faults, s->swapcache_hits, s->swap_in, s->swap_readahead, s->swap_out,
				s->swap_errors, s->budget_waits, s->peak_resident_bytes, s->budget_bytes,
				pager_stats_percentile(s, 50), pager_stats_percentile(s, 99));
	}
	fprintf(f, "}");
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
	fprintf(f, "  \"swap\": {\"ws_bytes\": %zu, \"budget_bytes\": %zu, \"pages\": %zu, \"passes\": %d, "
		   "\"words_per_page\": %d, \"kernel_swap_file\": ",
		opt.swap_ws, opt.swap_budget, swap_npages, SWAP_PASSES, SWAP_WORDS);
	json_str(f, kswap_path[0] ? kswap_path : "(none)");
	fprintf(f, ", \"kernel_cgroup\": ");
	json_str(f, kcg_path[0] ? kcg_path : "(none)");
	fprintf(f, ", \"pager_swap_file\": ");
	json_str(f, pcfg.swap_path ? pcfg.swap_path : "temporary in --dir");
	fprintf(f, ", \"dir\": ");
	json_str(f, opt.dir);
	fprintf(f, "},\n");
	fprintf(f, "  \"workloads\": [");
	bool first = true;
	for (size_t wi = 0; wi < NWORKLOADS; wi++) {
		const struct result *r = &results[wi];
		const struct pager_stats *s = &r->pst;
		if (!r->ran)
			continue;
		if (workloads[wi].kind == KIND_SWAP) {
			fprintf(f, "%s\n", first ? "" : ",");
			first = false;
			write_json_swap(f, wi);
			continue;
		}
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
		"      --swap-ws SIZE   anonymous working set of the swap workloads (default 2G)\n"
		"      --swap-budget SIZE  resident memory they may use: the memory cgroup's limit\n"
		"                       on the kernel, the engine's budget on the pager (default 512M)\n"
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
		"The swap workloads run on the kernel and on the pager only (no floor), each run\n"
		"in a child process, and report ns per page touch: time / (pages x 3 passes).\n"
		"Kernel: a memory cgroup v1 (" CGROUP_MEMORY ") limited to --swap-budget and a\n"
		"swap file of --swap-ws + 1G in --dir (fallocate, mkswap, swapon), all removed\n"
		"afterwards; this needs root, else the kernel side says 'skipped' and why and\n"
		"the pager side still runs.  Pager: an engine with budget_bytes = --swap-budget\n"
		"and its swap file in --dir.  They are in the default set and slow: the working\n"
		"set goes through swap several times on each side (about 10 minutes a run at\n"
		"the defaults on a 2-CPU VM):\n"
		"  only them, quickly:  --only swap-seq,swap-rand --swap-ws 512M --swap-budget 128M\n"
		"  all but them:        --only seq-warm,rand-warm,seq-cold,rand-cold,\n"
		"                       anon-first-touch,shared-write-seq,shared-write-rand\n"
		"                       (one list, no spaces)\n"
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
	enum { OPT_SEED = 256, OPT_TIMEOUT, OPT_FLOOR_WINDOW, OPT_SWAP_WS, OPT_SWAP_BUDGET };
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
		{ "swap-ws", required_argument, NULL, OPT_SWAP_WS },
		{ "swap-budget", required_argument, NULL, OPT_SWAP_BUDGET },
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
		case OPT_SWAP_WS: opt.swap_ws = parse_size(optarg, true); break;
		case OPT_SWAP_BUDGET: opt.swap_budget = parse_size(optarg, true); break;
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
	if (opt.swap_ws / PAGE > UINT32_MAX)
		usage_error("--swap-ws too large for this benchmark's page permutation");
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
	bool any_file = false, any_swap, all_ok = true;

	npages = opt.size / PAGE;
	if (npages > UINT32_MAX)
		usage_error("size too large for this benchmark's page permutation");
	for (size_t i = 0; i < NWORKLOADS; i++)
		any_file |= opt.only[i] && (workloads[i].kind == KIND_FILE || workloads[i].kind == KIND_SHARED);
	any_swap = any_selected(KIND_SWAP);
	swap_npages = opt.swap_ws / PAGE;

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

	if (any_swap && opt.swap_budget >= opt.swap_ws)
		fprintf(stderr, "pager-bench: warning: --swap-budget is not smaller than --swap-ws: nothing needs to swap\n");
	/* Until the pager holds its budget it keeps the whole working set resident. */
	if (any_swap && machine.mem_avail && machine.mem_avail < opt.swap_ws + opt.swap_budget + (1UL << 30))
		fprintf(stderr, "pager-bench: warning: %.1f GiB available; the swap workloads may need %.1f GiB\n",
			(double)machine.mem_avail / (1 << 30),
			(double)(opt.swap_ws + opt.swap_budget + (1UL << 30)) / (1 << 30));
	if (any_selected(KIND_FILE) + any_selected(KIND_ANON) + any_selected(KIND_SHARED) &&
	    machine.mem_avail && machine.mem_avail < 4 * (uint64_t)opt.size)
		fprintf(stderr, "pager-bench: warning: %.1f GiB available; a %.1f GiB run needs about 4x that\n",
			(double)machine.mem_avail / (1 << 30), (double)opt.size / (1 << 30));
	if (any_file && strcmp(machine.fstype, "tmpfs") == 0)
		fprintf(stderr, "pager-bench: warning: %s is tmpfs: the cold workloads cannot drop its pages\n",
			opt.dir);

	expect = map_anon(opt.size);
	zero_window = map_anon(opt.floor_window);
	mincore_vec = malloc(npages);
	perm = malloc(npages * sizeof(*perm));
	swap_perm = any_swap ? malloc(swap_npages * sizeof(*swap_perm)) : NULL;
	if (!mincore_vec || !perm || (any_swap && !swap_perm))
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
	st = opt.seed ^ 0x5a5a5a5a5a5a5a5aULL;
	for (size_t i = 0; any_swap && i < swap_npages; i++)
		swap_perm[i] = (uint32_t)i;
	for (size_t i = swap_npages - 1; any_swap && i > 0; i--) {
		size_t j = (size_t)(splitmix64(&st) % (i + 1));
		uint32_t t = swap_perm[i];
		swap_perm[i] = swap_perm[j];
		swap_perm[j] = t;
	}
	if (any_file) {
		make_file();
	} else {
		snprintf(file_path, sizeof(file_path), "(none: no file workload)");
	}
	expected_sums(any_file);

	print_header(stdout);
	fflush(stdout);
	fputc('\n', stderr);

	for (size_t wi = 0; wi < NWORKLOADS; wi++) {
		if (!opt.only[wi] || workloads[wi].kind == KIND_SWAP)
			continue;
		run_workload(wi);
		all_ok &= results[wi].verified;
	}
	/*
	 * The swap workloads fork: the default engine goes first, so that the
	 * children start single-threaded with no engine of the parent's reborn
	 * in them (each pager child makes its own).
	 */
	if (any_swap) {
		pager_shutdown();
		engine = NULL;
	}
	for (size_t wi = 0; wi < NWORKLOADS; wi++) {
		if (!opt.only[wi] || workloads[wi].kind != KIND_SWAP)
			continue;
		run_workload(wi);
		all_ok &= results[wi].verified;
	}

	print_table(stdout);
	if (opt.verbose) {
		printf("\npager statistics, median run of each workload:\n");
		for (size_t wi = 0; wi < NWORKLOADS; wi++) {
			if (!results[wi].ran || results[wi].skip[MECH_PAGER][0])
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
	cleanup();
	pager_shutdown();
	return all_ok ? 0 : 1;
}
