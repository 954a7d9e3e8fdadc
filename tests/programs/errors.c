/*
 * errors.c - the mmap family with bad arguments, through libc's symbols: the
 * shim must give the same results and errno as the kernel.  Prints one line
 * a call; run with and without pager-run, outputs compared.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define SHOW(what, call)                                                                   \
	do {                                                                               \
		errno = 0;                                                                 \
		long rc_ = (long)(call);                                                   \
		printf("%-44s %s %s\n", what, rc_ == -1 ? "-1" : "ok", rc_ == -1 ? strerrorname_np(errno) : ""); \
	} while (0)

int main(int argc, char **argv)
{
	int ro = open(argc > 1 ? argv[1] : "/etc/hostname", O_RDONLY), wo = open("/dev/null", O_WRONLY);
	int dir = open("/", O_RDONLY | O_DIRECTORY);
	char *p = mmap(NULL, 1 << 21, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	SHOW("mmap len 0", mmap(NULL, 0, PROT_READ, MAP_PRIVATE, ro, 0));
	SHOW("mmap unaligned offset", mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, ro, 1));
	SHOW("mmap bad fd", mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, 999, 0));
	SHOW("mmap no type", mmap(NULL, 4096, PROT_READ, 0, ro, 0));
	SHOW("mmap shared write on read-only fd", mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0));
	SHOW("mmap write-only fd", mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, wo, 0));
	SHOW("mmap directory", mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, dir, 0));
	SHOW("mmap huge anonymous", mmap(NULL, 1UL << 50, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
	SHOW("mmap fixed unaligned", mmap((void *)4097, 4096, PROT_READ, MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS, -1, 0));
	SHOW("mmap fixed_noreplace over a mapping", mmap(p, 4096, PROT_READ, MAP_PRIVATE | MAP_FIXED_NOREPLACE | MAP_ANONYMOUS, -1, 0));
	SHOW("munmap unaligned", munmap(p + 1, 4096));
	SHOW("munmap len 0", munmap(p, 0));
	SHOW("mprotect unaligned", mprotect(p + 1, 4096, PROT_READ));
	SHOW("mprotect bad prot", mprotect(p, 4096, 0x1000));
	SHOW("madvise bad advice", madvise(p, 4096, 9999));
	SHOW("madvise unaligned", madvise(p + 1, 4096, MADV_DONTNEED));
	SHOW("msync bad flags", msync(p, 4096, MS_SYNC | MS_ASYNC));
	SHOW("msync unmapped", msync((void *)4096, 4096, MS_SYNC));
	SHOW("mremap unaligned", mremap(p + 1, 4096, 8192, MREMAP_MAYMOVE));
	SHOW("mremap to 0", mremap(p, 4096, 0, MREMAP_MAYMOVE));
	SHOW("mremap grow in place (no room)", mremap(p, 1 << 21, 1 << 30, 0));
	SHOW("posix_madvise bad advice", posix_madvise(p, 4096, 9999) ? (errno = posix_madvise(p, 4096, 9999), -1) : 0);
	SHOW("munmap ok", munmap(p, 1 << 21));
	return 0;
}
