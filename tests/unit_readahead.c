/*
 * unit_readahead.c - the on-demand readahead window (src/readahead.c), pure
 * logic: ra_next_size grows x4 while small then x2 up to max; a sequential
 * stream opens a sync window and an async one and ramps, whether it faults
 * in the marker or outruns the window; a random miss opens nothing;
 * MADV_SEQUENTIAL starts at max; MADV_RANDOM never reads; windows are
 * clipped to EOF; max_pages == 0 turns readahead off.
 */
#include "helpers.h"
#include "readahead.h"

#define MIN 32
#define MAX 512

static struct file_ra_state ra;
static struct ra_decision d;

static void setup(void)
{
	ra_init(&ra, MIN, MAX);
	memset(&d, 0xa5, sizeof(d)); /* ra_fault must fill it every time */
}

START_TEST(next_size_x4_then_x2_capped)
{
	ck_assert_uint_eq(ra_next_size(1, MAX), 4);
	ck_assert_uint_eq(ra_next_size(4, MAX), 16);
	ck_assert_uint_eq(ra_next_size(31, MAX), 124); /* below max/16: x4 */
	ck_assert_uint_eq(ra_next_size(32, MAX), 64); /* max/16 and up: x2 */
	ck_assert_uint_eq(ra_next_size(128, MAX), 256);
	ck_assert_uint_eq(ra_next_size(256, MAX), MAX);
	ck_assert_uint_eq(ra_next_size(300, MAX), MAX); /* capped */
	ck_assert_uint_eq(ra_next_size(MAX, MAX), MAX);
	ck_assert_uint_eq(ra_next_size(0, MAX), 1); /* never stuck at 0 */
	ck_assert_uint_eq(ra_next_size(0, 0), 0); /* nor above max */
	ck_assert_uint_eq(ra_next_size(UINT32_MAX / 2 + 1, UINT32_MAX), UINT32_MAX); /* no overflow */
}
END_TEST

START_TEST(init_state)
{
	ck_assert_uint_eq(ra.size, 0);
	ck_assert_uint_eq(ra.async_size, 0);
	ck_assert(ra.prev == PGOFF_NONE);
	ck_assert_uint_eq(ra.min_pages, MIN);
	ck_assert_uint_eq(ra.max_pages, MAX);
	ck_assert_int_eq(ra.mode, RA_MODE_NORMAL);
	ck_assert(!ra_in_window(&ra, 0));
	ra_init(&ra, 64, 16); /* min is clamped to max */
	ck_assert_uint_eq(ra.min_pages, 16);
}
END_TEST

/* The first fault of a stream: a sync window of min pages and, at once, the next one async. */
START_TEST(first_fault_opens_sync_and_async)
{
	ck_assert(ra_fault(&ra, 0, true, 1 << 20, &d));
	ck_assert_uint_eq(d.sync.start, 0);
	ck_assert_uint_eq(d.sync.nr, MIN);
	ck_assert_uint_eq(d.async.start, MIN);
	ck_assert_uint_eq(d.async.nr, ra_next_size(MIN, MAX));
	/* The state describes the most recent window: the async one. */
	ck_assert(ra_in_window(&ra, MIN));
	ck_assert(ra_in_window(&ra, MIN + d.async.nr - 1));
	ck_assert(!ra_in_window(&ra, MIN + d.async.nr));
}
END_TEST

/*
 * A reader that faults on every page (nothing mapped ahead of it), with reads
 * that land at once: each window hits the marker of the previous one, windows
 * follow each other without gap or overlap, grow x4 / x2 and stay at max.
 */
START_TEST(stream_hitting_marker_ramps)
{
	static const uint32_t min = 4, want[] = { 4, 16, 64, 128, 256, 512, 512, 512, 512, 512 };
	const pgoff_t eof = 1 << 20;
	static bool cached[4096];
	uint32_t sizes[16];
	unsigned nsizes = 0;
	pgoff_t next = 0; /* first page no window has covered yet */

	ra_init(&ra, min, MAX);
	memset(cached, 0, sizeof(cached));
	for (pgoff_t i = 0; i < 2200; i++) {
		bool miss = !cached[i];

		if (!ra_fault(&ra, i, miss, eof, &d)) {
			ck_assert_msg(!miss, "page %llu: a miss in a stream read nothing",
				      (unsigned long long)i);
			continue;
		}
		struct ra_window w[2] = { d.sync, d.async };
		for (int k = 0; k < 2; k++) {
			if (!w[k].nr)
				continue;
			ck_assert_msg(w[k].start == next, "page %llu: window at %llu, expected %llu",
				      (unsigned long long)i, (unsigned long long)w[k].start,
				      (unsigned long long)next);
			ck_assert_uint_lt(nsizes, 16);
			sizes[nsizes++] = w[k].nr;
			for (pgoff_t j = w[k].start; j < w[k].start + w[k].nr && j < 4096; j++)
				cached[j] = true;
			next = w[k].start + w[k].nr;
		}
	}
	ck_assert_uint_eq(nsizes, sizeof(want) / sizeof(want[0]));
	for (unsigned k = 0; k < nsizes; k++)
		ck_assert_msg(sizes[k] == want[k], "window %u: %u pages, expected %u", k, sizes[k],
			      want[k]);
}
END_TEST

