/*
 * stats.c - pager_engine_stats after known faults: a read of an untouched
 * anonymous page counts one anon_zero, a first write one anon_write, a first
 * read of a file page one file_miss and its pages read once, an access past
 * EOF one sigbus; sequential reading starts readahead windows, MADV_RANDOM
 * none; the latency histogram fills; pager_stats_percentile and
 * pager_stats_print.
 *
 * The engine has one handler thread, which handles faults one after the
 * other.  Some counters are bumped after the faulting thread was let go: a
 * "fence" (one more fault, on a page of its own) makes sure the handler is
 * done with everything before it.
 */
#include "helpers.h"
#include "pager.h"

static struct pager_engine *eng;
static char *fence_map;
static size_t fence_next;

static void setup(void)
{
	struct pager_config cfg;
	char err[256];

	pager_config_default(&cfg);
	cfg.handler_threads = 1;
	eng = pager_engine_new(&cfg, err, sizeof(err));
	ck_assert_msg(eng, "pager_engine_new: %s", err);
	fence_map = pager_engine_mmap(eng, NULL, 4096 * PG, PROT_READ | PROT_WRITE,
				      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert(fence_map != MAP_FAILED);
	fence_next = 0;
}

static void teardown(void)
{
	pager_engine_destroy(eng);
}

/* One fault of one page (far from the previous one: no window), handled after all before it. */
static void fence(void)
{
	fence_next += 7;
	ck_assert_uint_lt(fence_next, 4096);
	ck_assert_int_eq(fence_map[fence_next * PG], 0);
}

static struct pager_stats stats(void)
{
	struct pager_stats st;

	pager_engine_stats(eng, &st);
	return st;
}

static uint64_t lat_total(const struct pager_stats *st)
{
	uint64_t n = 0;

	for (int i = 0; i < PAGER_LAT_BUCKETS; i++)
		n += st->lat_hist[i];
	return n;
}

static char *file_map(int fd, size_t len)
{
	char *p = pager_engine_mmap(eng, NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);

	ck_assert_msg(p != MAP_FAILED, "pager_engine_mmap: %s", strerror(errno));
	return p;
}

START_TEST(anon_counts)
{
	char *p = pager_engine_mmap(eng, NULL, 64 * PG, PROT_READ | PROT_WRITE,
				    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct pager_stats a, b, c;

	ck_assert(p != MAP_FAILED);
	a = stats();
	ck_assert_int_eq(p[5 * PG + 9], 0); /* a read of an untouched page */
	b = stats();
	ck_assert_uint_eq(b.faults - a.faults, 1);
	ck_assert_uint_eq(b.anon_zero - a.anon_zero, 1);
	ck_assert_uint_eq(b.anon_write - a.anon_write, 0);
	ck_assert_uint_eq(b.file_miss - a.file_miss, 0);

	p[40 * PG] = 1; /* a first write */
	b = stats();
	ck_assert_uint_eq(b.faults - a.faults, 2);
	ck_assert_uint_eq(b.anon_write - a.anon_write, 1);

	p[5 * PG] = 2; /* a write to the zero page: the kernel copies it, no fault of ours */
	ck_assert_int_eq(p[40 * PG], 1);
	fence();
	c = stats();
	ck_assert_uint_eq(c.faults - a.faults, 3); /* the two, and the fence */
	ck_assert_uint_ge(c.pages_installed - a.pages_installed, 2);
	ck_assert_uint_ge(lat_total(&c) - lat_total(&a), 2);
	ck_assert_uint_eq(c.sigbus, 0);
	ck_assert_int_eq(pager_engine_munmap(eng, p, 64 * PG), 0);
}
END_TEST

START_TEST(file_counts)
{
	const size_t npages = 64;
	struct rng r = rng_for("file_counts");
	char *data = malloc(npages * PG), *p;
	struct pager_stats a, b;
	int fd;

	rng_fill(&r, data, npages * PG);
	fd = tmp_file(data, npages * PG, O_RDONLY);
	p = file_map(fd, npages * PG);
	a = stats();
	ck_assert_int_eq(p[3], data[3]); /* the first read of the file */
	b = stats();
	ck_assert_uint_eq(b.faults - a.faults, 1);
	ck_assert_uint_eq(b.file_miss - a.file_miss, 1);
	ck_assert_uint_eq(b.anon_zero - a.anon_zero, 0);
	ck_assert_uint_ge(b.pages_read - a.pages_read, 1);
	ck_assert_uint_ge(b.bytes_read - a.bytes_read, PG);

	/* Everything read once: each page read from the file once, nothing past EOF. */
	ck_assert_same_bytes(p, data, npages * PG, "file mapping");
	fence();
	b = stats();
	ck_assert_uint_eq(b.pages_read - a.pages_read, npages);
	ck_assert_uint_eq(b.bytes_read - a.bytes_read, npages * PG);
	ck_assert_uint_le(b.faults - a.faults, npages + 1);
	/*
	 * Read-around may bring the whole file in on the first fault: every
	 * fault has a latency, except perhaps the fence's own, which is
	 * recorded after the thread it woke has run on to here.
	 */
	ck_assert_uint_ge(b.faults - a.faults, 1);
	ck_assert_uint_le(lat_total(&b) - lat_total(&a), b.faults - a.faults);
	ck_assert_uint_ge(lat_total(&b) - lat_total(&a), b.faults - a.faults - 1);
	ck_assert_int_eq(pager_engine_munmap(eng, p, npages * PG), 0);
	free(data);
	close(fd);
}
END_TEST

static char *sigbus_map;

/* In a child (it takes the signal): one SIGBUS past EOF is counted once. */
static int sigbus_child(void *arg)
{
	struct pager_stats a, b;
	struct sig_info s;

	(void)arg;
	pager_engine_stats(eng, &a);
	s = probe(sigbus_map + 2 * PG + 17, false, 0);
	if (s.signo != SIGBUS) {
		fprintf(stderr, "child: signal %d, expected SIGBUS\n", s.signo);
		return 1;
	}
	fence();
	pager_engine_stats(eng, &b);
	if (b.sigbus - a.sigbus != 1) {
		fprintf(stderr, "child: sigbus counted %llu times\n",
			(unsigned long long)(b.sigbus - a.sigbus));
		return 2;
	}
	return 0;
}

START_TEST(sigbus_count)
{
	static const char data[100] = "tiny";
	int fd = tmp_file(data, sizeof(data), O_RDONLY);

	sigbus_map = file_map(fd, 4 * PG);
	ck_assert_int_eq(in_child(sigbus_child, NULL), 0);
	ck_assert_int_eq(pager_engine_munmap(eng, sigbus_map, 4 * PG), 0);
	close(fd);
}
END_TEST

/* Read a file of npages from start to end; returns the stats it added. */
static struct pager_stats read_file_through(size_t npages, int advice)
{
	char *data = calloc(npages, PG), *p;
	struct pager_stats a, b;
	int fd;

	for (size_t i = 0; i < npages; i++)
		data[i * PG] = (char)(i | 1);
	fd = tmp_file(data, npages * PG, O_RDONLY);
	p = file_map(fd, npages * PG);
	ck_assert_int_eq(pager_engine_madvise(eng, p, npages * PG, advice), 0);
	a = stats();
	for (size_t i = 0; i < npages; i++)
		ck_assert_int_eq(p[i * PG], (char)(i | 1));
	fence();
	b = stats();
	ck_assert_int_eq(pager_engine_munmap(eng, p, npages * PG), 0);
	free(data);
	close(fd);
	for (size_t f = 0; f < sizeof(b) / sizeof(uint64_t); f++)
		((uint64_t *)&b)[f] -= ((uint64_t *)&a)[f];
	return b;
}

START_TEST(sequential_read_starts_readahead)
{
	struct pager_stats d = read_file_through(2048, MADV_NORMAL); /* 8 MiB */

	ck_assert_uint_ge(d.readahead, 1);
	ck_assert_uint_ge(d.readahead_pages, 1);
	ck_assert_uint_eq(d.pages_read, 2048);
	/* Windows of up to 2 MiB: far fewer faults than pages. */
	ck_assert_msg(d.faults < 2048 / 8, "%llu faults for 2048 pages read in order",
		      (unsigned long long)d.faults);
}
END_TEST

START_TEST(random_advice_no_readahead)
{
	struct pager_stats d = read_file_through(512, MADV_RANDOM);

	ck_assert_uint_eq(d.readahead, 0);
	ck_assert_uint_eq(d.readahead_pages, 0);
	ck_assert_uint_eq(d.pages_read, 512);
}
END_TEST

START_TEST(percentile)
{
	struct pager_stats st;

	memset(&st, 0, sizeof(st));
	ck_assert_uint_eq(pager_stats_percentile(&st, 50), 0); /* nothing recorded */
	st.lat_hist[3] = 9; /* nine faults of [8, 16) ns */
	st.lat_hist[10] = 1; /* one of [1024, 2048) ns */
	ck_assert_uint_eq(pager_stats_percentile(&st, 50), 16);
	ck_assert_uint_eq(pager_stats_percentile(&st, 90), 16);
	ck_assert_uint_eq(pager_stats_percentile(&st, 100), 2048);
	ck_assert_uint_eq(pager_stats_percentile(&st, 0), 16);
}
END_TEST

START_TEST(print)
{
	struct pager_stats st;
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	ck_assert_int_eq(fence_map[PG * 4000], 0); /* at least one fault */
	fence();
	st = stats();
	ck_assert_uint_ge(st.faults, 2);
	ck_assert_uint_ge(lat_total(&st), 1);
	ck_assert_uint_gt(pager_stats_percentile(&st, 50), 0);
	pager_stats_print(&st, f);
	fclose(f);
	ck_assert_uint_gt(len, 0);
	ck_assert_msg(strstr(out, "fault"), "pager_stats_print wrote: %s", out);
	free(out);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("stats");
	TCase *tc = tcase(s, "stats", 20);

	require_userfaultfd();
	test_seed();
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, anon_counts);
	tcase_add_test(tc, file_counts);
	tcase_add_test(tc, sigbus_count);
	tcase_add_test(tc, sequential_read_starts_readahead);
	tcase_add_test(tc, random_advice_no_readahead);
	tcase_add_test(tc, percentile);
	tcase_add_test(tc, print);
	return run_suite(s);
}
