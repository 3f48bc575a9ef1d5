/* os.h -- the syscall layer: every file operation libtbwal makes itself.
 *
 * As SQLite's aSyscall[] does, the library reaches the OS only through the
 * table below, so tests can make the Nth call fail (once, or from then on)
 * with a chosen errno. LMDB's own I/O does not pass through here; see
 * tests/inject/ for the LD_PRELOAD shim that fails it.
 *
 * Helpers on top (tbw__write_all, tbw__fsync_dir, tbw__replace_file, ...)
 * record a one-line error naming the operation and the path, and return a
 * TBW_E* code; the raw table entries return what the syscall returns and set
 * errno.
 */
#ifndef TBW_OS_H
#define TBW_OS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/stat.h>

/* Indices into the syscall table; also the names tests pick a call by. */
typedef enum tbw_os_call {
	TBW_OS_OPEN = 0,
	TBW_OS_READ,
	TBW_OS_PREAD,
	TBW_OS_WRITE,
	TBW_OS_PWRITE,
	TBW_OS_FSYNC,
	TBW_OS_FDATASYNC,
	TBW_OS_RENAME,
	TBW_OS_FTRUNCATE,
	TBW_OS_UNLINK,
	TBW_OS_CLOSE,
	TBW_OS_MKDIR,
	TBW_OS_FSTAT,
	TBW_OS_FALLOCATE,
	TBW_OS_NCALLS
} tbw_os_call;

typedef struct tbw_os_table {
	int     (*open)(const char *path, int flags, mode_t mode);
	ssize_t (*read)(int fd, void *buf, size_t n);
	ssize_t (*pread)(int fd, void *buf, size_t n, off_t off);
	ssize_t (*write)(int fd, const void *buf, size_t n);
	ssize_t (*pwrite)(int fd, const void *buf, size_t n, off_t off);
	int     (*fsync)(int fd);
	int     (*fdatasync)(int fd);
	int     (*rename)(const char *from, const char *to);
	int     (*ftruncate)(int fd, off_t len);
	int     (*unlink)(const char *path);
	int     (*close)(int fd);
	int     (*mkdir)(const char *path, mode_t mode);
	int     (*fstat)(int fd, struct stat *st);
	/* posix_fallocate(3), but -1 with errno set on failure like the rest */
	int     (*fallocate)(int fd, off_t off, off_t len);
} tbw_os_table;

/* The live table. Library code calls tbw__os.write(...) etc. */
extern tbw_os_table tbw__os;

/* ---- Fault injection (tests) ----
 * Arm: the nth call (counting from 1 after arming) among the calls selected
 * by mask fails with errno err; with persist, every selected call after it
 * fails too. mask is a bit set of (1u << TBW_OS_*); 0 means every call.
 * tbw__os_fault_clear() disarms and restores the real calls.
 * tbw__os_fault_hits() counts the failures injected since arming;
 * tbw__os_fault_calls() counts the selected calls made since arming.
 * A hook, if set, runs before each selected call with its index and the
 * running count; it may, for example, _exit() to simulate a crash there. */
void tbw__os_fault_arm(unsigned mask, unsigned long nth, int persist, int err);
void tbw__os_fault_clear(void);
unsigned long tbw__os_fault_hits(void);
unsigned long tbw__os_fault_calls(void);
void tbw__os_fault_hook(void (*hook)(tbw_os_call call, unsigned long n));
/* Nonzero while a fault is armed or a hook set. Code that would make a call
 * of this table on a helper thread makes it on the caller's instead, so
 * that a walk's Nth call is the same call in every run. */
int tbw__os_faults_armed(void);

/* ---- Helpers (return 0 or TBW_E*, with tbw_errmsg() naming op and path) ---- */

/* open(2) with O_CLOEXEC added; *out_fd is -1 on failure. */
int tbw__open(int *out_fd, const char *path, int flags, mode_t mode, const char *op);
/* write all n bytes at the current offset (retrying short writes and EINTR). */
int tbw__write_all(int fd, const void *buf, size_t n, const char *op, const char *path);
/* pwrite all n bytes at off. */
int tbw__pwrite_all(int fd, const void *buf, size_t n, off_t off, const char *op, const char *path);
/* read up to n bytes at off; *got is what was read (short at end of file). */
int tbw__pread_full(int fd, void *buf, size_t n, off_t off, size_t *got, const char *op, const char *path);
/* fsync(2), or fdatasync(2) when data_only. */
int tbw__fsync(int fd, int data_only, const char *op, const char *path);
/* fsync the directory that holds path (the parent; path itself if is_dir). */
int tbw__fsync_dir(const char *path, int is_dir, const char *op);
/* close(2); errors are reported (a failed close can mean lost data on NFS). */
int tbw__close(int fd, const char *op, const char *path);
/* ftruncate(2). */
int tbw__ftruncate(int fd, off_t len, const char *op, const char *path);
/* rename(2) then fsync the directory of to. */
int tbw__rename_durable(const char *from, const char *to, const char *op);
/* unlink(2); a missing file is not an error. */
int tbw__unlink(const char *path, const char *op);
/* mkdir -p with mode 0777 & ~umask; existing directories are fine. */
int tbw__mkdir_p(const char *path, const char *op);
/* The one write-temp-fsync-rename routine: create tmp (a name in path's
 * directory; open flags O_CREAT|O_TRUNC|oflags), write data, fsync, rename
 * to path, fsync the directory. On failure tmp is removed and nothing is
 * kept open. With fd_out, the descriptor stays open (read-write, at offset
 * n) and is returned there; else it is closed before the rename. */
int tbw__write_durable(const char *tmp, const char *path, const void *data, size_t n,
                       int oflags, int *fd_out, const char *op);
/* Atomically create or replace path with data: write path.tmp-<pid>, fsync,
 * rename, fsync the directory. Readers see the old file or the new one. */
int tbw__replace_file(const char *path, const void *data, size_t n, const char *op);

/* Filesystem kind of path (statfs f_type): 1 if FUSE, NFS, CIFS/SMB or
 * another network/remote filesystem on which LMDB must not live, 0 if local,
 * negative TBW_E* if path cannot be examined. */
int tbw__fs_is_remote(const char *path);

/* Join a and b with one '/' into a new string (tbw__free it); NULL on ENOMEM. */
char *tbw__path_join(const char *a, const char *b);
/* realpath(3) in our allocator (tbw__free it); NULL with errno set. */
char *tbw__realpath(const char *p);

/* Monotonic clock in nanoseconds, and wall-clock time in seconds. */
uint64_t tbw__now_ns(void);
double tbw__wall_time(void);

#endif
