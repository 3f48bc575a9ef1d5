/* test_util.h -- the C tests' one copy of their shell and temp-dir helpers.
 * Header-only; include after <cmocka.h>.
 *   sh(fmt, ...)              run a shell command; the test fails (printing
 *                             the command) unless it exits 0
 *   sh_status(fmt, ...)       run one and return its exit status
 *   sh_run(fmt, ...)          the same, printing the command if it fails
 *   tbw_test_mkdtemp(b, n, name)  a new directory $TMPDIR/tbw_<name>.XXXXXX
 *                             (TMPDIR unset: /tmp); 0, or -1 with errno
 *   tbw_test_mkdtemp_shm(...)  the same on /dev/shm when TMPDIR is unset
 *   tbw_test_rmtree(path)     remove path and everything below it (no
 *                             shell, links not followed); 0 or -1
 *   tbw_test_run_dir_of(sd, out, cap)  the one run folder of sync folder
 *                             sd, as sd/<name> (the test fails unless
 *                             there is exactly one)
 *   tbw_test_crash_seed()     a crash loop's seed: $TBW_CRASH_SEED, else
 *                             time ^ pid; printed, and given to srand()
 *   tbw_test_write_file(path, data, len)  create path holding those bytes
 *                             (the test fails otherwise)
 *   tbw_test_tbrecover_rss(from, logdir)  run the built tools/tbrecover
 *                             --from from logdir ($TBW_BUILDDIR, else .),
 *                             stdout to /dev/null; the test fails unless it
 *                             exits 0; its peak RSS in KiB
 */
#ifndef TBW_TEST_UTIL_H
#define TBW_TEST_UTIL_H

#include <dirent.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int tbw_test_vsh(int quiet, const char *fmt, va_list ap)
{
	char cmd[4096];
	int rc;

	vsnprintf(cmd, sizeof cmd, fmt, ap);
	rc = system(cmd);
	if (rc != 0 && !quiet)
		fprintf(stderr, "command failed (%d): %s\n", rc, cmd);
	return rc == -1 || !WIFEXITED(rc) ? -1 : WEXITSTATUS(rc);
}

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2), unused));

static void sh(const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = tbw_test_vsh(0, fmt, ap);
	va_end(ap);
	assert_int_equal(rc, 0);
}

/* The exit status of a shell command (-1 if it did not exit); sh_run also
 * prints the command when it fails. */
static int sh_run(const char *fmt, ...) __attribute__((format(printf, 1, 2), unused));

static int sh_run(const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = tbw_test_vsh(0, fmt, ap);
	va_end(ap);
	return rc;
}

static int sh_status(const char *fmt, ...) __attribute__((format(printf, 1, 2), unused));

static int sh_status(const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = tbw_test_vsh(1, fmt, ap);
	va_end(ap);
	return rc;
}

static int tbw_test_mkdtemp(char *buf, size_t cap, const char *name) __attribute__((unused));

static int tbw_test_mkdtemp(char *buf, size_t cap, const char *name)
{
	const char *t = getenv("TMPDIR");
	int n = snprintf(buf, cap, "%s/tbw_%s.XXXXXX", t && *t ? t : "/tmp", name);
	if (n < 0 || (size_t)n >= cap)
		return -1;
	return mkdtemp(buf) ? 0 : -1;
}

/* As tbw_test_mkdtemp, on tmpfs (/dev/shm) when TMPDIR is unset and there
 * is one: for tests that fsync thousands of times. */
static int tbw_test_mkdtemp_shm(char *buf, size_t cap, const char *name) __attribute__((unused));

static int tbw_test_mkdtemp_shm(char *buf, size_t cap, const char *name)
{
	const char *t = getenv("TMPDIR");
	const char *d = t && *t ? t : access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	int n = snprintf(buf, cap, "%s/tbw_%s.XXXXXX", d, name);
	if (n < 0 || (size_t)n >= cap)
		return -1;
	return mkdtemp(buf) ? 0 : -1;
}

static int tbw_test_rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)f;
	return flag == FTW_DP ? rmdir(p) : unlink(p);
}

static int tbw_test_rmtree(const char *path) __attribute__((unused));

static int tbw_test_rmtree(const char *path)
{
	if (access(path, F_OK) != 0)
		return 0;
	return nftw(path, tbw_test_rm_one, 32, FTW_DEPTH | FTW_PHYS);
}

static void tbw_test_run_dir_of(const char *sd, char *out, size_t cap) __attribute__((unused));

static void tbw_test_run_dir_of(const char *sd, char *out, size_t cap)
{
	DIR *d = opendir(sd);
	struct dirent *de;
	int n = 0;
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(out, cap, "%s/%s", sd, de->d_name);
		n++;
	}
	closedir(d);
	assert_int_equal(n, 1);
}

static unsigned tbw_test_crash_seed(void) __attribute__((unused));

static unsigned tbw_test_crash_seed(void)
{
	const char *e = getenv("TBW_CRASH_SEED");
	unsigned seed = e ? (unsigned)strtoul(e, NULL, 10) : (unsigned)time(NULL) ^ (unsigned)getpid();

	fprintf(stderr, "crash loop seed %u (set TBW_CRASH_SEED to replay)\n", seed);
	srand(seed);
	return seed;
}

static void tbw_test_write_file(const char *path, const void *data, size_t len) __attribute__((unused));

static void tbw_test_write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static long tbw_test_tbrecover_rss(const char *from, const char *logdir) __attribute__((unused));

static long tbw_test_tbrecover_rss(const char *from, const char *logdir)
{
	char tool[4096];
	struct rusage ru;
	int status;
	pid_t pid;

	snprintf(tool, sizeof tool, "%s/tools/tbrecover", getenv("TBW_BUILDDIR") ? getenv("TBW_BUILDDIR") : ".");
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);
		dup2(fd, 1);
		execl(tool, tool, "--from", from, logdir, (char *)NULL);
		_exit(127);
	}
	assert_int_equal(wait4(pid, &status, 0, &ru), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	return ru.ru_maxrss;
}

#endif
