/*
 * helpers.h - what every test program here shares: the userfaultfd probe
 * (exit 77 when there is none), the seed of random sequences, temporary
 * files, running code in a forked child, catching the signal of one access,
 * and the Check boilerplate.  Header-only: everything is static inline.
 */
#ifndef PAGER_TEST_HELPERS_H
#define PAGER_TEST_HELPERS_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pager.h"

#define PG 4096UL

/* ---- userfaultfd ---- */

/*
 * The pager needs a userfaultfd that also serves kernel-mode faults (read(2)
 * into a mapping).  Without one the program is skipped: exit 77.
 */
static inline void require_userfaultfd(void)
{
	struct uffdio_api api = { .api = UFFD_API };
	const char *how = "/dev/userfaultfd";
	int fd = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);

	if (fd >= 0) {
#ifdef USERFAULTFD_IOC_NEW
		int u = ioctl(fd, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
#else
		int u = -1;
#endif
		close(fd);
		fd = u;
	}
	if (fd < 0) {
		how = "userfaultfd(2)";
		fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	}
	if (fd < 0) {
		fprintf(stderr, "SKIP: no userfaultfd that serves kernel-mode faults (%s: %s)\n", how,
			strerror(errno));
		exit(77);
	}
	if (ioctl(fd, UFFDIO_API, &api)) {
		fprintf(stderr, "SKIP: UFFDIO_API failed: %s\n", strerror(errno));
		exit(77);
	}
	close(fd);
}

/* ---- random sequences ---- */

static uint64_t test_seed_value;

/* The seed of this run: PAGER_TEST_SEED, or the clock.  Printed once. */
static inline uint64_t test_seed(void)
{
	if (!test_seed_value) {
		const char *s = getenv("PAGER_TEST_SEED");

		test_seed_value = s && *s ? strtoull(s, NULL, 0)
					  : ((uint64_t)time(NULL) << 16) ^ (uint64_t)getpid();
		if (!test_seed_value)
			test_seed_value = 1;
		fprintf(stderr, "seed %llu (repeat with PAGER_TEST_SEED=%llu)\n",
			(unsigned long long)test_seed_value, (unsigned long long)test_seed_value);
	}
	return test_seed_value;
}

struct rng {
	uint64_t s;
};

/* A generator for one test: the run's seed mixed with a salt (the test's name). */
static inline struct rng rng_for(const char *salt)
{
	uint64_t h = test_seed() ^ 0x9e3779b97f4a7c15ULL;

	for (; *salt; salt++)
		h = (h ^ (unsigned char)*salt) * 0x100000001b3ULL;
	return (struct rng){ .s = h ? h : 1 };
}

static inline uint64_t rng_next(struct rng *r) /* xorshift64* */
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 0x2545f4914f6cdd1dULL;
}

/* Uniform in [0, n); n > 0. */
static inline uint64_t rng_below(struct rng *r, uint64_t n)
{
	return rng_next(r) % n;
}

static inline void rng_fill(struct rng *r, void *buf, size_t len)
{
	unsigned char *p = buf;

	for (size_t i = 0; i < len; i++)
		p[i] = (unsigned char)(rng_next(r) >> 56);
}

/* ---- temporary files ---- */

/*
 * A file holding len bytes of data (NULL: a sparse file of that size), open
 * with `flags` (O_RDONLY, O_RDWR, O_WRONLY).  The file is created in a
 * mkdtemp directory under $TMPDIR or /tmp, and the directory and the name are
 * removed at once: only the descriptor keeps it, nothing is left behind.
 * Returns the descriptor; aborts the test on failure.
 */
