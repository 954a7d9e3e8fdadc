/*
 * diff_errors.c - bad arguments: pager_mmap, pager_munmap, pager_mprotect and
 * pager_madvise fail (or succeed) exactly like mmap, munmap, mprotect and
 * madvise, with the same errno: zero length, unaligned offset or address,
 * bad mapping type, bad, closed, write-only or directory descriptors, huge
 * lengths, MAP_FIXED_NOREPLACE over a mapping, bad advice.  And the one
 * documented refusal: a writable MAP_SHARED file mapping, where the kernel
 * cannot track writes, fails with ENOTSUP and maps nothing.
 */
#include "helpers.h"
#include "pager.h"

#define RW (PROT_READ | PROT_WRITE)
#define ANON (MAP_PRIVATE | MAP_ANONYMOUS)

enum fd_kind { NOFD, RDONLY, RDWR, WRONLY, CLOSED, DIRECTORY, PIPE, DEVZERO };
enum addr_kind { ANYWHERE, UNALIGNED, HINT_UNALIGNED, EXISTING };

static const struct mmap_case {
	const char *what;
	enum addr_kind addr;
	size_t len;
	int prot, flags;
	enum fd_kind fd;
	off_t off;
} cases[] = {
	{ "anon, length 0", ANYWHERE, 0, RW, ANON, NOFD, 0 },
	{ "file, length 0", ANYWHERE, 0, PROT_READ, MAP_PRIVATE, RDONLY, 0 },
	{ "file, unaligned offset", ANYWHERE, PG, PROT_READ, MAP_PRIVATE, RDONLY, 100 },
	{ "anon, unaligned offset", ANYWHERE, PG, RW, ANON, NOFD, 100 },
	{ "file, negative offset", ANYWHERE, PG, PROT_READ, MAP_PRIVATE, RDONLY, -4096 },
	{ "file, offset + length overflows", ANYWHERE, 4 * PG, PROT_READ, MAP_PRIVATE, RDONLY,
	  INT64_MAX & ~(off_t)4095 },
	{ "anon, MAP_FIXED unaligned", UNALIGNED, PG, RW, ANON | MAP_FIXED, NOFD, 0 },
	{ "file, MAP_FIXED unaligned", UNALIGNED, PG, PROT_READ, MAP_PRIVATE | MAP_FIXED, RDONLY, 0 },
	{ "anon, MAP_FIXED_NOREPLACE unaligned", UNALIGNED, PG, RW, ANON | MAP_FIXED_NOREPLACE, NOFD,
	  0 },
	{ "anon, unaligned hint", HINT_UNALIGNED, PG, RW, ANON, NOFD, 0 },
	{ "file, unaligned hint", HINT_UNALIGNED, PG, PROT_READ, MAP_PRIVATE, RDONLY, 0 },
	{ "anon, neither private nor shared", ANYWHERE, PG, RW, MAP_ANONYMOUS, NOFD, 0 },
	{ "file, neither private nor shared", ANYWHERE, PG, PROT_READ, 0, RDONLY, 0 },
	{ "anon, bad mapping type", ANYWHERE, PG, RW, MAP_TYPE | MAP_ANONYMOUS, NOFD, 0 },
	{ "anon, private and shared", ANYWHERE, PG, RW, MAP_PRIVATE | MAP_SHARED | MAP_ANONYMOUS,
	  NOFD, 0 },
	{ "file, private and shared", ANYWHERE, PG, PROT_READ, MAP_PRIVATE | MAP_SHARED, RDONLY, 0 },
	{ "fd -1 without MAP_ANONYMOUS", ANYWHERE, PG, PROT_READ, MAP_PRIVATE, NOFD, 0 },
	{ "closed fd", ANYWHERE, PG, PROT_READ, MAP_PRIVATE, CLOSED, 0 },
	{ "write-only fd, private", ANYWHERE, PG, PROT_READ, MAP_PRIVATE, WRONLY, 0 },
	{ "write-only fd, shared", ANYWHERE, PG, RW, MAP_SHARED, WRONLY, 0 },
	{ "read-only fd, shared writable", ANYWHERE, PG, RW, MAP_SHARED, RDONLY, 0 },
	{ "read-only fd, private writable", ANYWHERE, PG, RW, MAP_PRIVATE, RDONLY, 0 },
	{ "read-write fd, shared read-only", ANYWHERE, PG, PROT_READ, MAP_SHARED, RDWR, 0 },
	{ "directory", ANYWHERE, PG, PROT_READ, MAP_PRIVATE, DIRECTORY, 0 },
	{ "pipe", ANYWHERE, PG, PROT_READ, MAP_PRIVATE, PIPE, 0 },
	{ "/dev/zero", ANYWHERE, 4 * PG, RW, MAP_PRIVATE, DEVZERO, 0 },
	{ "anon, huge length", ANYWHERE, (size_t)1 << 62, RW, ANON, NOFD, 0 },
	{ "anon, length SIZE_MAX", ANYWHERE, SIZE_MAX, RW, ANON, NOFD, 0 },
	{ "file, huge length", ANYWHERE, (size_t)1 << 62, PROT_READ, MAP_PRIVATE, RDONLY, 0 },
	{ "file, length SIZE_MAX", ANYWHERE, SIZE_MAX, PROT_READ, MAP_PRIVATE, RDONLY, 0 },
	{ "file, 64 GiB of a small file", ANYWHERE, (size_t)64 << 30, PROT_READ, MAP_PRIVATE,
	  RDONLY, 0 },
	{ "file, 16 TiB of a small file", ANYWHERE, (size_t)16 << 40, PROT_READ, MAP_PRIVATE,
	  RDONLY, 0 },
	{ "anon, MAP_FIXED_NOREPLACE over a mapping", EXISTING, PG, RW, ANON | MAP_FIXED_NOREPLACE,
	  NOFD, 0 },
	{ "file, MAP_FIXED_NOREPLACE over a mapping", EXISTING, PG, PROT_READ,
	  MAP_PRIVATE | MAP_FIXED_NOREPLACE, RDONLY, 0 },
	{ "anon, MAP_DROPPABLE", ANYWHERE, PG, RW, 0x08 | MAP_ANONYMOUS, NOFD, 0 },
	{ "file, MAP_DROPPABLE", ANYWHERE, PG, PROT_READ, 0x08, RDONLY, 0 },
	{ "anon, shared", ANYWHERE, PG, RW, MAP_SHARED | MAP_ANONYMOUS, NOFD,
	  0 },
	{ "anon, MAP_SHARED_VALIDATE with an unknown flag", ANYWHERE, PG, RW,
	  MAP_SHARED_VALIDATE | MAP_ANONYMOUS | 0x800000, NOFD, 0 },
	{ "file, MAP_SHARED_VALIDATE with an unknown flag", ANYWHERE, PG, PROT_READ,
	  MAP_SHARED_VALIDATE | 0x800000, RDONLY, 0 },
};
#define NCASES (int)(sizeof(cases) / sizeof(cases[0]))

