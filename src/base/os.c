/* os.c -- the syscall table, its fault injection, and durable-I/O helpers.
 *
 * DESIGN
 * The table tbw__os starts out pointing at the real calls. Arming a fault
 * swaps every entry for a wrapper that counts the selected calls and fails the
 * chosen one (SQLite's aSyscall[] and its "walk the failure point forward"
 * tests). The helpers below are the only places that turn a failed call into
 * a TBW_E* code and a one-line message naming the operation and the path.
 *
 * DURABILITY NOTES
 * - fsync of the directory after rename/create: without it a power failure
 *   can lose the directory entry even though the file's data was synced.
 * - Short writes and EINTR are retried; any other failure is reported, never
 *   retried silently: after a failed fsync the state of the page cache is
 *   unknown (the "fsyncgate" lesson), so callers poison their handle.
 */
#include "config.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/statfs.h>
#include "base/alloc.h"
#include "base/error.h"
#include "base/os.h"

/* ---- Real calls ---- */

static int real_open(const char *path, int flags, mode_t mode)
{
	return open(path, flags, mode);
}

static int real_fallocate(int fd, off_t off, off_t len)
{
	int err = posix_fallocate(fd, off, len);   /* returns the error */

	if (err) {
		errno = err;
		return -1;
	}
	return 0;
}

static const tbw_os_table real_table = {
	real_open, read, pread, write, pwrite, fsync, fdatasync, rename,
	ftruncate, unlink, close, mkdir, fstat, real_fallocate,
};

tbw_os_table tbw__os = {
	real_open, read, pread, write, pwrite, fsync, fdatasync, rename,
	ftruncate, unlink, close, mkdir, fstat, real_fallocate,
};

/* ---- Fault injection ---- */

static atomic_uint   f_mask;
static atomic_ulong  f_nth;
static atomic_int    f_persist;
static atomic_int    f_err;
static atomic_ulong  f_calls;
static atomic_ulong  f_hits;
static void (*_Atomic f_hook)(tbw_os_call, unsigned long);
static atomic_int    f_armed;

/* Returns nonzero (with errno set) if this call must fail. */
static int fault(tbw_os_call call)
{
	unsigned mask = atomic_load(&f_mask);
	unsigned long n, nth;
	void (*hook)(tbw_os_call, unsigned long);

	if (mask && !(mask & (1u << call)))
		return 0;
	n = atomic_fetch_add(&f_calls, 1) + 1;
	hook = atomic_load(&f_hook);
	if (hook)
		hook(call, n);
	nth = atomic_load(&f_nth);
	if (nth && (n == nth || (n > nth && atomic_load(&f_persist)))) {
		atomic_fetch_add(&f_hits, 1);
		errno = atomic_load(&f_err);
		return 1;
	}
	return 0;
}

static int f_open(const char *p, int fl, mode_t m)
{ return fault(TBW_OS_OPEN) ? -1 : real_table.open(p, fl, m); }
static ssize_t f_read(int fd, void *b, size_t n)
{ return fault(TBW_OS_READ) ? -1 : real_table.read(fd, b, n); }
static ssize_t f_pread(int fd, void *b, size_t n, off_t o)
{ return fault(TBW_OS_PREAD) ? -1 : real_table.pread(fd, b, n, o); }
static ssize_t f_write(int fd, const void *b, size_t n)
{ return fault(TBW_OS_WRITE) ? -1 : real_table.write(fd, b, n); }
static ssize_t f_pwrite(int fd, const void *b, size_t n, off_t o)
{ return fault(TBW_OS_PWRITE) ? -1 : real_table.pwrite(fd, b, n, o); }
static int f_fsync(int fd)
{ return fault(TBW_OS_FSYNC) ? -1 : real_table.fsync(fd); }
static int f_fdatasync(int fd)
{ return fault(TBW_OS_FDATASYNC) ? -1 : real_table.fdatasync(fd); }
static int f_rename(const char *a, const char *b)
{ return fault(TBW_OS_RENAME) ? -1 : real_table.rename(a, b); }
static int f_ftruncate(int fd, off_t l)
{ return fault(TBW_OS_FTRUNCATE) ? -1 : real_table.ftruncate(fd, l); }
static int f_unlink(const char *p)
{ return fault(TBW_OS_UNLINK) ? -1 : real_table.unlink(p); }
/* A failed close still releases the descriptor, as close(2) does on Linux. */
static int f_close(int fd)
{ if (fault(TBW_OS_CLOSE)) { int e = errno; real_table.close(fd); errno = e; return -1; }
  return real_table.close(fd); }
