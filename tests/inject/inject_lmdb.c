/* inject_lmdb.c -- an LD_PRELOAD shim that fails LMDB's own writes and
 * syncs (which do not pass through tbwal's syscall layer, src/base/os.h), to
 * show the writer reports them and the journal opens afterwards.
 *
 * It interposes write, writev, pwrite(64), pwritev(64), fsync, fdatasync
 * and msync. A call counts as a match when it is of a selected kind and
 * touches a file named data.mdb (for msync: a mapping of one). Settings,
 * from the environment:
 *   TBW_INJECT_CALL    kinds to select, comma separated: write, writev,
 *                      pwrite, pwritev, fsync, fdatasync, msync, or any
 *   TBW_INJECT_FROM    fail the Nth match and every one after it (0 or
 *                      unset: never fail, only count)
 *   TBW_INJECT_ONCE    "1": fail only the Nth match
 *   TBW_INJECT_ERRNO   EIO (default), ENOSPC, or a number
 *   TBW_INJECT_REPORT  file to write counts to (after each injected
 *                      failure and at exit), one line:
 *                      "matched=M failed=F pwrite=.. writev=.. ..." where
 *                      the per-kind counts are calls on data.mdb
 * so a test can check the shim really intercepted LMDB (a test that never
 * met its fault must not pass).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/uio.h>
#include "real_io.h"

enum { K_WRITE, K_WRITEV, K_PWRITE, K_PWRITEV, K_FSYNC, K_FDATASYNC, K_MSYNC, K_N };
static const char *const kind_names[K_N] = {
	"write", "writev", "pwrite", "pwritev", "fsync", "fdatasync", "msync"
};

static unsigned sel_mask;
static unsigned long from_n;
static int once, inj_errno = EIO;
static const char *report_path;
static atomic_ulong counts[K_N], matched, failed;
static _Thread_local int busy;   /* our own calls are not counted */


__attribute__((constructor)) static void init(void)
{
	const char *s;

	real_io_load();
	s = getenv("TBW_INJECT_CALL");
	if (s) {
		char buf[256], *save = NULL;
		snprintf(buf, sizeof buf, "%s", s);
		for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
			if (strcmp(t, "any") == 0)
				sel_mask = (1u << K_N) - 1;
			for (int k = 0; k < K_N; k++)
				if (strcmp(t, kind_names[k]) == 0)
					sel_mask |= 1u << k;
		}
	}
	s = getenv("TBW_INJECT_FROM");
	from_n = s ? strtoul(s, NULL, 10) : 0;
	s = getenv("TBW_INJECT_ONCE");
	once = s && *s == '1';
	s = getenv("TBW_INJECT_ERRNO");
	if (s && strcmp(s, "ENOSPC") == 0)
		inj_errno = ENOSPC;
	else if (s && strcmp(s, "EIO") != 0 && *s)
		inj_errno = atoi(s);
	report_path = getenv("TBW_INJECT_REPORT");
}

static void report(void)
{
	char line[512];
	int n, fd;

	if (!report_path)
		return;
	busy++;
	n = snprintf(line, sizeof line, "matched=%lu failed=%lu", atomic_load(&matched), atomic_load(&failed));
	for (int k = 0; k < K_N && n < (int)sizeof line - 40; k++)
		n += snprintf(line + n, sizeof line - (size_t)n, " %s=%lu", kind_names[k], atomic_load(&counts[k]));
	n += snprintf(line + n, sizeof line - (size_t)n, "\n");
	fd = open(report_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd >= 0) {
		if (real_write(fd, line, (size_t)n) < 0)
			(void)0;
		close(fd);
	}
	busy--;
}

__attribute__((destructor)) static void fini(void)
{
	report();
}

static int addr_is_data(const void *addr)
{
	FILE *f;
	char line[4608];
	int hit = 0;
	uintptr_t a = (uintptr_t)addr;

	f = fopen("/proc/self/maps", "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof line, f)) {
		unsigned long lo, hi;
		char *path;
		if (sscanf(line, "%lx-%lx", &lo, &hi) != 2 || a < lo || a >= hi)
			continue;
		path = strchr(line, '/');
		if (path) {
			path[strcspn(path, "\n")] = '\0';
			hit = ends_with_data_mdb(path);
		}
		break;
	}
	fclose(f);
	return hit;
}

/* 1 if this call (kind, on data.mdb or not) must fail; errno is set. */
static int should_fail(int kind, int is_data)
{
	unsigned long m;

	if (busy || !is_data)
		return 0;
	atomic_fetch_add(&counts[kind], 1);
	if (!(sel_mask & (1u << kind)))
		return 0;
	m = atomic_fetch_add(&matched, 1) + 1;
	if (from_n && (m == from_n || (m > from_n && !once))) {
		atomic_fetch_add(&failed, 1);
		report();
		errno = inj_errno;
		return 1;
	}
	return 0;
}

static int check_fd(int kind, int fd)
{
	int r;
	if (busy)
		return 0;
	busy++;
	r = fd_is_data(fd);
	busy--;
	return should_fail(kind, r);
}

ssize_t write(int fd, const void *buf, size_t n)
{
	if (check_fd(K_WRITE, fd))
		return -1;
	return real_write(fd, buf, n);
}

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	if (check_fd(K_WRITEV, fd))
		return -1;
	return real_writev(fd, iov, cnt);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
	if (check_fd(K_PWRITE, fd))
		return -1;
	return real_pwrite(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
{
	if (check_fd(K_PWRITE, fd))
		return -1;
	return real_pwrite64(fd, buf, n, off);
}

ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
	if (check_fd(K_PWRITEV, fd))
		return -1;
	return real_pwritev(fd, iov, cnt, off);
}

ssize_t pwritev64(int fd, const struct iovec *iov, int cnt, off_t off)
{
	if (check_fd(K_PWRITEV, fd))
		return -1;
	return real_pwritev64(fd, iov, cnt, off);
}

int fsync(int fd)
{
	if (check_fd(K_FSYNC, fd))
		return -1;
	return real_fsync(fd);
}

int fdatasync(int fd)
{
	if (check_fd(K_FDATASYNC, fd))
		return -1;
	return real_fdatasync(fd);
}

int msync(void *addr, size_t len, int flags)
{
	int is_data = 0;

	if (!busy) {
		busy++;
		is_data = addr_is_data(addr);
		busy--;
	}
	if (should_fail(K_MSYNC, is_data))
		return -1;
	return real_msync(addr, len, flags);
}
