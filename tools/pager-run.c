/*
 * pager-run - run a program with its mappings served by the pager.
 *
 * In the spirit of numactl or eatmydata: checks the settings, puts the shim
 * in LD_PRELOAD and the settings in PAGER_* variables, and execs the
 * program, so its exit status and signals are its own.
 */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "pager.h"
#include "uffd.h"

#ifndef PAGER_SHIM_INSTALLED
#define PAGER_SHIM_INSTALLED "/usr/local/lib/x86_64-linux-gnu/pager/libpager-shim.so"
#endif

static const char usage[] =
	"Usage: pager-run [OPTIONS] [--] PROGRAM [ARGS...]\n"
	"Run PROGRAM with its memory mappings served by the pager (userfaultfd + io_uring).\n"
	"\n"
	"Served: private mappings of regular files (shared ones with --shared-files), anonymous\n"
	"mappings of at least --min-anon bytes.  Executable mappings, devices and huge pages are\n"
	"left to the kernel.\n"
	"\n"
	"Options:\n"
	"  --stats               print what the pager did when PROGRAM exits (on stderr)\n"
	"  --stats-json FILE     write the same as JSON to FILE\n"
	"  --fault-around SIZE   pages mapped around a file fault (default 64K)\n"
	"  --readahead-min SIZE  first readahead window (default 128K)\n"
	"  --readahead-max SIZE  largest readahead window (default 2M; 0 turns it off)\n"
	"  --threads N           fault handler threads, 1..64 (default 1)\n"
	"  --io-depth N          reads in flight per handler, 1..4096 (default 64)\n"
	"  --min-anon SIZE       smallest anonymous mapping to serve (default 1M)\n"
	"  --shared-files        serve MAP_SHARED file mappings too; only if no other process\n"
	"                        maps or writes those files while PROGRAM runs (its children may)\n"
	"  --log LEVEL           error, warn, info or debug (default warn)\n"
	"  --budget SIZE         a memory budget: resident memory the pager counts (its anonymous\n"
	"                        pages, page cache and swap cache) is kept near SIZE by reclaim;\n"
	"                        0 or at least 4M (default 0: no limit)\n"
	"  --swap-file PATH      create the swap file at PATH (must not exist; removed at once);\n"
	"                        default: a temporary file in $TMPDIR or /var/tmp\n"
	"  --swap-size SIZE      the most the swap file may hold, at least 1M (default 8G)\n"
	"  --daemon[=SOCKET]     planned (pagerd, one cache for many processes): refused for now\n"
	"  -v, --verbose         more messages (info; twice: debug)\n"
	"  -h, --help            this text\n"
	"  -V, --version         the version\n"
	"\n"
	"SIZE takes a K, M or G suffix (KiB, MiB, GiB).  Every option has a PAGER_* environment\n"
	"variable of the same meaning (see pager(7)) for programs started some other way.\n"
	"Exit status: PROGRAM's own; 2 for a bad option; 126 or 127 if PROGRAM cannot run.\n";

static void die_usage(const char *fmt, const char *a, const char *b)
{
	fprintf(stderr, "pager-run: ");
	fprintf(stderr, fmt, a, b);
	fprintf(stderr, "\nTry 'pager-run --help'.\n");
	exit(2);
}

static void set_size(const char *opt, const char *var, const char *val)
{
	uint64_t n;

	if (parse_size(val, &n))
		die_usage("%s: bad size '%s' (a number with an optional K, M or G suffix)", opt, val);
	setenv(var, val, 1);
}

/* A limit as one would write it: 4M, 16T. */
static const char *size_str(uint64_t n, char *buf, size_t len)
{
	static const char units[] = "KMGT";
	int u = -1;

	while (u < 3 && n >= 1024 && n % 1024 == 0) {
		n /= 1024;
		u++;
	}
	snprintf(buf, len, "%llu%.*s", (unsigned long long)n, u >= 0, u >= 0 ? &units[u] : "");
	return buf;
}

