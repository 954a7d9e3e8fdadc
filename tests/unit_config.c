/*
 * unit_config.c - pager_config_default() and pager_config_from_env(): the
 * documented defaults; every PAGER_* variable parsed; sizes in bytes or with
 * K/M/G suffixes (k, K, KiB, KB; the same for M and G), rounded UP to whole
 * pages (4 KiB: "100" is 4096 and "4097" is 8192); bad values fail with -1,
 * errno EINVAL and a message that names the variable.  The memory budget:
 * PAGER_BUDGET (0, or at least 4M), PAGER_SWAP_SIZE (1M to 16T, default 8G),
 * PAGER_SWAP_FILE (a path, copied as given; "" refused).
 */
#include "helpers.h"
#include "pager.h"

#define KiB 1024UL
#define MiB (1024UL * KiB)
#define GiB (1024UL * MiB)

static const char *const vars[] = { "PAGER_FAULT_AROUND", "PAGER_READAHEAD_MIN",
				    "PAGER_READAHEAD_MAX", "PAGER_THREADS", "PAGER_IO_DEPTH",
				    "PAGER_LOG", "PAGER_BUDGET", "PAGER_SWAP_FILE",
				    "PAGER_SWAP_SIZE" };

static struct pager_config cfg, def;
static char err[256];

static void setup(void)
{
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		unsetenv(vars[i]);
	pager_config_default(&def);
	pager_config_default(&cfg);
	memset(err, 0, sizeof(err));
}

/* Parse one setting; returns what pager_config_from_env returned. */
static int with_env(const char *name, const char *value)
{
	setenv(name, value, 1);
	pager_config_default(&cfg);
	errno = 0;
	return pager_config_from_env(&cfg, err, sizeof(err));
}

START_TEST(defaults)
{
	memset(&cfg, 0xff, sizeof(cfg));
	pager_config_default(&cfg);
	ck_assert_uint_eq(cfg.fault_around_bytes, 64 * KiB);
	ck_assert_uint_eq(cfg.readahead_min_bytes, 128 * KiB);
	ck_assert_uint_eq(cfg.readahead_max_bytes, 2 * MiB);
	ck_assert_uint_eq(cfg.handler_threads, 1);
	ck_assert_uint_eq(cfg.io_queue_depth, 64);
	ck_assert_int_eq(cfg.log_level, PAGER_LOG_WARN);
	ck_assert_uint_eq(cfg.budget_bytes, 0); /* no limit */
	ck_assert_ptr_null(cfg.swap_path); /* a temporary file */
	ck_assert_uint_eq(cfg.swap_bytes, 8 * GiB);
}
END_TEST

START_TEST(budget)
{
	ck_assert_msg(with_env("PAGER_BUDGET", "64M") == 0, "%s", err);
	ck_assert_uint_eq(cfg.budget_bytes, 64 * MiB);
	ck_assert_msg(with_env("PAGER_BUDGET", "0") == 0, "%s", err); /* no limit */
	ck_assert_uint_eq(cfg.budget_bytes, 0);
	ck_assert_msg(with_env("PAGER_BUDGET", "4M") == 0, "%s", err); /* the smallest */
	ck_assert_uint_eq(cfg.budget_bytes, 4 * MiB);
	ck_assert_msg(with_env("PAGER_BUDGET", "4095K") == 0, "%s", err); /* rounded up to 4M */
	ck_assert_uint_eq(cfg.budget_bytes, 4 * MiB);
	ck_assert_msg(with_env("PAGER_BUDGET", "2G") == 0, "%s", err);
	ck_assert_uint_eq(cfg.budget_bytes, 2 * GiB);
	ck_assert_msg(with_env("PAGER_BUDGET", "5000000") == 0, "%s", err); /* whole pages */
	ck_assert_uint_eq(cfg.budget_bytes, (5000000 + 4095) / 4096 * 4096);
	/* The budget alone changes nothing else. */
	ck_assert_ptr_null(cfg.swap_path);
	ck_assert_uint_eq(cfg.swap_bytes, 8 * GiB);
}
END_TEST