static int f_mkdir(const char *p, mode_t m)
{ return fault(TBW_OS_MKDIR) ? -1 : real_table.mkdir(p, m); }
static int f_fstat(int fd, struct stat *st)
{ return fault(TBW_OS_FSTAT) ? -1 : real_table.fstat(fd, st); }
static int f_fallocate(int fd, off_t o, off_t l)
{ return fault(TBW_OS_FALLOCATE) ? -1 : real_table.fallocate(fd, o, l); }

static const tbw_os_table fault_table = {
	f_open, f_read, f_pread, f_write, f_pwrite, f_fsync, f_fdatasync,
	f_rename, f_ftruncate, f_unlink, f_close, f_mkdir, f_fstat, f_fallocate,
};

void tbw__os_fault_arm(unsigned mask, unsigned long nth, int persist, int err)
{
	atomic_store(&f_mask, mask);
	atomic_store(&f_nth, nth);
	atomic_store(&f_persist, persist);
	atomic_store(&f_err, err ? err : EIO);
	atomic_store(&f_calls, 0);
	atomic_store(&f_hits, 0);
	atomic_store(&f_armed, 1);
	tbw__os = fault_table;
}

void tbw__os_fault_clear(void)
{
	tbw__os = real_table;
	atomic_store(&f_nth, 0);
	atomic_store(&f_hook, NULL);
	atomic_store(&f_armed, 0);
}

int tbw__os_faults_armed(void)
{
	return atomic_load(&f_armed);
}

unsigned long tbw__os_fault_hits(void)  { return atomic_load(&f_hits); }
unsigned long tbw__os_fault_calls(void) { return atomic_load(&f_calls); }

void tbw__os_fault_hook(void (*hook)(tbw_os_call, unsigned long))
{
	atomic_store(&f_hook, hook);
	if (hook) {
		atomic_store(&f_armed, 1);
		tbw__os = fault_table;
	}
}

/* ---- Helpers ---- */

int tbw__open(int *out_fd, const char *path, int flags, mode_t mode, const char *op)
{
	int fd;

	do
		fd = tbw__os.open(path, flags | O_CLOEXEC, mode);
	while (fd < 0 && errno == EINTR);
	*out_fd = fd;
	if (fd < 0)
		return tbw__error_errno(errno, op, path);
	return TBW_OK;
}

int tbw__write_all(int fd, const void *buf, size_t n, const char *op, const char *path)
{
	const char *p = buf;

	while (n > 0) {
		ssize_t k = tbw__os.write(fd, p, n);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return tbw__error_errno(errno, op, path);
		}
		if (k == 0)
			return tbw__error_set(TBW_EIO, op, path, "write returned 0");
		p += k;
		n -= (size_t)k;
	}
	return TBW_OK;
}

int tbw__pwrite_all(int fd, const void *buf, size_t n, off_t off, const char *op, const char *path)
{
	const char *p = buf;

	while (n > 0) {
		ssize_t k = tbw__os.pwrite(fd, p, n, off);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return tbw__error_errno(errno, op, path);
		}
		if (k == 0)
			return tbw__error_set(TBW_EIO, op, path, "pwrite returned 0");
		p += k;
		off += k;
		n -= (size_t)k;
	}
	return TBW_OK;
}