/*
 * A size with the limits of src/config.c (rounded up to whole pages first, as
 * the engine does), so that a bad value is refused here, naming the option.
 */
static void set_size_range(const char *opt, const char *var, const char *val, uint64_t min,
			   uint64_t max, int zero_ok)
{
	uint64_t n, ps = (uint64_t)sysconf(_SC_PAGESIZE);
	char want[192], lo[32], hi[32];

	if (parse_size(val, &n))
		die_usage("%s: bad size '%s' (a number with an optional K, M or G suffix)", opt, val);
	if (n <= UINT64_MAX - ps)
		n = (n + ps - 1) / ps * ps;
	if (n > max || (n < min && !(zero_ok && n == 0))) {
		snprintf(want, sizeof(want), "%s: bad size '%%s' (%sfrom %s to %s)%%s", opt,
			 zero_ok ? "0 for no limit, or " : "", size_str(min, lo, sizeof(lo)),
			 size_str(max, hi, sizeof(hi)));
		die_usage(want, val, "");
	}
	setenv(var, val, 1);
}

static void set_uint(const char *opt, const char *var, const char *val, unsigned min, unsigned max)
{
	char want[128];
	unsigned n;

	if (parse_uint(val, min, max, &n)) {
		snprintf(want, sizeof(want), "%s: bad value '%%s' (a whole number from %u to %u)%%s",
			 opt, min, max);
		die_usage(want, val, "");
	}
	setenv(var, val, 1);
}

/* The shim: $PAGER_SHIM, the one beside us in a build tree, or the installed one. */
static const char *find_shim(void)
{
	static char path[PATH_MAX];
	char exe[PATH_MAX];
	const char *env = getenv("PAGER_SHIM");
	ssize_t n;

	if (env && *env)
		return env;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = 0;
		snprintf(path, sizeof(path), "%s/../libpager-shim.so", dirname(exe));
		if (access(path, R_OK) == 0)
			return path;
	}
	return PAGER_SHIM_INSTALLED;
}

