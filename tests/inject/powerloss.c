/* powerloss.c -- an LD_PRELOAD shim that models the disk under data.mdb,
 * to cut the power at every step of a run (tests/test_powerloss.c).
 *
 * What a write() leaves is in the page cache, not on the disk: it reaches
 * the disk when a flush of the file returns (fdatasync, fsync), or when
 * written through a descriptor opened O_DSYNC/O_SYNC, or at any moment
 * the kernel chooses. The shim follows every write to a file named
 * data.mdb (pwrite, pwrite64, pwritev, pwritev64, write, writev) as an
 * entry of a log, in the order the calls returned, and every flush of it:
 * a flush that returns makes durable each entry that had returned before
 * the flush began. After every Nth such call (an "event") it takes what a
 * power cut at that instant could leave, and writes it out:
 *   DIR/snap-<event>-clean/data.mdb  the durable entries only;
 *   DIR/snap-<event>-torn/data.mdb   those and a random part of the rest
 *                                    (writes the kernel wrote back early),
 *                                    applied in their order.
 * Each directory also gets "acked": the counts the program under test
 * keeps in its global `long tbw_powerloss_acked[8]` (calls that had
 * returned), read while no flush can complete, so each one counted there
 * was acknowledged before the cut. The program under test exports that
 * array, and `int tbw_powerloss_stop` (set: no more cuts); the shim finds
 * them with dlsym.
 *
 * Writes through a shared map (MDB_WRITEMAP) cannot be followed: an msync
 * is counted, and the test refuses a run that made one.
 *
 * Settings, from the environment:
 *   TBW_POWERLOSS_DIR     where the snapshots go (unset: the shim only counts)
 *   TBW_POWERLOSS_EVERY   a snapshot after every Nth event (default 1)
 *   TBW_POWERLOSS_SEED    the torn snapshots' random choice (default 1)
 *   TBW_POWERLOSS_REPORT  file for the counts, written at exit:
 *                         "events=E snapshots=S writes=W dsync_writes=D
 *                          flushes=F msyncs=M"
 * Plain C with no sanitizers: it is preloaded into other programs.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include "real_io.h"

typedef struct entry {
	uint64_t seq;        /* order of return */
	off_t off;
	size_t len;
	int durable;
	unsigned char *data;
} entry;


static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
/* the disk: base (every entry folded into it was durable), then the log */
static unsigned char *base;
static size_t base_len, base_cap;
static entry *log_;
static size_t nlog, caplog;
static uint64_t next_seq = 1;
static int data_fd = -1;      /* the one data.mdb being followed */
static int data_closed;       /* ... and closed: nothing more is (one journal per run) */
static int dsync_fd = -1;     /* the same file through an O_DSYNC descriptor */
static unsigned long events, snapshots, writes, dsync_writes, flushes, msyncs, every = 1;
static const char *snap_dir, *report_path;
static unsigned long long rng = 1;

__attribute__((constructor)) static void init(void)
{
	const char *s;

	real_io_load();
	snap_dir = getenv("TBW_POWERLOSS_DIR");
	report_path = getenv("TBW_POWERLOSS_REPORT");
	if ((s = getenv("TBW_POWERLOSS_EVERY")) && atol(s) > 0)
		every = (unsigned long)atol(s);
	if ((s = getenv("TBW_POWERLOSS_SEED")))
		rng = strtoull(s, NULL, 10) | 1;
}

__attribute__((destructor)) static void fini(void)
{
	char line[256];
	int fd, n;

	if (!report_path)
		return;
	n = snprintf(line, sizeof line, "events=%lu snapshots=%lu writes=%lu dsync_writes=%lu flushes=%lu msyncs=%lu\n",
	             events, snapshots, writes, dsync_writes, flushes, msyncs);
	fd = open(report_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd >= 0) {
		if (real_write(fd, line, (size_t)n) < 0)
			(void)0;
		real_close(fd);
	}
}

/* Under mu: 0 not data.mdb, 1 data.mdb, 2 data.mdb through O_DSYNC. */
static int classify(int fd)
{
	if (fd < 0 || data_closed)
		return 0;
	if (fd == data_fd)
		return 1;
	if (fd == dsync_fd)
		return 2;
	if (!fd_is_data(fd))
		return 0;
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0 && (fl & (O_DSYNC | O_SYNC))) {
		dsync_fd = fd;
		return 2;
	}
	if (data_fd < 0) {
		struct stat st;
		data_fd = fd;
		/* a file that existed before: take its content as durable */
		if (fstat(fd, &st) == 0 && st.st_size > 0 && base_len == 0 && nlog == 0) {
			base = malloc((size_t)st.st_size);
			if (base && pread(fd, base, (size_t)st.st_size, 0) == st.st_size)
				base_len = base_cap = (size_t)st.st_size;
			else
				base_len = 0;
		}
	}
	return fd == data_fd ? 1 : 0;
}

