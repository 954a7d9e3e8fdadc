/*
 * diff_anon.c - MAP_PRIVATE|MAP_ANONYMOUS through the pager, compared with a
 * kernel anonymous mapping doing the same: untouched pages read zero; writes
 * stick; a random sequence of reads, writes, moves and MADV_DONTNEED over
 * several MiB; system calls that read into and write from untouched pages
 * (kernel-mode faults); MADV_DONTNEED back to zero; mprotect to PROT_READ and
 * PROT_NONE (SIGSEGV, same si_code and address); partial munmap and MAP_FIXED
 * over a mapping; fork; mremap (grow, shrink, MREMAP_DONTUNMAP).
 */
#include "helpers.h"
#include "pager.h"

#define RW (PROT_READ | PROT_WRITE)
#define ANON (MAP_PRIVATE | MAP_ANONYMOUS)

static void *kmap(size_t len)
{
	void *p = mmap(NULL, len, RW, ANON, -1, 0);

	ck_assert_msg(p != MAP_FAILED, "mmap: %s", strerror(errno));
	return p;
}

static void *pmap(size_t len)
{
	void *p = pager_mmap(NULL, len, RW, ANON, -1, 0);

	ck_assert_msg(p != MAP_FAILED, "pager_mmap: %s", strerror(errno));
	ck_assert_uint_eq((uintptr_t)p % PG, 0);
	return p;
}

START_TEST(untouched_reads_zero)
{
	const size_t len = 4 << 20, npages = len / PG;
	struct rng r = rng_for("untouched_reads_zero");
	unsigned char *k = kmap(len), *p = pmap(len);

	/* One byte of each page, in random order: each is a first touch. */
	size_t start = rng_below(&r, npages);

	for (size_t n = 0; n < npages; n++) {
		size_t i = (n * 7919 + start) % npages; /* a permutation: 7919 is prime */
		size_t off = i * PG + rng_below(&r, PG);

		ck_assert_msg(p[off] == 0, "byte %#zx of an untouched page reads %#x", off, p[off]);
	}
	ck_assert_same_bytes(k, p, len, "untouched anonymous memory");
	ck_assert_int_eq(pager_munmap(p, len), 0);
	munmap(k, len);
}
END_TEST

START_TEST(writes_stick)
{
	const size_t len = 2 << 20;
	struct rng r = rng_for("writes_stick");
	unsigned char *k = kmap(len), *p = pmap(len);

	/* Writes first (no read fault before them), at random places. */
	for (int n = 0; n < 3000; n++) {
		size_t off = rng_below(&r, len);
		unsigned char v = (unsigned char)rng_next(&r);

		k[off] = v;
		p[off] = v;
		ck_assert_msg(p[off] == v, "write %d at %#zx did not stick (seed %llu)", n, off,
			      (unsigned long long)test_seed());
	}
	ck_assert_same_bytes(k, p, len, "after random writes");
	ck_assert_int_eq(pager_munmap(p, len), 0);
	munmap(k, len);
}
END_TEST

/* The same random sequence of operations on both mappings. */
START_TEST(random_sequence)
{
	const size_t len = 8 << 20, npages = len / PG;
	struct rng r = rng_for("random_sequence");
	unsigned char *k = kmap(len), *p = pmap(len);
	static unsigned char buf[3 * 4096];

	for (int n = 0; n < 20000; n++) {
		unsigned op = (unsigned)rng_below(&r, 100);
		size_t off = rng_below(&r, len), cnt = 1 + rng_below(&r, sizeof(buf));

		if (off + cnt > len)
			cnt = len - off;
		if (op < 40) { /* read a range, across page boundaries */
			size_t d = first_diff(k + off, p + off, cnt);

			ck_assert_msg(d == cnt,
				      "op %d: read [%#zx, +%zu) differs at %#zx: kernel %#x pager %#x "
				      "(seed %llu)",
				      n, off, cnt, off + d, k[off + d], p[off + d],
				      (unsigned long long)test_seed());
		} else if (op < 75) { /* write a range */
			rng_fill(&r, buf, cnt);
			memcpy(k + off, buf, cnt);
			memcpy(p + off, buf, cnt);
		} else if (op < 88) { /* write one byte */
			k[off] = p[off] = (unsigned char)n;
		} else if (op < 94) { /* move a range inside the mapping */
			size_t to = rng_below(&r, len - cnt + 1);

			memmove(k + to, k + off, cnt);
			memmove(p + to, p + off, cnt);
		} else { /* drop a few pages */
			size_t first = rng_below(&r, npages), nr = 1 + rng_below(&r, 64);

			if (first + nr > npages)
				nr = npages - first;
			ck_assert_int_eq(madvise(k + first * PG, nr * PG, MADV_DONTNEED), 0);
			ck_assert_msg(pager_madvise(p + first * PG, nr * PG, MADV_DONTNEED) == 0,
				      "op %d: pager_madvise: %s", n, strerror(errno));
		}
	}
	ck_assert_same_bytes(k, p, len, "after the random sequence");
	ck_assert_int_eq(pager_munmap(p, len), 0);
	munmap(k, len);
}
END_TEST

