/* tagname.h -- what a tag name may be, in one place: non-empty, at most
 * TBW_TAG_MAX bytes of valid UTF-8 (no overlongs, surrogates or code points
 * past U+10FFFF), no C0 or C1 control characters and no DEL. The journal
 * refuses other tags at logging time; the segment reader refuses them in
 * a sync folder, so whatever the journal accepts a segment can carry.
 */
#ifndef TBW_TAGNAME_H
#define TBW_TAGNAME_H

#include <stddef.h>

/* 0 if tag (len bytes, tag may be NULL) is a valid tag name. Otherwise
 * nonzero, and when why is not NULL a one-line reason (starting "tag ...")
 * is written to it (cap bytes). */
int tbw__tagname_check(const char *tag, size_t len, char *why, size_t cap);

#endif