static void grow_to(unsigned char **b, size_t *len, size_t *cap, size_t want)
{
	if (want > *cap) {
		size_t c = *cap ? *cap : 65536;
		while (c < want)
			c *= 2;
		*b = realloc(*b, c);
		if (!*b)
			abort();
		memset(*b + *cap, 0, c - *cap);
		*cap = c;
	}
	if (want > *len)
		*len = want;
}

static void apply(unsigned char **b, size_t *len, size_t *cap, const entry *e)
{
	grow_to(b, len, cap, (size_t)e->off + e->len);
	memcpy(*b + e->off, e->data, e->len);
}

/* Under mu: fold the durable prefix of the log into base. */
static void fold(void)
{
	size_t k = 0;
	while (k < nlog && log_[k].durable) {
		apply(&base, &base_len, &base_cap, &log_[k]);
		free(log_[k].data);
		k++;
	}
	if (k) {
		memmove(log_, log_ + k, (nlog - k) * sizeof *log_);
		nlog -= k;
	}
}

static void write_file(const char *path, const unsigned char *b, size_t len, off_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	size_t done = 0;
	if (fd < 0)
		abort();
	while (done < len) {
		ssize_t w = real_write(fd, b + done, len - done);
		if (w <= 0)
			abort();
		done += (size_t)w;
	}
	if (size > (off_t)len && ftruncate(fd, size) != 0)
		abort();
	real_close(fd);
}

/* Under mu: the two disks a cut now could leave. */
static void snapshot(void)
{
	char dir[4096], path[4200], line[512];
	long *acked = (long *)dlsym(RTLD_DEFAULT, "tbw_powerloss_acked");
	struct stat st;
	off_t size = data_fd >= 0 && fstat(data_fd, &st) == 0 ? st.st_size : 0;
	int n = 0;

	for (int k = 0; k < 8; k++)
		n += snprintf(line + n, sizeof line - (size_t)n, "%ld%s", acked ? __atomic_load_n(&acked[k], __ATOMIC_ACQUIRE) : -1L,
		              k < 7 ? " " : "\n");
	for (int torn = 0; torn < 2; torn++) {
		unsigned char *b = NULL;
		size_t len = 0, cap = 0;
		grow_to(&b, &len, &cap, base_len ? base_len : 1);
		len = base_len;
		memcpy(b, base, base_len);
		for (size_t k = 0; k < nlog; k++) {
			int take = log_[k].durable;
			if (!take && torn) {
				rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
				take = (rng >> 33) & 1;
			}
			if (take)
				apply(&b, &len, &cap, &log_[k]);
		}
		snprintf(dir, sizeof dir, "%s/snap-%06lu-%s", snap_dir, events, torn ? "torn" : "clean");
		if (mkdir(dir, 0755) != 0 && errno != EEXIST)
			abort();
		snprintf(path, sizeof path, "%s/data.mdb", dir);
		write_file(path, b, len, size);
		snprintf(path, sizeof path, "%s/acked", dir);
		write_file(path, (const unsigned char *)line, strlen(line), 0);
		free(b);
	}
	snapshots++;
}

/* Under mu: one more event; a snapshot when it is the Nth (until the
 * program sets its tbw_powerloss_stop). */
static void event(void)
{
	int *stop = (int *)dlsym(RTLD_DEFAULT, "tbw_powerloss_stop");

	if (stop && __atomic_load_n(stop, __ATOMIC_ACQUIRE))
		return;
	events++;
	if (snap_dir && events % every == 0)
		snapshot();
}

/* After a write of ret bytes at off that returned (kind from classify). */
static void note_write(int kind, off_t off, const struct iovec *iov, int iovcnt, ssize_t ret)
{
	size_t left = (size_t)ret;

	for (int i = 0; i < iovcnt && left; i++) {
		size_t l = iov[i].iov_len < left ? iov[i].iov_len : left;
		if (nlog == caplog) {
			caplog = caplog ? caplog * 2 : 1024;
			log_ = realloc(log_, caplog * sizeof *log_);
			if (!log_)
				abort();
		}
		entry *e = &log_[nlog++];
		e->seq = next_seq++;
		e->off = off;
		e->len = l;
		e->durable = kind == 2;
		e->data = malloc(l ? l : 1);
		if (!e->data)
			abort();
		memcpy(e->data, iov[i].iov_base, l);
		off += (off_t)l;
		left -= l;
	}
	writes++;
	if (kind == 2)
		dsync_writes++;
	fold();
	event();
}

