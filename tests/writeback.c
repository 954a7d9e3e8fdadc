/*
 * writeback.c - stores through a MAP_SHARED pager mapping reach the file and
 * stay there: after msync(MS_SYNC) even if the process is then killed with
 * SIGKILL; while several threads keep storing into the pages being written
 * back; and when the file system is full, msync reports ENOSPC, nothing is
 * dropped, and a later msync with room again writes it all.
 */
#include <pthread.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "helpers.h"

#define NPG 64

static void fill(unsigned char *p, size_t len, unsigned char salt)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (unsigned char)(i * 31 + salt);
}

/* msync(MS_SYNC), then SIGKILL: the file has every byte. */
START_TEST(durable_after_sigkill)
{
	int fd = tmp_file(NULL, NPG * PG, O_RDWR), ready[2];
	unsigned char *want = malloc(NPG * PG), *got = malloc(NPG * PG);
	pid_t pid;
	char c;

	fill(want, NPG * PG, 7);
	ck_assert_int_eq(pipe(ready), 0);
	before_fork();
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		unsigned char *p = pager_mmap(NULL, NPG * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

		if (p == MAP_FAILED)
			_exit(2);
		memcpy(p, want, NPG * PG);
		if (pager_msync(p, NPG * PG, MS_SYNC))
			_exit(3);
		if (write(ready[1], "!", 1) != 1)
			_exit(4);
		for (;;)
			pause(); /* killed here, with nothing written back at exit */
	}
	close(ready[1]);
	ck_assert_int_eq(read(ready[0], &c, 1), 1);
	kill(pid, SIGKILL);
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
	pread_all(fd, got, NPG * PG, 0);
	ck_assert_same_bytes(want, got, NPG * PG, "file after msync(MS_SYNC) and SIGKILL");
	close(ready[0]);
	close(fd);
	free(want);
	free(got);
}
END_TEST

/*
 * The file mapped first through a read-only descriptor (the cache keeps a
 * copy of it), then MAP_SHARED through a read-write one: write-back works.
 * (Python's test_mmap does this; it once failed with EBADF.)
 */
START_TEST(readonly_first_then_shared)
{
	int rw = tmp_file(NULL, 4 * PG, O_RDWR), ro;
	char path[64], c = 0;
	unsigned char *r, *w;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", rw);
	ro = open(path, O_RDONLY);
	ck_assert_int_ge(ro, 0);
	r = pager_mmap(NULL, 4 * PG, PROT_READ, MAP_PRIVATE, ro, 0);
	ck_assert_ptr_ne(r, MAP_FAILED);
	ck_assert_int_eq(r[0], 0);
	w = pager_mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, rw, 0);
	ck_assert_ptr_ne(w, MAP_FAILED);
	w[PG + 1] = 'w';
	ck_assert_msg(pager_msync(w, 4 * PG, MS_SYNC) == 0, "msync: %s", strerror(errno));
	ck_assert_int_eq(pread(rw, &c, 1, PG + 1), 1);
	ck_assert_int_eq(c, 'w');
	ck_assert_int_eq(pager_munmap(w, 4 * PG), 0);
	ck_assert_int_eq(pager_munmap(r, 4 * PG), 0);
	close(ro);
	close(rw);
}
END_TEST

/* ---- stores racing with write-back ---- */

#define WRITERS 4
#define ROUNDS 40000

static unsigned char *wb_map;
static volatile int writers_done;

struct writer {
	int id;
	pthread_t t;
};

/* Writer w owns the 8-byte slots w, w + WRITERS, ...: the same and neighbouring pages as the others. */
static void *writer(void *arg)
{
	struct writer *w = arg;

	for (uint64_t round = 1; round <= ROUNDS; round++)
		for (size_t slot = (size_t)w->id; slot < NPG * PG / 8; slot += WRITERS * 61)
			((volatile uint64_t *)wb_map)[slot] = round << 8 | (uint64_t)w->id;
	return NULL;
}