/* System calls that read into / write from the mapping fault in kernel mode. */
static void syscalls_on(unsigned char *m, int fd, const unsigned char *data, const char *what)
{
	static unsigned char out[2 * 4096];
	static const char msg[] = "through a pipe into untouched memory";
	int pfd[2];

	/* pread a file into untouched pages, starting mid-page. */
	ck_assert_msg(pread(fd, m + 2 * PG + 100, 3 * PG, 0) == (ssize_t)(3 * PG), "%s: pread: %s",
		      what, strerror(errno));
	ck_assert_same_bytes(m + 2 * PG + 100, data, 3 * PG, what);
	ck_assert_int_eq(m[2 * PG], 0); /* the head of the first page is untouched */

	/* write(2) from untouched pages into a pipe: zeros come out. */
	ck_assert_int_eq(pipe(pfd), 0);
	ck_assert_int_eq(write(pfd[1], m + 8 * PG, 2 * PG), (ssize_t)(2 * PG));
	memset(out, 0xff, sizeof(out));
	for (size_t got = 0; got < sizeof(out);) {
		ssize_t n = read(pfd[0], out + got, sizeof(out) - got);

		ck_assert_int_gt(n, 0);
		got += (size_t)n;
	}
	for (size_t i = 0; i < sizeof(out); i++)
		ck_assert_msg(out[i] == 0, "%s: write(2) from untouched memory: byte %zu is %#x", what,
			      i, out[i]);

	/* read(2) from a pipe into an untouched page. */
	ck_assert_int_eq(write(pfd[1], msg, sizeof(msg)), (ssize_t)sizeof(msg));
	ck_assert_int_eq(read(pfd[0], m + 12 * PG + PG - 10, sizeof(msg)), (ssize_t)sizeof(msg));
	ck_assert_same_bytes(m + 12 * PG + PG - 10, msg, sizeof(msg), what);
	close(pfd[0]);
	close(pfd[1]);
}

START_TEST(syscalls_kernel_mode_faults)
{
	const size_t len = 16 * PG;
	struct rng r = rng_for("syscalls_kernel_mode_faults");
	static unsigned char data[5 * 4096];
	unsigned char *k = kmap(len), *p = pmap(len);
	int fd;

	rng_fill(&r, data, sizeof(data));
	fd = tmp_file(data, sizeof(data), O_RDONLY);
	syscalls_on(k, fd, data, "kernel mapping");
	syscalls_on(p, fd, data, "pager mapping");
	ck_assert_same_bytes(k, p, len, "after system calls");
	close(fd);
	ck_assert_int_eq(pager_munmap(p, len), 0);
	munmap(k, len);
}
END_TEST

