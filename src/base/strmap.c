/* strmap.c -- byte string -> uint32 map (see strmap.h). */
#include "config.h"
#include <string.h>
#include "tbwal.h"
#include "base/alloc.h"
#include "base/strmap.h"

static uint32_t fnv1a(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
	return (uint32_t)(h ^ (h >> 32));
}

static size_t probe(const tbw_strmap *m, const char *key, size_t n, uint32_t h)
{
	size_t mask = m->cap - 1, i = h & mask;
	for (; m->slot[i].key; i = (i + 1) & mask) {
		const tbw_strmap_slot *s = &m->slot[i];
		if (s->hash == h && s->len == n && memcmp(s->key, key, n) == 0)
			break;
	}
	return i;
}

int tbw__strmap_find(const tbw_strmap *m, const char *key, size_t n, uint32_t *value)
{
	if (!m->cap || n > UINT32_MAX)
		return 0;
	size_t i = probe(m, key, n, fnv1a(key, n));
	if (!m->slot[i].key)
		return 0;
	if (value)
		*value = m->slot[i].value;
	return 1;
}

static int grow(tbw_strmap *m)
{
	size_t nc = m->cap ? m->cap * 2 : 64;
	tbw_strmap_slot *ns = tbw__calloc(nc, sizeof *ns);
	if (!ns)
		return TBW_ENOMEM;
	for (size_t k = 0; k < m->cap; k++) {
		const tbw_strmap_slot *s = &m->slot[k];
		if (!s->key)
			continue;
		size_t i = s->hash & (nc - 1);
		while (ns[i].key)
			i = (i + 1) & (nc - 1);
		ns[i] = *s;
	}
	tbw__free(m->slot);
	m->slot = ns;
	m->cap = nc;
	return TBW_OK;
}

int tbw__strmap_put(tbw_strmap *m, const char *key, size_t n, uint32_t value)
{
	uint32_t h;
	size_t i;

	if (n > UINT32_MAX)
		return TBW_EINVAL;
	if ((m->n + 1) * 2 > m->cap && grow(m) != TBW_OK)
		return TBW_ENOMEM;
	h = fnv1a(key, n);
	i = probe(m, key, n, h);
	if (!m->slot[i].key)
		m->n++;
	m->slot[i].key = key;
	m->slot[i].len = (uint32_t)n;
	m->slot[i].hash = h;
	m->slot[i].value = value;
	return TBW_OK;
}

void tbw__strmap_clear(tbw_strmap *m)
{
	if (m->cap)
		memset(m->slot, 0, m->cap * sizeof *m->slot);
	m->n = 0;
}

void tbw__strmap_free(tbw_strmap *m)
{
	tbw__free(m->slot);
	m->slot = NULL;
	m->cap = 0;
	m->n = 0;
}
