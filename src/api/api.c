/* api.c -- small pieces of the public API: tbw_version(), the journal
 * location call, and the versioned-options rule (api.h). */
#include "config.h"
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "base/alloc.h"
#include "api/api.h"
#include "base/error.h"
#include "journal/location.h"

int tbw__opts_copy(void *dst, const void *src, const size_t *sizes, size_t nsizes,
                   const char *op, const char *what)
{
	unsigned int v, lib = (unsigned int)(nsizes - 1);

	if (!src)
		return TBW_OK;
	memcpy(&v, src, sizeof v);
	if (v == 0 || v > lib)
		return tbw__error_set(TBW_EINVAL, op, NULL,
		                      "%s version %u is not between 1 and %u (this library): start from the _INIT macro",
		                      what, v, lib);
	memcpy(dst, src, sizes[v]);
	memcpy(dst, &lib, sizeof lib);
	return TBW_OK;
}

void tbw__copy_str(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "");
}

const char *tbw_version(int *major, int *minor, int *patch)
{
	if (major)
		*major = TBW_VERSION_NUMBER / 10000;
	if (minor)
		*minor = TBW_VERSION_NUMBER / 100 % 100;
	if (patch)
		*patch = TBW_VERSION_NUMBER % 100;
	return TBW_VERSION_STRING;
}

int tbw_journal_locate(char *out, size_t cap, const char *logdir)
{
	char *j;
	size_t n;

	if (!out || !logdir || !*logdir)
		return tbw__error_set(TBW_EINVAL, "journal locate", logdir, "out or logdir is NULL or empty");
	if (!(j = tbw__location_find(logdir)))
		return tbw__error_set(TBW_ENOMEM, "journal locate", logdir, "out of memory");
	n = strlen(j);
	if (n + 1 > cap) {
		tbw__free(j);
		return tbw__error_set(TBW_EINVAL, "journal locate", logdir,
		                      "buffer of %zu bytes is too small: %zu needed", cap, n + 1);
	}
	memcpy(out, j, n + 1);
	tbw__free(j);
	return TBW_OK;
}

void tbw__sleep_stop(unsigned int ms, tbw_stop_flag *stop)
{
	while (ms && !(stop && *stop)) {
		unsigned int step = ms < 100 ? ms : 100;
		struct timespec ts = { 0, (long)step * 1000000L };
		nanosleep(&ts, NULL);
		ms -= step;
	}
}