START_TEST(stores_during_writeback)
{
	int fd = tmp_file(NULL, NPG * PG, O_RDWR);
	struct writer w[WRITERS];
	unsigned char *got = malloc(NPG * PG);
	unsigned syncs = 0;

	wb_map = pager_mmap(NULL, NPG * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ck_assert_ptr_ne(wb_map, MAP_FAILED);
	for (int i = 0; i < WRITERS; i++) {
		w[i].id = i;
		ck_assert_int_eq(pthread_create(&w[i].t, NULL, writer, &w[i]), 0);
	}
	/* Write back again and again while they store. */
	for (int i = 0; i < WRITERS; i++) {
		while (pthread_tryjoin_np(w[i].t, NULL) != 0) {
			ck_assert_int_eq(pager_msync(wb_map, NPG * PG, MS_SYNC), 0);
			syncs++;
		}
	}
	ck_assert_int_eq(pager_msync(wb_map, NPG * PG, MS_SYNC), 0);
	pread_all(fd, got, NPG * PG, 0);
	ck_assert_same_bytes(wb_map, got, NPG * PG, "file vs mapping after the last msync");
	for (size_t slot = 0; slot < NPG * PG / 8; slot++) {
		uint64_t v = ((uint64_t *)got)[slot];

		if ((slot % (WRITERS * 61)) < WRITERS)
			ck_assert_msg(v == ((uint64_t)ROUNDS << 8 | (slot % (WRITERS * 61))),
				      "slot %zu holds %#llx, not the last store", slot,
				      (unsigned long long)v);
	}
	fprintf(stderr, "%u write-backs raced with the stores\n", syncs);
	ck_assert_int_eq(pager_munmap(wb_map, NPG * PG), 0);
	close(fd);
	free(got);
}
END_TEST

/* ---- a full file system ---- */

static char fs_dir[256], fs_img[300];

static bool sh(const char *cmd)
{
	return system(cmd) == 0;
}

/* A 4 MiB ext4 on a loop device; false (with the reason) if this machine cannot. */
static bool small_fs(char *why, size_t len)
{
	char cmd[2048];

	snprintf(fs_dir, sizeof(fs_dir), "/tmp/pager-enospc-XXXXXX");
	if (!mkdtemp(fs_dir)) {
		snprintf(why, len, "mkdtemp: %s", strerror(errno));
		return false;
	}
	snprintf(fs_img, sizeof(fs_img), "%s.img", fs_dir);
	snprintf(cmd, sizeof(cmd),
		 "truncate -s 4M %s && mkfs.ext4 -q -F -O ^has_journal %s >/dev/null 2>&1 && "
		 "mount -o loop %s %s 2>/dev/null",
		 fs_img, fs_img, fs_img, fs_dir);
	if (!sh(cmd)) {
		snprintf(why, len, "cannot make and mount a small ext4 (root, mkfs.ext4, loop devices)");
		rmdir(fs_dir);
		unlink(fs_img);
		return false;
	}
	return true;
}

static void small_fs_gone(void)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd), "umount %s; rmdir %s; rm -f %s", fs_dir, fs_dir, fs_img);
	sh(cmd);
}

START_TEST(enospc_keeps_data)
{
	size_t len = 8u << 20; /* twice the file system */
	char path[400], why[200];
	unsigned char *p, *got;
	int fd, rc, e;

	if (!small_fs(why, sizeof(why))) {
		fprintf(stderr, "SKIP (this test only): %s\n", why);
		return;
	}
	snprintf(path, sizeof(path), "%s/sparse", fs_dir);
	fd = open(path, O_RDWR | O_CREAT, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)len), 0);
	p = pager_mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ck_assert_ptr_ne(p, MAP_FAILED);
	fill(p, len, 3); /* accepted: the stores are in memory */
	errno = 0;
	rc = pager_msync(p, len, MS_SYNC);
	e = errno;
	ck_assert_msg(rc == -1 && (e == ENOSPC || e == EDQUOT),
		      "msync of 8 MiB into a 4 MiB file system: %d (%s), want ENOSPC", rc, strerror(e));
	/* Nothing dropped: the mapping still holds every store. */
	got = malloc(len);
	fill(got, len, 3);
	ck_assert_same_bytes(got, p, len, "mapping after a failed write-back");
	/* Make room (half the file goes), and the retry writes what is left. */
	ck_assert_int_eq(ftruncate(fd, (off_t)(len / 4)), 0);
	pager_file_written(fd, 0, 0);
	ck_assert_int_eq(pager_msync(p, len / 4, MS_SYNC), 0);
	pread_all(fd, got + len / 2, len / 4, 0);
	fill(got, len / 4, 3);
	ck_assert_same_bytes(got, got + len / 2, len / 4, "file after msync with room again");
	ck_assert_int_eq(pager_munmap(p, len), 0);
	close(fd);
	free(got);
	small_fs_gone();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("writeback");
	TCase *tc;

	require_userfaultfd();
	tc = tcase(s, "writeback", 120);
	tcase_add_test(tc, durable_after_sigkill);
	tcase_add_test(tc, stores_during_writeback);
	tcase_add_test(tc, readonly_first_then_shared);
	tcase_add_test(tc, enospc_keeps_data);
	return run_suite(s);
}
