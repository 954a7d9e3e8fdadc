/*
 * log.h - the engine's diagnostics on stderr, filtered by level.
 */
#ifndef PAGER_LOG_H
#define PAGER_LOG_H

#include "pager.h"

extern int pager_log_level;

void pager_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define pr_err(...) pager_log(PAGER_LOG_ERROR, __VA_ARGS__)
#define pr_warn(...) pager_log(PAGER_LOG_WARN, __VA_ARGS__)
#define pr_info(...) pager_log(PAGER_LOG_INFO, __VA_ARGS__)
#define pr_debug(...)                                          \
	do {                                                   \
		if (pager_log_level >= PAGER_LOG_DEBUG)        \
			pager_log(PAGER_LOG_DEBUG, __VA_ARGS__); \
	} while (0)

#endif
