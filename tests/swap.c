/*
 * swap.c - the memory budget, reclaim and the swap file: working sets four
 * times the budget, and every byte comes back.
 *
 *  - anonymous MAP_PRIVATE memory, one thread and four threads owning
 *    interleaved pages, engines of one and two handler threads: a
 *    sequential write pass, then verify-and-rewrite passes in sequential and
 *    random order; the pages went to swap and came back (swap_out, swap_in);
 *  - the budget holds: resident_bytes sampled during the passes, and
 *    peak_resident_bytes at the end, stay within budget + 2 MiB per handler
 *    thread (one fault installs at most one 2 MiB window); VmRSS grows by no
 *    more than the budget plus the engine's own buffers (RSS_SLACK);
 *  - a page never touched reads zero, also among swapped pages;
 *    MADV_DONTNEED of swapped-out pages: zero again, their slots freed;
 *    munmap frees every slot;
 *  - fork: the child sees every page the parent wrote, swapped or not; its
 *    stores are its own;
 *  - mremap of a region with swapped pages (MAYMOVE|FIXED, and MAYMOVE
 *    growing): every byte at the new address;
 *  - a full swap file: the budget gives way (one warning), no page is lost;
 *  - file pages: a private read-only file mapping four times the budget (clean
 *    pages dropped), a MAP_SHARED writable one (dirty pages written back by
 *    reclaim, msync, pread sees every store);
 *  - a read error from the swap file (the swap file on a FUSE file system
 *    served by a child process, which starts answering EIO): SIGBUS,
 *    BUS_ADRERR, at the exact address.
 *
 * Budgets are 8 MiB (PAGER_TEST_BUDGET_MIB=16 for bigger runs), working sets
 * four times that.  One Check case per test: CK_RUN_CASE=fork_sees_swapped_pages
 * runs one.  Progress and statistics go to stderr.
 *
 * Page contents are derived from (seed, page index, pass): several words per
 * page at positions that depend on the page, zeros elsewhere, so a page that
 * comes back at the wrong place, from the wrong pass, or as zeros shows.
 */
#include <linux/fuse.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include "helpers.h"
#include "pager.h"

#define MiB (1UL << 20)
#define RW (PROT_READ | PROT_WRITE)
#define ANON (MAP_PRIVATE | MAP_ANONYMOUS)
#define WORDS (PG / sizeof(uint64_t))
#define NW 8 /* words written per page */
#define STRIDE (WORDS / NW)

/*
 * The budget of most tests, and their working sets are four times it.  Small,
 * so that the file runs in well under a minute on this VM's disk (a random
 * pass over 64 MiB with a 16 MiB budget took 5 s: each fault is a 4 KiB
 * read at queue depth 1).  PAGER_TEST_BUDGET_MIB overrides it.
 */
static size_t test_budget = 8 * MiB;

/* The engine's documented slack: one fault may install one 2 MiB window per handler thread. */
#define FAULT_SLACK (2 * MiB)

/*
 * VmRSS may grow by what the budget allows (budget + FAULT_SLACK per
 * handler) plus what the engine uses outside the budget: each handler's
 * io_uring bounce buffers (io_queue_depth x 2 MiB reserved, touched only as
 * far as reads use them: a swap-in cluster, a read-around window), the
 * reclaim thread's ring and buffers, the swap slot map (2 bytes a slot,
 * MAP_SHARED) and swap cache map (1 byte a slot) of an 8 GiB swap file,
 * touched sparsely, the zero buffer, thread stacks; and this program's own
 * arrays (two permutations of the pages, 8 bytes a page; a 1 MiB buffer for
 * file contents).  Measured on this VM (the "rss" lines this prints):
 * VmRSS growth minus the highest resident_bytes was 2-4.5 MiB at the 8 MiB
 * budget and up to 6.6 MiB at 16 MiB, anonymous and file tests alike.
 * 12 MiB leaves room for that and is still far below what not evicting
 * would cost: the working set is four budgets (at the 8 MiB budget: limit
 * 8 + 2 + 12 = 22 MiB, working set 32 MiB).
 */
#ifdef __SANITIZE_ADDRESS__
/* AddressSanitizer's shadow memory and quarantine are in VmRSS too: the counted budget still holds. */
#define RSS_SLACK (64 * MiB)
#else
#define RSS_SLACK (12 * MiB)
#endif

static uint64_t seed;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Progress on stderr: where a slow or hung test was. */
static struct pager_engine *phase_eng;

static void phase(const char *what)
{
	static double t0;
	double t = now();
	struct pager_stats st;

	if (!t0)
		t0 = t;
	if (phase_eng) {
		pager_engine_stats(phase_eng, &st);
		fprintf(stderr, "[%6.2f s] %s (resident %.1f MiB, swap used %.1f MiB)\n", t - t0, what,
			st.resident_bytes / (double)MiB, st.swap_used_bytes / (double)MiB);
	} else {
		fprintf(stderr, "[%6.2f s] %s\n", t - t0, what);
	}
}

static uint64_t mix(uint64_t x) /* splitmix64's finalizer */
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

/* Word k of page `page` after pass `pass`: never zero. */
static uint64_t page_word(size_t page, unsigned pass, unsigned k)
{
	return mix(seed ^ mix(page * 0x9e3779b97f4a7c15ULL + pass * 0x632be59bd9b4e019ULL + k)) | 1;
}

/* Where word k of a page is: the in-page position depends on the page. */
static size_t word_pos(size_t page, unsigned k)
{
	return (size_t)k * STRIDE + (page * 7 + k) % STRIDE;
}

static void write_page(uint64_t *p, size_t page, unsigned pass)
{
	for (unsigned k = 0; k < NW; k++)
		p[word_pos(page, k)] = page_word(page, pass, k);
}

struct mismatch {
	size_t count; /* pages that were wrong */
	size_t page, word; /* the first wrong word */
	unsigned pass;
	uint64_t want, got;
	const char *when;
};

static void note_bad(struct mismatch *m, size_t page, size_t word, unsigned pass, uint64_t want,
		     uint64_t got, const char *when)
{
	if (!m->count++) {
		m->page = page;
		m->word = word;
		m->pass = pass;
		m->want = want;
		m->got = got;
		m->when = when;
	}
}

/* Does page hold pass `pass` (0: all zero)?  Counts a wrong page once. */
static bool check_page(const uint64_t *p, size_t page, unsigned pass, struct mismatch *m,
		       const char *when)
{
	unsigned k = 0;

	for (size_t w = 0; w < WORDS; w++) {
		uint64_t want = 0;

		if (pass && k < NW && w == word_pos(page, k))
			want = page_word(page, pass, k++);
		if (p[w] != want) {
			note_bad(m, page, w, pass, want, p[w], when);
			return false;
		}
	}
	return true;
}

#define ck_assert_no_mismatch(m, what)                                                          \
	ck_assert_msg((m).count == 0,                                                          \
		      "%s: %zu wrong pages; first: page %zu word %zu (%s, pass %u): want %#llx got " \
		      "%#llx (seed %llu)",                                                     \
		      (what), (m).count, (m).page, (m).word, (m).when, (m).pass,                \
		      (unsigned long long)(m).want, (unsigned long long)(m).got,               \
		      (unsigned long long)seed)

/* ---- engines, stats, VmRSS ---- */

static struct pager_engine *new_engine(size_t budget, unsigned handlers, size_t swap_bytes,
				       const char *swap_path)
{
	struct pager_config cfg;
	struct pager_engine *eng;
	char err[512];

	pager_config_default(&cfg);
	cfg.budget_bytes = budget;
	cfg.handler_threads = handlers;
	if (swap_bytes)
		cfg.swap_bytes = swap_bytes;
	cfg.swap_path = swap_path;
	eng = pager_engine_new(&cfg, err, sizeof(err));
	phase_eng = eng;
	ck_assert_msg(eng, "pager_engine_new (budget %zu MiB, %u handlers): %s", budget >> 20,
		      handlers, err);
	return eng;
}

static void destroy_engine(struct pager_engine *eng)
{
	if (phase_eng == eng)
		phase_eng = NULL;
	pager_engine_destroy(eng);
}

static struct pager_stats stats(struct pager_engine *eng)
{
	struct pager_stats st;

	pager_engine_stats(eng, &st);
	return st;
}

static void print_stats(const char *what, const struct pager_stats *st)
{
	fprintf(stderr,
		"%s: swap_faults %llu swapcache_hits %llu swap_in %llu (readahead %llu) swap_out %llu "
		"swap_clean %llu scanned %llu deactivated %llu file_dropped %llu file_written %llu "
		"swap_errors %llu budget_waits %llu unevictable %llu; resident %.1f MiB peak %.1f MiB "
		"swapcache %.1f MiB swap used %.1f MiB budget %.1f MiB\n",
		what, (unsigned long long)st->swap_faults, (unsigned long long)st->swapcache_hits,
		(unsigned long long)st->swap_in, (unsigned long long)st->swap_readahead,
		(unsigned long long)st->swap_out, (unsigned long long)st->swap_clean,
		(unsigned long long)st->reclaim_scanned,
		(unsigned long long)st->reclaim_deactivated, (unsigned long long)st->file_dropped,
		(unsigned long long)st->file_written,
		(unsigned long long)st->swap_errors, (unsigned long long)st->budget_waits,
		(unsigned long long)st->unevictable, st->resident_bytes / (double)MiB,
		st->peak_resident_bytes / (double)MiB, st->swapcache_bytes / (double)MiB,
		st->swap_used_bytes / (double)MiB, st->budget_bytes / (double)MiB);
}

