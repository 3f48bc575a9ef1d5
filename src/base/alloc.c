/* alloc.c -- replaceable allocator with fail-at-N injection; see alloc.h. */
#include "config.h"
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include "base/alloc.h"

static atomic_ulong g_count;     /* allocations since injection was armed */
static atomic_ulong g_fail_at;   /* 0 = never */
static atomic_int   g_persist;
static atomic_ulong g_failures;

static int should_fail(void)
{
	unsigned long at = atomic_load(&g_fail_at);
	unsigned long n;

	if (at == 0)
		return 0;
	n = atomic_fetch_add(&g_count, 1) + 1;
	if (n == at || (n > at && atomic_load(&g_persist))) {
		atomic_fetch_add(&g_failures, 1);
		return 1;
	}
	return 0;
}

void *tbw__malloc(size_t n)
{
	return should_fail() ? NULL : malloc(n ? n : 1);
}

void *tbw__calloc(size_t count, size_t n)
{
	return should_fail() ? NULL : calloc(count ? count : 1, n ? n : 1);
}

void *tbw__realloc(void *p, size_t n)
{
	return should_fail() ? NULL : realloc(p, n ? n : 1);
}

char *tbw__strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = tbw__malloc(n);

	if (d)
		memcpy(d, s, n);
	return d;
}

void tbw__free(void *p)
{
	free(p);
}

void tbw__alloc_fail_at(unsigned long n, int persist)
{
	atomic_store(&g_count, 0);
	atomic_store(&g_failures, 0);
	atomic_store(&g_persist, persist);
	atomic_store(&g_fail_at, n);
}

unsigned long tbw__alloc_count(void)
{
	return atomic_load(&g_count);
}

unsigned long tbw__alloc_failures(void)
{
	return atomic_load(&g_failures);
}