/*
 * A reader that faults only on the first page after everything read so far
 * (all of it was mapped ahead of it): each fault is a sequential miss just
 * past the most recent window, and the stream keeps ramping to max.
 */
START_TEST(stream_outrunning_window_ramps)
{
	const pgoff_t eof = 1 << 20;
	pgoff_t i = 0;
	uint32_t last_sync = 0;

	for (int n = 0; n < 8; n++) {
		ck_assert_msg(ra_fault(&ra, i, true, eof, &d), "fault %d at %llu read nothing", n,
			      (unsigned long long)i);
		ck_assert_uint_eq(d.sync.start, i);
		ck_assert_uint_ge(d.sync.nr, last_sync); /* never shrinks */
		ck_assert_uint_le(d.sync.nr, MAX);
		ck_assert_uint_eq(d.async.start, i + d.sync.nr);
		ck_assert_uint_le(d.async.nr, MAX);
		last_sync = d.sync.nr;
		i = d.async.start + d.async.nr;
	}
	ck_assert_uint_eq(last_sync, MAX);
	ck_assert_uint_eq(d.async.nr, MAX);
}
END_TEST

START_TEST(random_miss_opens_nothing)
{
	static const pgoff_t pages[] = { 1000, 5000, 17, 900000, 4242, 3 };

	for (size_t k = 0; k < sizeof(pages) / sizeof(pages[0]); k++) {
		ck_assert_msg(!ra_fault(&ra, pages[k], true, 1 << 20, &d), "page %llu",
			      (unsigned long long)pages[k]);
		ck_assert_uint_eq(d.sync.nr, 0);
		ck_assert_uint_eq(d.async.nr, 0);
	}
	/* The page after the previous fault is sequential: a stream starts there. */
	ck_assert(ra_fault(&ra, 4, true, 1 << 20, &d));
	ck_assert_uint_eq(d.sync.start, 4);
	ck_assert_uint_eq(d.sync.nr, MIN);
}
END_TEST

START_TEST(random_miss_ends_stream)
{
	ck_assert(ra_fault(&ra, 0, true, 1 << 20, &d));
	ck_assert(!ra_fault(&ra, 70000, true, 1 << 20, &d));
	ck_assert_uint_eq(ra.size, 0);
	ck_assert(!ra_in_window(&ra, MIN));
	/* A hit (a page some other mapping cached) reads nothing either. */
	ck_assert(!ra_fault(&ra, 123456, false, 1 << 20, &d));
}
END_TEST

START_TEST(sequential_mode_starts_at_max)
{
	ra_set_mode(&ra, RA_MODE_SEQUENTIAL);
	ck_assert(ra_fault(&ra, 1000, true, 1 << 20, &d)); /* anywhere: no history needed */
	ck_assert_uint_eq(d.sync.start, 1000);
	ck_assert_uint_eq(d.sync.nr, MAX);
	ck_assert_uint_eq(d.async.start, 1000 + MAX);
	ck_assert_uint_eq(d.async.nr, MAX);
}
END_TEST

START_TEST(random_mode_never_reads)
{
	ck_assert(ra_fault(&ra, 0, true, 1 << 20, &d)); /* a stream was going */
	ra_set_mode(&ra, RA_MODE_RANDOM);
	ck_assert_uint_eq(ra.size, 0);
	for (pgoff_t i = 0; i < 3000; i++) {
		ck_assert(!ra_fault(&ra, i, true, 1 << 20, &d));
		ck_assert_uint_eq(d.sync.nr, 0);
		ck_assert_uint_eq(d.async.nr, 0);
	}
	/* Back to normal: the stream is detected again. */
	ra_set_mode(&ra, RA_MODE_NORMAL);
	ck_assert(ra_fault(&ra, 3000, true, 1 << 20, &d));
	ck_assert_uint_eq(d.sync.nr, MIN);
}
END_TEST

