/*
 * stats.h - fault statistics.  Each handler thread owns one struct
 * pager_stats and is its only writer (relaxed atomic stores, no contention);
 * a reader sums them.
 */
#ifndef PAGER_STATS_H
#define PAGER_STATS_H

#include <stdint.h>

#include "pager.h"

#define stat_add(st, field, n) \
	__atomic_store_n(&(st)->field, __atomic_load_n(&(st)->field, __ATOMIC_RELAXED) + (n), \
			 __ATOMIC_RELAXED)
#define stat_inc(st, field) stat_add(st, field, 1)

void stat_latency(struct pager_stats *st, uint64_t ns);
void stats_sum(struct pager_stats *into, const struct pager_stats *from);

#endif