int tbw__pread_full(int fd, void *buf, size_t n, off_t off, size_t *got, const char *op, const char *path)
{
	char *p = buf;
	size_t total = 0;

	while (total < n) {
		ssize_t k = tbw__os.pread(fd, p + total, n - total, off + (off_t)total);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			*got = total;
			return tbw__error_errno(errno, op, path);
		}
		if (k == 0)
			break;
		total += (size_t)k;
	}
	*got = total;
	return TBW_OK;
}

int tbw__fsync(int fd, int data_only, const char *op, const char *path)
{
	int rc;

	do
		rc = data_only ? tbw__os.fdatasync(fd) : tbw__os.fsync(fd);
	while (rc < 0 && errno == EINTR);
	if (rc < 0)
		return tbw__error_errno(errno, op, path);
	return TBW_OK;
}

static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *d;

	if (!slash)
		return tbw__strdup(".");
	if (slash == path)
		return tbw__strdup("/");
	d = tbw__malloc((size_t)(slash - path) + 1);
	if (d) {
		memcpy(d, path, (size_t)(slash - path));
		d[slash - path] = '\0';
	}
	return d;
}

int tbw__fsync_dir(const char *path, int is_dir, const char *op)
{
	char *dir = is_dir ? tbw__strdup(path) : dir_of(path);
	int fd, rc;

	if (!dir)
		return tbw__error_set(TBW_ENOMEM, op, path, "out of memory");
	rc = tbw__open(&fd, dir, O_RDONLY | O_DIRECTORY, 0, op);
	if (rc == TBW_OK) {
		rc = tbw__fsync(fd, 0, op, dir);
		/* Some filesystems (FUSE mounts among them) refuse fsync on a
		 * directory; the rename is still atomic there, and there is no
		 * stronger promise to be had, so that refusal is not an error. */
		if (rc != TBW_OK && (errno == EINVAL || errno == ENOTSUP || errno == ENOSYS))
			rc = TBW_OK;
		tbw__os.close(fd);
	}
	tbw__free(dir);
	return rc;
}

int tbw__close(int fd, const char *op, const char *path)
{
	if (fd < 0)
		return TBW_OK;
	if (tbw__os.close(fd) < 0 && errno != EINTR)
		return tbw__error_errno(errno, op, path);
	return TBW_OK;
}

int tbw__ftruncate(int fd, off_t len, const char *op, const char *path)
{
	int rc;

	do
		rc = tbw__os.ftruncate(fd, len);
	while (rc < 0 && errno == EINTR);
	if (rc < 0)
		return tbw__error_errno(errno, op, path);
	return TBW_OK;
}

int tbw__rename_durable(const char *from, const char *to, const char *op)
{
	if (tbw__os.rename(from, to) < 0)
		return tbw__error_errno(errno, op, to);
	return tbw__fsync_dir(to, 0, op);
}

int tbw__unlink(const char *path, const char *op)
{
	if (tbw__os.unlink(path) < 0 && errno != ENOENT)
		return tbw__error_errno(errno, op, path);
	return TBW_OK;
}

int tbw__mkdir_p(const char *path, const char *op)
{
	char *p, *s;
	int rc = TBW_OK;
	struct stat st0;

	/* Already there (the common case): no mkdir calls at all. */
	if (stat(path, &st0) == 0 && S_ISDIR(st0.st_mode))
		return TBW_OK;
	p = tbw__strdup(path);
	if (!p)
		return tbw__error_set(TBW_ENOMEM, op, path, "out of memory");
	for (s = p + 1; ; s++) {
		if (*s == '/' || *s == '\0') {
			char c = *s;
			*s = '\0';
			if (tbw__os.mkdir(p, 0777) < 0 && errno != EEXIST) {
				/* name the directory asked for, and the one that failed */
				int err = errno;
				char eb[128];
				const char *es = eb;
#if defined(__GLIBC__) && defined(_GNU_SOURCE)
				es = strerror_r(err, eb, sizeof eb);
#else
				if (strerror_r(err, eb, sizeof eb) != 0)
					snprintf(eb, sizeof eb, "errno %d", err);
#endif
				rc = tbw__error_set(tbw__error_from_errno(err), op, path, "mkdir %s: %s",
				                    p, es);
				break;
			}
			*s = c;
			if (c == '\0')
				break;
		}
	}
	if (rc == TBW_OK) {
		struct stat st;
		if (stat(path, &st) < 0)
			rc = tbw__error_errno(errno, op, path);
		else if (!S_ISDIR(st.st_mode))
			rc = tbw__error_set(TBW_EINVAL, op, path, "exists and is not a directory");
	}
	tbw__free(p);
	return rc;
}

