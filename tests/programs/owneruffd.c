/*
 * owneruffd.c - a program that uses userfaultfd itself, on memory it mapped
 * with plain mmap(2): under pager-run the shim must give the range up (the
 * kernel would say EBUSY), and the program's own handler must serve it.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define LEN (4u << 20)

static int uffd;
static char page[4096];

static void *handler(void *arg)
{
	struct uffd_msg m;

	(void)arg;
	for (int served = 0; served < 3;) {
		struct pollfd p = { .fd = uffd, .events = POLLIN };

		if (poll(&p, 1, -1) < 0 || read(uffd, &m, sizeof(m)) != sizeof(m))
			continue;
		if (m.event != UFFD_EVENT_PAGEFAULT)
			continue;
		memset(page, 'A' + served, sizeof(page));
		struct uffdio_copy c = { .dst = m.arg.pagefault.address & ~4095ULL,
					 .src = (unsigned long)page, .len = 4096 };
		if (ioctl(uffd, UFFDIO_COPY, &c))
			fprintf(stderr, "UFFDIO_COPY: %s\n", strerror(errno));
		served++;
	}
	return NULL;
}

int main(void)
{
	struct uffdio_api api = { .api = UFFD_API };
	char *p = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	pthread_t t;
	int dev;

	p[LEN - 1] = 'z'; /* a page the program has touched before registering */
	dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	uffd = dev >= 0 ? ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC) :
			  (int)syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY);
	if (uffd < 0 || ioctl(uffd, UFFDIO_API, &api)) {
		printf("no userfaultfd here: %s\n", strerror(errno));
		return 0;
	}
	struct uffdio_register reg = { .range = { (unsigned long)p, LEN },
				       .mode = UFFDIO_REGISTER_MODE_MISSING };
	if (ioctl(uffd, UFFDIO_REGISTER, &reg)) {
		printf("UFFDIO_REGISTER: %s\n", strerror(errno));
		return 1;
	}
	pthread_create(&t, NULL, handler, NULL);
	printf("%c %c %c, and the touched page still holds %c\n", p[0], p[LEN / 2], p[8192],
	       p[LEN - 1]);
	pthread_join(t, NULL);
	return 0;
}
