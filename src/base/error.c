/* error.c -- thread-local error detail and code names; see error.h. */
#include "config.h"
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "base/error.h"

/* One line per thread. The buffer is static storage, so tbw_errmsg() never
 * allocates and never returns NULL, even after an allocation failure. */
static _Thread_local char tls_msg[512];

int tbw__error_set(int code, const char *op, const char *path, const char *fmt, ...)
{
	size_t n = 0;
	int k;
	va_list ap;

	k = snprintf(tls_msg, sizeof tls_msg, "%s%s%s: ", op ? op : "tbwal",
	             path ? " " : "", path ? path : "");
	if (k > 0)
		n = (size_t)k < sizeof tls_msg ? (size_t)k : sizeof tls_msg - 1;
	va_start(ap, fmt);
	vsnprintf(tls_msg + n, sizeof tls_msg - n, fmt, ap);
	va_end(ap);
	/* One line, always: a path or cause with a newline must not split it. */
	for (char *p = tls_msg; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	return code;
}

int tbw__error_from_errno(int err)
{
	switch (err) {
	case ENOSPC:
#ifdef EDQUOT
	case EDQUOT:
#endif
	case EFBIG:
		return TBW_EFULL;
	case ENOMEM:
		return TBW_ENOMEM;
	case ENOENT:
		return TBW_ENOTFOUND;
	case EINVAL:
	case ENAMETOOLONG:
		return TBW_EINVAL;
	case EAGAIN:
#if EWOULDBLOCK != EAGAIN
	case EWOULDBLOCK:
#endif
		return TBW_EBUSY;
	default:
		return TBW_EIO;
	}
}

int tbw__error_errno(int err, const char *op, const char *path)
{
	char buf[128];
	const char *s = buf;

	/* GNU strerror_r may return a static string instead of filling buf. */
#if defined(__GLIBC__) && defined(_GNU_SOURCE)
	s = strerror_r(err, buf, sizeof buf);
#else
	if (strerror_r(err, buf, sizeof buf) != 0)
		snprintf(buf, sizeof buf, "errno %d", err);
#endif
	return tbw__error_set(tbw__error_from_errno(err), op, path, "%s", s);
}

void tbw__error_save(tbw__errsave *s)
{
	_Static_assert(sizeof s->msg == sizeof tls_msg, "tbw__errsave holds the whole message");
	memcpy(s->msg, tls_msg, sizeof tls_msg);
}

void tbw__error_restore(const tbw__errsave *s)
{
	memcpy(tls_msg, s->msg, sizeof tls_msg);
	tls_msg[sizeof tls_msg - 1] = 0;
}

void tbw__error_clear(void)
{
	strcpy(tls_msg, "no error");
}

const char *tbw_errmsg(void)
{
	return tls_msg[0] ? tls_msg : "no error";
}

const char *tbw_strerror(int code)
{
	switch (code) {
	case TBW_OK:         return "TBW_OK: success";
	case TBW_ERROR:      return "TBW_ERROR: operation failed";
	case TBW_EINVAL:     return "TBW_EINVAL: invalid argument";
	case TBW_ENOMEM:     return "TBW_ENOMEM: out of memory";
	case TBW_EIO:        return "TBW_EIO: input/output error";
	case TBW_EFULL:      return "TBW_EFULL: no space left";
	case TBW_ECORRUPT:   return "TBW_ECORRUPT: stored data failed its checksum";
	case TBW_EBUSY:      return "TBW_EBUSY: another process holds the lock";
	case TBW_EPANIC:     return "TBW_EPANIC: an earlier sync or commit failed; reopen the writer";
	case TBW_EFORK:      return "TBW_EFORK: handle used in a child process after fork()";
	case TBW_EVERSION:   return "TBW_EVERSION: unsupported format version";
	case TBW_ENOTFOUND:  return "TBW_ENOTFOUND: not found";
	case TBW_ETRUNCATED: return "TBW_ETRUNCATED: incomplete last record";
	case TBW_ECLOSED:    return "TBW_ECLOSED: handle is closed";
	default:             return "TBW_UNKNOWN: unknown error code";
	}
}