START_TEST(swap_size_and_file)
{
	static char path[] = "/var/tmp/some swap file";

	ck_assert_msg(with_env("PAGER_SWAP_SIZE", "1G") == 0, "%s", err);
	ck_assert_uint_eq(cfg.swap_bytes, 1 * GiB);
	ck_assert_msg(with_env("PAGER_SWAP_SIZE", "1M") == 0, "%s", err); /* the smallest */
	ck_assert_uint_eq(cfg.swap_bytes, 1 * MiB);
	ck_assert_msg(with_env("PAGER_SWAP_SIZE", "16T") == 0, "%s", err); /* the largest */
	ck_assert_uint_eq(cfg.swap_bytes, 16 * 1024 * GiB);
	ck_assert_msg(with_env("PAGER_SWAP_SIZE", "1048577") == 0, "%s", err); /* whole pages */
	ck_assert_uint_eq(cfg.swap_bytes, 1 * MiB + 4 * KiB);
	unsetenv("PAGER_SWAP_SIZE");
	ck_assert_msg(with_env("PAGER_SWAP_FILE", path) == 0, "%s", err);
	ck_assert_str_eq(cfg.swap_path, path); /* as given, spaces and all */
	ck_assert_uint_eq(cfg.swap_bytes, 8 * GiB);
	ck_assert_uint_eq(cfg.budget_bytes, 0);
	/* All three together. */
	setenv("PAGER_BUDGET", "32M", 1);
	setenv("PAGER_SWAP_SIZE", "256M", 1);
	ck_assert_msg(with_env("PAGER_SWAP_FILE", "/tmp/s") == 0, "%s", err);
	ck_assert_uint_eq(cfg.budget_bytes, 32 * MiB);
	ck_assert_uint_eq(cfg.swap_bytes, 256 * MiB);
	ck_assert_str_eq(cfg.swap_path, "/tmp/s");
}
END_TEST

START_TEST(empty_environment_changes_nothing)
{
	/* Values already in cfg stay when no variable is set. */
	cfg.fault_around_bytes = 8 * KiB;
	cfg.handler_threads = 7;
	ck_assert_int_eq(pager_config_from_env(&cfg, err, sizeof(err)), 0);
	ck_assert_uint_eq(cfg.fault_around_bytes, 8 * KiB);
	ck_assert_uint_eq(cfg.handler_threads, 7);
	ck_assert_uint_eq(cfg.readahead_max_bytes, def.readahead_max_bytes);
	ck_assert_int_eq(pager_config_from_env(&cfg, NULL, 0), 0);
}
END_TEST

START_TEST(sizes)
{
	static const struct {
		const char *s;
		size_t bytes;
	} ok[] = {
		{ "32768", 32 * KiB },  { "4096", 4 * KiB },	{ "128K", 128 * KiB },
		{ "128k", 128 * KiB },	{ "128KiB", 128 * KiB }, { "128kib", 128 * KiB },
		{ "2M", 2 * MiB },	 { "2MiB", 2 * MiB },
		{ "2m", 2 * MiB },	{ "1G", 1 * GiB },	 { "1GiB", 1 * GiB },
		{ "100", 4 * KiB },	{ "4097", 8 * KiB },	 { "1", 4 * KiB }, /* rounded up */
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		ck_assert_msg(with_env("PAGER_READAHEAD_MAX", ok[i].s) == 0, "\"%s\": %s", ok[i].s,
			      err);
		ck_assert_msg(cfg.readahead_max_bytes == ok[i].bytes, "\"%s\" gave %zu, expected %zu",
			      ok[i].s, cfg.readahead_max_bytes, ok[i].bytes);
	}
}
END_TEST