START_TEST(windows_clipped_to_eof)
{
	/* EOF inside the sync window: no async window at all. */
	ck_assert(ra_fault(&ra, 0, true, 10, &d));
	ck_assert_uint_eq(d.sync.start, 0);
	ck_assert_uint_eq(d.sync.nr, 10);
	ck_assert_uint_eq(d.async.nr, 0);

	/* EOF inside the async window. */
	setup();
	ck_assert(ra_fault(&ra, 0, true, MIN + 8, &d));
	ck_assert_uint_eq(d.sync.nr, MIN);
	ck_assert_uint_eq(d.async.start, MIN);
	ck_assert_uint_eq(d.async.nr, 8);

	/* MADV_SEQUENTIAL near the end. */
	setup();
	ra_set_mode(&ra, RA_MODE_SEQUENTIAL);
	ck_assert(ra_fault(&ra, 995, true, 1000, &d));
	ck_assert_uint_eq(d.sync.start, 995);
	ck_assert_uint_eq(d.sync.nr, 5);
	ck_assert_uint_eq(d.async.nr, 0);

	/* A whole simulated stream never asks for a page at or past EOF. */
	setup();
	for (pgoff_t i = 0; i < 777; i++) {
		if (!ra_fault(&ra, i, true, 777, &d))
			continue;
		if (d.sync.nr)
			ck_assert_uint_le(d.sync.start + d.sync.nr, 777);
		if (d.async.nr)
			ck_assert_uint_le(d.async.start + d.async.nr, 777);
	}
}
END_TEST

START_TEST(max_zero_disables)
{
	ra_init(&ra, MIN, 0);
	ck_assert_uint_eq(ra.min_pages, 0);
	for (pgoff_t i = 0; i < 100; i++)
		ck_assert(!ra_fault(&ra, i, true, 1 << 20, &d));
	ra_set_mode(&ra, RA_MODE_SEQUENTIAL);
	ck_assert(!ra_fault(&ra, 100, true, 1 << 20, &d));
	ck_assert_uint_eq(d.sync.nr, 0);
	ck_assert_uint_eq(d.async.nr, 0);
}
END_TEST

/* A stream must never re-read what it already asked for (windows only move forward). */
START_TEST(windows_never_overlap)
{
	struct rng r = rng_for("windows_never_overlap");
	pgoff_t covered = 0; /* end of the furthest window */
	pgoff_t i = 0;

	while (i < 100000) {
		bool miss = i >= covered; /* what was asked for has been read */
		bool rd = ra_fault(&ra, i, miss, 1 << 20, &d);

		ck_assert_msg(rd || !miss, "a sequential miss at %llu read nothing (seed %llu)",
			      (unsigned long long)i, (unsigned long long)test_seed());
		if (d.sync.nr) {
			ck_assert_uint_ge(d.sync.start + d.sync.nr, covered);
			covered = d.sync.start + d.sync.nr;
		}
		if (d.async.nr) {
			ck_assert_msg(d.async.start >= covered, "async at %llu overlaps %llu (seed %llu)",
				      (unsigned long long)d.async.start, (unsigned long long)covered,
				      (unsigned long long)test_seed());
			covered = d.async.start + d.async.nr;
		}
		/* The reader faults somewhere in what was read, or just past it. */
		i = i + 1 + rng_below(&r, covered - i);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("readahead");
	TCase *tc = tcase(s, "window", 10);

	test_seed();
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, next_size_x4_then_x2_capped);
	tcase_add_test(tc, init_state);
	tcase_add_test(tc, first_fault_opens_sync_and_async);
	tcase_add_test(tc, stream_hitting_marker_ramps);
	tcase_add_test(tc, stream_outrunning_window_ramps);
	tcase_add_test(tc, random_miss_opens_nothing);
	tcase_add_test(tc, random_miss_ends_stream);
	tcase_add_test(tc, sequential_mode_starts_at_max);
	tcase_add_test(tc, random_mode_never_reads);
	tcase_add_test(tc, windows_clipped_to_eof);
	tcase_add_test(tc, max_zero_disables);
	tcase_add_test(tc, windows_never_overlap);
	return run_suite(s);
}
