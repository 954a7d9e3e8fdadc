/*
 * diff_file.c - MAP_PRIVATE file mappings through the pager, compared with a
 * kernel mapping of the same file: files of many sizes (empty too) mapped at
 * page-aligned offsets, past EOF as well; every byte within EOF, the zero
 * tail of the last page, SIGBUS/BUS_ADRERR at the exact address past EOF;
 * sparse files; several mappings of one file; private writes that never reach
 * the file; MADV_DONTNEED back to the file's bytes; MADV_SEQUENTIAL, RANDOM
 * and WILLNEED; a file that grows or shrinks after it was mapped (the test
 * tells the pager with pager_file_written, as pager.h asks of a program that
 * writes files it maps).
 */
#include "helpers.h"
#include "pager.h"

#define RW (PROT_READ | PROT_WRITE)

static size_t round_pg(size_t n)
{
	return (n + PG - 1) / PG * PG;
}

static unsigned char *kfile(int fd, size_t len, off_t off, int prot, int flags)
{
	void *p = mmap(NULL, len, prot, flags, fd, off);

	ck_assert_msg(p != MAP_FAILED, "mmap(len %zu, off %jd): %s", len, (intmax_t)off,
		      strerror(errno));
	return p;
}

static unsigned char *pfile(int fd, size_t len, off_t off, int prot, int flags)
{
	void *p = pager_mmap(NULL, len, prot, flags, fd, off);

	ck_assert_msg(p != MAP_FAILED, "pager_mmap(len %zu, off %jd): %s", len, (intmax_t)off,
		      strerror(errno));
	return p;
}

/* A file of `size` random bytes. */
static int random_file(struct rng *r, size_t size, int flags, unsigned char **data)
{
	unsigned char *d = malloc(size ? size : 1);
	int fd;

	ck_assert_ptr_nonnull(d);
	rng_fill(r, d, size);
	fd = tmp_file(d, size, flags);
	if (data)
		*data = d;
	else
		free(d);
	return fd;
}

/* An access past EOF: SIGBUS with BUS_ADRERR at exactly that address, like the kernel's. */
static void assert_sigbus(unsigned char *k, unsigned char *p, size_t off, const char *what)
{
	struct sig_info s = sig_in_child(p + off, false, 0);

	ck_assert_msg(s.signo == SIGBUS && s.code == BUS_ADRERR && s.addr == p + off,
		      "%s: read at +%#zx gave signal %d code %d at %+td, expected SIGBUS BUS_ADRERR "
		      "at +%#zx (seed %llu)",
		      what, off, s.signo, s.code, sig_offset(&s, p), off,
		      (unsigned long long)test_seed());
	ck_assert_same_access(k, p, off, false, what);
}

/* ---- sizes and offsets ---- */

static const size_t sizes[] = {
	0, 1, 100, 4095, 4096, 4097, 8191, 8192, 3 * 4096 + 17, (1 << 20) + 123, 2 << 20,
	SIZE_MAX, SIZE_MAX, SIZE_MAX, /* random, up to 3 MiB */
};
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

/* Case i: size sizes[i / 3]; mapped at offset 0, inside the file, or past its EOF. */
START_TEST(sizes_and_offsets)
{
	char salt[64];
	struct rng r;
	size_t size, in_eof, len, npg;
	unsigned char *k, *p, *e;
	off_t off;
	int fd;

	snprintf(salt, sizeof(salt), "sizes_and_offsets %d", _i);
	r = rng_for(salt);
	size = sizes[_i / 3] == SIZE_MAX ? 1 + rng_below(&r, 3 << 20) : sizes[_i / 3];
	switch (_i % 3) {
	case 0: off = 0; break;
	case 1: off = (off_t)(rng_below(&r, size / PG + 1) * PG); break;
	default: off = (off_t)(round_pg(size) + rng_below(&r, 3) * PG); break;
	}
	in_eof = size > (size_t)off ? size - (size_t)off : 0;
	len = round_pg(in_eof) + (rng_below(&r, 3) + (_i % 3 == 2)) * PG;
	if (!len)
		len = PG;
	npg = round_pg(in_eof) / PG; /* pages that hold file bytes */

	fd = random_file(&r, size, O_RDONLY, NULL);
	e = calloc(npg + 1, PG); /* what the pages within EOF must hold */
	pread_all(fd, e, npg * PG, off);
	k = kfile(fd, len, off, PROT_READ, MAP_PRIVATE);
	p = pfile(fd, len, off, PROT_READ, MAP_PRIVATE);

	/* First touches in random order, then everything. */
	for (size_t n = 0, start = rng_below(&r, npg + 1); n < npg; n++) {
		size_t j = (n * 7919 + start) % npg, o = j * PG + rng_below(&r, PG);

		ck_assert_msg(p[o] == e[o], "size %zu off %jd: byte +%#zx is %#x, file has %#x (seed %llu)",
			      size, (intmax_t)off, o, p[o], e[o], (unsigned long long)test_seed());
	}
	ck_assert_same_bytes(k, e, npg * PG, "kernel mapping vs file");
	ck_assert_same_bytes(p, e, npg * PG, "pager mapping vs file (and zero tail)");
	if (len > npg * PG) {
		assert_sigbus(k, p, npg * PG + rng_below(&r, PG), "first page past EOF");
		assert_sigbus(k, p, len - 1 - rng_below(&r, PG), "last page of the mapping");
	}
	ck_assert_int_eq(pager_munmap(p, len), 0);
	munmap(k, len);
	free(e);
	close(fd);
}
END_TEST