/* VmRSS of this process, in bytes. */
static size_t vm_rss(void)
{
	char buf[4096], *s;
	ssize_t n;
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	s = strstr(buf, "VmRSS:");
	return s ? (size_t)strtoull(s + 6, NULL, 10) << 10 : 0;
}

/* A thread that samples resident_bytes and VmRSS every millisecond. */
struct sampler {
	struct pager_engine *eng;
	pthread_t thread;
	volatile int stop;
	uint64_t max_resident;
	size_t max_rss, samples;
};

static void *sampler_main(void *arg)
{
	struct sampler *s = arg;
	const struct timespec ms = { 0, 1000000 };

	while (!s->stop) {
		struct pager_stats st = stats(s->eng);
		size_t rss = vm_rss();

		if (st.resident_bytes > s->max_resident)
			s->max_resident = st.resident_bytes;
		if (rss > s->max_rss)
			s->max_rss = rss;
		s->samples++;
		nanosleep(&ms, NULL);
	}
	return NULL;
}

static void sampler_start(struct sampler *s, struct pager_engine *eng)
{
	memset(s, 0, sizeof(*s));
	s->eng = eng;
	ck_assert_int_eq(pthread_create(&s->thread, NULL, sampler_main, s), 0);
}

static void sampler_stop(struct sampler *s)
{
	s->stop = 1;
	pthread_join(s->thread, NULL);
}

/*
 * The budget held: sampled resident_bytes and the peak within budget + one
 * window per handler; VmRSS grew (from rss0, before anything was mapped) by
 * at most budget + RSS_SLACK.
 */
static void check_budget(struct pager_engine *eng, const struct sampler *s, size_t budget,
			 unsigned handlers, size_t rss0, size_t working_set, const char *what)
{
	struct pager_stats st = stats(eng);
	uint64_t limit = budget + FAULT_SLACK * handlers;
	size_t growth = s->max_rss > rss0 ? s->max_rss - rss0 : 0;
	char bad[1024] = "";
	size_t n = 0;

	fprintf(stderr,
		"%s: rss before %.1f MiB, max %.1f MiB (growth %.1f MiB; budget %zu MiB, working set %zu "
		"MiB); max sampled resident %.1f MiB, peak %.1f MiB, %zu samples\n",
		what, rss0 / (double)MiB, s->max_rss / (double)MiB, growth / (double)MiB, budget >> 20,
		working_set >> 20, s->max_resident / (double)MiB, st.peak_resident_bytes / (double)MiB,
		s->samples);
	/* Every violation in one message. */
	if (st.budget_bytes != budget)
		n += (size_t)snprintf(bad + n, sizeof(bad) - n, "; stats.budget_bytes %llu, want %zu",
				      (unsigned long long)st.budget_bytes, budget);
	if (s->max_resident > limit && n < sizeof(bad))
		n += (size_t)snprintf(bad + n, sizeof(bad) - n,
				      "; resident_bytes reached %llu (%.2f MiB) > budget %zu MiB + %u x 2 MiB",
				      (unsigned long long)s->max_resident, s->max_resident / (double)MiB,
				      budget >> 20, handlers);
	if (st.peak_resident_bytes > limit && n < sizeof(bad))
		n += (size_t)snprintf(bad + n, sizeof(bad) - n,
				      "; peak_resident_bytes %llu (%.2f MiB) > budget %zu MiB + %u x 2 MiB",
				      (unsigned long long)st.peak_resident_bytes,
				      st.peak_resident_bytes / (double)MiB, budget >> 20, handlers);
	if (st.peak_resident_bytes < s->max_resident && n < sizeof(bad))
		n += (size_t)snprintf(bad + n, sizeof(bad) - n,
				      "; peak_resident_bytes %llu is below a sampled resident_bytes %llu",
				      (unsigned long long)st.peak_resident_bytes,
				      (unsigned long long)s->max_resident);
	if (growth > limit + RSS_SLACK && n < sizeof(bad))
		n += (size_t)snprintf(bad + n, sizeof(bad) - n,
				      "; VmRSS grew by %.1f MiB > budget %zu MiB + %u x 2 MiB + %lu MiB of the "
				      "engine's own (working set %zu MiB)",
				      growth / (double)MiB, budget >> 20, handlers, RSS_SLACK >> 20,
				      working_set >> 20);
	ck_assert_msg(n == 0, "%s: the budget did not hold%s (seed %llu)", what, bad,
		      (unsigned long long)seed);
}

/* Pages of [p, p + npages) that are not mapped in this process (mincore). */
static size_t count_nonresident(void *p, size_t npages)
{
	unsigned char *vec = malloc(npages);
	size_t n = 0;

	ck_assert(vec);
	ck_assert_int_eq(mincore(p, npages * PG, vec), 0);
	for (size_t i = 0; i < npages; i++)
		n += !(vec[i] & 1);
	free(vec);
	return n;
}

/* Wait (up to 3 s) for swap_used_bytes to reach at most `want`; returns the last value. */
static uint64_t wait_swap_used(struct pager_engine *eng, uint64_t want)
{
	uint64_t v = 0;

	for (int i = 0; i < 300; i++) {
		v = stats(eng).swap_used_bytes;
		if (v <= want)
			break;
		usleep(10000);
	}
	return v;
}

/* ---- a fatal SIGBUS or SIGSEGV says where ---- */

static char *volatile cur_base;
static volatile size_t cur_len;

