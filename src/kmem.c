/*
 * kmem.c - the engine's allocator (see kmem.h): whole pages from mmap, with
 * the length kept in a header in front of the object.
 */
#include "kmem.h"

#include <stdint.h>
#include <string.h>

#include "sys.h"

#define KMEM_HDR 16

static size_t round_pages(size_t n)
{
	return (n + 4095) & ~(size_t)4095;
}

void *kzalloc(size_t size)
{
	size_t len;
	char *p;

	if (size > SIZE_MAX - KMEM_HDR - 4096) {
		errno = ENOMEM;
		return NULL;
	}
	len = round_pages(size + KMEM_HDR);
	p = sys_mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	*(size_t *)p = len;
	return p + KMEM_HDR;
}

void *kcalloc(size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size) {
		errno = ENOMEM;
		return NULL;
	}
	return kzalloc(n * size);
}

void kfree(void *p)
{
	char *base;

	if (!p)
		return;
	base = (char *)p - KMEM_HDR;
	sys_munmap(base, *(size_t *)base);
}

void *krealloc(void *p, size_t size)
{
	size_t old;
	void *n;

	if (!p)
		return kzalloc(size);
	old = *(size_t *)((char *)p - KMEM_HDR) - KMEM_HDR;
	if (size <= old)
		return p;
	n = kzalloc(size);
	if (!n)
		return NULL;
	memcpy(n, p, old);
	kfree(p);
	return n;
}

void *kpages(size_t size)
{
	void *p = sys_mmap(NULL, round_pages(size ? size : 1), PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

void kpages_free(void *p, size_t size)
{
	if (p)
		sys_munmap(p, round_pages(size ? size : 1));
}