START_TEST(empty_file)
{
	int fd = tmp_file(NULL, 0, O_RDONLY);
	unsigned char *k = kfile(fd, 3 * PG, 0, PROT_READ, MAP_PRIVATE);
	unsigned char *p = pfile(fd, 3 * PG, 0, PROT_READ, MAP_PRIVATE);

	assert_sigbus(k, p, 0, "empty file, first byte");
	assert_sigbus(k, p, 2 * PG + 77, "empty file, last page");
	ck_assert_int_eq(pager_munmap(p, 3 * PG), 0);
	munmap(k, 3 * PG);
	close(fd);
}
END_TEST

START_TEST(sparse_file)
{
	const size_t size = 32 << 20;
	struct rng r = rng_for("sparse_file");
	static unsigned char island[20000];
	unsigned char *k, *p;
	int fd = tmp_file(NULL, size, O_RDWR);

	for (int n = 0; n < 12; n++) {
		size_t len = 1 + rng_below(&r, sizeof(island));
		off_t at = (off_t)rng_below(&r, size - len);

		rng_fill(&r, island, len);
		pwrite_all(fd, island, len, at);
	}
	k = kfile(fd, size, 0, PROT_READ, MAP_PRIVATE);
	p = pfile(fd, size, 0, PROT_READ, MAP_PRIVATE);
	for (int n = 0; n < 2000; n++) {
		size_t o = rng_below(&r, size);

		ck_assert_msg(k[o] == p[o], "sparse: byte %#zx: kernel %#x pager %#x (seed %llu)", o,
			      k[o], p[o], (unsigned long long)test_seed());
	}
	ck_assert_same_bytes(k, p, size, "sparse file");
	ck_assert_int_eq(pager_munmap(p, size), 0);
	munmap(k, size);
	close(fd);
}
END_TEST

/* Several pager mappings of one file, at different offsets, read in interleaved order. */
START_TEST(several_mappings)
{
	const size_t size = (3 << 19) + 555; /* 1.5 MiB and a bit */
	struct rng r = rng_for("several_mappings");
	unsigned char *data;
	int fd = random_file(&r, size, O_RDONLY, &data);
	struct {
		off_t off;
		size_t len;
		int flags;
		unsigned char *p;
	} m[] = {
		{ 0, size, MAP_PRIVATE, NULL },
		{ 64 << 10, 256 << 10, MAP_PRIVATE, NULL },
		{ 512 << 10, round_pg(size - (512 << 10)), MAP_PRIVATE, NULL },
		{ 0, size, MAP_SHARED, NULL }, /* read-only shared: served by the pager too */
		{ 4096, 4096, MAP_PRIVATE, NULL },
	};
	const int nm = sizeof(m) / sizeof(m[0]);

	for (int i = 0; i < nm; i++)
		m[i].p = pfile(fd, m[i].len, m[i].off, PROT_READ, m[i].flags);
	for (int n = 0; n < 20000; n++) {
		int i = (int)rng_below(&r, (uint64_t)nm);
		size_t o = rng_below(&r, m[i].len), at = (size_t)m[i].off + o;
		unsigned char want = at < size ? data[at] : 0;

		ck_assert_msg(m[i].p[o] == want,
			      "mapping %d (offset %jd): byte +%#zx is %#x, file has %#x (seed %llu)", i,
			      (intmax_t)m[i].off, o, m[i].p[o], want, (unsigned long long)test_seed());
	}
	for (int i = 0; i < nm; i++) {
		size_t in = size - (size_t)m[i].off < m[i].len ? size - (size_t)m[i].off : m[i].len;

		ck_assert_same_bytes(m[i].p, data + m[i].off, in, "one of several mappings");
		ck_assert_int_eq(pager_munmap(m[i].p, m[i].len), 0);
	}
	free(data);
	close(fd);
}
END_TEST