static void fatal_handler(int sig, siginfo_t *si, void *uc)
{
	char msg[256];
	int n;
	char *a = si->si_addr, *b = cur_base;

	(void)uc;
	if (b && a >= b && a < b + cur_len)
		n = snprintf(msg, sizeof(msg),
			     "FATAL: signal %d code %d at %p: page %zu of the mapping under test "
			     "(seed %llu)\n",
			     sig, si->si_code, si->si_addr, (size_t)(a - b) / PG,
			     (unsigned long long)seed);
	else
		n = snprintf(msg, sizeof(msg), "FATAL: signal %d code %d at %p (seed %llu)\n", sig,
			     si->si_code, si->si_addr, (unsigned long long)seed);
	if (write(STDERR_FILENO, msg, (size_t)n) < 0) {
		/* nothing to do */
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

static void install_fatal_handlers(void)
{
	struct sigaction sa = { .sa_sigaction = fatal_handler, .sa_flags = SA_SIGINFO };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGSEGV, &sa, NULL);
}

static void *anon_map(struct pager_engine *eng, size_t len)
{
	void *p = pager_engine_mmap(eng, NULL, len, RW, ANON, -1, 0);

	ck_assert_msg(p != MAP_FAILED, "pager_engine_mmap %zu MiB: %s", len >> 20, strerror(errno));
	cur_base = p;
	cur_len = len;
	return p;
}

/* ---- passes ---- */

/* The pages one worker owns (page % nworkers == id), in some order. */
struct order {
	size_t *pages;
	size_t n;
};

static struct order order_seq(size_t npages, unsigned id, unsigned nworkers)
{
	struct order o = { malloc(sizeof(size_t) * (npages / nworkers + 1)), 0 };

	ck_assert(o.pages);
	for (size_t i = id; i < npages; i += nworkers)
		o.pages[o.n++] = i;
	return o;
}

static struct order order_random(size_t npages, unsigned id, unsigned nworkers, struct rng *r)
{
	struct order o = order_seq(npages, id, nworkers);

	for (size_t i = o.n; i > 1; i--) {
		size_t j = rng_below(r, i), t = o.pages[i - 1];

		o.pages[i - 1] = o.pages[j];
		o.pages[j] = t;
	}
	return o;
}

/* Verify that every page of the order holds `old` (unless old < 0), then write `new` (if > 0). */
static void pass(uint64_t *base, const struct order *o, int old, int new, struct mismatch *m,
		 const char *when)
{
	for (size_t n = 0; n < o->n; n++) {
		size_t i = o->pages[n];
		uint64_t *p = base + i * WORDS;

		if (old >= 0)
			check_page(p, i, (unsigned)old, m, when);
		if (new > 0)
			write_page(p, i, (unsigned)new);
	}
}

/*
 * The standard sequence on the pages one worker owns: write pass 1 in order;
 * verify 1, write 2, in order; verify 2, write 3, in random order; verify 3,
 * in order.
 */
static void passes(uint64_t *base, size_t npages, unsigned id, unsigned nworkers, struct rng *r,
		   struct mismatch *m)
{
	struct order seq = order_seq(npages, id, nworkers);
	struct order rnd = order_random(npages, id, nworkers, r);

	double t[5];

	t[0] = now();
	pass(base, &seq, -1, 1, m, "sequential write");
	t[1] = now();
	pass(base, &seq, 1, 2, m, "sequential verify-and-rewrite");
	t[2] = now();
	pass(base, &rnd, 2, 3, m, "random verify-and-rewrite");
	t[3] = now();
	pass(base, &seq, 3, -1, m, "final sequential verify");
	t[4] = now();
	if (id == 0)
		fprintf(stderr, "passes (write, verify-and-rewrite in order, at random, verify): %.2f %.2f "
				"%.2f %.2f s\n",
			t[1] - t[0], t[2] - t[1], t[3] - t[2], t[4] - t[3]);
	free(seq.pages);
	free(rnd.pages);
}

struct worker {
	pthread_t thread;
	unsigned id, n;
	uint64_t *base;
	size_t npages;
	struct rng rng;
	pthread_barrier_t *go;
	struct mismatch m;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	pthread_barrier_wait(w->go);
	passes(w->base, w->npages, w->id, w->n, &w->rng, &w->m);
	return NULL;
}

/* Test 1 and 2: the passes over 4x the budget, by `nworkers` threads, on an engine of `handlers`. */
static void anon_workload(unsigned handlers, unsigned nworkers, const char *name)
{
	const size_t budget = test_budget, len = 4 * budget, npages = len / PG;
	struct worker w[8];
	pthread_barrier_t go;
	struct sampler smp;
	struct pager_engine *eng = new_engine(budget, handlers, 0, NULL);
	struct pager_stats st;
	size_t rss0 = vm_rss();
	uint64_t *base = anon_map(eng, len);
	struct mismatch all = { 0 };

	ck_assert_uint_le(nworkers, 8);
	sampler_start(&smp, eng);
	pthread_barrier_init(&go, NULL, nworkers);
	for (unsigned i = 0; i < nworkers; i++) {
		char salt[64];

		snprintf(salt, sizeof(salt), "%s/%u", name, i);
		w[i] = (struct worker){ .id = i, .n = nworkers, .base = base, .npages = npages,
					.rng = rng_for(salt), .go = &go };
		ck_assert_int_eq(pthread_create(&w[i].thread, NULL, worker_main, &w[i]), 0);
	}
	for (unsigned i = 0; i < nworkers; i++) {
		pthread_join(w[i].thread, NULL);
		if (w[i].m.count && !all.count)
			all = w[i].m;
		else
			all.count += w[i].m.count;
	}
	sampler_stop(&smp);
	pthread_barrier_destroy(&go);
	st = stats(eng);
	print_stats(name, &st);
	ck_assert_no_mismatch(all, name);
	check_budget(eng, &smp, budget, handlers, rss0, len, name);
	ck_assert_msg(st.swap_out > 0, "%s: 4x the budget and nothing was swapped out", name);
	ck_assert_msg(st.swap_in > 0, "%s: 4x the budget and nothing was swapped in", name);
	ck_assert_msg(st.swap_faults > 0, "%s: no swap faults", name);
	ck_assert_msg(st.swap_errors == 0, "%s: %llu swap errors", name,
		      (unsigned long long)st.swap_errors);
	ck_assert_int_eq(pager_engine_munmap(eng, base, len), 0);
	cur_base = NULL;
	destroy_engine(eng);
}

START_TEST(anon_1thread_1handler)
{
	anon_workload(1, 1, "anon, 1 thread, 1 handler");
}
END_TEST

START_TEST(anon_1thread_2handlers)
{
	anon_workload(2, 1, "anon, 1 thread, 2 handlers");
}
END_TEST

START_TEST(anon_4threads_1handler)
{
	anon_workload(1, 4, "anon, 4 threads, 1 handler");
}
END_TEST

START_TEST(anon_4threads_2handlers)
{
	anon_workload(2, 4, "anon, 4 threads, 2 handlers");
}
END_TEST

/* ---- 3: untouched pages, MADV_DONTNEED, munmap ---- */

static bool is_hole(size_t page)
{
	return mix(seed ^ (page * 0xd6e8feb86659fd93ULL)) % 11 == 0;
}

START_TEST(untouched_dontneed_munmap)
{
	const size_t budget = test_budget, len = 4 * budget, npages = len / PG;
	struct rng r = rng_for("untouched_dontneed_munmap");
	struct pager_engine *eng = new_engine(budget, 1, 0, NULL);
	uint64_t *base = anon_map(eng, len);
	struct order rnd = order_random(npages, 0, 1, &r);
	struct mismatch m = { 0 };
	struct pager_stats a, b;
	size_t holes = 0, first = npages / 8, nr = npages / 4, gone, swapped_before;

	/* Every page but the holes, twice, so that most of them go to swap. */
	for (size_t i = 0; i < npages; i++)
		if (!is_hole(i))
			write_page(base + i * WORDS, i, 1);
	for (size_t n = 0; n < rnd.n; n++) {
		size_t i = rnd.pages[n];

		if (!is_hole(i)) {
			check_page(base + i * WORDS, i, 1, &m, "verify-and-rewrite");
			write_page(base + i * WORDS, i, 2);
		}
	}
	ck_assert_no_mismatch(m, "before reading the holes");
	a = stats(eng);
	ck_assert_msg(a.swap_out > 0, "nothing was swapped out");
	/* The holes, among swapped pages: zero. */
	for (size_t i = 0; i < npages; i++) {
		if (is_hole(i)) {
			holes++;
			check_page(base + i * WORDS, i, 0, &m, "untouched page");
		}
	}
	ck_assert_no_mismatch(m, "untouched pages among swapped ones");
	ck_assert_uint_gt(holes, 0);
	/* Everything again, in order: the first three quarters of the mapping go out. */
	for (size_t i = 0; i < npages; i++)
		check_page(base + i * WORDS, i, is_hole(i) ? 0 : 2, &m, "after reading the holes");
	ck_assert_no_mismatch(m, "after reading the holes");

	/*
	 * MADV_DONTNEED of [first, first + nr): a range swapped out by the last
	 * pass (it ran in order, the budget is a quarter of the mapping).
	 */
	swapped_before = count_nonresident(base + first * WORDS, nr);
	a = stats(eng);
	ck_assert_msg(swapped_before > nr / 2, "only %zu of %zu pages of the range are not resident",
		      swapped_before, nr);
	ck_assert_msg(pager_engine_madvise(eng, base + first * WORDS, nr * PG, MADV_DONTNEED) == 0,
		      "pager_engine_madvise(MADV_DONTNEED): %s", strerror(errno));
	b = stats(eng);
	fprintf(stderr,
		"dontneed: %zu of %zu pages not resident; swap used %.1f -> %.1f MiB, resident %.1f -> "
		"%.1f MiB\n",
		swapped_before, nr, a.swap_used_bytes / (double)MiB, b.swap_used_bytes / (double)MiB,
		a.resident_bytes / (double)MiB, b.resident_bytes / (double)MiB);
	ck_assert_msg(b.swap_used_bytes < a.swap_used_bytes,
		      "MADV_DONTNEED of %zu swapped pages: swap_used_bytes %llu -> %llu", swapped_before,
		      (unsigned long long)a.swap_used_bytes, (unsigned long long)b.swap_used_bytes);
	/*
	 * Most of the range's slots are freed (a page not resident may also be
	 * in the swap cache, which holds a slot too; other pages may be given
	 * slots meanwhile, so not an exact count).
	 */
	gone = (size_t)((a.swap_used_bytes - b.swap_used_bytes) / PG);
	fprintf(stderr, "dontneed: %zu slots freed\n", gone);
	ck_assert_msg(gone >= swapped_before * 3 / 4,
		      "MADV_DONTNEED of %zu pages not resident freed only %zu swap slots",
		      swapped_before, gone);
	for (size_t i = first; i < first + nr; i++)
		check_page(base + i * WORDS, i, 0, &m, "after MADV_DONTNEED");
	ck_assert_no_mismatch(m, "MADV_DONTNEED of swapped-out pages");
	/* The rest is untouched by it. */
	for (size_t n = 0; n < rnd.n; n++) {
		size_t i = rnd.pages[n];

		if (i < first || i >= first + nr)
			check_page(base + i * WORDS, i, is_hole(i) ? 0 : 2, &m,
				   "outside the MADV_DONTNEED range");
	}
	ck_assert_no_mismatch(m, "outside the MADV_DONTNEED range");

	/* munmap of half, then of the rest: every slot is released. */
	ck_assert_int_eq(pager_engine_munmap(eng, base, len / 2), 0);
	for (size_t i = npages / 2; i < npages; i++)
		check_page(base + i * WORDS, i, is_hole(i) ? 0 : 2, &m, "after munmap of the first half");
	ck_assert_no_mismatch(m, "after munmap of the first half");
	ck_assert_int_eq(pager_engine_munmap(eng, base + (npages / 2) * WORDS, len / 2), 0);
	cur_base = NULL;
	b = stats(eng);
	{
		uint64_t used = wait_swap_used(eng, 0);

		print_stats("after munmap of everything", &b);
		ck_assert_msg(used == 0, "swap_used_bytes %llu after munmap of everything",
			      (unsigned long long)used);
	}
	free(rnd.pages);
	destroy_engine(eng);
}
END_TEST

/* ---- 4: fork ---- */

START_TEST(fork_sees_swapped_pages)
{
	const size_t budget = test_budget, len = 4 * budget, npages = len / PG;
	struct rng r = rng_for("fork_sees_swapped_pages");
	struct pager_engine *eng = new_engine(budget, 1, 0, NULL);
	uint64_t *base = anon_map(eng, len);
	struct order seq = order_seq(npages, 0, 1), rnd = order_random(npages, 0, 1, &r);
	struct mismatch m = { 0 };
	struct pager_stats st;
	int status;
	pid_t pid;

	pass(base, &seq, -1, 1, &m, "parent: write");
	pass(base, &rnd, 1, 2, &m, "parent: random verify-and-rewrite");
	ck_assert_no_mismatch(m, "parent before fork");
	st = stats(eng);
	print_stats("parent before fork", &st);
	ck_assert_msg(st.swap_out > 0, "nothing was swapped out before fork");
	fprintf(stderr, "fork: %zu of %zu pages not resident in the parent\n",
		count_nonresident(base, npages), npages);
	fflush(NULL);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct mismatch cm = { 0 };

		pass(base, &seq, 2, -1, &cm, "child: verify the parent's pages");
		if (cm.count) {
			fprintf(stderr,
				"child: %zu wrong pages; first: page %zu word %zu (%s): want %#llx got "
				"%#llx (seed %llu)\n",
				cm.count, cm.page, cm.word, cm.when, (unsigned long long)cm.want,
				(unsigned long long)cm.got, (unsigned long long)seed);
			_exit(10);
		}
		pass(base, &rnd, 2, 100, &cm, "child: verify-and-rewrite its own");
		pass(base, &seq, 100, -1, &cm, "child: verify its own");
		if (cm.count) {
			fprintf(stderr,
				"child: %zu wrong pages; first: page %zu word %zu (%s, pass %u): want %#llx "
				"got %#llx (seed %llu)\n",
				cm.count, cm.page, cm.word, cm.when, cm.pass, (unsigned long long)cm.want,
				(unsigned long long)cm.got, (unsigned long long)seed);
			_exit(11);
		}
		/*
		 * exit, not _exit: a child gives its references to the shared swap
		 * slots back at exit (documented: one that ends with _exit keeps
		 * them until the parent's engine goes).
		 */
		exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "child: %s %d (10: the parent's pages were wrong, 11: its own were; see stderr)",
		      WIFEXITED(status) ? "exit status" : "killed by signal",
		      WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	/* The parent's pages are as it left them, and still its own to change. */
	pass(base, &rnd, 2, 3, &m, "parent after the child: random verify-and-rewrite");
	pass(base, &seq, 3, -1, &m, "parent after the child: verify");
	ck_assert_no_mismatch(m, "parent after the child");
	st = stats(eng);
	print_stats("parent after the child", &st);
	ck_assert_int_eq(pager_engine_munmap(eng, base, len), 0);
	cur_base = NULL;
	{
		uint64_t used = wait_swap_used(eng, 0);

		ck_assert_msg(used == 0, "swap_used_bytes %llu after munmap (the child is gone)",
			      (unsigned long long)used);
	}
	free(seq.pages);
	free(rnd.pages);
	destroy_engine(eng);
}
END_TEST

/* ---- 5: mremap ---- */

START_TEST(mremap_swapped_region)
{
	const size_t budget = test_budget, len = 4 * budget, npages = len / PG;
	struct rng r = rng_for("mremap_swapped_region");
	struct pager_engine *eng = new_engine(budget, 1, 0, NULL);
	uint64_t *base = anon_map(eng, len), *to, *grown;
	struct order seq = order_seq(npages, 0, 1), rnd = order_random(npages, 0, 1, &r);
	struct order seq2 = order_seq(2 * npages, 0, 1);
	struct mismatch m = { 0 };
	struct pager_stats st;
	unsigned char guard_vec;
	size_t nonres;

	pass(base, &seq, -1, 1, &m, "write");
	pass(base, &rnd, 1, 2, &m, "random verify-and-rewrite");
	ck_assert_no_mismatch(m, "before mremap");
	st = stats(eng);
	ck_assert_msg(st.swap_out > 0, "nothing was swapped out before mremap");
	nonres = count_nonresident(base, npages);
	ck_assert_msg(nonres > npages / 2, "only %zu of %zu pages are not resident", nonres, npages);

	/* MREMAP_MAYMOVE|MREMAP_FIXED onto a kernel reservation, one guard page beyond it. */
	to = mmap(NULL, len + PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ck_assert(to != MAP_FAILED);
	ck_assert_ptr_eq(pager_engine_mremap(eng, base, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, to),
			 to);
	cur_base = (char *)to;
	ck_assert_msg(!pager_engine_owns(eng, base), "the old address is still the engine's");
	ck_assert(pager_engine_owns(eng, to));
	pass(to, &rnd, 2, 3, &m, "after mremap FIXED: random verify-and-rewrite");
	pass(to, &seq, 3, -1, &m, "after mremap FIXED: verify");
	ck_assert_no_mismatch(m, "after mremap MAYMOVE|FIXED");

	/* Grow to twice the size: the guard page is in the way, so it moves. */
	grown = pager_engine_mremap(eng, to, len, 2 * len, MREMAP_MAYMOVE, NULL);
	ck_assert_msg(grown != MAP_FAILED, "pager_engine_mremap grow: %s", strerror(errno));
	ck_assert_ptr_ne(grown, to);
	ck_assert_msg(mincore((char *)to + len, PG, &guard_vec) == 0,
		      "the guard page after the old mapping is gone: %s", strerror(errno));
	cur_base = (char *)grown;
	cur_len = 2 * len;
	/* The old pages at the same offsets, zeros beyond the old end; then all rewritten. */
	for (size_t i = 0; i < 2 * npages; i++) {
		uint64_t *pg = grown + i * WORDS;

		check_page(pg, i, i < npages ? 3 : 0, &m,
			   i < npages ? "after growing: old page" : "after growing: new page");
		write_page(pg, i, 4);
	}
	ck_assert_no_mismatch(m, "after mremap MAYMOVE growing");
	pass(grown, &seq2, 4, -1, &m, "after growing: verify");
	ck_assert_no_mismatch(m, "after mremap MAYMOVE growing, second pass");
	st = stats(eng);
	print_stats("mremap", &st);
	ck_assert_int_eq(pager_engine_munmap(eng, grown, 2 * len), 0);
	cur_base = NULL;
	munmap((char *)to + len, PG);
	{
		uint64_t used = wait_swap_used(eng, 0);

		ck_assert_msg(used == 0, "swap_used_bytes %llu after munmap",
			      (unsigned long long)used);
	}
	free(seq.pages);
	free(seq2.pages);
	free(rnd.pages);
	destroy_engine(eng);
}
END_TEST

/*
 * Pages go out in the order they came in, so a random toucher that comes
 * back in the same order finds the pages it needs next read with the one
 * it faulted on (swap_cluster_readahead), as on the kernel; and pages read
 * back and not changed leave again without a write.
 */
START_TEST(random_order_comes_back_clustered)
{
	const size_t budget = test_budget, len = 4 * budget, npages = len / PG;
	struct rng r = rng_for("random_order_comes_back_clustered");
	struct pager_engine *eng = new_engine(budget, 1, 0, NULL);
	uint64_t *base = anon_map(eng, len);
	struct order rnd = order_random(npages, 0, 1, &r);
	struct mismatch m = { 0 };
	struct pager_stats before, mid, st;

	pass(base, &rnd, -1, 1, &m, "random write");
	before = stats(eng);
	pass(base, &rnd, 1, 2, &m, "random verify-and-rewrite, same order");
	mid = stats(eng);
	pass(base, &rnd, 2, -1, &m, "random verify, same order");
	ck_assert_no_mismatch(m, "random order, twice");
	st = stats(eng);
	/* The last pass only reads: what it brought back leaves again unchanged, without a write. */
	ck_assert_msg(st.swap_clean - mid.swap_clean > npages / 4,
		      "%llu pages evicted unchanged in a read-only pass over %zu",
		      (unsigned long long)(st.swap_clean - mid.swap_clean), npages);
	ck_assert_msg(st.swap_out - mid.swap_out < st.swap_clean - mid.swap_clean,
		      "a read-only pass wrote %llu pages and dropped %llu unchanged",
		      (unsigned long long)(st.swap_out - mid.swap_out),
		      (unsigned long long)(st.swap_clean - mid.swap_clean));
	print_stats("random order", &st);
	st.swap_in -= before.swap_in;
	st.swap_readahead -= before.swap_readahead;
	st.swap_faults -= before.swap_faults;
	/*
	 * The same order again is a stream of slots: read ahead of the
	 * faults (swap_stream), not one cluster of 8 per fault.
	 */
	ck_assert_msg(st.swap_faults * 16 < st.swap_in,
		      "%llu swap faults for %llu pages swapped in: no stream read ahead of them",
		      (unsigned long long)st.swap_faults, (unsigned long long)st.swap_in);
	ck_assert_msg(st.swap_in > npages / 2, "only %llu pages swapped in over two passes of %zu",
		      (unsigned long long)st.swap_in, npages);
	ck_assert_msg(st.swap_readahead * 2 > st.swap_in,
		      "%llu of %llu pages swapped in came with another's read: the slots do not "
		      "follow the order the pages went out in",
		      (unsigned long long)st.swap_readahead, (unsigned long long)st.swap_in);
	ck_assert_int_eq(pager_engine_munmap(eng, base, len), 0);
	cur_base = NULL;
	free(rnd.pages);
	destroy_engine(eng);
}
END_TEST

/*
 * munmap of pages whose reads are in flight: the stream over the first
 * half's pages reads ahead into the second half's slots (they went out
 * after them), and the second half goes away at once, while those reads
 * may still be in flight.  Every slot comes back (a slot whose read was in
 * flight is freed when the read lands, not before: it must not be handed
 * out to another page while a read of it is under way), and the first
 * half's data is intact.
 */
START_TEST(munmap_while_swap_reads_in_flight)
{
	const size_t budget = test_budget, len = 4 * budget, npages = len / PG, half = npages / 2;
	struct rng r = rng_for("munmap_while_swap_reads_in_flight");
	struct pager_engine *eng = new_engine(budget, 1, 0, NULL);
	uint64_t *base = anon_map(eng, len);
	struct order a = order_random(half, 0, 1, &r), b = order_random(half, 0, 1, &r), all;
	struct mismatch m = { 0 };
	uint64_t used;

	all.n = npages;
	all.pages = malloc(npages * sizeof(*all.pages));
	ck_assert(all.pages);
	for (size_t k = 0; k < half; k++) {
		all.pages[k] = a.pages[k];
		all.pages[half + k] = half + b.pages[k];
	}
	pass(base, &all, -1, 1, &m, "write, first half then second");
	pass(base, &a, 1, -1, &m, "verify the first half, same order");
	ck_assert_no_mismatch(m, "first half read back");
	ck_assert_int_eq(pager_engine_munmap(eng, (char *)base + half * PG, len - half * PG), 0);
	ck_assert_int_eq(pager_engine_munmap(eng, base, half * PG), 0);
	cur_base = NULL;
	used = wait_swap_used(eng, 0);
	ck_assert_msg(used == 0, "%llu bytes of swap still in use after everything was unmapped",
		      (unsigned long long)used);
	free(all.pages);
	free(a.pages);
	free(b.pages);
	destroy_engine(eng);
}
END_TEST

/* ---- 6: the swap file is full ---- */

/* Run with stderr going to a file; returns the descriptor to read it back from. */
static int stderr_to_file(int *saved)
{
	int fd = tmp_file(NULL, 0, O_RDWR);

	fflush(stderr);
	*saved = dup(STDERR_FILENO);
	ck_assert_int_ge(*saved, 0);
	ck_assert_int_ge(dup2(fd, STDERR_FILENO), 0);
	return fd;
}

/* Put stderr back; returns what was written to it (malloc'd), and copies it to stderr. */
static char *stderr_back(int fd, int saved)
{
	off_t n;
	char *buf;

	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	n = lseek(fd, 0, SEEK_END);
	ck_assert_int_ge(n, 0);
	buf = calloc(1, (size_t)n + 1);
	ck_assert(buf);
	ck_assert_int_eq(pread(fd, buf, (size_t)n, 0), n);
	close(fd);
	fputs(buf, stderr);
	return buf;
}

static size_t count_lines_with(const char *text, const char *needle)
{
	size_t n = 0;

	for (const char *l = text; *l;) {
		const char *e = strchr(l, '\n');
		size_t len = e ? (size_t)(e - l) : strlen(l);

		if (memmem(l, len, needle, strlen(needle)))
			n++;
		l += len + (e != NULL);
	}
	return n;
}

START_TEST(swap_full_no_lost_page)
{
	const size_t budget = 8 * MiB, swap = 8 * MiB, len = 32 * MiB, npages = len / PG;
	struct rng r = rng_for("swap_full_no_lost_page");
	struct order seq, rnd;
	struct mismatch m = { 0 };
	struct pager_engine *eng;
	struct pager_stats st;
	uint64_t *base;
	char *err_text;
	int saved, efd;

	(void)test_seed();
	efd = stderr_to_file(&saved);
	eng = new_engine(budget, 1, swap, NULL);
	base = anon_map(eng, len);
	seq = order_seq(npages, 0, 1);
	rnd = order_random(npages, 0, 1, &r);
	pass(base, &seq, -1, 1, &m, "write");
	pass(base, &rnd, 1, 2, &m, "random verify-and-rewrite");
	pass(base, &seq, 2, 3, &m, "sequential verify-and-rewrite");
	pass(base, &rnd, 3, -1, &m, "random verify");
	st = stats(eng);
	err_text = stderr_back(efd, saved);
	print_stats("swap full", &st);
	ck_assert_no_mismatch(m, "with a full swap file");
	ck_assert_msg(st.swap_out > 0, "nothing was swapped out");
	ck_assert_msg(st.swap_used_bytes <= swap, "swap_used_bytes %llu > swap_bytes %zu",
		      (unsigned long long)st.swap_used_bytes, swap);
	ck_assert_msg(st.peak_resident_bytes > budget,
		      "32 MiB in an 8 MiB budget and an 8 MiB swap file, yet peak resident %llu",
		      (unsigned long long)st.peak_resident_bytes);
	ck_assert_msg(count_lines_with(err_text, "budget") == 1,
		      "want exactly one warning about the budget on stderr, got %zu:\n%s",
		      count_lines_with(err_text, "budget"), err_text);
	ck_assert_msg(count_lines_with(err_text, "pager: warning") == 1,
		      "want exactly one warning on stderr, got %zu:\n%s",
		      count_lines_with(err_text, "pager: warning"), err_text);
	free(err_text);
	ck_assert_int_eq(pager_engine_munmap(eng, base, len), 0);
	cur_base = NULL;
	free(seq.pages);
	free(rnd.pages);
	destroy_engine(eng);
}
END_TEST

/* ---- 7: file pages ---- */

/* The file's contents: word w (of the whole file) is file_word(w). */
static uint64_t file_word(size_t w)
{
	return mix(seed ^ 0x5851f42d4c957f2dULL ^ mix(w));
}

static int make_file(size_t len)
{
	int fd = tmp_file(NULL, len, O_RDWR);
	const size_t chunk = 1 * MiB;
	uint64_t *buf = malloc(chunk);

	ck_assert(buf);
	for (size_t off = 0; off < len; off += chunk) {
		for (size_t i = 0; i < chunk / 8; i++)
			buf[i] = file_word(off / 8 + i);
		pwrite_all(fd, buf, chunk, (off_t)off);
	}
	free(buf);
	return fd;
}

START_TEST(file_private_readonly)
{
	const size_t budget = test_budget, len = 4 * budget, npages = len / PG;
	struct rng r = rng_for("file_private_readonly");
	int fd = make_file(len);
	struct pager_engine *eng = new_engine(budget, 1, 0, NULL);
	size_t rss0 = vm_rss();
	struct order seq = order_seq(npages, 0, 1), rnd = order_random(npages, 0, 1, &r);
	const struct order *orders[2] = { &seq, &rnd };
	uint64_t page[WORDS];
	struct sampler smp;
	struct pager_stats st;
	size_t bad = 0, bad_page = 0, bad_word = 0;
	uint64_t want = 0, got = 0, fromfile = 0;
	const uint64_t *p;

	p = pager_engine_mmap(eng, NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
	ck_assert_msg(p != MAP_FAILED, "pager_engine_mmap: %s", strerror(errno));
	cur_base = (char *)p;
	cur_len = len;
	sampler_start(&smp, eng);
	phase("private file: start");
	for (int o = 0; o < 2; o++) {
		for (size_t n = 0; n < npages; n++) {
			size_t i = orders[o]->pages[n];

			pread_all(fd, page, PG, (off_t)(i * PG));
			for (size_t k = 0; k < WORDS; k++) {
				size_t w = i * WORDS + k;

				if (p[w] != file_word(w) || page[k] != p[w]) {
					if (!bad++) {
						bad_page = i;
						bad_word = k;
						want = file_word(w);
						got = p[w];
						fromfile = page[k];
					}
					break;
				}
			}
		}
		phase(o ? "private file: random pass" : "private file: sequential pass");
	}
	sampler_stop(&smp);
	st = stats(eng);
	print_stats("file, private, read-only", &st);
	ck_assert_msg(bad == 0,
		      "%zu wrong pages; first: page %zu word %zu: want %#llx, mapping %#llx, pread %#llx "
		      "(seed %llu)",
		      bad, bad_page, bad_word, (unsigned long long)want, (unsigned long long)got,
		      (unsigned long long)fromfile, (unsigned long long)seed);
	check_budget(eng, &smp, budget, 1, rss0, len, "file, private, read-only");
	ck_assert_msg(st.file_dropped > 0, "4x the budget read, no clean page dropped");
	ck_assert_int_eq(pager_engine_munmap(eng, (void *)p, len), 0);
	cur_base = NULL;
	free(seq.pages);
	free(rnd.pages);
	destroy_engine(eng);
	close(fd);
}
END_TEST

/* The file holds pass `pass` of every page (per-page words, zeros elsewhere). */
static void check_file(int fd, size_t npages, unsigned pass, struct mismatch *m, const char *when)
{
	const size_t chunk = 256;
	uint64_t *buf = malloc(chunk * PG);

	ck_assert(buf);
	for (size_t i = 0; i < npages; i += chunk) {
		ssize_t n = pread(fd, buf, chunk * PG, (off_t)(i * PG));

		ck_assert_msg(n >= 0, "pread: %s", strerror(errno));
		if ((size_t)n < chunk * PG)
			memset((char *)buf + n, 0, chunk * PG - (size_t)n);
		for (size_t j = 0; j < chunk && i + j < npages; j++)
			check_page(buf + j * WORDS, i + j, pass, m, when);
	}
	free(buf);
}

START_TEST(file_shared_writable)
{
	const size_t budget = test_budget, len = 4 * budget, npages = len / PG;
	struct rng r = rng_for("file_shared_writable");
	int fd = tmp_file(NULL, len, O_RDWR);
	struct pager_engine *eng = new_engine(budget, 1, 0, NULL);
	size_t rss0 = vm_rss();
	struct order seq = order_seq(npages, 0, 1), rnd = order_random(npages, 0, 1, &r);
	struct mismatch m = { 0 }, mf = { 0 };
	struct sampler smp;
	struct pager_stats st;
	uint64_t *p;

	p = pager_engine_mmap(eng, NULL, len, RW, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED && errno == ENOTSUP) {
		fprintf(stderr, "SKIP (this test only): writable MAP_SHARED file mappings are refused "
				"here (ENOTSUP)\n");
		destroy_engine(eng);
		return;
	}
	ck_assert_msg(p != MAP_FAILED, "pager_engine_mmap: %s", strerror(errno));
	cur_base = (char *)p;
	cur_len = len;
	sampler_start(&smp, eng);
	phase("shared: start");
	pass(p, &seq, 0, 1, &m, "sequential verify zero and store");
	phase("shared: first pass of stores");
	ck_assert_int_eq(pager_engine_msync(eng, p, len, MS_SYNC), 0);
	phase("shared: msync");
	check_file(fd, npages, 1, &m, "file after the first pass and msync");
	ck_assert_no_mismatch(m, "first pass");
	pass(p, &rnd, 1, 2, &m, "random verify and store");
	phase("shared: second pass (random)");
	ck_assert_int_eq(pager_engine_msync(eng, p, len, MS_SYNC), 0);
	phase("shared: msync");
	ck_assert_no_mismatch(m, "second pass, through the mapping");
	check_file(fd, npages, 2, &mf, "file after the second pass and msync");
	pass(p, &seq, 2, -1, &m, "mapping after the second pass");
	phase("shared: verify");
	sampler_stop(&smp);
	ck_assert_msg(mf.count == 0 && m.count == 0,
		      "second pass: the file has %zu wrong pages (first: page %zu word %zu: want %#llx "
		      "got %#llx); then the mapping has %zu (first: page %zu word %zu: want %#llx got "
		      "%#llx) (seed %llu)",
		      mf.count, mf.page, mf.word, (unsigned long long)mf.want,
		      (unsigned long long)mf.got, m.count, m.page, m.word, (unsigned long long)m.want,
		      (unsigned long long)m.got, (unsigned long long)seed);
	st = stats(eng);
	print_stats("file, shared, writable", &st);
	check_budget(eng, &smp, budget, 1, rss0, len, "file, shared, writable");
	ck_assert_msg(st.file_dropped > 0, "4x the budget stored, no page dropped");
	ck_assert_msg(st.file_written > 0,
		      "4x the budget stored and %llu pages dropped, but stats.file_written is 0",
		      (unsigned long long)st.file_dropped);
	ck_assert_int_eq(pager_engine_munmap(eng, p, len), 0);
	cur_base = NULL;
	check_file(fd, npages, 2, &m, "file after munmap");
	ck_assert_no_mismatch(m, "after munmap");
	free(seq.pages);
	free(rnd.pages);
	destroy_engine(eng);
	close(fd);
}
END_TEST

/* ---- the swap file itself ---- */

/* Descriptors of this process that point into dir and were unlinked; *mode of the last. */
/*
 * A file mapped MAP_SHARED, PROT_READ, from a descriptor open for writing,
 * written with pwrite (what SQLite does with mmap on), under a budget: each
 * write must be seen through the mapping at once and reach the file, while
 * reclaim evicts the same pages (an eviction once wrote the cache's stale
 * copy over a write the cache had not taken yet).
 */
START_TEST(file_pwrite_under_budget)
{
	const size_t budget = test_budget, len = 4 * budget, npages = len / PG;
	struct rng r = rng_for("file_pwrite_under_budget");
	int fd = make_file(len);
	struct pager_engine *eng = new_engine(budget, 1, 0, NULL);
	uint32_t *ver = calloc(npages, sizeof(*ver));
	const uint64_t *p;
	size_t bad = 0, first = 0;
	struct pager_stats st;

	ck_assert(ver);
	p = pager_engine_mmap(eng, NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	ck_assert_msg(p != MAP_FAILED, "pager_engine_mmap: %s", strerror(errno));
	cur_base = (char *)p;
	cur_len = len;
	for (unsigned op = 0; op < 5000; op++) {
		size_t x = rng_below(&r, npages), y = rng_below(&r, npages);
		uint64_t v = ((uint64_t)x << 32) | ++ver[x];
		uint64_t want_y = ver[y] ? ((uint64_t)y << 32) | ver[y] : file_word(y * (PG / 8));

		pwrite_all(fd, &v, sizeof(v), (off_t)(x * PG));
		pager_engine_file_written(eng, fd, (off_t)(x * PG), sizeof(v));
		if (p[x * (PG / 8)] != v && !bad++)
			first = x;
		if (p[y * (PG / 8)] != want_y && !bad++)
			first = y;
		/* Walk a stretch too, so that reclaim has pages to evict. */
		for (size_t k = 0; k < 2; k++)
			(void)*(volatile const uint64_t *)&p[((y + k * 64) % npages) * (PG / 8) + 1];
	}
	st = stats(eng);
	print_stats("pwrite under a budget", &st);
	ck_assert_msg(!bad, "%zu reads through the mapping missed a write; first at page %zu (seed %llu)",
		      bad, first, (unsigned long long)seed);
	ck_assert_msg(st.file_dropped > 0, "the cache never evicted (file_dropped 0)");
	ck_assert_int_eq(pager_engine_munmap(eng, (void *)p, len), 0);
	cur_base = NULL;
	for (size_t x = 0; x < npages; x++) {
		uint64_t w;

		ck_assert_int_eq(pread(fd, &w, sizeof(w), (off_t)(x * PG)), (ssize_t)sizeof(w));
		if (w != (ver[x] ? ((uint64_t)x << 32) | ver[x] : file_word(x * (PG / 8))) && !bad++)
			first = x;
	}
	ck_assert_msg(!bad, "%zu pages of the file lost a write; first page %zu (seed %llu)", bad, first,
		      (unsigned long long)seed);
	destroy_engine(eng);
	free(ver);
	close(fd);
}
END_TEST

static int deleted_files_in(const char *dir, mode_t *mode)
{
	char path[64], target[4096];
	int n = 0;

	for (int fd = 0; fd < 1024; fd++) {
		struct stat st;
		ssize_t len;

		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		len = readlink(path, target, sizeof(target) - 1);
		if (len <= 0)
			continue;
		target[len] = 0;
		if (strncmp(target, dir, strlen(dir)) || target[strlen(dir)] != '/' ||
		    !strstr(target, " (deleted)"))
			continue;
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			*mode = st.st_mode & 07777;
			n++;
		}
	}
	return n;
}

static int dir_entries(const char *dir)
{
	char cmd[600];
	FILE *f;
	int n = 0, c;

	snprintf(cmd, sizeof(cmd), "ls -A '%s'", dir);
	f = popen(cmd, "r");
	ck_assert(f);
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	pclose(f);
	return n;
}

/*
 * NULL: a temporary file in $TMPDIR, mode 0600, no name left.  A path: made
 * there (O_EXCL) and unlinked at once; an existing file is never used.
 */
START_TEST(swap_file_created_unlinked)
{
	char dir[] = "/var/tmp/pager-swap-dir-XXXXXX", path[256], err[256];
	struct pager_config cfg;
	struct pager_engine *eng;
	mode_t mode = 0;
	uint64_t *p;
	int fd, e;

	ck_assert(mkdtemp(dir));
	setenv("TMPDIR", dir, 1);
	eng = new_engine(test_budget, 1, 64 * MiB, NULL);
	ck_assert_msg(dir_entries(dir) == 0, "the swap file left a name in $TMPDIR=%s", dir);
	ck_assert_msg(deleted_files_in(dir, &mode) == 1,
		      "want one open, unlinked swap file in $TMPDIR=%s, found %d", dir,
		      deleted_files_in(dir, &mode));
	ck_assert_msg(mode == 0600, "swap file mode %#o, want 0600", (unsigned)mode);
	/* It is the one in use: swap something. */
	p = anon_map(eng, 4 * test_budget);
	for (size_t i = 0; i < 4 * test_budget / PG; i++)
		write_page(p + i * WORDS, i, 1);
	ck_assert_msg(stats(eng).swap_out > 0, "nothing swapped out");
	ck_assert_int_eq(pager_engine_munmap(eng, p, 4 * test_budget), 0);
	cur_base = NULL;
	destroy_engine(eng);
	ck_assert_msg(deleted_files_in(dir, &mode) == 0, "the swap file is still open after destroy");
	unsetenv("TMPDIR");

	/* A path of our own: created, then unlinked. */
	snprintf(path, sizeof(path), "%s/swap", dir);
	eng = new_engine(test_budget, 1, 64 * MiB, path);
	ck_assert_msg(access(path, F_OK) != 0, "swap_path %s still has a name", path);
	ck_assert_int_eq(deleted_files_in(dir, &mode), 1);
	ck_assert_msg(mode == 0600, "swap file mode %#o, want 0600", (unsigned)mode);
	destroy_engine(eng);

	/* An existing file is refused, and left alone. */
	fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "keep", 4), 4);
	pager_config_default(&cfg);
	cfg.budget_bytes = test_budget;
	cfg.swap_path = path;
	errno = 0;
	eng = pager_engine_new(&cfg, err, sizeof(err));
	e = errno;
	ck_assert_msg(!eng, "an existing file was taken as the swap file");
	ck_assert_msg(e == EEXIST, "errno %d (%s), want EEXIST; err: %s", e, strerror(e), err);
	fprintf(stderr, "existing swap_path refused: %s\n", err);
	{
		char buf[8] = "";
		struct stat st;

		ck_assert_int_eq(pread(fd, buf, sizeof(buf), 0), 4);
		ck_assert_int_eq(memcmp(buf, "keep", 4), 0);
		ck_assert_int_eq(fstat(fd, &st), 0);
		ck_assert_int_eq(st.st_size, 4);
	}
	close(fd);
	unlink(path);
	rmdir(dir);
}
END_TEST

/* ---- 8: a read error from the swap file ---- */

/*
 * The swap file must be a regular file on a file system, and the test must
 * be able to make reads of it fail after pages were written.  The plan was
 * device-mapper (a `linear` table switched to `error`), but this kernel has
 * no device-mapper (CONFIG_BLK_DEV_DM is off: /dev/mapper/control answers
 * ENODEV) and no fault injection.  It has FUSE: a child process serves a
 * one-file file system over /dev/fuse (the raw protocol, no libfuse), keeps
 * the file's bytes in its own memory, and on a word from the test answers
 * every READ and WRITE of it with EIO, as a dead disk would.  The files are
 * opened FOPEN_DIRECT_IO, so every read reaches the server: nothing is
 * served from the kernel's page cache.  The mount is made in a private
 * mount namespace of the test process, so nothing is left behind however
 * the test ends.  Needs root (mount) and /dev/fuse; otherwise skipped.
 */
#define FUSE_FILE_NODE 2

struct fuse_srv {
	int fd, ctl, ack; /* /dev/fuse; commands from the test; answers to it */
	bool failing, exists, linked;
	char *data;
	size_t size, cap;
	uint32_t mode;
};

static void fuse_reply(struct fuse_srv *f, uint64_t unique, int error, const void *arg,
		       size_t len)
{
	struct fuse_out_header h = { .len = (uint32_t)(sizeof(h) + (error ? 0 : len)),
				     .error = -error, .unique = unique };
	struct iovec iov[2] = { { &h, sizeof(h) }, { (void *)arg, error ? 0 : len } };

	if (writev(f->fd, iov, 2) < 0 && errno != ENOENT) /* ENOENT: the request was interrupted */
		fprintf(stderr, "fuse server: reply: %s\n", strerror(errno));
}

static void fuse_attr_of(const struct fuse_srv *f, uint64_t node, struct fuse_attr *a)
{
	memset(a, 0, sizeof(*a));
	a->ino = node;
	a->blksize = 4096;
	if (node == FUSE_ROOT_ID) {
		a->mode = S_IFDIR | 0755;
		a->nlink = 2;
	} else {
		a->mode = S_IFREG | (f->mode & 07777);
		a->nlink = f->linked;
		a->size = f->size;
		a->blocks = (f->size + 511) / 512;
	}
}

static void fuse_entry(struct fuse_srv *f, struct fuse_entry_out *e)
{
	memset(e, 0, sizeof(*e));
	e->nodeid = FUSE_FILE_NODE;
	e->generation = 1;
	fuse_attr_of(f, FUSE_FILE_NODE, &e->attr);
}

static bool fuse_resize(struct fuse_srv *f, size_t size)
{
	if (size > f->cap) {
		char *d = realloc(f->data, size);

		if (!d)
			return false;
		f->data = d;
		f->cap = size;
	}
	if (size > f->size)
		memset(f->data + f->size, 0, size - f->size);
	f->size = size;
	return true;
}

static void fuse_request(struct fuse_srv *f, const char *buf, size_t n)
{
	const struct fuse_in_header *h = (const void *)buf;
	const char *arg = buf + sizeof(*h);
	uint64_t u = h->unique;

	(void)n;
	switch (h->opcode) {
	case FUSE_INIT: {
		const struct fuse_init_in *in = (const void *)arg;
		struct fuse_init_out out = { .major = FUSE_KERNEL_VERSION,
					     .minor = FUSE_KERNEL_MINOR_VERSION,
					     .max_readahead = in->max_readahead,
					     .max_background = 16,
					     .congestion_threshold = 12,
					     .max_write = 128 * 1024,
					     .time_gran = 1 };

		fuse_reply(f, u, 0, &out, sizeof(out));
		break;
	}
	case FUSE_LOOKUP: {
		struct fuse_entry_out e;

		if (h->nodeid == FUSE_ROOT_ID && !strcmp(arg, "swap") && f->linked) {
			fuse_entry(f, &e);
			fuse_reply(f, u, 0, &e, sizeof(e));
		} else {
			fuse_reply(f, u, ENOENT, NULL, 0);
		}
		break;
	}
	case FUSE_GETATTR:
	case FUSE_SETATTR: {
		struct fuse_attr_out out = { 0 };

		if (h->nodeid != FUSE_ROOT_ID && h->nodeid != FUSE_FILE_NODE) {
			fuse_reply(f, u, ENOENT, NULL, 0);
			break;
		}
		if (h->opcode == FUSE_SETATTR && h->nodeid == FUSE_FILE_NODE) {
			const struct fuse_setattr_in *in = (const void *)arg;

			if ((in->valid & FATTR_SIZE) && !fuse_resize(f, in->size)) {
				fuse_reply(f, u, ENOSPC, NULL, 0);
				break;
			}
			if (in->valid & FATTR_MODE)
				f->mode = in->mode;
		}
		fuse_attr_of(f, h->nodeid, &out.attr);
		fuse_reply(f, u, 0, &out, sizeof(out));
		break;
	}
	case FUSE_CREATE: {
		const struct fuse_create_in *in = (const void *)arg;
		const char *name = arg + sizeof(*in);
		struct {
			struct fuse_entry_out e;
			struct fuse_open_out o;
		} out;

		if (strcmp(name, "swap") || f->exists) {
			fuse_reply(f, u, f->exists ? EEXIST : EACCES, NULL, 0);
			break;
		}
		f->exists = f->linked = true;
		f->mode = in->mode;
		fuse_entry(f, &out.e);
		memset(&out.o, 0, sizeof(out.o));
		out.o.fh = 1;
		out.o.open_flags = FOPEN_DIRECT_IO;
		fuse_reply(f, u, 0, &out, sizeof(out));
		break;
	}
	case FUSE_OPEN:
	case FUSE_OPENDIR: {
		struct fuse_open_out o = { .fh = 1 };

		if (h->opcode == FUSE_OPEN)
			o.open_flags = FOPEN_DIRECT_IO;
		fuse_reply(f, u, 0, &o, sizeof(o));
		break;
	}
	case FUSE_READ: {
		const struct fuse_read_in *in = (const void *)arg;
		size_t len = in->size;

		if (f->failing) {
			fuse_reply(f, u, EIO, NULL, 0);
			break;
		}
		if (in->offset >= f->size)
			len = 0;
		else if (in->offset + len > f->size)
			len = f->size - in->offset;
		fuse_reply(f, u, 0, f->data + (len ? in->offset : 0), len);
		break;
	}
	case FUSE_WRITE: {
		const struct fuse_write_in *in = (const void *)arg;
		struct fuse_write_out out = { .size = in->size };

		if (f->failing) {
			fuse_reply(f, u, EIO, NULL, 0);
			break;
		}
		if (in->offset + in->size > f->size && !fuse_resize(f, in->offset + in->size)) {
			fuse_reply(f, u, ENOSPC, NULL, 0);
			break;
		}
		memcpy(f->data + in->offset, arg + sizeof(*in), in->size);
		fuse_reply(f, u, 0, &out, sizeof(out));
		break;
	}
	case FUSE_UNLINK:
		if (strcmp(arg, "swap") || !f->linked) {
			fuse_reply(f, u, ENOENT, NULL, 0);
			break;
		}
		f->linked = false;
		fuse_reply(f, u, 0, NULL, 0);
		break;
	case FUSE_STATFS: {
		struct fuse_statfs_out out = { .st = { .blocks = 1 << 20, .bfree = 1 << 19,
						       .bavail = 1 << 19, .bsize = 4096,
						       .namelen = 255, .frsize = 4096 } };

		fuse_reply(f, u, 0, &out, sizeof(out));
		break;
	}
	case FUSE_READDIR:
		fuse_reply(f, u, 0, NULL, 0); /* empty */
		break;
	case FUSE_FLUSH:
	case FUSE_RELEASE:
	case FUSE_RELEASEDIR:
	case FUSE_FSYNC:
	case FUSE_FSYNCDIR:
	case FUSE_ACCESS:
		fuse_reply(f, u, 0, NULL, 0);
		break;
	case FUSE_FORGET:
	case FUSE_BATCH_FORGET:
	case FUSE_INTERRUPT:
		break; /* no reply */
	case FUSE_DESTROY:
		fuse_reply(f, u, 0, NULL, 0);
		break;
	default:
		fuse_reply(f, u, ENOSYS, NULL, 0);
		break;
	}
}

/* The server's loop, in the child; returns when the file system is unmounted or the test says so. */
static int fuse_serve(struct fuse_srv *f)
{
	const size_t bufsize = 128 * 1024 + 4096 * 2;
	char *buf = malloc(bufsize);

	if (!buf)
		return 1;
	for (;;) {
		struct pollfd p[2] = { { .fd = f->fd, .events = POLLIN }, { .fd = f->ctl, .events = POLLIN } };
		ssize_t n;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "fuse server: poll: %s\n", strerror(errno));
			return 2;
		}
		if (p[1].revents) {
			char c;

			if (read(f->ctl, &c, 1) != 1 || c == 'q')
				return 0;
			if (c == 'e')
				f->failing = true;
			if (c == 'g')
				f->failing = false;
			if (write(f->ack, &c, 1) != 1)
				return 3;
		}
		if (!p[0].revents)
			continue;
		n = read(f->fd, buf, bufsize);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN || errno == ENOENT)
				continue;
			if (errno == ENODEV)
				return 0; /* unmounted */
			fprintf(stderr, "fuse server: read /dev/fuse: %s\n", strerror(errno));
			return 4;
		}
		if ((size_t)n >= sizeof(struct fuse_in_header))
			fuse_request(f, buf, (size_t)n);
	}
}