START_TEST(dontneed_back_to_zero)
{
	const size_t len = 64 * PG;
	struct rng r = rng_for("dontneed_back_to_zero");
	unsigned char *k = kmap(len), *p = pmap(len);

	rng_fill(&r, k, len);
	memcpy(p, k, len);
	ck_assert_int_eq(madvise(k + 5 * PG, 10 * PG, MADV_DONTNEED), 0);
	ck_assert_int_eq(pager_madvise(p + 5 * PG, 10 * PG, MADV_DONTNEED), 0);
	for (size_t i = 5 * PG; i < 15 * PG; i++)
		ck_assert_msg(p[i] == 0, "byte %#zx after MADV_DONTNEED: %#x", i, p[i]);
	ck_assert_same_bytes(k, p, len, "after MADV_DONTNEED");

	/* Written again after the drop, then dropped with a length that is not a page multiple. */
	k[7 * PG + 1] = p[7 * PG + 1] = 0x77;
	ck_assert_int_eq(p[7 * PG + 1], 0x77);
	ck_assert_int_eq(madvise(k + 30 * PG, 3 * PG + 1, MADV_DONTNEED), 0);
	ck_assert_int_eq(pager_madvise(p + 30 * PG, 3 * PG + 1, MADV_DONTNEED), 0);
	ck_assert_same_bytes(k, p, len, "after a second MADV_DONTNEED");

	/* The whole mapping, then write everything again. */
	ck_assert_int_eq(madvise(k, len, MADV_DONTNEED), 0);
	ck_assert_int_eq(pager_madvise(p, len, MADV_DONTNEED), 0);
	ck_assert_same_bytes(k, p, len, "after dropping everything");
	rng_fill(&r, k, len);
	memcpy(p, k, len);
	ck_assert_same_bytes(k, p, len, "written after dropping everything");
	ck_assert_int_eq(pager_munmap(p, len), 0);
	munmap(k, len);
}
END_TEST

START_TEST(mprotect_signals)
{
	const size_t len = 8 * PG;
	unsigned char *k = kmap(len), *p = pmap(len);

	/* Pages 0-3 written, 4-7 never touched. */
	memset(k, 0x11, 4 * PG);
	memset(p, 0x11, 4 * PG);

	ck_assert_int_eq(mprotect(k, len, PROT_READ), 0);
	ck_assert_int_eq(pager_mprotect(p, len, PROT_READ), 0);
	ck_assert_int_eq(p[PG + 5], 0x11);
	ck_assert_int_eq(p[6 * PG + 5], 0); /* a first touch of a read-only page */
	ck_assert_same_access(k, p, 1 * PG + 9, false, "PROT_READ, read written page");
	ck_assert_same_access(k, p, 5 * PG + 9, false, "PROT_READ, read untouched page");
	ck_assert_same_access(k, p, 1 * PG + 9, true, "PROT_READ, write written page");
	ck_assert_same_access(k, p, 7 * PG + 9, true, "PROT_READ, write untouched page");

	ck_assert_int_eq(mprotect(k, len, PROT_NONE), 0);
	ck_assert_int_eq(pager_mprotect(p, len, PROT_NONE), 0);
	ck_assert_same_access(k, p, 2 * PG + 1, false, "PROT_NONE, read written page");
	ck_assert_same_access(k, p, 4 * PG + 1, false, "PROT_NONE, read untouched page");
	ck_assert_same_access(k, p, 3 * PG + 1, true, "PROT_NONE, write");

	/* Only the middle back to read-write: the vma is split in three. */
	ck_assert_int_eq(mprotect(k + 2 * PG, 4 * PG, RW), 0);
	ck_assert_int_eq(pager_mprotect(p + 2 * PG, 4 * PG, RW), 0);
	ck_assert_same_access(k, p, 1 * PG, false, "PROT_NONE head");
	ck_assert_same_access(k, p, 6 * PG, false, "PROT_NONE tail");
	ck_assert_same_access(k, p, 5 * PG + 3, true, "read-write middle, untouched page");
	k[5 * PG] = p[5 * PG] = 0x55;
	ck_assert_int_eq(mprotect(k, len, RW), 0);
	ck_assert_int_eq(pager_mprotect(p, len, RW), 0);
	ck_assert_same_bytes(k, p, len, "after mprotect back to read-write");
	ck_assert_int_eq(pager_munmap(p, len), 0);
	munmap(k, len);
}
END_TEST

/* Unmap [off, off + len) of both, probing `at` right after each unmap (in this process). */
static void unmap_and_probe(unsigned char *k, unsigned char *p, size_t off, size_t len, size_t at,
			    const char *what)
{
	struct sig_info ks, ps;

	ck_assert_int_eq(munmap(k + off, len), 0);
	ks = probe(k + at, false, 0);
	ck_assert_int_eq(pager_munmap(p + off, len), 0);
	ps = probe(p + at, false, 0);
	ck_assert_msg(ks.signo == SIGSEGV && ks.code == SEGV_MAPERR && ks.addr == k + at,
		      "%s: kernel signal %d code %d", what, ks.signo, ks.code);
	ck_assert_msg(ps.signo == ks.signo && ps.code == ks.code && ps.addr == p + at,
		      "%s: kernel SIGSEGV SEGV_MAPERR at +%#zx, pager signal %d code %d at %+td", what,
		      at, ps.signo, ps.code, sig_offset(&ps, p));
}