static inline int tmp_file(const void *data, size_t len, int flags)
{
	const char *base = getenv("TMPDIR");
	char dir[4096], path[4200];
	int wfd, fd;

	snprintf(dir, sizeof(dir), "%s/pager-test-XXXXXX", base && *base ? base : "/tmp");
	ck_assert_msg(mkdtemp(dir), "mkdtemp %s: %s", dir, strerror(errno));
	snprintf(path, sizeof(path), "%s/file", dir);
	wfd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	ck_assert_msg(wfd >= 0, "open %s: %s", path, strerror(errno));
	if (data) {
		for (size_t done = 0; done < len;) {
			ssize_t n = pwrite(wfd, (const char *)data + done, len - done, (off_t)done);

			ck_assert_msg(n > 0, "pwrite: %s", strerror(errno));
			done += (size_t)n;
		}
	} else {
		ck_assert_int_eq(ftruncate(wfd, (off_t)len), 0);
	}
	fd = open(path, flags | O_CLOEXEC);
	ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
	close(wfd);
	unlink(path);
	rmdir(dir);
	return fd;
}

/* Read the whole of [off, off + len) of fd into buf (zeros past EOF). */
static inline void pread_all(int fd, void *buf, size_t len, off_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, off + (off_t)done);

		ck_assert_msg(n >= 0, "pread: %s", strerror(errno));
		if (n == 0)
			break;
		done += (size_t)n;
	}
	memset((char *)buf + done, 0, len - done);
}

static inline void pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
	for (size_t done = 0; done < len;) {
		ssize_t n = pwrite(fd, (const char *)buf + done, len - done, off + (off_t)done);

		ck_assert_msg(n > 0, "pwrite: %s", strerror(errno));
		done += (size_t)n;
	}
}

/* ---- signals ---- */

/* What one access did: signo 0 means no signal (and `value` is the byte read). */
struct sig_info {
	int signo;
	int code;
	void *addr;
	unsigned char value;
};

static __thread sigjmp_buf probe_jmp;
static __thread volatile sig_atomic_t probe_armed;
static __thread struct sig_info probe_info;

static inline void probe_handler(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (!probe_armed) {
		/* Not ours: die of it, as without a handler. */
		signal(sig, SIG_DFL);
		return;
	}
	probe_armed = 0;
	probe_info.signo = sig;
	probe_info.code = si->si_code;
	probe_info.addr = si->si_addr;
	siglongjmp(probe_jmp, 1);
}

/*
 * Read (write == false) or write `value` to one byte, and report the
 * SIGSEGV or SIGBUS it raised, if any.  Mostly run in a forked child (see
 * sig_in_child, in_child), so that the access leaves this process as it was
 * (a page that got SIGBUS stays poisoned in a pager mapping).
 */
static inline struct sig_info probe(void *addr, bool write, unsigned char value)
{
	struct sigaction sa = { .sa_sigaction = probe_handler, .sa_flags = SA_SIGINFO | SA_NODEFER };
	struct sigaction old_segv, old_bus;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, &old_segv);
	sigaction(SIGBUS, &sa, &old_bus);
	memset(&probe_info, 0, sizeof(probe_info));
	if (sigsetjmp(probe_jmp, 1) == 0) {
		probe_armed = 1;
		if (write)
			*(volatile unsigned char *)addr = value;
		else
			probe_info.value = *(volatile unsigned char *)addr;
		probe_armed = 0;
	}
	sigaction(SIGSEGV, &old_segv, NULL);
	sigaction(SIGBUS, &old_bus, NULL);
	return probe_info;
}

/*
 * Before the first fork: make the default engine serve one fault, so that
 * its handler thread is up and idle.  Under ASan (GCC 12) a thread that has
 * just started holds the allocator's lock for a moment, and a child forked
 * then deadlocks in its first malloc; plain glibc does not care.
 */
static inline void before_fork(void)
{
	static bool warm;
	volatile char *p;

	if (warm)
		return;
	p = pager_mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_msg(p != MAP_FAILED, "pager_mmap: %s", strerror(errno));
	(void)p[0];
	pager_munmap((void *)p, PG);
	warm = true;
}

