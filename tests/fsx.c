/*
 * fsx.c - a random-operation test in the spirit of fsx: the same sequence of
 * mapped stores and loads, pwrite, pread, msync (each flag), munmap and
 * remap, ftruncate up and down, on two copies of one file: one mapped
 * MAP_SHARED by the kernel, one by the pager.  After every step both
 * mappings hold the same bytes; after every msync(MS_SYNC) of the whole
 * mapping both files do too; accesses to pages past EOF raise SIGBUS in both.
 * The seed is printed; a failure prints the step, the operation and the log
 * of the operations before it.
 */
#include <stdarg.h>
#include <sys/stat.h>

#include "helpers.h"

#define MAXLEN (1024 * 1024 + 3 * 4096)
#define STEPS 10000
#define LOG 24

struct twin {
	int fd;
	unsigned char *map;
	size_t maplen;
	off_t mapoff;
	bool pager;
};

static struct twin k, p; /* the kernel's, the pager's */
static size_t fsize;
static char oplog[LOG][96];
static unsigned nlog, step;
static struct rng r;
static unsigned char buf[MAXLEN], kbuf[MAXLEN], pbuf[MAXLEN];

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(oplog[nlog++ % LOG], sizeof(oplog[0]), fmt, ap);
	va_end(ap);
}

static void dump_log(void)
{
	unsigned first = nlog > LOG ? nlog - LOG : 0;

	fprintf(stderr, "fsx: last operations (seed %llu):\n", (unsigned long long)test_seed());
	for (unsigned i = first; i < nlog; i++)
		fprintf(stderr, "  %s\n", oplog[i % LOG]);
}

static void fsx_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fsx_fail(const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	dump_log();
	ck_abort_msg("step %u (seed %llu): %s", step, (unsigned long long)test_seed(), msg);
}

#define fsx_assert(cond, ...)              \
	do {                               \
		if (!(cond))               \
			fsx_fail(__VA_ARGS__); \
	} while (0)

static void *do_map(struct twin *t, size_t len, off_t off)
{
	int prot = PROT_READ | PROT_WRITE;

	return t->pager ? pager_mmap(NULL, len, prot, MAP_SHARED, t->fd, off)
			: mmap(NULL, len, prot, MAP_SHARED, t->fd, off);
}

static void map_both(size_t len, off_t off)
{
	k.map = do_map(&k, len, off);
	p.map = do_map(&p, len, off);
	fsx_assert(k.map != MAP_FAILED && p.map != MAP_FAILED, "mmap: %s", strerror(errno));
	k.maplen = p.maplen = len;
	k.mapoff = p.mapoff = off;
}

static void unmap_both(void)
{
	fsx_assert(munmap(k.map, k.maplen) == 0, "munmap kernel");
	fsx_assert(pager_munmap(p.map, p.maplen) == 0, "pager_munmap: %s", strerror(errno));
}

/* Bytes of the mapping that are inside the file (whole pages past EOF are not). */
static size_t mapped_in_file(void)
{
	if ((size_t)k.mapoff >= fsize)
		return 0;
	return fsize - (size_t)k.mapoff < k.maplen ? fsize - (size_t)k.mapoff : k.maplen;
}

static void check_maps(const char *what)
{
	size_t n = mapped_in_file();
	/* The tail of the last page reads zero on both sides, so compare whole pages. */
	size_t whole = (n + PG - 1) & ~(PG - 1);

	if (whole > k.maplen)
		whole = k.maplen;
	if (memcmp(k.map, p.map, whole)) {
		size_t d = first_diff(k.map, p.map, whole);

		fsx_assert(0, "%s: mappings differ at offset %zu: kernel %#x pager %#x", what, d,
			   k.map[d], p.map[d]);
	}
}

static void check_files(const char *what)
{
	struct stat ks, ps;

	fstat(k.fd, &ks);
	fstat(p.fd, &ps);
	fsx_assert(ks.st_size == ps.st_size, "%s: sizes differ: kernel %lld pager %lld", what,
		   (long long)ks.st_size, (long long)ps.st_size);
	pread_all(k.fd, kbuf, (size_t)ks.st_size, 0);
	pread_all(p.fd, pbuf, (size_t)ps.st_size, 0);
	if (memcmp(kbuf, pbuf, (size_t)ks.st_size)) {
		size_t d = first_diff(kbuf, pbuf, (size_t)ks.st_size);

		fsx_assert(0, "%s: files differ at offset %zu: kernel %#x pager %#x", what, d,
			   kbuf[d], pbuf[d]);
	}
}

static void op_store(void)
{
	size_t n = mapped_in_file(), off, len;

	if (!n)
		return;
	off = rng_below(&r, n);
	len = 1 + rng_below(&r, n - off < 3 * PG ? n - off : 3 * PG);
	rng_fill(&r, buf, len);
	note("store %zu bytes at map+%zu", len, off);
	memcpy(k.map + off, buf, len);
	memcpy(p.map + off, buf, len);
}

static void op_pwrite(void)
{
	size_t off = rng_below(&r, fsize + 2 * PG), len = 1 + rng_below(&r, 2 * PG);

	if (off + len > MAXLEN - PG)
		return;
	rng_fill(&r, buf, len);
	note("pwrite %zu bytes at %zu (size %zu)", len, off, fsize);
	pwrite_all(k.fd, buf, len, (off_t)off);
	pwrite_all(p.fd, buf, len, (off_t)off);
	pager_file_written(p.fd, (off_t)off, len);
	if (off + len > fsize)
		fsize = off + len;
}

