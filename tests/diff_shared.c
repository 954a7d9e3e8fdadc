/*
 * diff_shared.c - MAP_SHARED through the pager, compared with the kernel's:
 * stores to a file mapping reach the file on msync, on munmap and at exit;
 * two shared mappings of one file (and a kernel one) see each other's stores;
 * MADV_DONTNEED loses nothing; a child of fork shares the pages both ways;
 * the file written with pwrite (and pager_file_written) shows in the mapping;
 * read(2) plus pager_file_read sees stores not yet synced; SIGBUS past EOF,
 * from the start or after the file shrank.  And MAP_SHARED|MAP_ANONYMOUS is shared with
 * children.  Needs writable shared mappings: if the engine refuses them
 * (ENOTSUP, kernels without WP_ASYNC), the program is skipped.
 */
#include "helpers.h"
#include "pager.h"

#define RW (PROT_READ | PROT_WRITE)
#define NPG 16

static unsigned char *data; /* the file's first contents */
static int fd;

static void setup(void)
{
	struct rng r = rng_for("diff_shared");

	data = malloc(NPG * PG);
	ck_assert_ptr_nonnull(data);
	rng_fill(&r, data, NPG * PG);
	fd = tmp_file(data, NPG * PG, O_RDWR);
}

static void teardown(void)
{
	close(fd);
	free(data);
}

static unsigned char *pshared(size_t len, off_t off)
{
	void *p = pager_mmap(NULL, len, RW, MAP_SHARED, fd, off);

	ck_assert_msg(p != MAP_FAILED, "pager_mmap(MAP_SHARED): %s", strerror(errno));
	ck_assert(pager_engine_owns(pager_default_engine(), p));
	return p;
}

static unsigned char *kshared(size_t len, off_t off)
{
	void *p = mmap(NULL, len, RW, MAP_SHARED, fd, off);

	ck_assert_msg(p != MAP_FAILED, "mmap(MAP_SHARED): %s", strerror(errno));
	return p;
}

/* What the file holds now. */
static void file_bytes(void *buf, size_t len, off_t off)
{
	pread_all(fd, buf, len, off);
}

START_TEST(msync_reaches_file)
{
	unsigned char *p = pshared(NPG * PG, 0), *k = kshared(NPG * PG, 0), buf[64];

	ck_assert_same_bytes(p, data, NPG * PG, "shared mapping before any store");
	memcpy(p + 3 * PG + 10, "through the pager", 17);
	p[9 * PG] = 0x99; /* a page never read before: written first */
	ck_assert_int_eq(pager_msync(p, NPG * PG, MS_SYNC), 0);
	file_bytes(buf, 17, 3 * PG + 10);
	ck_assert_int_eq(memcmp(buf, "through the pager", 17), 0);
	file_bytes(buf, 1, 9 * PG);
	ck_assert_int_eq(buf[0], 0x99);
	/* The kernel's shared mapping of the file sees it too. */
	ck_assert_int_eq(memcmp(k + 3 * PG + 10, "through the pager", 17), 0);
	ck_assert_int_eq(k[9 * PG], 0x99);
	/* Nothing else changed. */
	ck_assert_same_bytes(k, data, 3 * PG + 10, "the file before the store");
	ck_assert_int_eq(pager_munmap(p, NPG * PG), 0);
	munmap(k, NPG * PG);
}
END_TEST

START_TEST(munmap_reaches_file)
{
	unsigned char *p = pshared(NPG * PG, 0), buf[4];

	p[5 * PG + 1] = 0x51;
	ck_assert_int_eq(pager_munmap(p, NPG * PG), 0);
	file_bytes(buf, 1, 5 * PG + 1);
	ck_assert_int_eq(buf[0], 0x51);
}
END_TEST

static unsigned char *exit_map;

static int exit_child(void *arg)
{
	(void)arg;
	exit_map[7 * PG + 7] = 0x77;
	exit(0); /* a normal exit: the store reaches the file */
}

START_TEST(exit_reaches_file)
{
	unsigned char buf[4];

	exit_map = pshared(NPG * PG, 0);
	ck_assert_int_eq(exit_map[7 * PG + 7], data[7 * PG + 7]);
	ck_assert_int_eq(in_child(exit_child, NULL), 0);
	file_bytes(buf, 1, 7 * PG + 7);
	ck_assert_int_eq(buf[0], 0x77);
	ck_assert_int_eq(exit_map[7 * PG + 7], 0x77); /* shared with the child */
	ck_assert_int_eq(pager_munmap(exit_map, NPG * PG), 0);
}
END_TEST