/*
 * Run fn(arg) in a forked child; returns its exit status, or 128 + the
 * signal that killed it.  fn returns 0 for success (report details on
 * stderr: Check's assertions belong to the test process, not to its
 * children).
 */
static inline int in_child(int (*fn)(void *), void *arg)
{
	int status;
	pid_t pid;

	before_fork();
	fflush(NULL);
	pid = fork();
	ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0)
		_exit(fn(arg));
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/*
 * One access in a forked child, so that this process keeps its memory as it
 * was.  signo is -1 if the child died some other way.
 */
static inline struct sig_info sig_in_child(void *addr, bool wr, unsigned char value)
{
	struct sig_info si = { .signo = -1 };
	int pfd[2], status;
	pid_t pid;

	ck_assert_int_eq(pipe(pfd), 0);
	before_fork();
	fflush(NULL);
	pid = fork();
	ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		struct sig_info r = probe(addr, wr, value);

		close(pfd[0]);
		_exit(write(pfd[1], &r, sizeof(r)) == sizeof(r) ? 0 : 1);
	}
	close(pfd[1]);
	if (read(pfd[0], &si, sizeof(si)) != sizeof(si))
		si.signo = -1;
	close(pfd[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return si;
}

/* Where a signal hit, as an offset from base; -1 for no signal. */
static inline ptrdiff_t sig_offset(const struct sig_info *si, const void *base)
{
	return si->signo ? (const char *)si->addr - (const char *)base : -1;
}

/*
 * The same access on a kernel mapping and on a pager mapping (same offset
 * from each base), each in a forked child: the same signal, si_code and
 * offset of si_addr, or no signal and the same byte.
 */
#define ck_assert_same_access(kbase, pbase, off, wr, what)                                      \
	do {                                                                                   \
		struct sig_info k_ = sig_in_child((char *)(kbase) + (off), (wr), 0x5a);         \
		struct sig_info p_ = sig_in_child((char *)(pbase) + (off), (wr), 0x5a);         \
		ck_assert_msg(k_.signo == p_.signo && k_.code == p_.code &&                     \
				      sig_offset(&k_, (kbase)) == sig_offset(&p_, (pbase)) &&   \
				      k_.value == p_.value,                                     \
			      "%s at offset %#zx (%s): kernel signal %d code %d at %+td value %u, " \
			      "pager signal %d code %d at %+td value %u (seed %llu)",         \
			      (what), (size_t)(off), (wr) ? "write" : "read", k_.signo, k_.code, \
			      sig_offset(&k_, (kbase)), k_.value, p_.signo, p_.code,            \
			      sig_offset(&p_, (pbase)), p_.value, (unsigned long long)test_seed()); \
	} while (0)

/* A page of kernel shared memory, for children to report into. */
static inline void *shared_alloc(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	ck_assert(p != MAP_FAILED);
	return p;
}

/* First offset where a and b differ, or len. */
static inline size_t first_diff(const void *a, const void *b, size_t len)
{
	const unsigned char *x = a, *y = b;
	size_t i = 0;

	while (i < len && x[i] == y[i])
		i++;
	return i;
}

#define ck_assert_same_bytes(a, b, len, what)                                                  \
	do {                                                                                   \
		size_t d_ = first_diff((a), (b), (len));                                       \
		ck_assert_msg(d_ == (size_t)(len),                                             \
			      "%s: differ at byte %#zx (page %zu): %#x vs %#x (seed %llu)", (what), \
			      d_, d_ / PG, ((const unsigned char *)(a))[d_ < (len) ? d_ : 0],  \
			      ((const unsigned char *)(b))[d_ < (len) ? d_ : 0],               \
			      (unsigned long long)test_seed());                                  \
	} while (0)

/* ---- Check ---- */

static inline TCase *tcase(Suite *s, const char *name, double timeout)
{
	TCase *tc = tcase_create(name);

	tcase_set_timeout(tc, timeout);
	suite_add_tcase(s, tc);
	return tc;
}

static inline int run_suite(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