/* ---- private writes ---- */

START_TEST(private_writes_stay_private)
{
	const size_t size = 16 * PG + 100, len = 17 * PG;
	struct rng r = rng_for("private_writes_stay_private");
	unsigned char *data, *k, *p, *q, *after = malloc(len);
	int fd = random_file(&r, size, O_RDONLY, &data);

	k = kfile(fd, len, 0, RW, MAP_PRIVATE);
	p = pfile(fd, len, 0, RW, MAP_PRIVATE);
	q = pfile(fd, len, 0, PROT_READ, MAP_PRIVATE); /* another mapping of the file */

	ck_assert_int_eq(p[10], data[10]); /* page 0: read, then written */
	k[10] = p[10] = 0xee;
	k[3 * PG + 5] = p[3 * PG + 5] = 0xee; /* page 3: written before any read */
	memset(k + 7 * PG, 0xab, 2 * PG); /* pages 7-8: whole pages */
	memset(p + 7 * PG, 0xab, 2 * PG);
	k[16 * PG + 50] = p[16 * PG + 50] = 1; /* the last page, within EOF */
	k[16 * PG + 3000] = p[16 * PG + 3000] = 2; /* and in its tail past EOF */

	ck_assert_same_bytes(k, p, len, "private writes");
	ck_assert_same_bytes(q, data, size, "the other pager mapping");
	ck_assert_int_eq(q[16 * PG + 3000], 0);
	pread_all(fd, after, len, 0);
	ck_assert_same_bytes(after, data, size, "the file after private writes");
	ck_assert_int_eq(after[16 * PG + 3000], 0);

	/* MADV_DONTNEED drops the private copies: the file's bytes come back. */
	ck_assert_int_eq(madvise(k, len, MADV_DONTNEED), 0);
	ck_assert_int_eq(pager_madvise(p, len, MADV_DONTNEED), 0);
	ck_assert_same_bytes(k, p, len, "after MADV_DONTNEED");
	ck_assert_same_bytes(p, data, size, "after MADV_DONTNEED, vs the file");
	ck_assert_int_eq(p[16 * PG + 3000], 0);

	/* Only one page dropped: the others keep their private bytes. */
	k[PG] = p[PG] = 0x12;
	k[2 * PG] = p[2 * PG] = 0x34;
	ck_assert_int_eq(madvise(k + PG, PG, MADV_DONTNEED), 0);
	ck_assert_int_eq(pager_madvise(p + PG, PG, MADV_DONTNEED), 0);
	ck_assert_same_bytes(k, p, len, "after dropping one page");
	ck_assert_int_eq(p[2 * PG], 0x34);

	ck_assert_int_eq(pager_munmap(p, len), 0);
	ck_assert_int_eq(pager_munmap(q, len), 0);
	munmap(k, len);
	free(after);
	free(data);
	close(fd);
}
END_TEST

/* ---- advice ---- */

static const int advice[] = { MADV_NORMAL, MADV_SEQUENTIAL, MADV_RANDOM, MADV_WILLNEED };

START_TEST(advice_then_read)
{
	const size_t size = (3 << 20) + 1234, len = round_pg(size) + 2 * PG;
	char salt[32];
	struct rng r;
	unsigned char *k, *p;
	int fd, kr, pr;

	snprintf(salt, sizeof(salt), "advice %d", advice[_i]);
	r = rng_for(salt);
	fd = random_file(&r, size, O_RDONLY, NULL);
	k = kfile(fd, len, 0, PROT_READ, MAP_PRIVATE);
	p = pfile(fd, len, 0, PROT_READ, MAP_PRIVATE);
	kr = madvise(k, len, advice[_i]);
	pr = pager_madvise(p, len, advice[_i]);
	ck_assert_int_eq(kr, pr);

	/* A quarter of the pages in random order, then a sequential pass. */
	for (size_t n = 0; n < size / PG / 4; n++) {
		size_t o = rng_below(&r, size);

		ck_assert_msg(k[o] == p[o], "advice %d: byte %#zx: kernel %#x pager %#x (seed %llu)",
			      advice[_i], o, k[o], p[o], (unsigned long long)test_seed());
	}
	ck_assert_same_bytes(k, p, round_pg(size), "after madvise");
	assert_sigbus(k, p, round_pg(size) + 1, "past EOF after madvise");

	/* Advice on part of the mapping, then read that part again from scratch. */
	ck_assert_int_eq(pager_madvise(p, len, MADV_DONTNEED), 0);
	ck_assert_int_eq(pager_madvise(p + (1 << 20), 1 << 20, advice[_i]), 0);
	ck_assert_same_bytes(k + (1 << 20), p + (1 << 20), 1 << 20, "after partial madvise");
	ck_assert_int_eq(pager_munmap(p, len), 0);
	munmap(k, len);
	close(fd);
}
END_TEST

