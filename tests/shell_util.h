/* shell_util.h -- sh(): run a shell command in a test, failing the test
 * (and printing the command) if it does not exit 0. Header-only; include
 * after <cmocka.h>. */
#ifndef TBW_SHELL_UTIL_H
#define TBW_SHELL_UTIL_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	rc = system(cmd);
	if (rc != 0)
		fprintf(stderr, "command failed (%d): %s\n", rc, cmd);
	assert_int_equal(rc, 0);
}

#endif
