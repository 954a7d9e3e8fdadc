/*
 * config.c - the engine's configuration: documented defaults, and the
 * PAGER_* environment variables that override them.  A bad value is an
 * error that names the variable: a typo must not silently run with defaults.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define KiB 1024ULL
#define MiB (1024ULL * KiB)
#define GiB (1024ULL * MiB)

void pager_config_default(struct pager_config *cfg)
{
	cfg->fault_around_bytes = 64 * KiB; /* the kernel's fault_around_bytes */
	cfg->readahead_min_bytes = 128 * KiB; /* the kernel's default read_ahead_kb */
	cfg->readahead_max_bytes = 2 * MiB;
	cfg->handler_threads = 1;
	cfg->io_queue_depth = 64;
	cfg->log_level = PAGER_LOG_WARN;
	cfg->budget_bytes = 0;
	cfg->swap_path = NULL;
	cfg->swap_bytes = 8 * GiB;
}

int parse_size(const char *s, uint64_t *out)
{
	unsigned long long v, mult = 1;
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	if (*end) {
		switch (toupper((unsigned char)*end)) {
		case 'K': mult = KiB; break;
		case 'M': mult = MiB; break;
		case 'G': mult = GiB; break;
		case 'T': mult = 1024 * GiB; break;
		default: return -EINVAL;
		}
		end++;
		if (!strcasecmp(end, "iB") || !strcasecmp(end, "B"))
			end += strlen(end);
		if (*end)
			return -EINVAL;
	}
	if (v > UINT64_MAX / mult)
		return -EINVAL;
	*out = v * mult;
	return 0;
}

int parse_uint(const char *s, unsigned min, unsigned max, unsigned *out)
{
	unsigned long v;
	char *end;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

int parse_log_level(const char *s, int *out)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };

	for (int i = 0; i < 4; i++) {
		if (!strcasecmp(s, names[i]) || (s[0] == '0' + i && !s[1])) {
			*out = i;
			return 0;
		}
	}
	if (!strcasecmp(s, "warning")) {
		*out = PAGER_LOG_WARN;
		return 0;
	}
	return -EINVAL;
}

static size_t page_round(uint64_t v)
{
	uint64_t ps = (uint64_t)sysconf(_SC_PAGESIZE);

	return (size_t)((v + ps - 1) / ps * ps);
}

static int bad(char *err, size_t errlen, const char *name, const char *val, const char *want)
{
	if (err)
		snprintf(err, errlen, "%s=\"%s\": %s", name, val, want);
	errno = EINVAL;
	return -1;
}

static int env_size(const char *name, size_t *field, uint64_t max, char *err, size_t errlen)
{
	const char *v = getenv(name);
	uint64_t n;

	if (!v)
		return 0;
	if (parse_size(v, &n))
		return bad(err, errlen, name, v,
			   "expected a size in bytes, with an optional K, M or G suffix");
	if (n > max) {
		char want[64];

		snprintf(want, sizeof(want), "must be at most %llu MiB", (unsigned long long)(max >> 20));
		return bad(err, errlen, name, v, want);
	}
	*field = page_round(n);
	return 0;
}

static int env_uint(const char *name, unsigned *field, unsigned min, unsigned max, char *err,
		    size_t errlen)
{
	const char *v = getenv(name);
	char want[96];

	if (!v)
		return 0;
	if (parse_uint(v, min, max, field)) {
		snprintf(want, sizeof(want), "expected a whole number from %u to %u", min, max);
		return bad(err, errlen, name, v, want);
	}
	return 0;
}

int pager_config_from_env(struct pager_config *cfg, char *err, size_t errlen)
{
	const char *v;

	if (env_size("PAGER_FAULT_AROUND", &cfg->fault_around_bytes, 64 * MiB, err, errlen) ||
	    env_size("PAGER_READAHEAD_MIN", &cfg->readahead_min_bytes, 1 * GiB, err, errlen) ||
	    env_size("PAGER_READAHEAD_MAX", &cfg->readahead_max_bytes, 1 * GiB, err, errlen) ||
	    env_uint("PAGER_THREADS", &cfg->handler_threads, 1, 64, err, errlen) ||
	    env_uint("PAGER_IO_DEPTH", &cfg->io_queue_depth, 1, 4096, err, errlen) ||
	    env_size("PAGER_BUDGET", &cfg->budget_bytes, 1ULL << 50, err, errlen) ||
	    env_size("PAGER_SWAP_SIZE", &cfg->swap_bytes, 1ULL << 44, err, errlen))
		return -1;
	v = getenv("PAGER_SWAP_FILE");
	if (v && !*v)
		return bad(err, errlen, "PAGER_SWAP_FILE", v, "expected a path");
	if (v)
		cfg->swap_path = v;
	if (cfg->budget_bytes && cfg->budget_bytes < 4 * MiB)
		return bad(err, errlen, "PAGER_BUDGET", getenv("PAGER_BUDGET"),
			   "must be 0 (no limit) or at least 4M");
	if (cfg->swap_bytes < 1 * MiB)
		return bad(err, errlen, "PAGER_SWAP_SIZE", getenv("PAGER_SWAP_SIZE"),
			   "must be at least 1M");
	v = getenv("PAGER_LOG");
	if (v && parse_log_level(v, &cfg->log_level))
		return bad(err, errlen, "PAGER_LOG", v, "expected error, warn, info or debug");
	if (cfg->fault_around_bytes == 0)
		return bad(err, errlen, "PAGER_FAULT_AROUND", getenv("PAGER_FAULT_AROUND"),
			   "must be at least one page");
	return 0;
}
