/* tagname.c -- validation of tag names; see tagname.h. */
#include "config.h"
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include "tbwal.h"
#include "base/tagname.h"

static int bad(char *why, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int bad(char *why, size_t cap, const char *fmt, ...)
{
	va_list ap;

	if (why && cap) {
		va_start(ap, fmt);
		vsnprintf(why, cap, fmt, ap);
		va_end(ap);
	}
	return 1;
}

int tbw__tagname_check(const char *tag, size_t len, char *why, size_t cap)
{
	const unsigned char *s = (const unsigned char *)tag;
	if (!tag)
		return bad(why, cap, "tag is NULL");
	if (len == 0)
		return bad(why, cap, "tag is empty");
	if (len > TBW_TAG_MAX)
		return bad(why, cap, "tag is %zu bytes, longer than the limit of %d", len, TBW_TAG_MAX);
	for (size_t i = 0; i < len;) {
		unsigned c = s[i];
		uint32_t cp;
		size_t n;
		if (c < 0x80) {
			if (c < 0x20 || c == 0x7f)
				return bad(why, cap, "tag holds control character 0x%02x at byte %zu", c, i);
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) { n = 2; cp = c & 0x1f; }
		else if (c >= 0xe0 && c <= 0xef) { n = 3; cp = c & 0x0f; }
		else if (c >= 0xf0 && c <= 0xf4) { n = 4; cp = c & 0x07; }
		else
			return bad(why, cap, "tag is not valid UTF-8 (byte 0x%02x at %zu)", c, i);
		if (i + n > len)
			return bad(why, cap, "tag is not valid UTF-8 (truncated sequence at %zu)", i);
		for (size_t k = 1; k < n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return bad(why, cap, "tag is not valid UTF-8 (bad continuation at %zu)", i + k);
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return bad(why, cap, "tag is not valid UTF-8 (overlong, surrogate or out of range at %zu)", i);
		if (cp >= 0x80 && cp <= 0x9f)
			return bad(why, cap, "tag holds control character U+%04X at byte %zu", cp, i);
		i += n;
	}
	return 0;
}