START_TEST(each_variable)
{
	ck_assert_int_eq(with_env("PAGER_FAULT_AROUND", "32K"), 0);
	ck_assert_uint_eq(cfg.fault_around_bytes, 32 * KiB);
	ck_assert_int_eq(with_env("PAGER_READAHEAD_MIN", "256K"), 0);
	ck_assert_uint_eq(cfg.readahead_min_bytes, 256 * KiB);
	ck_assert_int_eq(with_env("PAGER_READAHEAD_MAX", "8M"), 0);
	ck_assert_uint_eq(cfg.readahead_max_bytes, 8 * MiB);
	ck_assert_int_eq(with_env("PAGER_READAHEAD_MAX", "0"), 0); /* readahead off */
	ck_assert_uint_eq(cfg.readahead_max_bytes, 0);
	ck_assert_int_eq(with_env("PAGER_THREADS", "4"), 0);
	ck_assert_uint_eq(cfg.handler_threads, 4);
	ck_assert_int_eq(with_env("PAGER_THREADS", "1"), 0);
	ck_assert_uint_eq(cfg.handler_threads, 1);
	ck_assert_int_eq(with_env("PAGER_THREADS", "64"), 0);
	ck_assert_uint_eq(cfg.handler_threads, 64);
	ck_assert_int_eq(with_env("PAGER_IO_DEPTH", "128"), 0);
	ck_assert_uint_eq(cfg.io_queue_depth, 128);
	ck_assert_int_eq(with_env("PAGER_IO_DEPTH", "1"), 0);
	ck_assert_uint_eq(cfg.io_queue_depth, 1);
	ck_assert_int_eq(with_env("PAGER_IO_DEPTH", "4096"), 0);
	ck_assert_uint_eq(cfg.io_queue_depth, 4096);
}
END_TEST

START_TEST(log_levels)
{
	static const struct {
		const char *s;
		int level;
	} ok[] = {
		{ "error", PAGER_LOG_ERROR }, { "warn", PAGER_LOG_WARN }, { "info", PAGER_LOG_INFO },
		{ "debug", PAGER_LOG_DEBUG }, { "0", PAGER_LOG_ERROR },	  { "1", PAGER_LOG_WARN },
		{ "2", PAGER_LOG_INFO },      { "3", PAGER_LOG_DEBUG },
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		ck_assert_msg(with_env("PAGER_LOG", ok[i].s) == 0, "\"%s\": %s", ok[i].s, err);
		ck_assert_int_eq(cfg.log_level, ok[i].level);
	}
}
END_TEST

START_TEST(all_at_once)
{
	setenv("PAGER_FAULT_AROUND", "16K", 1);
	setenv("PAGER_READAHEAD_MIN", "64K", 1);
	setenv("PAGER_READAHEAD_MAX", "4M", 1);
	setenv("PAGER_THREADS", "2", 1);
	setenv("PAGER_IO_DEPTH", "32", 1);
	setenv("PAGER_LOG", "error", 1);
	ck_assert_int_eq(pager_config_from_env(&cfg, err, sizeof(err)), 0);
	ck_assert_uint_eq(cfg.fault_around_bytes, 16 * KiB);
	ck_assert_uint_eq(cfg.readahead_min_bytes, 64 * KiB);
	ck_assert_uint_eq(cfg.readahead_max_bytes, 4 * MiB);
	ck_assert_uint_eq(cfg.handler_threads, 2);
	ck_assert_uint_eq(cfg.io_queue_depth, 32);
	ck_assert_int_eq(cfg.log_level, PAGER_LOG_ERROR);
}
END_TEST