struct fusefs {
	char dir[256], swap[300];
	pid_t pid;
	int ctl, ack;
	bool mounted;
};

/* Mount the file system (the server runs in a child); false with a reason in why. */
static bool fusefs_up(struct fusefs *fs, char *why, size_t whylen)
{
	int ctl[2], ack[2], fd;
	char opts[128], c;

	memset(fs, 0, sizeof(*fs));
	fs->pid = -1;
	signal(SIGPIPE, SIG_IGN); /* a dead server is reported, not a reason to die */
	if (geteuid() != 0) {
		snprintf(why, whylen, "not root (needs mount and /dev/fuse)");
		return false;
	}
	fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, whylen, "/dev/fuse: %s (no FUSE in this kernel?)", strerror(errno));
		return false;
	}
	/* A mount namespace of our own: the mount goes away with this process. */
	if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) {
		snprintf(why, whylen, "a private mount namespace: %s", strerror(errno));
		close(fd);
		return false;
	}
	snprintf(fs->dir, sizeof(fs->dir), "/var/tmp/pager-swap-fuse-XXXXXX");
	if (!mkdtemp(fs->dir)) {
		snprintf(why, whylen, "mkdtemp: %s", strerror(errno));
		close(fd);
		return false;
	}
	snprintf(opts, sizeof(opts), "fd=%d,rootmode=40000,user_id=0,group_id=0", fd);
	if (mount("pager-swap-test", fs->dir, "fuse", MS_NOSUID | MS_NODEV, opts)) {
		snprintf(why, whylen, "mount -t fuse: %s", strerror(errno));
		close(fd);
		rmdir(fs->dir);
		return false;
	}
	fs->mounted = true;
	snprintf(fs->swap, sizeof(fs->swap), "%s/swap", fs->dir);
	ck_assert_int_eq(pipe(ctl), 0);
	ck_assert_int_eq(pipe(ack), 0);
	fflush(NULL);
	fs->pid = fork();
	ck_assert_int_ge(fs->pid, 0);
	if (fs->pid == 0) {
		struct fuse_srv srv = { .fd = fd, .ctl = ctl[0], .ack = ack[1] };

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		signal(SIGBUS, SIG_DFL);
		signal(SIGSEGV, SIG_DFL);
		close(ctl[1]);
		close(ack[0]);
		_exit(fuse_serve(&srv));
	}
	close(fd);
	close(ctl[0]);
	close(ack[1]);
	fs->ctl = ctl[1];
	fs->ack = ack[0];
	/* The server answers INIT on its own; a command round trip says it is up. */
	c = 'g';
	ck_assert_int_eq(write(fs->ctl, &c, 1), 1);
	ck_assert_int_eq(read(fs->ack, &c, 1), 1);
	return true;
}

