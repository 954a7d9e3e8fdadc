/*
 * config.h - parsing of engine settings (sizes, counts, log levels), shared
 * by the PAGER_* environment variables and the command-line tools.
 */
#ifndef PAGER_CONFIG_H
#define PAGER_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "pager.h"

/* "65536", "64K", "64KiB", "2M", "1G": bytes.  Returns 0 or -EINVAL. */
int parse_size(const char *s, uint64_t *out);
/* Decimal unsigned in [min, max].  Returns 0 or -EINVAL. */
int parse_uint(const char *s, unsigned min, unsigned max, unsigned *out);
/* "error", "warn", "info", "debug" or 0..3.  Returns 0 or -EINVAL. */
int parse_log_level(const char *s, int *out);

#endif