/* Two pager mappings (one at an offset) and a kernel one: every store shows in all. */
START_TEST(mappings_see_each_other)
{
	struct rng r = rng_for("mappings_see_each_other");
	unsigned char *a = pshared(NPG * PG, 0), *b = pshared(8 * PG, 4 * PG);
	unsigned char *k = kshared(NPG * PG, 0);

	for (int n = 0; n < 2000; n++) {
		size_t o = 4 * PG + rng_below(&r, 8 * PG);
		unsigned char v = (unsigned char)rng_next(&r);

		switch (n % 3) {
		case 0: a[o] = v; break;
		case 1: b[o - 4 * PG] = v; break;
		default: /* the kernel's mapping: the pager's see it after msync */
			k[o] = v;
			ck_assert_int_eq(msync(k, NPG * PG, MS_SYNC), 0);
			pager_file_written(fd, (off_t)o, 1);
			break;
		}
		ck_assert_msg(a[o] == v && b[o - 4 * PG] == v,
			      "store %d at %#zx (through %s): %#x, mappings show %#x and %#x (seed %llu)",
			      n, o, n % 3 == 0 ? "a" : n % 3 == 1 ? "b" : "the kernel", v, a[o],
			      b[o - 4 * PG], (unsigned long long)test_seed());
	}
	ck_assert_int_eq(pager_msync(a, NPG * PG, MS_SYNC), 0);
	ck_assert_int_eq(pager_msync(b, 8 * PG, MS_SYNC), 0);
	ck_assert_same_bytes(k, a, NPG * PG, "kernel mapping vs pager mapping after msync");
	ck_assert_int_eq(pager_munmap(a, NPG * PG), 0);
	ck_assert_int_eq(pager_munmap(b, 8 * PG), 0);
	munmap(k, NPG * PG);
}
END_TEST

/* MADV_DONTNEED on a shared mapping drops the mapping, not the data. */
START_TEST(dontneed_loses_nothing)
{
	unsigned char *p = pshared(NPG * PG, 0), *k = kshared(NPG * PG, 0);
	unsigned char *kd = malloc(NPG * PG);

	memset(k + 2 * PG, 0x22, PG);
	memset(p + 6 * PG, 0x66, PG);
	ck_assert_int_eq(madvise(k, NPG * PG, MADV_DONTNEED), 0);
	ck_assert_int_eq(pager_madvise(p, NPG * PG, MADV_DONTNEED), 0);
	for (size_t i = 0; i < PG; i++) {
		ck_assert_int_eq(k[2 * PG + i], 0x22);
		ck_assert_msg(p[6 * PG + i] == 0x66, "byte %zu of a stored page after MADV_DONTNEED: %#x",
			      i, p[6 * PG + i]);
	}
	ck_assert_int_eq(pager_msync(p, NPG * PG, MS_SYNC), 0);
	file_bytes(kd, NPG * PG, 0);
	ck_assert_int_eq(kd[6 * PG + 100], 0x66);
	ck_assert_int_eq(pager_munmap(p, NPG * PG), 0);
	munmap(k, NPG * PG);
	free(kd);
}
END_TEST

static unsigned char *fork_map;

static int fork_child(void *arg)
{
	(void)arg;
	if (fork_map[PG] != 0x11 || fork_map[12 * PG] != data[12 * PG])
		return 1;
	fork_map[2 * PG] = 0x22; /* a page the parent touched */
	fork_map[13 * PG] = 0x33; /* one it never touched */
	return 0;
}

START_TEST(fork_shares_pages)
{
	fork_map = pshared(NPG * PG, 0);
	fork_map[PG] = 0x11;
	ck_assert_int_eq(fork_map[2 * PG + 1], data[2 * PG + 1]);
	ck_assert_int_eq(in_child(fork_child, NULL), 0);
	ck_assert_int_eq(fork_map[2 * PG], 0x22);
	ck_assert_int_eq(fork_map[13 * PG], 0x33);
	ck_assert_int_eq(pager_munmap(fork_map, NPG * PG), 0);
}
END_TEST

/* pwrite(2) to the file: the shared mapping shows the new bytes, like the kernel's. */
START_TEST(file_written_shows)
{
	static const char msg[] = "written with pwrite";
	unsigned char *p = pshared(NPG * PG, 0), *k = kshared(NPG * PG, 0);

	ck_assert_int_eq(p[4 * PG], data[4 * PG]); /* page 4 mapped before the write */
	pwrite_all(fd, msg, sizeof(msg), 4 * PG + 100);
	ck_assert_int_eq(pager_file_written(fd, 4 * PG + 100, sizeof(msg)), 1);
	ck_assert_same_bytes(k + 4 * PG + 100, msg, sizeof(msg), "kernel mapping after pwrite");
	ck_assert_same_bytes(p + 4 * PG + 100, msg, sizeof(msg), "pager mapping after pwrite");
	ck_assert_same_bytes(p, k, NPG * PG, "whole mapping after pwrite");
	ck_assert_int_eq(pager_munmap(p, NPG * PG), 0);
	munmap(k, NPG * PG);
}
END_TEST