static const struct {
	const char *name, *value;
} bad[] = {
	{ "PAGER_FAULT_AROUND", "abc" },  { "PAGER_FAULT_AROUND", "-1" },
	{ "PAGER_FAULT_AROUND", "12X" },  { "PAGER_FAULT_AROUND", "" },
	{ "PAGER_FAULT_AROUND", "4K4" },  { "PAGER_READAHEAD_MIN", "abc" },
	{ "PAGER_READAHEAD_MIN", "-1" },  { "PAGER_READAHEAD_MIN", "12X" },
	{ "PAGER_READAHEAD_MAX", "abc" }, { "PAGER_READAHEAD_MAX", "-1" },
	{ "PAGER_READAHEAD_MAX", "12X" }, { "PAGER_READAHEAD_MAX", "1MiBs" },
	{ "PAGER_READAHEAD_MAX", "99999999999999999999999" },
	{ "PAGER_THREADS", "0" },	  { "PAGER_THREADS", "65" },
	{ "PAGER_THREADS", "abc" },	  { "PAGER_THREADS", "-1" },
	{ "PAGER_THREADS", "2x" },	  { "PAGER_THREADS", "" },
	{ "PAGER_IO_DEPTH", "0" },	  { "PAGER_IO_DEPTH", "abc" },
	{ "PAGER_IO_DEPTH", "-1" },	  { "PAGER_IO_DEPTH", "12X" },
	{ "PAGER_LOG", "loud" },	  { "PAGER_LOG", "" },
	{ "PAGER_LOG", "4" },		  { "PAGER_LOG", "-1" },
	{ "PAGER_BUDGET", "1M" },	  { "PAGER_BUDGET", "abc" },
	{ "PAGER_BUDGET", "1" },	  { "PAGER_BUDGET", "4000K" },
	{ "PAGER_BUDGET", "-1" },	  { "PAGER_BUDGET", "" },
	{ "PAGER_BUDGET", "64Q" },	  { "PAGER_BUDGET", "2048T" },
	{ "PAGER_SWAP_SIZE", "0" },	  { "PAGER_SWAP_SIZE", "512K" },
	{ "PAGER_SWAP_SIZE", "abc" },	  { "PAGER_SWAP_SIZE", "17T" },
	{ "PAGER_SWAP_SIZE", "" },	  { "PAGER_SWAP_FILE", "" },
};

START_TEST(bad_values)
{
	int i = _i; /* one loop iteration per bad value */
	struct pager_config before;

	pager_config_default(&before);
	ck_assert_msg(with_env(bad[i].name, bad[i].value) == -1, "%s=\"%s\" was accepted",
		      bad[i].name, bad[i].value);
	ck_assert_msg(errno == EINVAL, "%s=\"%s\": errno %d", bad[i].name, bad[i].value, errno);
	ck_assert_msg(strstr(err, bad[i].name), "%s=\"%s\": message \"%s\" does not name it",
		      bad[i].name, bad[i].value, err);
	/* Without a message buffer it fails the same way. */
	pager_config_default(&cfg);
	errno = 0;
	ck_assert_int_eq(pager_config_from_env(&cfg, NULL, 0), -1);
	ck_assert_int_eq(errno, EINVAL);
}
END_TEST

START_TEST(message_truncated_safely)
{
	char small[8];

	memset(small, 'x', sizeof(small));
	setenv("PAGER_THREADS", "1000", 1);
	ck_assert_int_eq(pager_config_from_env(&cfg, small, sizeof(small)), -1);
	ck_assert_uint_lt(strnlen(small, sizeof(small)), sizeof(small)); /* terminated */
}
END_TEST

int main(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase(s, "env", 10);

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, defaults);
	tcase_add_test(tc, empty_environment_changes_nothing);
	tcase_add_test(tc, sizes);
	tcase_add_test(tc, each_variable);
	tcase_add_test(tc, log_levels);
	tcase_add_test(tc, budget);
	tcase_add_test(tc, swap_size_and_file);
	tcase_add_test(tc, all_at_once);
	tcase_add_loop_test(tc, bad_values, 0, (int)(sizeof(bad) / sizeof(bad[0])));
	tcase_add_test(tc, message_truncated_safely);
	return run_suite(s);
}