START_TEST(partial_munmap_and_fixed)
{
	const size_t len = 16 * PG;
	unsigned char *k = kmap(len), *p = pmap(len);

	/* Pages 0-9 written, 10-15 never touched. */
	for (size_t i = 0; i < 10 * PG; i++)
		k[i] = p[i] = (unsigned char)(i * 31 + 7);

	unmap_and_probe(k, p, 4 * PG, 3 * PG, 4 * PG + 123, "unmapped middle");
	ck_assert_same_bytes(k, p, 4 * PG, "head after partial munmap");
	ck_assert_same_bytes(k + 7 * PG, p + 7 * PG, 9 * PG, "tail after partial munmap");

	unmap_and_probe(k, p, 0, PG, 5, "unmapped first page");
	ck_assert_same_access(k, p, 11 * PG, true, "untouched page after the unmaps");

	/*
	 * MAP_FIXED over written and over untouched pages: fresh zero pages.
	 * (Not into the holes: anything, the engine's own allocations, may
	 * live there now.)
	 */
	ck_assert_ptr_eq(mmap(k + 8 * PG, 2 * PG, RW, ANON | MAP_FIXED, -1, 0), k + 8 * PG);
	ck_assert_ptr_eq(pager_mmap(p + 8 * PG, 2 * PG, RW, ANON | MAP_FIXED, -1, 0), p + 8 * PG);
	ck_assert_ptr_eq(mmap(k + 12 * PG, 3 * PG, RW, ANON | MAP_FIXED, -1, 0), k + 12 * PG);
	ck_assert_ptr_eq(pager_mmap(p + 12 * PG, 3 * PG, RW, ANON | MAP_FIXED, -1, 0), p + 12 * PG);
	p[13 * PG] = k[13 * PG] = 9;
	ck_assert_same_bytes(k + PG, p + PG, 3 * PG, "after MAP_FIXED, head");
	ck_assert_same_bytes(k + 7 * PG, p + 7 * PG, 9 * PG, "after MAP_FIXED");

	/* Unmap the rest: the tail, then the head. */
	unmap_and_probe(k, p, 7 * PG, 9 * PG, 9 * PG, "after unmapping the tail");
	unmap_and_probe(k, p, PG, 3 * PG, 2 * PG, "after unmapping the head");
}
END_TEST

static unsigned char *fork_map, *fork_expect; /* pager mapping; what it must hold */

static int fork_child(void *arg)
{
	size_t d = first_diff(fork_map, fork_expect, 32 * PG);

	(void)arg;
	if (d != 32 * PG) {
		fprintf(stderr, "child: byte %#zx is %#x, expected %#x\n", d, fork_map[d],
			fork_expect[d]);
		return 1;
	}
	fork_map[3 * PG] = 0xcc; /* private to the child */
	fork_map[20 * PG] = 0xcc;
	return fork_map[3 * PG] == 0xcc && fork_map[20 * PG] == 0xcc ? 0 : 2;
}

/* The child sees what the parent had, faulted or not; changes stay on each side. */
/*
 * mremap of a mapping with written and untouched pages: grown and moved,
 * shrunk, and moved with MREMAP_DONTUNMAP (the old range stays, empty):
 * bytes compared with the kernel's after each step, and the old range's
 * untouched pages filled again on a touch.
 */
