/* real_io.h -- the libc write and flush calls the LD_PRELOAD shims
 * (inject_lmdb.c, powerloss.c) wrap, found past themselves with
 * dlsym(RTLD_NEXT) (real_io_load() from each shim's constructor), and how
 * they tell LMDB's data file (fd_is_data).
 * Header-only (static): each shim has its own copy.
 */
#ifndef TBW_REAL_IO_H
#define TBW_REAL_IO_H

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/types.h>
#include <sys/uio.h>

static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_pwrite64)(int, const void *, size_t, off_t);
static ssize_t (*real_pwritev)(int, const struct iovec *, int, off_t);
static ssize_t (*real_pwritev64)(int, const struct iovec *, int, off_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_msync)(void *, size_t, int);
static int (*real_close)(int) __attribute__((unused));

static void real_io_load(void)
{
	real_write = (ssize_t (*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
	real_writev = (ssize_t (*)(int, const struct iovec *, int))dlsym(RTLD_NEXT, "writev");
	real_pwrite = (ssize_t (*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite");
	real_pwrite64 = (ssize_t (*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite64");
	real_pwritev = (ssize_t (*)(int, const struct iovec *, int, off_t))dlsym(RTLD_NEXT, "pwritev");
	real_pwritev64 = (ssize_t (*)(int, const struct iovec *, int, off_t))dlsym(RTLD_NEXT, "pwritev64");
	real_fsync = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
	real_fdatasync = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
	real_msync = (int (*)(void *, size_t, int))dlsym(RTLD_NEXT, "msync");
	real_close = (int (*)(int))dlsym(RTLD_NEXT, "close");
}

static int ends_with_data_mdb(const char *p)
{
	size_t n = strlen(p);
	return n >= 9 && strcmp(p + n - 9, "/data.mdb") == 0;
}

/* 1 if fd is open on a file named data.mdb. */
static int fd_is_data(int fd)
{
	char link[64], target[4096];
	ssize_t n;

	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	n = readlink(link, target, sizeof target - 1);
	if (n <= 0)
		return 0;
	target[n] = '\0';
	return ends_with_data_mdb(target);
}

#endif
