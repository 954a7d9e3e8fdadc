/*
 * forkshare.c - a program no pager test wrote for the pager: it maps a file
 * and an anonymous region MAP_SHARED with plain mmap(2), forks four children
 * that each fill their quarter, and prints checksums of both regions and of
 * the file after munmap.  Run with and without pager-run; outputs compared.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define LEN (8u << 20)

static uint64_t sum(const unsigned char *p, size_t n)
{
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ULL;
	return h;
}

int main(int argc, char **argv)
{
	unsigned char *f, *a, *back;
	int fd;

	if (argc != 2) {
		fprintf(stderr, "usage: forkshare FILE\n");
		return 2;
	}
	fd = open(argv[1], O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || ftruncate(fd, LEN)) {
		perror(argv[1]);
		return 1;
	}
	f = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	a = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (f == MAP_FAILED || a == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	memset(f, 'p', 4096); /* the parent's own page, before the fork */
	for (int c = 0; c < 4; c++) {
		pid_t pid = fork();

		if (pid == 0) {
			for (size_t i = (size_t)c * LEN / 4 + 4096; i < (size_t)(c + 1) * LEN / 4; i += 61) {
				f[i] = (unsigned char)(i * 7 + c);
				a[i] = (unsigned char)(i * 13 + c);
			}
			_exit(0);
		}
		if (pid < 0) {
			perror("fork");
			return 1;
		}
	}
	for (int c = 0; c < 4; c++) {
		int st;

		if (wait(&st) < 0 || !WIFEXITED(st) || WEXITSTATUS(st)) {
			fprintf(stderr, "a child failed\n");
			return 1;
		}
	}
	printf("file mapping %016llx\n", (unsigned long long)sum(f, LEN));
	printf("anonymous    %016llx\n", (unsigned long long)sum(a, LEN));
	munmap(f, LEN);
	back = malloc(LEN);
	if (!back || pread(fd, back, LEN, 0) != (ssize_t)LEN) {
		perror("pread");
		return 1;
	}
	printf("file         %016llx\n", (unsigned long long)sum(back, LEN));
	return 0;
}