START_TEST(mremap_moves)
{
	const size_t len = 16 * PG;
	struct rng r = rng_for("mremap_moves");
	unsigned char *k = kmap(len), *p = pmap(len), *k2, *p2, *k3, *p3, *kd, *pd;
	int ke, pe;

	/* Every other page written; the rest never touched. */
	for (size_t i = 0; i < 16; i += 2) {
		rng_fill(&r, k + i * PG, PG);
		memcpy(p + i * PG, k + i * PG, PG);
	}
	k2 = mremap(k, len, 4 * len, MREMAP_MAYMOVE);
	p2 = pager_mremap(p, len, 4 * len, MREMAP_MAYMOVE);
	ck_assert(k2 != MAP_FAILED && p2 != MAP_FAILED);
	ck_assert_same_bytes(k2, p2, 4 * len, "grown by mremap");
	k2[40 * PG] = p2[40 * PG] = 0x40;
	ck_assert_same_bytes(k2, p2, 4 * len, "written in the grown part");

	k2 = mremap(k2, 4 * len, 8 * PG, 0);
	p2 = pager_mremap(p2, 4 * len, 8 * PG, 0);
	ck_assert(k2 != MAP_FAILED && p2 != MAP_FAILED);
	ck_assert_same_bytes(k2, p2, 8 * PG, "shrunk by mremap");

	/*
	 * To a reserved place: without MREMAP_FIXED this kernel (6.18) refused
	 * MREMAP_DONTUNMAP with EINVAL for some layouts.  Same outcome on both.
	 */
	kd = mmap(NULL, 8 * PG, PROT_NONE, ANON, -1, 0);
	pd = mmap(NULL, 8 * PG, PROT_NONE, ANON, -1, 0);
	ck_assert(kd != MAP_FAILED && pd != MAP_FAILED);
	errno = 0;
	k3 = mremap(k2, 8 * PG, 8 * PG, MREMAP_MAYMOVE | MREMAP_DONTUNMAP | MREMAP_FIXED, kd);
	ke = errno;
	errno = 0;
	p3 = pager_mremap(p2, 8 * PG, 8 * PG, MREMAP_MAYMOVE | MREMAP_DONTUNMAP | MREMAP_FIXED, pd);
	pe = errno;
	ck_assert_msg(k3 != MAP_FAILED, "kernel mremap(MREMAP_DONTUNMAP): %s", strerror(ke));
	ck_assert_msg(p3 == pd, "pager mremap(MREMAP_DONTUNMAP): %s", p3 == MAP_FAILED ? strerror(pe) : "moved elsewhere");
	ck_assert_same_bytes(k3, p3, 8 * PG, "moved with MREMAP_DONTUNMAP");
	ck_assert_same_bytes(k2, p2, 8 * PG, "the range MREMAP_DONTUNMAP left behind");
	k2[3 * PG + 5] = p2[3 * PG + 5] = 0x35;
	k3[2 * PG + 7] = p3[2 * PG + 7] = 0x27;
	ck_assert_same_bytes(k2, p2, 8 * PG, "written after MREMAP_DONTUNMAP (old range)");
	ck_assert_same_bytes(k3, p3, 8 * PG, "written after MREMAP_DONTUNMAP (new range)");
	ck_assert_int_eq(pager_munmap(p2, 8 * PG), 0);
	ck_assert_int_eq(pager_munmap(p3, 8 * PG), 0);
	munmap(k2, 8 * PG);
	munmap(k3, 8 * PG);
}
END_TEST

START_TEST(fork_private)
{
	fork_map = pmap(32 * PG);
	fork_expect = calloc(32, PG);
	/* Pages 0-15 written, 16-31 never touched. */
	for (size_t i = 0; i < 16; i++) {
		memset(fork_map + i * PG, (int)i + 1, PG);
		memset(fork_expect + i * PG, (int)i + 1, PG);
	}
	ck_assert_int_eq(in_child(fork_child, NULL), 0);
	ck_assert_int_eq(fork_map[3 * PG], 4);
	ck_assert_int_eq(fork_map[20 * PG], 0);
	/* Again, now that the parent faulted page 20 in and wrote page 21. */
	fork_map[21 * PG] = fork_expect[21 * PG] = 1;
	ck_assert_int_eq(in_child(fork_child, NULL), 0);
	ck_assert_same_bytes(fork_map, fork_expect, 32 * PG, "parent after the children");
	ck_assert_int_eq(pager_munmap(fork_map, 32 * PG), 0);
	free(fork_expect);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("diff_anon");
	TCase *tc = tcase(s, "anon", 30);

	require_userfaultfd();
	test_seed();
	tcase_add_test(tc, untouched_reads_zero);
	tcase_add_test(tc, writes_stick);
	tcase_add_test(tc, random_sequence);
	tcase_add_test(tc, syscalls_kernel_mode_faults);
	tcase_add_test(tc, dontneed_back_to_zero);
	tcase_add_test(tc, mprotect_signals);
	tcase_add_test(tc, partial_munmap_and_fixed);
	tcase_add_test(tc, fork_private);
	tcase_add_test(tc, mremap_moves);
	return run_suite(s);
}