/* read(2) before msync misses the stores; pager_file_read puts them in. */
START_TEST(file_read_sees_stores)
{
	unsigned char *p = pshared(NPG * PG, 0), buf[PG];

	memset(p + 8 * PG, 0x88, 64);
	ck_assert_int_eq(pread(fd, buf, PG, 8 * PG), (ssize_t)PG);
	ck_assert_int_eq(pager_file_read(fd, buf, 8 * PG, PG), 1);
	for (int i = 0; i < 64; i++)
		ck_assert_int_eq(buf[i], 0x88);
	ck_assert_same_bytes(buf + 64, data + 8 * PG + 64, PG - 64, "the rest of the page");
	ck_assert_int_eq(pager_munmap(p, NPG * PG), 0);
}
END_TEST

/* A shared mapping longer than the file: SIGBUS past EOF (descriptor read-only, then read-write). */
START_TEST(past_eof_sigbus)
{
	int rfd = tmp_file("tiny", 4, _i ? O_RDWR : O_RDONLY);
	unsigned char *k = mmap(NULL, 4 * PG, PROT_READ, MAP_SHARED, rfd, 0);
	unsigned char *p = pager_mmap(NULL, 4 * PG, PROT_READ, MAP_SHARED, rfd, 0);

	ck_assert(k != MAP_FAILED && p != MAP_FAILED);
	ck_assert_same_access(k, p, 2 * PG + 3, false, "page 2 of a 4-byte file");
	ck_assert_same_access(k, p, 100, false, "the tail of page 0");
	ck_assert_same_bytes(k, p, PG, "page 0");
	ck_assert_int_eq(pager_munmap(p, 4 * PG), 0);
	munmap(k, 4 * PG);
	close(rfd);
}
END_TEST

START_TEST(shrink_sigbus)
{
	unsigned char *p = pshared(NPG * PG, 0), *k = kshared(NPG * PG, 0);

	ck_assert_int_eq(ftruncate(fd, 4 * PG + 10), 0);
	pager_file_written(fd, 0, 0);
	ck_assert_same_access(k, p, 4 * PG + 9, false, "within the new EOF");
	ck_assert_same_access(k, p, 4 * PG + 11, false, "tail of the new last page");
	ck_assert_same_access(k, p, 6 * PG, false, "past the new EOF");
	ck_assert_same_bytes(k, p, 5 * PG, "after shrinking");
	ck_assert_int_eq(pager_munmap(p, NPG * PG), 0);
	munmap(k, NPG * PG);
}
END_TEST

static unsigned char *anon_map;

static int anon_child(void *arg)
{
	(void)arg;
	if (anon_map[0] != 1 || anon_map[5 * PG] != 0)
		return 1;
	anon_map[5 * PG] = 5;
	anon_map[0] = 2;
	return 0;
}

START_TEST(shared_anon_with_children)
{
	anon_map = pager_mmap(NULL, NPG * PG, RW, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ck_assert(anon_map != MAP_FAILED);
	anon_map[0] = 1;
	ck_assert_int_eq(in_child(anon_child, NULL), 0);
	ck_assert_int_eq(anon_map[0], 2);
	ck_assert_int_eq(anon_map[5 * PG], 5);
	for (size_t i = 6 * PG; i < NPG * PG; i++)
		ck_assert_int_eq(anon_map[i], 0);
	ck_assert_int_eq(pager_munmap(anon_map, NPG * PG), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("diff_shared");
	TCase *tc = tcase(s, "shared", 8);
	void *p;
	int probe_fd;

	require_userfaultfd();
	test_seed();
	/* Not tmp_file: Check's assertions are for tests only. */
	probe_fd = open(getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", O_TMPFILE | O_RDWR, 0600);
	if (probe_fd < 0 || ftruncate(probe_fd, PG)) {
		fprintf(stderr, "a temporary file: %s\n", strerror(errno));
		return 1;
	}
	p = pager_mmap(NULL, PG, RW, MAP_SHARED, probe_fd, 0);
	if (p == MAP_FAILED && errno == ENOTSUP) {
		fprintf(stderr, "SKIP: writable MAP_SHARED file mappings are refused here (ENOTSUP)\n");
		return 77;
	}
	if (p == MAP_FAILED) {
		fprintf(stderr, "pager_mmap(MAP_SHARED, PROT_WRITE): %s\n", strerror(errno));
		return 1;
	}
	pager_munmap(p, PG);
	close(probe_fd);
	pager_shutdown(); /* each test gets an engine of its own, after Check's fork */

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, msync_reaches_file);
	tcase_add_test(tc, munmap_reaches_file);
	tcase_add_test(tc, exit_reaches_file);
	tcase_add_test(tc, mappings_see_each_other);
	tcase_add_test(tc, dontneed_loses_nothing);
	tcase_add_test(tc, fork_shares_pages);
	tcase_add_test(tc, file_written_shows);
	tcase_add_test(tc, file_read_sees_stores);
	tcase_add_loop_test(tc, past_eof_sigbus, 0, 2);
	tcase_add_test(tc, shrink_sigbus);
	tcase_add_test(tc, shared_anon_with_children);
	return run_suite(s);
}
