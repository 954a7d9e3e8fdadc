/*
 * diff_threads.c - several threads faulting at once on the same and
 * neighbouring pages: a file mapping (cold cache, then warm through a second
 * mapping) and an anonymous mapping (concurrent first writes to the same
 * pages must all stick; concurrent reads of untouched pages see zero).  Run
 * with the default engine (one handler thread) and with an engine of three
 * handler threads.  A hang is a failure: the test has a timeout.
 */
#include <pthread.h>

#include "helpers.h"
#include "pager.h"

#define NTHREADS 6
#define FILE_SIZE (4UL << 20)
#define ANON_SIZE (4UL << 20)
#define WORDS (PG / sizeof(uint64_t))

static struct pager_engine *engine; /* NULL: the default engine */
static uint64_t salt;

static void *map(size_t len, int prot, int flags, int fd)
{
	void *p = engine ? pager_engine_mmap(engine, NULL, len, prot, flags, fd, 0)
			 : pager_mmap(NULL, len, prot, flags, fd, 0);

	ck_assert_msg(p != MAP_FAILED, "pager_mmap: %s", strerror(errno));
	return p;
}

static void unmap(void *p, size_t len)
{
	ck_assert_int_eq(engine ? pager_engine_munmap(engine, p, len) : pager_munmap(p, len), 0);
}

/* The file's 8-byte word at byte offset o: any misplaced page shows. */
static uint64_t word_at(size_t o)
{
	return (o * 0x9e3779b97f4a7c15ULL) ^ salt;
}

struct worker {
	pthread_t thread;
	int id;
	uint64_t *map; /* the mapping all threads share */
	size_t pages;
	pthread_barrier_t *go;
	size_t bad; /* first wrong word + 1, 0 if none */
	uint64_t got, want;
};

/*
 * Every thread reads every page, starting at a page of its own: threads
 * collide on the same pages and on their neighbours.  Odd threads walk
 * backwards.
 */
static void *file_reader(void *arg)
{
	struct worker *w = arg;

	pthread_barrier_wait(w->go);
	for (size_t n = 0; n < w->pages && !w->bad; n++) {
		size_t j = w->id & 1 ? (w->pages * 2 - n - (size_t)w->id) % w->pages
				     : (n + (size_t)w->id) % w->pages;
		const uint64_t *page = w->map + j * WORDS;

		for (size_t k = 0; k < WORDS; k++) {
			if (page[k] != word_at((j * WORDS + k) * 8)) {
				w->bad = j * WORDS + k + 1;
				w->got = page[k];
				w->want = word_at((j * WORDS + k) * 8);
				break;
			}
		}
	}
	return NULL;
}

/* Each thread writes its own words of every page, then reads an untouched region. */
static void *anon_writer(void *arg)
{
	struct worker *w = arg;
	size_t half = w->pages / 2;

	pthread_barrier_wait(w->go);
	for (size_t n = 0; n < half; n++) {
		size_t j = (n + (size_t)w->id / 2) % half; /* pairs of threads on one page */
		uint64_t *page = w->map + j * WORDS;

		for (size_t k = (size_t)w->id; k < WORDS; k += NTHREADS)
			page[k] = word_at((j * WORDS + k) * 8);
	}
	/* The second half is never written: concurrent first reads see zero. */
	for (size_t n = 0; n < w->pages - half && !w->bad; n++) {
		size_t j = half + (n + (size_t)w->id) % (w->pages - half);
		const uint64_t *page = w->map + j * WORDS;

		for (size_t k = 0; k < WORDS; k += 61) {
			if (page[k]) {
				w->bad = j * WORDS + k + 1;
				w->got = page[k];
				w->want = 0;
				break;
			}
		}
	}
	return NULL;
}

