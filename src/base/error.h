/* error.h -- thread-local error detail and errno/code translation.
 *
 * Every failing function records one line (operation, path, cause) with
 * tbw__error_set() and returns the code it was given, so a failure site reads
 *     return tbw__error_set(TBW_EINVAL, "add_scalar", path, "tag is empty");
 * tbw_errmsg() (public) returns the line; tbw_strerror() the code's name.
 */
#ifndef TBW_ERROR_H
#define TBW_ERROR_H

#include "tbwal.h"

/* Record "op path: message" as this thread's last error; returns code. path may be NULL. */
int tbw__error_set(int code, const char *op, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Record "op path: strerror(err)" and return the code matching errno err
 * (ENOSPC/EDQUOT/EFBIG -> TBW_EFULL, ENOMEM -> TBW_ENOMEM, ENOENT -> TBW_ENOTFOUND,
 * EINVAL -> TBW_EINVAL, EAGAIN/EWOULDBLOCK -> TBW_EBUSY, others -> TBW_EIO). */
int tbw__error_errno(int err, const char *op, const char *path);

/* The code tbw__error_errno() would return for err, without recording anything. */
int tbw__error_from_errno(int err);

/* Forget this thread's last error (tbw_errmsg() then says "no error"). */
void tbw__error_clear(void);

/* A saved copy of this thread's message. Restoring puts back exactly the
 * saved bytes (no prefix added): a failure's cause survives cleanup code
 * that fails in turn. */
typedef struct tbw__errsave {
	char msg[512];
} tbw__errsave;
void tbw__error_save(tbw__errsave *s);
void tbw__error_restore(const tbw__errsave *s);

#endif
