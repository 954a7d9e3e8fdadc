/*
 * fault.h - handle_mm_fault and the handler threads that read fault messages
 * from the userfaultfd and resolve them.
 *
 * A handler thread waits in one place (its io_uring), resolves each fault
 * itself, and when a fault needs file data it starts the read and parks the
 * fault; the completion lets it finish.  It never touches registered memory,
 * never allocates and never blocks on a lock held across I/O.
 */
#ifndef PAGER_FAULT_H
#define PAGER_FAULT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "filemap.h"
#include "io.h"
#include "mm.h"
#include "pager.h"
#include "reclaim.h"

/* A request from an application thread to the handlers (MADV_WILLNEED). */
struct fault_request {
	struct fault_request *next;
	struct address_space *as; /* holds a reference */
	pgoff_t index;
	uint64_t nr;
};

/* A stream of swap faults that come to slots in the order they were written (swap_stream). */
struct swap_stream {
	pthread_spinlock_t lock;
	uint64_t start, next; /* the window read last: slots [start, next) */
	uint32_t size; /* its size; 0: no stream yet, only a cluster read at start */
};

/* What the handler threads of one mm share. */
struct fault_env {
	struct mm *mm;
	uint32_t fa_pages; /* fault-around, pages (a power of two) */
	uint32_t ra_min, ra_max; /* readahead window, pages */
	uint32_t around_pages; /* read around a random miss, pages */
	int wake_fd; /* eventfd: requests queued, or stop */
	bool stopping;
	unsigned nr_handlers;
	pthread_mutex_t req_lock;
	struct fault_request *reqs;
	const void *zero; /* ZERO_BUF_PAGES pages of zeros, the source of anonymous writes */
	struct reclaim *rc; /* the budget and the swap file */
	struct swap_stream sst;
	long swap_reading; /* pages locked for swap reads in flight, not yet charged */
};

#define ZERO_BUF_PAGES 512
#define MAX_PARKED 1024

struct parked_fault {
	uintptr_t addr;
	uint64_t t0;
	bool write;
};

struct handler {
	struct fault_env *env;
	struct io_ctx io;
	struct pager_stats stats;
	pthread_t thread;
	bool started;
	bool uffd_ready;
	unsigned nr_parked;
	struct parked_fault parked[MAX_PARKED];
};

int handler_start(struct handler *h, struct fault_env *env, unsigned io_depth);
/* Set env->stopping and write env->wake_fd before joining. */
void handler_join(struct handler *h);

/* Queue a readahead of [index, index + nr) for the handlers; takes a ref on as. */
int fault_queue_willneed(struct fault_env *env, struct address_space *as, pgoff_t index,
			 uint64_t nr);

#endif