static int open_kind(enum fd_kind kind)
{
	static const char data[100] = "a small file";
	int fd, pfd[2];

	switch (kind) {
	case NOFD: return -1;
	case RDONLY: return tmp_file(data, sizeof(data), O_RDONLY);
	case RDWR: return tmp_file(data, sizeof(data), O_RDWR);
	case WRONLY: return tmp_file(data, sizeof(data), O_WRONLY);
	case CLOSED: /* a high number, that nothing opened meanwhile takes */
		pfd[0] = tmp_file(data, sizeof(data), O_RDONLY);
		fd = fcntl(pfd[0], F_DUPFD_CLOEXEC, 900);
		ck_assert_int_ge(fd, 900);
		close(pfd[0]);
		close(fd);
		return fd;
	case DIRECTORY: return open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	case PIPE:
		ck_assert_int_eq(pipe2(pfd, O_CLOEXEC), 0);
		close(pfd[1]);
		return pfd[0];
	case DEVZERO: return open("/dev/zero", O_RDWR | O_CLOEXEC);
	}
	return -1;
}

START_TEST(mmap_errors)
{
	const struct mmap_case *c = &cases[_i];
	int fd;

	ck_assert_ptr_nonnull(pager_default_engine()); /* its own descriptors are open first */
	fd = open_kind(c->fd);
	/* Room for addresses: 16 pages reserved (mapped PROT_NONE). */
	char *room = mmap(NULL, 16 * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	char *addr = c->addr == UNALIGNED || c->addr == HINT_UNALIGNED ? room + 4 * PG + 1
		     : c->addr == EXISTING			     ? room + 4 * PG
								     : NULL;
	void *k, *p;
	int ke, pe;

	ck_assert(room != MAP_FAILED);
	errno = 0;
	k = mmap(addr, c->len, c->prot, c->flags, fd, c->off);
	ke = errno;
	if (k != MAP_FAILED)
		munmap(k, c->len);
	errno = 0;
	p = pager_mmap(addr, c->len, c->prot, c->flags, fd, c->off);
	pe = errno;
	if (p != MAP_FAILED)
		ck_assert_int_eq(pager_munmap(p, c->len), 0);
	ck_assert_msg((k == MAP_FAILED) == (p == MAP_FAILED) && (k != MAP_FAILED || ke == pe),
		      "%s: kernel %s (%s), pager %s (%s)", c->what,
		      k == MAP_FAILED ? "failed" : "mapped", k == MAP_FAILED ? strerror(ke) : "-",
		      p == MAP_FAILED ? "failed" : "mapped", p == MAP_FAILED ? strerror(pe) : "-");
	munmap(room, 16 * PG);
	if (fd >= 0 && c->fd != CLOSED)
		close(fd);
}
END_TEST

/*
 * The kernel's mapping and the pager's, side by side, for the other three
 * calls.  Each is 16 pages of which the last 8 are unmapped again: a hole
 * right after the mapping.  The file mappings are made first, so that
 * nothing of ours lands in the holes.
 */
static char *k, *p, *kf, *pf;
static int fd;

static bool is_hole(const char *addr, size_t len)
{
	return msync((void *)addr, len, MS_ASYNC) == -1 && errno == ENOMEM;
}

static void setup_maps(void)
{
	static const char data[3 * 4096];

	fd = tmp_file(data, sizeof(data), O_RDONLY);
	kf = mmap(NULL, 4 * PG, PROT_READ, MAP_PRIVATE, fd, 0);
	pf = pager_mmap(NULL, 4 * PG, PROT_READ, MAP_PRIVATE, fd, 0);
	ck_assert(kf != MAP_FAILED && pf != MAP_FAILED);
	k = mmap(NULL, 16 * PG, RW, ANON, -1, 0);
	p = pager_mmap(NULL, 16 * PG, RW, ANON, -1, 0);
	ck_assert(k != MAP_FAILED && p != MAP_FAILED);
	ck_assert_int_eq(munmap(k + 8 * PG, 8 * PG), 0);
	ck_assert_int_eq(pager_munmap(p + 8 * PG, 8 * PG), 0);
}

static void teardown_maps(void)
{
	munmap(k, 8 * PG);
	pager_munmap(p, 8 * PG);
	munmap(kf, 4 * PG);
	pager_munmap(pf, 4 * PG);
	close(fd);
}

enum call { MUNMAP, MPROTECT, MADVISE };

static const struct call_case {
	const char *what;
	enum call call;
	bool file; /* on the file mappings (else the anonymous ones) */
	size_t off, len;
	int arg; /* prot or advice */
} calls[] = {
	{ "munmap unaligned", MUNMAP, false, 1, PG, 0 },
	{ "munmap length 0", MUNMAP, false, 0, 0, 0 },
	{ "munmap the hole after the mapping", MUNMAP, false, 8 * PG, 4 * PG, 0 },
	{ "munmap huge length", MUNMAP, false, 0, (size_t)1 << 62, 0 },
	{ "munmap file unaligned", MUNMAP, true, 100, PG, 0 },
	{ "mprotect unaligned", MPROTECT, false, 1, PG, PROT_READ },
	{ "mprotect bad prot", MPROTECT, false, 0, PG, 0x1000 },
	{ "mprotect into the hole", MPROTECT, false, 6 * PG, 4 * PG, PROT_READ },
	{ "mprotect the hole", MPROTECT, false, 8 * PG, PG, PROT_READ },
	{ "mprotect length 0", MPROTECT, false, 0, 0, PROT_READ },
	{ "mprotect file unaligned", MPROTECT, true, 1, PG, PROT_READ },
	{ "mprotect file writable (private)", MPROTECT, true, 0, 4 * PG, RW },
	{ "madvise bad advice", MADVISE, false, 0, PG, 12345 },
	{ "madvise bad advice on a file", MADVISE, true, 0, PG, 12345 },
	{ "madvise unaligned", MADVISE, false, 1, PG, MADV_DONTNEED },
	{ "madvise into the hole", MADVISE, false, 6 * PG, 4 * PG, MADV_DONTNEED },
	{ "madvise length 0", MADVISE, false, 0, 0, MADV_DONTNEED },
	{ "madvise WILLNEED past the mapping", MADVISE, true, 2 * PG, 8 * PG, MADV_WILLNEED },
	{ "madvise negative advice", MADVISE, false, 0, PG, -1 },
};
#define NCALLS (int)(sizeof(calls) / sizeof(calls[0]))

static int do_call(const struct call_case *c, char *base, bool pager)
{
	switch (c->call) {
	case MUNMAP: return pager ? pager_munmap(base + c->off, c->len) : munmap(base + c->off, c->len);
	case MPROTECT:
		return pager ? pager_mprotect(base + c->off, c->len, c->arg)
			     : mprotect(base + c->off, c->len, c->arg);
	case MADVISE:
		return pager ? pager_madvise(base + c->off, c->len, c->arg)
			     : madvise(base + c->off, c->len, c->arg);
	}
	return -2;
}

START_TEST(call_errors)
{
	const struct call_case *c = &calls[_i];
	int kr, ke, pr, pe;

	ck_assert_msg(is_hole(k + 8 * PG, 8 * PG), "something was mapped in the kernel-side hole");
	ck_assert_msg(is_hole(p + 8 * PG, 8 * PG), "something was mapped in the pager-side hole");
	errno = 0;
	kr = do_call(c, c->file ? kf : k, false);
	ke = errno;
	errno = 0;
	pr = do_call(c, c->file ? pf : p, true);
	pe = errno;
	ck_assert_msg(kr == pr && (kr == 0 || ke == pe), "%s: kernel %d (%s), pager %d (%s)", c->what,
		      kr, kr ? strerror(ke) : "-", pr, pr ? strerror(pe) : "-");
}
END_TEST

/* ---- the documented refusal: writable MAP_SHARED file mappings ---- */

/* The /proc/self/maps line of the mapping that holds addr ("" if none). */
static void maps_line(const void *addr, char *out, size_t outlen)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512];

	out[0] = 0;
	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;

		if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && (uintptr_t)addr >= lo &&
		    (uintptr_t)addr < hi) {
			snprintf(out, outlen, "%s", line);
			break;
		}
	}
	fclose(f);
}