/* ---- files that change size ---- */

/*
 * Grown after mapping: pages that were past EOF (never touched) become
 * readable, and so does the new data in the old last page, which the program
 * never touched either (the pager may have read it ahead).
 */
START_TEST(grow_untouched)
{
	struct rng r = rng_for("grow_untouched");
	static unsigned char more[4 * 4096];
	unsigned char *k, *p;
	int fd = random_file(&r, 2 * PG + 100, O_RDWR, NULL);

	k = kfile(fd, 8 * PG, 0, PROT_READ, MAP_PRIVATE);
	p = pfile(fd, 8 * PG, 0, PROT_READ, MAP_PRIVATE);
	ck_assert_same_bytes(k, p, 2 * PG, "before growing"); /* pages 0 and 1 only */
	assert_sigbus(k, p, 3 * PG + 5, "past EOF before growing");

	rng_fill(&r, more, sizeof(more));
	pwrite_all(fd, more, sizeof(more), 2 * PG + 50); /* now 6 pages and 50 bytes */
	pager_file_written(fd, 2 * PG + 50, sizeof(more)); /* as pager.h asks of writers */
	ck_assert_same_access(k, p, 3 * PG + 5, false, "page 3 after growing");
	ck_assert_same_bytes(k + 2 * PG, p + 2 * PG, 5 * PG, "old last page and grown pages");
	ck_assert_same_bytes(p + 2 * PG + 50, more, sizeof(more), "grown pages vs data");
	ck_assert_same_bytes(k, p, 2 * PG, "old pages after growing");
	assert_sigbus(k, p, 7 * PG + 5, "past the new EOF");
	ck_assert_int_eq(pager_munmap(p, 8 * PG), 0);
	munmap(k, 8 * PG);
	close(fd);
}
END_TEST

struct grow_report {
	struct sig_info before[2], after[2]; /* [0] kernel, [1] pager */
};

static struct {
	unsigned char *map[2];
	int fd;
	struct grow_report *out;
} grow;

/* In one process: take the SIGBUS past EOF, grow the file, touch the same byte again. */
static int grow_child(void *arg)
{
	static unsigned char more[2 * 4096];

	(void)arg;
	for (int m = 0; m < 2; m++)
		grow.out->before[m] = probe(grow.map[m] + 3 * PG + 5, false, 0);
	memset(more, 0x42, sizeof(more));
	if (pwrite(grow.fd, more, sizeof(more), 3 * PG) != (ssize_t)sizeof(more))
		return 1;
	pager_file_written(grow.fd, 3 * PG, sizeof(more));
	for (int m = 0; m < 2; m++)
		grow.out->after[m] = probe(grow.map[m] + 3 * PG + 5, false, 0);
	return 0;
}

START_TEST(grow_after_sigbus)
{
	struct rng r = rng_for("grow_after_sigbus");
	struct grow_report *g = shared_alloc(sizeof(*g));

	grow.fd = random_file(&r, 2 * PG + 100, O_RDWR, NULL);
	grow.map[0] = kfile(grow.fd, 8 * PG, 0, PROT_READ, MAP_PRIVATE);
	grow.map[1] = pfile(grow.fd, 8 * PG, 0, PROT_READ, MAP_PRIVATE);
	grow.out = g;
	ck_assert_int_eq(in_child(grow_child, NULL), 0);
	ck_assert_int_eq(g->before[0].signo, SIGBUS);
	ck_assert_int_eq(g->before[1].signo, SIGBUS);
	ck_assert_int_eq(g->before[1].code, BUS_ADRERR);
	ck_assert_msg(g->after[0].signo == 0 && g->after[0].value == 0x42,
		      "kernel: signal %d value %#x after growing", g->after[0].signo,
		      g->after[0].value);
	ck_assert_msg(g->after[1].signo == g->after[0].signo && g->after[1].value == 0x42,
		      "a page that raised SIGBUS past EOF, touched again after the file grew: "
		      "kernel reads %#x, pager gives signal %d code %d (value %#x)",
		      g->after[0].value, g->after[1].signo, g->after[1].code, g->after[1].value);
	ck_assert_int_eq(pager_munmap(grow.map[1], 8 * PG), 0);
	munmap(grow.map[0], 8 * PG);
	munmap(g, sizeof(*g));
	close(grow.fd);
}
END_TEST