static void run_workers(void *(*fn)(void *), uint64_t *m, size_t pages, const char *what)
{
	struct worker w[NTHREADS];
	pthread_barrier_t go;

	pthread_barrier_init(&go, NULL, NTHREADS);
	for (int i = 0; i < NTHREADS; i++) {
		w[i] = (struct worker){ .id = i, .map = m, .pages = pages, .go = &go };
		ck_assert_int_eq(pthread_create(&w[i].thread, NULL, fn, &w[i]), 0);
	}
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(w[i].thread, NULL);
	pthread_barrier_destroy(&go);
	for (int i = 0; i < NTHREADS; i++)
		ck_assert_msg(!w[i].bad,
			      "%s: thread %d: word at %#zx is %#llx, expected %#llx (seed %llu)", what,
			      i, (w[i].bad - 1) * 8, (unsigned long long)w[i].got,
			      (unsigned long long)w[i].want, (unsigned long long)test_seed());
}

static int pattern_file(void)
{
	uint64_t *buf = malloc(FILE_SIZE);
	int fd;

	ck_assert_ptr_nonnull(buf);
	for (size_t k = 0; k < FILE_SIZE / 8; k++)
		buf[k] = word_at(k * 8);
	fd = tmp_file(buf, FILE_SIZE, O_RDONLY);
	free(buf);
	return fd;
}

START_TEST(file_concurrent_faults)
{
	int fd = pattern_file();
	uint64_t *a, *b;

	/* Cold: nothing cached, every thread's first touches race for the same reads. */
	a = map(FILE_SIZE, PROT_READ, MAP_PRIVATE, fd);
	run_workers(file_reader, a, FILE_SIZE / PG, "file, cold cache");
	/* Warm: a second mapping of the file, served from the cache the first one filled. */
	b = map(FILE_SIZE, PROT_READ, MAP_PRIVATE, fd);
	run_workers(file_reader, b, FILE_SIZE / PG, "file, second mapping");
	unmap(a, FILE_SIZE);
	unmap(b, FILE_SIZE);
	/* Again from scratch, with the cache dropped with the last mapping (or not). */
	a = map(FILE_SIZE, PROT_READ, MAP_PRIVATE, fd);
	run_workers(file_reader, a, FILE_SIZE / PG, "file, mapped again");
	unmap(a, FILE_SIZE);
	close(fd);
}
END_TEST

START_TEST(anon_concurrent_faults)
{
	for (int round = 0; round < 3; round++) {
		uint64_t *m = map(ANON_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
		size_t half = ANON_SIZE / PG / 2;

		run_workers(anon_writer, m, ANON_SIZE / PG, "anonymous, untouched half");
		/* Every word every thread wrote is there: no page was installed over a write. */
		for (size_t k = 0; k < half * WORDS; k++)
			ck_assert_msg(m[k] == word_at(k * 8),
				      "round %d: word at %#zx (page %zu) is %#llx, expected %#llx "
				      "(seed %llu)",
				      round, k * 8, k / WORDS, (unsigned long long)m[k],
				      (unsigned long long)word_at(k * 8),
				      (unsigned long long)test_seed());
		unmap(m, ANON_SIZE);
	}
}
END_TEST

static void default_engine(void)
{
	engine = NULL;
}

static void three_handlers(void)
{
	struct pager_config cfg;
	char err[256];

	pager_config_default(&cfg);
	cfg.handler_threads = 3;
	engine = pager_engine_new(&cfg, err, sizeof(err));
	ck_assert_msg(engine, "pager_engine_new: %s", err);
}

static void three_handlers_done(void)
{
	pager_engine_destroy(engine);
	engine = NULL;
}

int main(void)
{
	Suite *s = suite_create("diff_threads");
	TCase *tc;

	require_userfaultfd();
	salt = test_seed();
	tc = tcase(s, "one handler", 40);
	tcase_add_checked_fixture(tc, default_engine, NULL);
	tcase_add_test(tc, file_concurrent_faults);
	tcase_add_test(tc, anon_concurrent_faults);
	tc = tcase(s, "three handlers", 40);
	tcase_add_checked_fixture(tc, three_handlers, three_handlers_done);
	tcase_add_test(tc, file_concurrent_faults);
	tcase_add_test(tc, anon_concurrent_faults);
	return run_suite(s);
}
