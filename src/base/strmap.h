/* strmap.h -- the one map from a byte string to a 32-bit value (tag names to
 * ids or indexes): open addressing, FNV-1a, at most half full. Keys are
 * borrowed: each must stay unchanged in memory while it is in the map.
 */
#ifndef TBW_STRMAP_H
#define TBW_STRMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct tbw_strmap_slot {
	const char *key;     /* NULL: empty */
	uint32_t len;
	uint32_t hash;
	uint32_t value;
} tbw_strmap_slot;

typedef struct tbw_strmap {
	tbw_strmap_slot *slot;
	size_t cap;          /* 0 or a power of two */
	size_t n;
} tbw_strmap;

#define TBW_STRMAP_INIT { NULL, 0, 0 }

/* 1 and *value if key (n bytes) is in m, else 0. */
int tbw__strmap_find(const tbw_strmap *m, const char *key, size_t n, uint32_t *value);

/* Map key to value. An equal key already there gets the value, and its slot
 * now borrows this key's bytes (so a caller may move a key's storage). 0,
 * or TBW_ENOMEM (the map is unchanged); keys over 4 GiB: TBW_EINVAL. */
int tbw__strmap_put(tbw_strmap *m, const char *key, size_t n, uint32_t value);

/* Empty m, keeping its slots: puts of up to as many keys as it held never
 * allocate. */
void tbw__strmap_clear(tbw_strmap *m);

/* Free the slots (not the keys); m is empty and usable again. */
void tbw__strmap_free(tbw_strmap *m);

#endif
