/*
 * uffd.c - the userfaultfd handle (see uffd.h).
 */
#include "sys.h"
#include "uffd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static int open_full_uffd(char *err, size_t errlen)
{
	int dev, fd, saved;

	dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	if (dev >= 0) {
		fd = sys_ioctl(dev, USERFAULTFD_IOC_NEW, (void *)(long)(O_CLOEXEC | O_NONBLOCK));
		saved = errno;
		close(dev);
		if (fd >= 0)
			return fd;
		errno = saved;
	}
	fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (fd >= 0)
		return fd;
	saved = errno;
	if (saved == ENOSYS) {
		snprintf(err, errlen, "userfaultfd is not available in this kernel (ENOSYS)");
	} else if (saved == EPERM) {
		/*
		 * The kernel would still give us a user-mode-only uffd, but a
		 * read(2) into a missing page would then fail with EFAULT in the
		 * program: refuse rather than break it.
		 */
		snprintf(err, errlen,
			 "userfaultfd: only user-mode faults are allowed for this user "
			 "(no access to /dev/userfaultfd and vm.unprivileged_userfaultfd=0); "
			 "kernel-mode faults such as read(2) into a mapping would fail. "
			 "Run as root, grant read-write access to /dev/userfaultfd, or set "
			 "vm.unprivileged_userfaultfd=1");
	} else {
		snprintf(err, errlen, "userfaultfd: %s", strerror(saved));
	}
	return -saved;
}

int uffd_open(struct uffd *u, uint64_t want, char *err, size_t errlen)
{
	struct uffdio_api api = { .api = UFFD_API, .features = 0 };
	int fd = open_full_uffd(err, errlen);

	if (fd < 0)
		return fd;
	/*
	 * The handshake can be done once per fd: the first one, with no
	 * features, tells what the kernel offers; a fresh fd asks for those of
	 * `want` that it has.
	 */
	if (want) {
		if (sys_ioctl(fd, UFFDIO_API, &api) < 0)
			goto fail;
		close(fd);
		fd = open_full_uffd(err, errlen);
		if (fd < 0)
			return fd;
		api = (struct uffdio_api){ .api = UFFD_API, .features = want & api.features };
	}
	if (sys_ioctl(fd, UFFDIO_API, &api) < 0)
		goto fail;
	u->fd = fd;
	u->features = api.features;
	u->ioctls = api.ioctls;
	return 0;
fail:;
	int e = errno;
	snprintf(err, errlen, "UFFDIO_API: %s", strerror(e));
	close(fd);
	return -e;
}

void uffd_close(struct uffd *u)
{
	if (u->fd >= 0)
		close(u->fd);
	u->fd = -1;
}

int uffd_register(const struct uffd *u, uintptr_t start, size_t len, uint64_t mode)
{
	struct uffdio_register reg = {
		.range = { .start = start, .len = len },
		.mode = mode,
	};

	return sys_ioctl(u->fd, UFFDIO_REGISTER, &reg) < 0 ? -errno : 0;
}

int uffd_unregister(const struct uffd *u, uintptr_t start, size_t len)
{
	struct uffdio_range r = { .start = start, .len = len };

	return sys_ioctl(u->fd, UFFDIO_UNREGISTER, &r) < 0 ? -errno : 0;
}

/* The fill ioctls report a partial result in a field and -errno on failure. */
static long fill_result(int rc, long long done)
{
	if (rc == 0)
		return (long)done;
	if (done > 0)
		return (long)done;
	if (done < 0)
		return (long)done;
	return -errno;
}

long uffd_copy(const struct uffd *u, uintptr_t dst, const void *src, size_t len, bool dontwake)
{
	struct uffdio_copy c = {
		.dst = dst,
		.src = (uintptr_t)src,
		.len = len,
		.mode = dontwake ? UFFDIO_COPY_MODE_DONTWAKE : 0,
	};
	int rc = sys_ioctl(u->fd, UFFDIO_COPY, &c);

	return fill_result(rc, c.copy);
}

long uffd_zeropage(const struct uffd *u, uintptr_t dst, size_t len, bool dontwake)
{
	struct uffdio_zeropage z = {
		.range = { .start = dst, .len = len },
		.mode = dontwake ? UFFDIO_ZEROPAGE_MODE_DONTWAKE : 0,
	};
	int rc = sys_ioctl(u->fd, UFFDIO_ZEROPAGE, &z);

	return fill_result(rc, z.zeropage);
}

long uffd_poison(const struct uffd *u, uintptr_t dst, size_t len)
{
	struct uffdio_poison p = {
		.range = { .start = dst, .len = len },
		.mode = 0,
	};
	int rc = sys_ioctl(u->fd, UFFDIO_POISON, &p);

	return fill_result(rc, p.updated);
}

long uffd_continue(const struct uffd *u, uintptr_t dst, size_t len, bool wp)
{
	struct uffdio_continue c = {
		.range = { .start = dst, .len = len },
		.mode = wp ? UFFDIO_CONTINUE_MODE_WP : 0,
	};
	int rc = sys_ioctl(u->fd, UFFDIO_CONTINUE, &c);

	return fill_result(rc, c.mapped);
}

long uffd_move(const struct uffd *u, uintptr_t dst, uintptr_t src, size_t len, bool dontwake)
{
	struct uffdio_move m = {
		.dst = dst,
		.src = src,
		.len = len,
		.mode = dontwake ? UFFDIO_MOVE_MODE_DONTWAKE : 0,
	};
	int rc = sys_ioctl(u->fd, UFFDIO_MOVE, &m);

	return fill_result(rc, m.move);
}

int uffd_wake(const struct uffd *u, uintptr_t start, size_t len)
{
	struct uffdio_range r = { .start = start, .len = len };

	return sys_ioctl(u->fd, UFFDIO_WAKE, &r) < 0 ? -errno : 0;
}

int uffd_writeprotect(const struct uffd *u, uintptr_t start, size_t len, bool wp)
{
	struct uffdio_writeprotect w = {
		.range = { .start = start, .len = len },
		.mode = wp ? UFFDIO_WRITEPROTECT_MODE_WP : 0,
	};

	return sys_ioctl(u->fd, UFFDIO_WRITEPROTECT, &w) < 0 ? -errno : 0;
}