int tbw__write_durable(const char *tmp, const char *path, const void *data, size_t n,
                       int oflags, int *fd_out, const char *op)
{
	int fd = -1, rc;

	rc = tbw__open(&fd, tmp, (fd_out ? O_RDWR : O_WRONLY) | O_CREAT | O_TRUNC | oflags, 0666, op);
	if (rc != TBW_OK)
		return rc;
	rc = tbw__write_all(fd, data, n, op, tmp);
	if (rc == TBW_OK)
		rc = tbw__fsync(fd, 0, op, tmp);
	if (!fd_out || rc != TBW_OK) {
		int crc = tbw__close(fd, op, tmp);
		if (rc == TBW_OK)
			rc = crc;
		fd = -1;
	}
	if (rc == TBW_OK)
		rc = tbw__rename_durable(tmp, path, op);
	if (rc != TBW_OK) {
		if (fd >= 0)
			tbw__os.close(fd);
		tbw__os.unlink(tmp);
		return rc;
	}
	if (fd_out)
		*fd_out = fd;
	return TBW_OK;
}

int tbw__replace_file(const char *path, const void *data, size_t n, const char *op)
{
	size_t len = strlen(path) + 32;
	char *tmp = tbw__malloc(len);
	int rc;

	if (!tmp)
		return tbw__error_set(TBW_ENOMEM, op, path, "out of memory");
	snprintf(tmp, len, "%s.tmp-%ld", path, (long)getpid());
	rc = tbw__write_durable(tmp, path, data, n, 0, NULL, op);
	tbw__free(tmp);
	return rc;
}

int tbw__fs_is_remote(const char *path)
{
	struct statfs sf;

	if (statfs(path, &sf) < 0)
		return tbw__error_errno(errno, "statfs", path);
	switch ((unsigned long)sf.f_type) {
	case 0x65735546UL: /* FUSE (Colab's Drive mount, bindfs, sshfs) */
	case 0x6969UL:     /* NFS */
	case 0xFF534D42UL: /* CIFS */
	case 0xFE534D42UL: /* SMB2 */
	case 0x517BUL:     /* SMB */
	case 0x564c:       /* NCP */
	case 0x6B414653UL: /* AFS */
	case 0x01021997UL: /* v9fs (9p) */
	case 0x73757245UL: /* Coda */
	case 0x47504653UL: /* GPFS */
	case 0x00C36400UL: /* Ceph */
	case 0x0BD00BD0UL: /* Lustre */
		return 1;
	default:
		return 0;
	}
}

char *tbw__realpath(const char *p)
{
	char *r = realpath(p, NULL); /* libc-allocated */
	char *out;
	if (!r)
		return NULL;
	out = tbw__strdup(r);
	free(r);
	if (!out)
		errno = ENOMEM;
	return out;
}

char *tbw__path_join(const char *a, const char *b)
{
	size_t na = strlen(a), nb = strlen(b);
	int slash = na > 0 && a[na - 1] != '/';
	char *p = tbw__malloc(na + (size_t)slash + nb + 1);

	if (!p)
		return NULL;
	memcpy(p, a, na);
	if (slash)
		p[na] = '/';
	memcpy(p + na + (size_t)slash, b, nb + 1);
	return p;
}

uint64_t tbw__now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

double tbw__wall_time(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
