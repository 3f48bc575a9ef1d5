/* api.h -- helpers shared by the public entry points (src/api_*.c, and the
 * writer): versioned option structs accepted by libgit2's rule. */
#ifndef TBW_API_H
#define TBW_API_H

#include <stddef.h>
#include "tbwal.h"

/* Bytes of type up to and including field f: the size of an option struct
 * at the version whose last field is f. */
#define TBW__FIELD_END(type, f) (offsetof(type, f) + sizeof(((type *)0)->f))

/* Copy the caller's options src (or nothing if NULL) over dst, which holds
 * the defaults at the library's version (nsizes - 1). sizes[v] is the size
 * of the struct at version v (sizes[0] unused). A caller's version from 1
 * to the library's is accepted, and fields it lacks keep their defaults;
 * 0 or a newer version is TBW_EINVAL naming what and the versions. */
int tbw__opts_copy(void *dst, const void *src, const size_t *sizes, size_t nsizes,
                   const char *op, const char *what);

#define TBW__OPTS_COPY(dst, src, sizes, op, what) \
	tbw__opts_copy((dst), (src), (sizes), sizeof(sizes) / sizeof((sizes)[0]), (op), (what))

/* Copy a path into a caller's fixed buffer (result structs). */
void tbw__copy_str(char *dst, size_t cap, const char *src);

/* Sleep ms (follow mode's period), waking every 100 ms to look at *stop
 * (NULL: never stops early). */
void tbw__sleep_stop(unsigned int ms, tbw_stop_flag *stop);

#endif
