/*
 * thread.h - the engine's own threads (fault handlers, reclaim).
 *
 * Each starts with every signal blocked: a program's signal handler run on
 * one could touch memory the engine serves, and the thread would wait on
 * itself.
 */
#ifndef PAGER_THREAD_H
#define PAGER_THREAD_H

#include <pthread.h>
#include <signal.h>

/* pthread_create with every signal blocked in the new thread; 0 or an errno value. */
static inline int engine_thread_create(pthread_t *t, void *(*fn)(void *), void *arg)
{
	sigset_t all, old;
	int rc;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(t, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

#endif