/* Shrunk after mapping, nothing touched before: SIGBUS past the new EOF, zero tail before it. */
START_TEST(shrink_untouched)
{
	struct rng r = rng_for("shrink_untouched");
	unsigned char *k, *p;
	int fd = random_file(&r, 5 * PG, O_RDWR, NULL);

	k = kfile(fd, 6 * PG, 0, PROT_READ, MAP_PRIVATE);
	p = pfile(fd, 6 * PG, 0, PROT_READ, MAP_PRIVATE);
	ck_assert_int_eq(ftruncate(fd, 2 * PG + 100), 0);
	pager_file_written(fd, 0, 0); /* its size changed */
	assert_sigbus(k, p, 3 * PG + 1, "page 3 after shrinking");
	assert_sigbus(k, p, 4 * PG + 1, "page 4 after shrinking");
	ck_assert_same_bytes(k, p, 3 * PG, "pages 0-2 after shrinking");
	for (size_t i = 2 * PG + 100; i < 3 * PG; i++)
		ck_assert_int_eq(p[i], 0);
	ck_assert_int_eq(pager_munmap(p, 6 * PG), 0);
	munmap(k, 6 * PG);
	close(fd);
}
END_TEST

/*
 * Shrunk after the program read page 0 (nothing else): the kernel raises
 * SIGBUS on the pages past the new EOF; the program never touched them, so
 * neither may the pager give them (even if it mapped them ahead).
 */
START_TEST(shrink_after_first_page_read)
{
	struct rng r = rng_for("shrink_after_first_page_read");
	unsigned char *k, *p, *data;
	int fd = random_file(&r, 5 * PG, O_RDWR, &data);

	k = kfile(fd, 6 * PG, 0, PROT_READ, MAP_PRIVATE);
	p = pfile(fd, 6 * PG, 0, PROT_READ, MAP_PRIVATE);
	ck_assert_int_eq(k[1], data[1]);
	ck_assert_int_eq(p[1], data[1]);
	ck_assert_int_eq(ftruncate(fd, 2 * PG + 100), 0);
	pager_file_written(fd, 0, 0); /* its size changed */
	assert_sigbus(k, p, 3 * PG + 1, "page 3, after reading page 0 and shrinking");
	ck_assert_same_bytes(k, p, 3 * PG, "pages 0-2 after shrinking");
	ck_assert_same_bytes(p + PG, data + PG, PG + 100, "pages 1-2 after shrinking, vs the file");
	for (size_t i = 2 * PG + 100; i < 3 * PG; i++)
		ck_assert_msg(p[i] == 0, "byte %#zx past the new EOF is %#x", i, p[i]);
	ck_assert_int_eq(pager_munmap(p, 6 * PG), 0);
	munmap(k, 6 * PG);
	free(data);
	close(fd);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("diff_file");
	TCase *tc;

	require_userfaultfd();
	test_seed();
	tc = tcase(s, "read", 30);
	tcase_add_loop_test(tc, sizes_and_offsets, 0, (int)NSIZES * 3);
	tcase_add_test(tc, empty_file);
	tcase_add_test(tc, sparse_file);
	tcase_add_test(tc, several_mappings);
	tc = tcase(s, "write", 30);
	tcase_add_test(tc, private_writes_stay_private);
	tc = tcase(s, "advice", 30);
	tcase_add_loop_test(tc, advice_then_read, 0, (int)(sizeof(advice) / sizeof(advice[0])));
	tc = tcase(s, "resize", 30);
	tcase_add_test(tc, grow_untouched);
	tcase_add_test(tc, grow_after_sigbus);
	tcase_add_test(tc, shrink_untouched);
	tcase_add_test(tc, shrink_after_first_page_read);
	return run_suite(s);
}
