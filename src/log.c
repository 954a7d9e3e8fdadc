/*
 * log.c - the engine's diagnostics.  One write(2) per message so that lines
 * from several threads do not interleave, and no stdio locks: this may run on
 * a handler thread while an application thread holds stderr's lock.
 */
#include "sys.h"
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

int pager_log_level = PAGER_LOG_WARN;

void pager_log(int level, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	char buf[512];
	va_list ap;
	int n;

	if (level > pager_log_level)
		return;
	n = snprintf(buf, sizeof(buf), "pager: %s: ", names[level]);
	va_start(ap, fmt);
	n += vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
	va_end(ap);
	if (n >= (int)sizeof(buf) - 1)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	if (sys_write(STDERR_FILENO, buf, (size_t)n) < 0) {
		/* nowhere left to report it */
	}
}