int main(int argc, char **argv)
{
	enum { O_STATS = 256, O_JSON, O_FA, O_RAMIN, O_RAMAX, O_THREADS, O_DEPTH, O_MINANON, O_LOG,
	       O_BUDGET, O_SWAP, O_SWAPSIZE, O_DAEMON, O_SHARED };
	static const struct option opts[] = {
		{ "stats", no_argument, NULL, O_STATS },
		{ "stats-json", required_argument, NULL, O_JSON },
		{ "fault-around", required_argument, NULL, O_FA },
		{ "readahead-min", required_argument, NULL, O_RAMIN },
		{ "readahead-max", required_argument, NULL, O_RAMAX },
		{ "threads", required_argument, NULL, O_THREADS },
		{ "io-depth", required_argument, NULL, O_DEPTH },
		{ "min-anon", required_argument, NULL, O_MINANON },
		{ "log", required_argument, NULL, O_LOG },
		{ "shared-files", no_argument, NULL, O_SHARED },
		{ "budget", required_argument, NULL, O_BUDGET },
		{ "swap-file", required_argument, NULL, O_SWAP },
		{ "swap-size", required_argument, NULL, O_SWAPSIZE },
		{ "daemon", optional_argument, NULL, O_DAEMON },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *shim, *old;
	char pid[32], *preload;
	int c, verbose = 0, level;

	while ((c = getopt_long(argc, argv, "+vhV", opts, NULL)) != -1) {
		switch (c) {
		case O_STATS: setenv("PAGER_STATS", "1", 1); break;
		case O_SHARED: setenv("PAGER_SHARED_FILES", "1", 1); break;
		case O_JSON: setenv("PAGER_STATS_JSON", optarg, 1); break;
		case O_FA: set_size("--fault-around", "PAGER_FAULT_AROUND", optarg); break;
		case O_RAMIN: set_size("--readahead-min", "PAGER_READAHEAD_MIN", optarg); break;
		case O_RAMAX: set_size("--readahead-max", "PAGER_READAHEAD_MAX", optarg); break;
		case O_THREADS: set_uint("--threads", "PAGER_THREADS", optarg, 1, 64); break;
		case O_DEPTH: set_uint("--io-depth", "PAGER_IO_DEPTH", optarg, 1, 4096); break;
		case O_MINANON: set_size("--min-anon", "PAGER_MIN_ANON", optarg); break;
		case O_LOG:
			if (parse_log_level(optarg, &level))
				die_usage("--log: bad level '%s' (error, warn, info or debug)%s", optarg, "");
			setenv("PAGER_LOG", optarg, 1);
			break;
		case O_BUDGET:
			/* The limits of PAGER_BUDGET and PAGER_SWAP_SIZE in src/config.c. */
			set_size_range("--budget", "PAGER_BUDGET", optarg, 4ULL << 20, 1ULL << 50, 1);
			break;
		case O_SWAPSIZE:
			set_size_range("--swap-size", "PAGER_SWAP_SIZE", optarg, 1ULL << 20, 1ULL << 44,
				       0);
			break;
		case O_SWAP: {
			struct stat sb;

			if (!*optarg)
				die_usage("--swap-file: an empty path%s%s", "", "");
			/* The engine creates it with O_EXCL: say so now, not in the program. */
			if (lstat(optarg, &sb) == 0)
				die_usage("--swap-file: '%s' exists (the swap file is created, an existing "
					  "file is never reused)%s",
					  optarg, "");
			setenv("PAGER_SWAP_FILE", optarg, 1);
			break;
		}
		case O_DAEMON:
			die_usage("--daemon: pagerd is not built yet; the pager runs in the program%s%s",
				  "", "");
			break;
		case 'v': verbose++; break;
		case 'h': fputs(usage, stdout); return 0;
		case 'V': printf("pager-run %s\n", PAGER_VERSION_STRING); return 0;
		default: fprintf(stderr, "Try 'pager-run --help'.\n"); return 2;
		}
	}
	if (optind >= argc)
		die_usage("no program to run%s%s", "", "");
	{
		/* Well-formed is not enough: the engine's limits, named, before anything runs. */
		struct pager_config cfg;
		char err[512];

		pager_config_default(&cfg);
		if (pager_config_from_env(&cfg, err, sizeof(err)))
			die_usage("%s%s", err, "");
	}
	if (verbose)
		setenv("PAGER_LOG", verbose > 1 ? "debug" : "info", 1);

	/*
	 * Without a userfaultfd that serves kernel-mode faults the shim would step
	 * aside in every process of the program; say it once, here, and run the
	 * program on the kernel's paging.
	 */
	{
		struct uffd u;
		char err[512];

		if (uffd_open(&u, 0, err, sizeof(err)) < 0) {
			fprintf(stderr, "pager: warning: the pager steps aside, this program runs on "
					"the kernel's own paging: %s\n",
				err);
			execvp(argv[optind], &argv[optind]);
			c = errno;
			fprintf(stderr, "pager-run: %s: %s\n", argv[optind], strerror(c));
			return c == ENOENT ? 127 : 126;
		}
		uffd_close(&u);
	}
	shim = find_shim();
	if (access(shim, R_OK)) {
		fprintf(stderr, "pager-run: cannot find the shim at %s: %s (set PAGER_SHIM)\n", shim,
			strerror(errno));
		return 126;
	}
	old = getenv("LD_PRELOAD");
	if (asprintf(&preload, "%s%s%s", shim, old && *old ? ":" : "", old ? old : "") < 0)
		return 126;
	setenv("LD_PRELOAD", preload, 1);
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	setenv("PAGER_STATS_PID", pid, 1);
	if (verbose)
		fprintf(stderr, "pager-run: LD_PRELOAD=%s\n", preload);
	execvp(argv[optind], &argv[optind]);
	c = errno;
	fprintf(stderr, "pager-run: %s: %s\n", argv[optind], strerror(c));
	return c == ENOENT ? 127 : 126;
}