/*
 * pager.h: writable MAP_SHARED file mappings are served where the kernel can
 * track writes, else refused with ENOTSUP.  Refused: nothing is mapped, what
 * was at a MAP_FIXED address stays.  Served: a store reaches the file on
 * pager_msync.  Either way, read-only MAP_SHARED is served, and mprotect
 * adding PROT_WRITE to it is refused (ENOTSUP, still read-only) or works.
 */
START_TEST(shared_writable)
{
	static const char data[2 * 4096] = "shared";
	int rw = tmp_file(data, sizeof(data), O_RDWR);
	char *room = mmap(NULL, 4 * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char before[512], after[512], buf[8];
	char *q;

	ck_assert(room != MAP_FAILED);
	maps_line(room + PG, before, sizeof(before));
	errno = 0;
	q = pager_mmap(room + PG, 2 * PG, RW, MAP_SHARED | MAP_FIXED, rw, 0);
	if (q == MAP_FAILED) {
		ck_assert_int_eq(errno, ENOTSUP);
		maps_line(room + PG, after, sizeof(after));
		ck_assert_str_eq(before, after);
		ck_assert(!pager_engine_owns(pager_default_engine(), room + PG));
		ck_assert_int_eq(sig_in_child(room + PG, false, 0).signo, SIGSEGV); /* PROT_NONE */
		errno = 0;
		ck_assert(pager_mmap(NULL, 2 * PG, RW, MAP_SHARED, rw, 0) == MAP_FAILED);
		ck_assert_int_eq(errno, ENOTSUP);
	} else {
		ck_assert_ptr_eq(q, room + PG);
		ck_assert(pager_engine_owns(pager_default_engine(), q));
		ck_assert_str_eq(q, "shared");
		memcpy(q + 1, "HARED", 5);
		ck_assert_int_eq(pager_msync(q, 2 * PG, MS_SYNC), 0);
		pread_all(rw, buf, 7, 0);
		ck_assert_str_eq(buf, "sHARED");
		ck_assert_int_eq(pager_munmap(q, 2 * PG), 0);
	}

	/* Read-only shared is served; making it writable is refused, or works. */
	q = pager_mmap(NULL, 2 * PG, PROT_READ, MAP_SHARED, rw, 0);
	ck_assert_msg(q != MAP_FAILED, "read-only MAP_SHARED: %s", strerror(errno));
	ck_assert(pager_engine_owns(pager_default_engine(), q));
	pread_all(rw, buf, 7, 0);
	ck_assert_str_eq(q, buf);
	errno = 0;
	if (pager_mprotect(q, 2 * PG, RW)) {
		struct sig_info s = sig_in_child(q, true, 'x');

		ck_assert_int_eq(errno, ENOTSUP);
		ck_assert_int_eq(s.signo, SIGSEGV);
		ck_assert_int_eq(s.code, SEGV_ACCERR);
	} else {
		q[0] = 'X';
		ck_assert_int_eq(pager_msync(q, PG, MS_SYNC), 0);
		pread_all(rw, buf, 1, 0);
		ck_assert_int_eq(buf[0], 'X');
	}
	ck_assert_int_eq(pager_munmap(q, 2 * PG), 0);
	munmap(room, 4 * PG);
	close(rw);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("diff_errors");
	TCase *tc;

	require_userfaultfd();
	tc = tcase(s, "mmap", 20);
	tcase_add_loop_test(tc, mmap_errors, 0, NCASES);
	tc = tcase(s, "munmap mprotect madvise", 20);
	tcase_add_checked_fixture(tc, setup_maps, teardown_maps);
	tcase_add_loop_test(tc, call_errors, 0, NCALLS);
	tc = tcase(s, "shared writable", 20);
	tcase_add_test(tc, shared_writable);
	return run_suite(s);
}