static void op_pread(void)
{
	size_t off = rng_below(&r, fsize + PG), len = 1 + rng_below(&r, 3 * PG);
	ssize_t kn, pn;

	note("pread %zu bytes at %zu", len, off);
	kn = pread(k.fd, kbuf, len, (off_t)off);
	pn = pread(p.fd, pbuf, len, (off_t)off);
	/*
	 * The kernel's read sees mapped stores at once; ours after msync, or
	 * when told through pager_file_read (the shim does it).
	 */
	if (pn > 0)
		pager_file_read(p.fd, pbuf, (off_t)off, (size_t)pn);
	fsx_assert(kn == pn, "pread returned kernel %zd pager %zd", kn, pn);
	fsx_assert(kn <= 0 || !memcmp(kbuf, pbuf, (size_t)kn), "pread bytes differ at %zu",
		   first_diff(kbuf, pbuf, (size_t)kn));
}

static void op_msync(void)
{
	static const int flags[] = { MS_SYNC, MS_ASYNC, MS_SYNC | MS_INVALIDATE, MS_ASYNC | MS_INVALIDATE,
				     MS_INVALIDATE };
	int f = flags[rng_below(&r, 5)];
	size_t pages = k.maplen / PG, first = rng_below(&r, pages), n = 1 + rng_below(&r, pages - first);
	bool whole = rng_below(&r, 3) == 0;
	int kr, pr, ke, pe;

	if (whole) {
		first = 0;
		n = (k.maplen + PG - 1) / PG;
		f = MS_SYNC;
	}
	note("msync %#x pages %zu+%zu", f, first, n);
	errno = 0;
	kr = msync(k.map + first * PG, n * PG, f);
	ke = errno;
	errno = 0;
	pr = pager_msync(p.map + first * PG, n * PG, f);
	pe = errno;
	fsx_assert(kr == pr && (kr == 0 || ke == pe), "msync: kernel %d (%s) pager %d (%s)", kr,
		   strerror(ke), pr, strerror(pe));
	if (whole)
		check_files("after msync(MS_SYNC) of the whole mapping");
}

static void op_remap(void)
{
	size_t len = PG * (1 + rng_below(&r, MAXLEN / PG - 4));
	off_t off = rng_below(&r, 4) == 0 ? (off_t)(PG * rng_below(&r, 4)) : 0;

	note("munmap, map %zu bytes at file offset %lld", len, (long long)off);
	unmap_both();
	map_both(len, off);
}

static void op_truncate(void)
{
	size_t len = rng_below(&r, MAXLEN - 4 * PG);

	note("ftruncate %zu -> %zu", fsize, len);
	fsx_assert(ftruncate(k.fd, (off_t)len) == 0, "ftruncate kernel");
	fsx_assert(ftruncate(p.fd, (off_t)len) == 0, "ftruncate pager");
	pager_file_written(p.fd, 0, 0);
	fsize = len;
}

/* A page of the mapping wholly past EOF: both raise SIGBUS. */
static void op_past_eof(void)
{
	size_t in = (mapped_in_file() + PG - 1) & ~(PG - 1), off;
	struct sig_info ki, pi;

	if (in >= k.maplen)
		return;
	off = in + PG * rng_below(&r, (k.maplen - in) / PG) + rng_below(&r, PG);
	note("load past EOF at map+%zu", off);
	ki = probe(k.map + off, false, 0);
	pi = probe(p.map + off, false, 0);
	fsx_assert(ki.signo == pi.signo && ki.code == pi.code,
		   "past EOF at map+%zu: kernel signal %d code %d, pager signal %d code %d", off,
		   ki.signo, ki.code, pi.signo, pi.code);
	fsx_assert(pi.signo == 0 || sig_offset(&pi, p.map) == (ptrdiff_t)off,
		   "SIGBUS at the wrong address");
}

START_TEST(fsx)
{
	size_t len;

	r = rng_for("fsx");
	len = PG + rng_below(&r, MAXLEN / 2);
	fsize = len;
	rng_fill(&r, buf, len);
	k.fd = tmp_file(buf, len, O_RDWR);
	p.fd = tmp_file(buf, len, O_RDWR);
	k.pager = false;
	p.pager = true;
	map_both(MAXLEN - 4 * PG, 0);
	for (step = 0; step < STEPS; step++) {
		unsigned op = (unsigned)rng_below(&r, 100);

		if (op < 35)
			op_store();
		else if (op < 50)
			op_pwrite();
		else if (op < 62)
			op_pread();
		else if (op < 77)
			op_msync();
		else if (op < 84)
			op_remap();
		else if (op < 92)
			op_truncate();
		else
			op_past_eof();
		check_maps("after the step");
	}
	note("final msync");
	fsx_assert(msync(k.map, k.maplen, MS_SYNC) == 0, "msync kernel");
	fsx_assert(pager_msync(p.map, p.maplen, MS_SYNC) == 0, "pager_msync: %s", strerror(errno));
	check_files("at the end");
	unmap_both();
	check_files("after munmap");
	close(k.fd);
	close(p.fd);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("fsx");
	TCase *tc;

	require_userfaultfd();
	test_seed();
	tc = tcase(s, "fsx", 240);
	tcase_add_test(tc, fsx);
	return run_suite(s);
}