static ssize_t follow_pwritev(ssize_t (*fn)(int, const struct iovec *, int, off_t), int fd,
                              const struct iovec *iov, int iovcnt, off_t off)
{
	int kind;
	ssize_t ret;

	pthread_mutex_lock(&mu);
	kind = classify(fd);
	pthread_mutex_unlock(&mu);
	ret = fn(fd, iov, iovcnt, off);
	if (kind && ret > 0) {
		pthread_mutex_lock(&mu);
		note_write(kind, off, iov, iovcnt, ret);
		pthread_mutex_unlock(&mu);
	}
	return ret;
}

static ssize_t one_pwrite(int fd, const struct iovec *iov, int n, off_t off)
{
	(void)n;
	return real_pwrite(fd, iov[0].iov_base, iov[0].iov_len, off);
}

static ssize_t one_pwrite64(int fd, const struct iovec *iov, int n, off_t off)
{
	(void)n;
	return real_pwrite64(fd, iov[0].iov_base, iov[0].iov_len, off);
}

ssize_t pwrite(int fd, const void *buf, size_t count, off_t off)
{
	struct iovec v = { (void *)buf, count };
	return follow_pwritev(one_pwrite, fd, &v, 1, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t count, off_t off)
{
	struct iovec v = { (void *)buf, count };
	return follow_pwritev(one_pwrite64, fd, &v, 1, off);
}

ssize_t pwritev(int fd, const struct iovec *iov, int iovcnt, off_t off)
{
	return follow_pwritev(real_pwritev, fd, iov, iovcnt, off);
}

ssize_t pwritev64(int fd, const struct iovec *iov, int iovcnt, off_t off)
{
	return follow_pwritev(real_pwritev64, fd, iov, iovcnt, off);
}

static ssize_t follow_writev(int fd, const struct iovec *iov, int iovcnt, int single)
{
	int kind;
	off_t off = -1;
	ssize_t ret;

	pthread_mutex_lock(&mu);
	kind = classify(fd);
	pthread_mutex_unlock(&mu);
	if (kind)
		off = lseek(fd, 0, SEEK_CUR);
	ret = single ? real_write(fd, iov[0].iov_base, iov[0].iov_len) : real_writev(fd, iov, iovcnt);
	if (kind && ret > 0 && off >= 0) {
		pthread_mutex_lock(&mu);
		note_write(kind, off, iov, iovcnt, ret);
		pthread_mutex_unlock(&mu);
	}
	return ret;
}

ssize_t write(int fd, const void *buf, size_t count)
{
	struct iovec v = { (void *)buf, count };
	return follow_writev(fd, &v, 1, 1);
}

ssize_t writev(int fd, const struct iovec *iov, int iovcnt)
{
	return follow_writev(fd, iov, iovcnt, 0);
}

static int follow_flush(int (*fn)(int), int fd)
{
	uint64_t mark;
	int kind, rc;

	pthread_mutex_lock(&mu);
	kind = classify(fd);
	mark = next_seq;    /* what had returned before the flush began */
	pthread_mutex_unlock(&mu);
	rc = fn(fd);
	if (kind && rc == 0) {
		pthread_mutex_lock(&mu);
		for (size_t k = 0; k < nlog; k++)
			if (log_[k].seq < mark)
				log_[k].durable = 1;
		flushes++;
		fold();
		event();
		pthread_mutex_unlock(&mu);
	}
	return rc;
}

int fsync(int fd)
{
	return follow_flush(real_fsync, fd);
}

int fdatasync(int fd)
{
	return follow_flush(real_fdatasync, fd);
}

int msync(void *addr, size_t len, int flags)
{
	__atomic_add_fetch(&msyncs, 1, __ATOMIC_RELAXED);
	return real_msync(addr, len, flags);
}

int close(int fd)
{
	pthread_mutex_lock(&mu);
	if (fd >= 0 && fd == data_fd)
		data_closed = 1;
	if (fd >= 0 && fd == dsync_fd)
		dsync_fd = -1;
	pthread_mutex_unlock(&mu);
	return real_close(fd);
}