/* Tell the server: 'e' every read and write fails with EIO, 'g' they work again. */
static bool fusefs_command(struct fusefs *fs, char c)
{
	char r;

	return write(fs->ctl, &c, 1) == 1 && read(fs->ack, &r, 1) == 1 && r == c;
}

static void fusefs_down(struct fusefs *fs)
{
	int status;

	if (fs->mounted) {
		fusefs_command(fs, 'g');
		if (umount2(fs->dir, MNT_DETACH))
			fprintf(stderr, "umount %s: %s\n", fs->dir, strerror(errno));
		rmdir(fs->dir);
	}
	if (fs->pid > 0) {
		char c = 'q';

		if (write(fs->ctl, &c, 1) != 1)
			kill(fs->pid, SIGKILL);
		waitpid(fs->pid, &status, 0);
		if (!WIFEXITED(status) || WEXITSTATUS(status))
			fprintf(stderr, "fuse server: %s %d\n",
				WIFEXITED(status) ? "exit status" : "signal",
				WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
		close(fs->ctl);
		close(fs->ack);
	}
}

/* What the engine part found; checked after the devices are gone. */
struct ioerr_result {
	char fail[512]; /* empty: fine */
	size_t nonresident, probed, sigbus, good;
	struct pager_stats st;
};

static void ioerr_run(struct fusefs *fs, struct ioerr_result *res)
{
	const size_t budget = 8 * MiB, len = 32 * MiB, npages = len / PG;
	struct pager_config cfg;
	struct pager_engine *eng;
	struct order seq;
	struct mismatch m = { 0 };
	unsigned char *vec;
	uint64_t *base;
	char err[256];

	pager_config_default(&cfg);
	cfg.budget_bytes = budget;
	cfg.swap_bytes = 64 * MiB;
	cfg.swap_path = fs->swap;
	eng = pager_engine_new(&cfg, err, sizeof(err));
	if (!eng) {
		snprintf(res->fail, sizeof(res->fail), "pager_engine_new: %s", err);
		return;
	}
	base = pager_engine_mmap(eng, NULL, len, RW, ANON, -1, 0);
	if (base == MAP_FAILED) {
		snprintf(res->fail, sizeof(res->fail), "pager_engine_mmap: %s", strerror(errno));
		destroy_engine(eng);
		return;
	}
	seq = order_seq(npages, 0, 1);
	pass(base, &seq, -1, 1, &m, "write");
	pass(base, &seq, 1, 2, &m, "verify-and-rewrite");
	res->st = stats(eng);
	if (m.count || !res->st.swap_out) {
		snprintf(res->fail, sizeof(res->fail),
			 "before the error: %zu wrong pages (page %zu word %zu), swap_out %llu", m.count,
			 m.page, m.word, (unsigned long long)res->st.swap_out);
		goto out;
	}
	/* Let the swap writes in flight finish. */
	usleep(300 * 1000);
	if (!fusefs_command(fs, 'e')) {
		snprintf(res->fail, sizeof(res->fail), "the fuse server did not answer");
		goto out;
	}
	vec = malloc(npages);
	mincore(base, len, vec);
	for (size_t i = 0; i < npages; i++) {
		struct sig_info si;
		size_t k = i % NW;
		uint64_t *w = base + i * WORDS + word_pos(i, (unsigned)k);

		if (vec[i] & 1)
			continue;
		res->nonresident++;
		res->probed++;
		si = probe(w, false, 0);
		if (!si.signo) {
			/* In the swap cache, or read before the switch: it must be right. */
			if (*w != page_word(i, 2, (unsigned)k)) {
				snprintf(res->fail, sizeof(res->fail),
					 "page %zu (not resident, no signal) word %zu: want %#llx got %#llx",
					 i, (size_t)(w - (base + i * WORDS)),
					 (unsigned long long)page_word(i, 2, (unsigned)k),
					 (unsigned long long)*w);
				break;
			}
			res->good++;
			continue;
		}
		if (si.signo != SIGBUS || si.code != BUS_ADRERR || si.addr != (void *)w) {
			snprintf(res->fail, sizeof(res->fail),
				 "page %zu: signal %d code %d at %p; want SIGBUS (%d) BUS_ADRERR (%d) at %p",
				 i, si.signo, si.code, si.addr, SIGBUS, BUS_ADRERR, (void *)w);
			break;
		}
		res->sigbus++;
		if (res->sigbus >= 64)
			break; /* enough */
	}
	free(vec);
	res->st = stats(eng);
out:
	free(seq.pages);
	/* Still failing: destroying the engine needs no swap I/O. */
	destroy_engine(eng);
}

START_TEST(swap_read_error_sigbus)
{
	struct ioerr_result res = { 0 };
	struct fusefs fs;
	char why[512];

	if (!fusefs_up(&fs, why, sizeof(why))) {
		fprintf(stderr, "SKIP (this test only): %s\n", why);
		fusefs_down(&fs);
		return;
	}
	ioerr_run(&fs, &res);
	fusefs_down(&fs);
	print_stats("swap read error", &res.st);
	fprintf(stderr, "swap read error: %zu pages not resident, %zu probed, %zu SIGBUS, %zu good\n",
		res.nonresident, res.probed, res.sigbus, res.good);
	ck_assert_msg(!res.fail[0], "%s (seed %llu)", res.fail, (unsigned long long)seed);
	ck_assert_msg(res.sigbus > 0,
		      "%zu pages not resident after the device broke, none raised SIGBUS (%zu read back "
		      "fine)",
		      res.nonresident, res.good);
	ck_assert_msg(res.st.swap_errors > 0, "SIGBUS but stats.swap_errors is 0");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("swap");
	TCase *tc;

	require_userfaultfd();
	seed = test_seed();
	if (getenv("PAGER_TEST_BUDGET_MIB"))
		test_budget = strtoul(getenv("PAGER_TEST_BUDGET_MIB"), NULL, 0) * MiB;
	install_fatal_handlers();
	/* One case per test: CK_RUN_CASE=name runs one. */
#define ADD(name, timeout)                                         \
	do {                                                       \
		tc = tcase(s, #name, (timeout));                   \
		tcase_add_test(tc, name);                          \
	} while (0)
	ADD(anon_1thread_1handler, 60);
	ADD(anon_1thread_2handlers, 60);
	ADD(anon_4threads_1handler, 60);
	ADD(anon_4threads_2handlers, 60);
	ADD(untouched_dontneed_munmap, 60);
	ADD(fork_sees_swapped_pages, 60);
	ADD(mremap_swapped_region, 60);
	ADD(random_order_comes_back_clustered, 60);
	ADD(munmap_while_swap_reads_in_flight, 60);
	ADD(swap_full_no_lost_page, 60);
	ADD(file_private_readonly, 60);
	ADD(file_shared_writable, 120);
	ADD(file_pwrite_under_budget, 60);
	ADD(swap_file_created_unlinked, 30);
	ADD(swap_read_error_sigbus, 60);
	return run_suite(s);
}
