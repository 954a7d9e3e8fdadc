/*
 * stats.c - fault statistics: the latency histogram and the summary that
 * tools print.
 */
#include "stats.h"

#include <inttypes.h>
#include <string.h>

void stat_latency(struct pager_stats *st, uint64_t ns)
{
	unsigned b = ns ? 63u - (unsigned)__builtin_clzll(ns) : 0;

	if (b >= PAGER_LAT_BUCKETS)
		b = PAGER_LAT_BUCKETS - 1;
	stat_inc(st, lat_hist[b]);
}

void stats_sum(struct pager_stats *into, const struct pager_stats *from)
{
	const uint64_t *src = (const uint64_t *)from;
	uint64_t *dst = (uint64_t *)into;

	for (size_t i = 0; i < sizeof(*from) / sizeof(uint64_t); i++)
		dst[i] += __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}

uint64_t pager_stats_percentile(const struct pager_stats *st, double pct)
{
	uint64_t total = 0, seen = 0, want;

	for (int i = 0; i < PAGER_LAT_BUCKETS; i++)
		total += st->lat_hist[i];
	if (!total)
		return 0;
	want = (uint64_t)((double)total * pct / 100.0 + 0.5);
	if (want == 0)
		want = 1;
	for (int i = 0; i < PAGER_LAT_BUCKETS; i++) {
		seen += st->lat_hist[i];
		if (seen >= want)
			return 2ULL << i;
	}
	return 2ULL << (PAGER_LAT_BUCKETS - 1);
}

static void print_ns(FILE *out, const char *name, uint64_t ns)
{
	if (ns >= 1000000)
		fprintf(out, "  %s < %.1f ms", name, (double)ns / 1e6);
	else if (ns >= 1000)
		fprintf(out, "  %s < %.1f us", name, (double)ns / 1e3);
	else
		fprintf(out, "  %s < %" PRIu64 " ns", name, ns);
}

static double mib(uint64_t bytes)
{
	return (double)bytes / 1048576.0;
}

static double pages_mib(uint64_t pages)
{
	return (double)pages * 4096.0 / 1048576.0; /* 4096: PAGE_SIZE (mm.h) */
}

/*
 * The memory budget and swap.  No line here starts with "pager: peak
 * resident": that one is the shim's (the process's VmHWM).
 */
static void print_budget(const struct pager_stats *st, FILE *out)
{
	if (st->budget_bytes)
		fprintf(out, "pager: budget %.1f MiB:", mib(st->budget_bytes));
	else
		fprintf(out, "pager: no budget:");
	fprintf(out,
		" resident %.1f MiB now (%.1f MiB in the swap cache), %.1f MiB at most;"
		" %.1f MiB of swap in use\n",
		mib(st->resident_bytes), mib(st->swapcache_bytes), mib(st->peak_resident_bytes),
		mib(st->swap_used_bytes));
	fprintf(out, "pager: swap: %" PRIu64 " pages (%.1f MiB) out, %" PRIu64
		     " evicted unchanged (no write), %" PRIu64
		     " pages (%.1f MiB) in, %" PRIu64 " of them read ahead; %" PRIu64
		     " swap faults, %" PRIu64 " swap-cache hits\n",
		st->swap_out, pages_mib(st->swap_out), st->swap_clean, st->swap_in,
		pages_mib(st->swap_in), st->swap_readahead, st->swap_faults, st->swapcache_hits);
	fprintf(out, "pager: reclaim: %" PRIu64 " pages scanned, %" PRIu64
		     " deactivated; file pages: %" PRIu64 " dropped, %" PRIu64
		     " written back\n",
		st->reclaim_scanned, st->reclaim_deactivated, st->file_dropped, st->file_written);
	fprintf(out, "pager: %" PRIu64 " swap errors, %" PRIu64 " budget waits, %" PRIu64
		     " unevictable pages\n",
		st->swap_errors, st->budget_waits, st->unevictable);
}

void pager_stats_print(const struct pager_stats *st, FILE *out)
{
	fprintf(out, "pager: %" PRIu64 " faults: %" PRIu64 " anon zero, %" PRIu64
		     " anon write, %" PRIu64 " file hit, %" PRIu64 " file miss, %" PRIu64
		     " sigbus\n",
		st->faults, st->anon_zero, st->anon_write, st->file_hit, st->file_miss,
		st->sigbus);
	fprintf(out, "pager: %" PRIu64 " pages installed; %" PRIu64 " pages (%.1f MiB) read from files; %" PRIu64
		     " readahead windows, %" PRIu64 " pages read ahead\n",
		st->pages_installed, st->pages_read, (double)st->bytes_read / 1048576.0,
		st->readahead, st->readahead_pages);
	fprintf(out, "pager: fault latency");
	print_ns(out, "p50", pager_stats_percentile(st, 50));
	print_ns(out, "p90", pager_stats_percentile(st, 90));
	print_ns(out, "p99", pager_stats_percentile(st, 99));
	print_ns(out, "max", pager_stats_percentile(st, 100));
	fprintf(out, "\n");
	if (st->budget_bytes || st->swap_faults || st->swapcache_hits || st->swap_in ||
	    st->swap_readahead || st->swap_out || st->swap_clean || st->reclaim_scanned || st->reclaim_deactivated ||
	    st->file_dropped || st->file_written || st->swap_errors ||
	    st->budget_waits || st->unevictable || st->swap_used_bytes)
		print_budget(st, out);
}
