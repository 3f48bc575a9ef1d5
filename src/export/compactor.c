/* compactor.c -- export committed journal records to TensorBoard event files,
 * exactly once, whatever crashes. Protocol and its crash analysis:
 * doc/compactor.md.
 *
 * PROTOCOL (each step survives a crash at any point; see the doc)
 *  open: take the compactor role; read the export cursor (seq, file,
 *        offset, file_no). If the cursor's file is longer than offset, the
 *        tail was written but never acknowledged: cut it back (ftruncate +
 *        fsync) and export the same records again into the same file.
 *        Encoding is deterministic, so the bytes a reader may already have
 *        seen are written again, identical. A file shorter than its cursor
 *        is damage: reported, left as it is (bar a torn last record), and
 *        export goes on from the cursor's seq in a new file.
 *  pass: read records after the cursor in chunks, encode them into one
 *        buffer, write the buffer with one pwrite, fsync the file, then
 *        advance the cursor in one LMDB transaction, then prune. (With
 *        pipeline_sync the pass's last fsync runs on a thread after the
 *        pass returns; the next call waits for it, then advances the
 *        cursor: the same steps in the same order, later.) A new file
 *        (temp name, header, fsync, rename, fsync dir, cursor) starts for
 *        each session and after the file passes the rotation size.
 *
 * What is in the buffer is never visible to the cursor until the fsync has
 * returned; what the cursor covers is never written again.
 */
#include "config.h"
#include <assert.h>
#include <dirent.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "base/alloc.h"
#include "export/compactor.h"
#include "base/error.h"
#include "format/event.h"
#include "base/os.h"
#include "format/tfrecord.h"

/* Records asked of the journal per read transaction. */
#define READ_CHUNK 4096
/* Encoded bytes gathered before one write + fsync + cursor commit. At ~45
 * bytes a scalar this is ~90,000 scalars per fsync: the fsync costs well
 * under 1% of a batch's time, and memory stays bounded. */
#define BUF_CAP (4u << 20)
#define BUF_START (256u << 10)
/* Records deleted per pruning transaction. */
#define PRUNE_BATCH 8192
/* Cut tails up to this size are kept in memory and compared with what is
 * written again (a check that the rewrite is byte-identical). */
#define TAIL_KEEP_MAX (16u << 20)

#define TFEVENTS "tfevents"
#define NAME_PREFIX "events.out.tfevents."

typedef struct tag_slot {
	uint32_t id;
	int used;
	const char *name;   /* borrowed from the journal, valid until it closes */
	size_t len;
} tag_slot;

struct tbw_compactor {
	tbw_journal *j;
	char *logdir;
	char *suffix;
	tbw_scalar_format fmt;
	uint64_t rotate;
	char host[256];
	long pid;

	tbw_jexport cur;        /* the cursor as committed */
	int fd;                 /* cur.file, open for read/write, or -1 */
	int need_new_file;      /* start a file before the next record */
	int need_repair;        /* bytes past cur.offset may be in the file */
	int repairing;          /* writing a cut tail again: no rotation */
	int start_in_buf;       /* the run's first START is in the buffer */
	int start_in_file;      /* the current file's header holds the run's first START */
	int repair_start;       /* tbrecover's repair: the next file opens with a START */
	int64_t repair_step;    /* ... at this step */
	char repair_after[256]; /* ... and sorts after this name (moved out of logdir) */
	char run8[9];           /* first 8 hex digits of the run id, for file names */
	uint64_t file_last_seq; /* seq of the last record written to the current file */
	int purge_pending;      /* a purge rewrite's last steps are still to do */

	uint8_t *buf;           /* encoded records not yet written */
	size_t used, cap;
	uint64_t pend_seq;      /* the buffer covers records through this seq */
	uint64_t pend_count;    /* journal records in the buffer */

	tbw_jrec *recs;
	tag_slot *tags;
	size_t tag_cap, tag_n;

	tbw_compact_stats st;

	/* per-tag figures of the records in the buffer (tag history) */
	tbw_jtagstat *hist;     /* indexed by tag id */
	uint32_t *hist_touched; /* ids with a nonzero count, in first-touch order */
	size_t hist_cap, hist_n;

	tbw_compact_on_export on_export;   /* tbrecover's report, or NULL */
	void *on_export_ctx;

	/* pipeline_sync: the last buffer written (the bytes between cur.offset
	 * and sync_nc.offset) waits for its fsync; settle() waits, then commits
	 * sync_nc. The buffer meanwhile gathers the records after it. */
	int pipeline;
	int syncing;
	int sync_threaded;      /* ... the fsync runs on sync_thread */
	pthread_t sync_thread;
	int sync_err;           /* its errno, 0 if it succeeded (read after the join) */
	tbw_jexport sync_nc;    /* the cursor that covers those bytes */
	uint64_t sync_count;    /* journal records they hold */
	tbw_jtagstat *sync_hist;/* their tag figures (sync_hist_n; NULL if none or out of memory) */
	size_t sync_hist_n;
};

/* One exporter per journal: the journal's compactor role, exclusive across
 * processes (flock) and within this one (tbw__journal_lock), is the only
 * guard. */

/* ---- Small helpers ---- */

static void problem(tbw_compactor *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void problem(tbw_compactor *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->st.problem, sizeof c->st.problem, fmt, ap);
	va_end(ap);
}

static char *file_path(const tbw_compactor *c, const char *name)
{
	return tbw__path_join(c->logdir, name);
}

/* Tag names by id, cached: the journal's lookup is a read transaction. */
static int tag_lookup(tbw_compactor *c, uint32_t id, const char **name, size_t *len)
{
	size_t mask, i;
	int rc;

	if (c->tag_cap) {
		mask = c->tag_cap - 1;
		for (i = (id * 2654435761u) & mask; c->tags[i].used; i = (i + 1) & mask) {
			if (c->tags[i].id == id) {
				*name = c->tags[i].name;
				*len = c->tags[i].len;
				return TBW_OK;
			}
		}
	}
	rc = tbw__journal_tag_name(c->j, id, name, len);
	if (rc != TBW_OK)
		return rc;
	if ((c->tag_n + 1) * 2 > c->tag_cap) {
		size_t ncap = c->tag_cap ? c->tag_cap * 2 : 64;
		tag_slot *nt = tbw__calloc(ncap, sizeof *nt);
		if (!nt)
			return tbw__error_set(TBW_ENOMEM, "compactor tag cache", NULL, "out of memory");
		for (size_t k = 0; k < c->tag_cap; k++) {
			if (!c->tags[k].used)
				continue;
			for (i = (c->tags[k].id * 2654435761u) & (ncap - 1); nt[i].used; i = (i + 1) & (ncap - 1))
				;
			nt[i] = c->tags[k];
		}
		tbw__free(c->tags);
		c->tags = nt;
		c->tag_cap = ncap;
	}
	mask = c->tag_cap - 1;
	for (i = (id * 2654435761u) & mask; c->tags[i].used; i = (i + 1) & mask)
		;
	c->tags[i].used = 1;
	c->tags[i].id = id;
	c->tags[i].name = *name;
	c->tags[i].len = *len;
	c->tag_n++;
	return TBW_OK;
}

/* Highest name containing "tfevents" in logdir (our files, orphans and
 * anyone else's): a new file must sort after every one of them, because
 * TensorBoard's Python loader never goes back to an earlier name. */
static int max_event_name(tbw_compactor *c, char *out, size_t cap)
{
	DIR *d = opendir(c->logdir);
	struct dirent *e;

	out[0] = '\0';
	if (!d)
		return tbw__error_errno(errno, "compactor scan logdir", c->logdir);
	while ((e = readdir(d)) != NULL) {
		if (!strstr(e->d_name, TFEVENTS))
			continue;
		if (strcmp(e->d_name, out) > 0 && strlen(e->d_name) < cap)
			snprintf(out, cap, "%s", e->d_name);
	}
	closedir(d);
	if (strcmp(c->cur.file, out) > 0)
		snprintf(out, cap, "%s", c->cur.file);
	if (strcmp(c->repair_after, out) > 0)
		snprintf(out, cap, "%s", c->repair_after);
	return TBW_OK;
}

/* Remove temp files a crash left behind (only one compactor runs at a time,
 * so none of them belongs to a live one). */
static void purge_tmp_name(char *out, size_t cap, uint32_t no);
static int purge_finish(tbw_compactor *c);

static void clean_tmp(tbw_compactor *c)
{
	DIR *d = opendir(c->logdir);
	struct dirent *e;
	char keep[64];

	if (!d)
		return;
	purge_tmp_name(keep, sizeof keep, c->cur.file_no);   /* a purge rewrite's, still to finish */
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, TBW_COMPACT_TMP_PREFIX, strlen(TBW_COMPACT_TMP_PREFIX)) == 0 &&
		    strcmp(e->d_name, keep) != 0) {
			char *p = file_path(c, e->d_name);
			if (p)
				tbw__unlink(p, "compactor remove temp file");
			tbw__free(p);
		}
	}
	closedir(d);
}

/* ---- Writing ---- */

/* Forget the buffer (after a failure: its bytes may be partly in the file,
 * beyond the cursor, and the next pass cuts them back). */
/* ---- Tag history: per-tag figures of what the buffer holds, merged into
 * the journal with the cursor that covers them (tbw__journal_set_export_stats) ---- */

static void hist_reset(tbw_compactor *c)
{
	for (size_t i = 0; i < c->hist_n; i++)
		c->hist[c->hist_touched[i]].count = 0;
	c->hist_n = 0;
}

/* Out of memory here only loses history figures, never export. */
static void hist_note(tbw_compactor *c, const tbw_jrec *r)
{
	tbw_jtagstat *h;

	if (r->tag_id == TBW_JTAG_SESSION_START || r->tag_id >= (1u << 24))
		return;
	if (r->tag_id >= c->hist_cap) {
		size_t nc = c->hist_cap ? c->hist_cap : 64;
		tbw_jtagstat *nh;
		uint32_t *nt;
		while (nc <= r->tag_id)
			nc *= 2;
		nh = tbw__realloc(c->hist, nc * sizeof *nh);
		if (!nh)
			return;
		c->hist = nh;
		nt = tbw__realloc(c->hist_touched, nc * sizeof *nt);
		if (!nt)
			return;
		c->hist_touched = nt;
		memset(c->hist + c->hist_cap, 0, (nc - c->hist_cap) * sizeof *nh);
		c->hist_cap = nc;
	}
	h = &c->hist[r->tag_id];
	if (h->count == 0) {
		c->hist_touched[c->hist_n++] = r->tag_id;
		h->tag_id = r->tag_id;
	}
	tbw__jtagstat_add(h, r->step, r->value, r->wall_time);
}

/* The buffer's tag figures, copied (*n of them; NULL when none or out of
 * memory, which only loses history figures). */
static tbw_jtagstat *hist_copy(const tbw_compactor *c, size_t *n)
{
	tbw_jtagstat *d = c->hist_n ? tbw__malloc(c->hist_n * sizeof *d) : NULL;

	*n = d ? c->hist_n : 0;
	for (size_t i = 0; i < *n; i++)
		d[i] = c->hist[c->hist_touched[i]];
	return d;
}

/* The sequence number through which records are written or in the buffer's
 * past: the cursor, or the one a pipelined fsync will commit. */
static uint64_t written_seq(const tbw_compactor *c)
{
	return c->syncing ? c->sync_nc.seq : c->cur.seq;
}

static void discard(tbw_compactor *c)
{
	hist_reset(c);
	c->used = 0;
	c->pend_seq = written_seq(c);
	c->pend_count = 0;
	c->start_in_buf = 0;
}

static int prune(tbw_compactor *c)
{
	uint64_t n = 0;
	char msg[512];
	int rc = tbw__journal_prune(c->j, c->cur.seq, PRUNE_BATCH, &n);

	if (rc == TBW_OK) {
		c->st.pruned += n;
		return TBW_OK;
	}
	/* Pruning is housekeeping: a failure leaves records that the next
	 * pass prunes; it never affects what is exported. But a failed
	 * commit poisons the journal (every later write fails): that the
	 * caller must hear now, with its cause, not at its next call. */
	snprintf(msg, sizeof msg, "%s", tbw_errmsg());
	problem(c, "prune: %s", msg);
	if (tbw__journal_check_poisoned(c->j) != TBW_OK)
		return tbw__error_set(rc, NULL, NULL, "%s", msg);
	return TBW_OK;
}

/* Advance the cursor to nc (count more records, with their tag figures) in
 * one transaction, then prune. The bytes it covers must be fsynced. */
static int commit_cursor(tbw_compactor *c, const tbw_jexport *nc, uint64_t count,
                         const tbw_jtagstat *d, size_t dn)
{
	int rc = dn ? tbw__journal_set_export_stats(c->j, nc, d, dn) : tbw__journal_set_export(c->j, nc);

	if (rc != TBW_OK)
		return rc;
	c->cur = *nc;
	c->need_repair = 0;
	c->st.exported += count;
	c->st.cursor = *nc;
	if (!c->repairing && c->cur.offset >= c->rotate)
		c->need_new_file = 1;
	return prune(c);
}

/* Write the buffer at the cursor's offset (one pwrite). Bytes past the
 * cursor from here on: a failure leaves them for the next pass's repair. */
static int flush_write(tbw_compactor *c)
{
	char *path = file_path(c, c->cur.file);
	int rc;

	assert(c->fd >= 0 && !c->syncing);
	if (!path)
		return tbw__error_set(TBW_ENOMEM, "compactor write", c->cur.file, "out of memory");
	c->need_repair = 1;
	rc = tbw__pwrite_all(c->fd, c->buf, c->used, (off_t)c->cur.offset, "compactor write", path);
	tbw__free(path);
	return rc;
}

static int fsync_error(tbw_compactor *c, int err)
{
	char *path = file_path(c, c->cur.file);
	int rc = tbw__error_errno(err, "compactor fsync", path ? path : c->cur.file);

	tbw__free(path);
	return rc;
}

static int fsync_fd(int fd)
{
	int rc;

	do
		rc = tbw__os.fsync(fd);
	while (rc < 0 && errno == EINTR);
	return rc < 0 ? errno : 0;
}

static atomic_int thread_with_faults;   /* tbw__compactor_test_thread_with_faults */

void tbw__compactor_test_thread_with_faults(int on)
{
	atomic_store(&thread_with_faults, on);
}

static void *sync_main(void *arg)
{
	tbw_compactor *c = arg;

	c->sync_err = fsync_fd(c->fd);
	return NULL;
}

/* Wait for a pipelined fsync, then commit the cursor that covers it. On a
 * failure the buffer goes too (its records would follow bytes that are
 * not durable): both are exported again after the next pass's repair. */
static int settle(tbw_compactor *c)
{
	int err, rc;

	if (!c->syncing)
		return TBW_OK;
	if (c->sync_threaded) {
		pthread_join(c->sync_thread, NULL);
		c->sync_threaded = 0;
		err = c->sync_err;
	} else {
		err = fsync_fd(c->fd);   /* faults armed, or no thread could start */
	}
	c->syncing = 0;
	rc = err ? fsync_error(c, err)
	         : commit_cursor(c, &c->sync_nc, c->sync_count, c->sync_hist, c->sync_hist_n);
	tbw__free(c->sync_hist);
	c->sync_hist = NULL;
	c->sync_hist_n = 0;
	if (rc != TBW_OK)
		discard(c);
	return rc;
}

/* Write the buffer, fsync, then advance the cursor. Only after the fsync
 * may the cursor cover the bytes: a crash between the two leaves bytes past
 * the cursor, which open cuts back. */
static int flush(tbw_compactor *c)
{
	tbw_jexport nc;
	tbw_jtagstat *d;
	size_t dn;
	int rc = settle(c);

	if (rc != TBW_OK)
		return rc;
	if (c->used == 0 && c->pend_seq == c->cur.seq)
		return TBW_OK;
	if (c->used) {
		rc = flush_write(c);
		if (rc == TBW_OK && (rc = fsync_fd(c->fd)) != 0)
			rc = fsync_error(c, rc);
		if (rc != TBW_OK) {
			discard(c);
			return rc;
		}
	}
	nc = c->cur;
	nc.offset += c->used;
	nc.seq = c->pend_seq;
	d = hist_copy(c, &dn);
	rc = commit_cursor(c, &nc, c->pend_count, d, dn);
	tbw__free(d);
	discard(c);
	return rc;
}

/* pipeline_sync's flush: wait for the previous one, write the buffer and
 * leave its fsync running (settle() finishes it); the buffer is free for
 * the records after it. */
static int flush_begin(tbw_compactor *c)
{
	int rc = settle(c);

	if (rc != TBW_OK)
		return rc;
	if (c->used == 0)
		return flush(c);   /* a cursor-only move: nothing to wait for */
	rc = flush_write(c);
	if (rc != TBW_OK) {
		discard(c);
		return rc;
	}
	c->sync_nc = c->cur;
	c->sync_nc.offset += c->used;
	c->sync_nc.seq = c->pend_seq;
	c->sync_count = c->pend_count;
	c->sync_hist = hist_copy(c, &c->sync_hist_n);
	c->used = 0;
	c->pend_count = 0;
	hist_reset(c);          /* pend_seq stays: the next record follows sync_nc.seq */
	c->syncing = 1;
	c->sync_err = 0;
	c->sync_threaded = (!tbw__os_faults_armed() || atomic_load(&thread_with_faults)) &&
	                   pthread_create(&c->sync_thread, NULL, sync_main, c) == 0;
	return TBW_OK;
}

/* Start the next event file: temp name (never "tfevents"), file_version
 * record, fsync, rename into place, fsync the directory, then point the
 * cursor at it. A crash before the rename leaves a temp file (removed at
 * the next open); after the rename and before the cursor, an orphan that
 * holds only file_version, which both TensorBoard loaders read as an
 * empty file. Records are appended only once the cursor names the file. */
static int new_file(tbw_compactor *c, uint64_t base, int with_start)
{
	char name[256], maxname[256], tmpname[64], sfx[128];
	char *tmp = NULL, *path = NULL;
	uint8_t hdr[256];
	size_t n;
	int hdr_start = c->repair_start;
	int64_t secs = (int64_t)time(NULL);
	uint32_t no = c->cur.file_no + 1;
	tbw_jexport nc;
	int fd = -1, rc;

	assert(c->used == 0 && !c->syncing);
	/* Our suffix names the run and the sequence number before the file's
	 * first record, so tbrecover can map every record back to its seq;
	 * "S" marks a file that opens with the run's sacrificial START. */
	snprintf(sfx, sizeof sfx, ".tbwal-%s-%s%016" PRIx64 "%s", c->run8, with_start || hdr_start ? "S" : "",
	         base, c->suffix);
	rc = max_event_name(c, maxname, sizeof maxname);
	if (rc != TBW_OK)
		return rc;
	rc = tbw__event_file_name(name, sizeof name, secs, c->host, c->pid, no, sfx);
	if (rc != TBW_OK)
		return rc;
	if (maxname[0] && strcmp(name, maxname) <= 0) {
		/* The clock went back, a file of this second sorts later, or an
		 * orphan is in the way: take a later second than that file's. */
		long long s2 = 0;
		if (strncmp(maxname, NAME_PREFIX, strlen(NAME_PREFIX)) == 0 &&
		    sscanf(maxname + strlen(NAME_PREFIX), "%10lld", &s2) == 1 && s2 >= secs)
			secs = (int64_t)s2 + 1;
		rc = tbw__event_file_name(name, sizeof name, secs, c->host, c->pid, no, sfx);
		if (rc != TBW_OK)
			return rc;
		if (strcmp(name, maxname) <= 0)
			problem(c, "new event file %s does not sort after %s in %s; TensorBoard's Python loader may not read it",
			        name, maxname, c->logdir);
	}
	snprintf(tmpname, sizeof tmpname, TBW_COMPACT_TMP_PREFIX "%" PRIu32 ".tmp", no);
	tmp = file_path(c, tmpname);
	path = file_path(c, name);
	if (!tmp || !path) {
		rc = tbw__error_set(TBW_ENOMEM, "compactor new file", c->logdir, "out of memory");
		goto out;
	}
	n = tbw__event_encode_file_version(hdr + TBW_TFR_HEADER + 64, tbw__wall_time());
	n = tbw__tfrecord_frame(hdr, hdr + TBW_TFR_HEADER + 64, n);
	if (hdr_start) {
		/* A repair file: the START that makes a running Python loader
		 * drop what it read from the replaced files is part of the
		 * header, fsynced with it and covered by the cursor from the
		 * start, so no rewrite after a crash can lose or change it. */
		size_t m = tbw__event_encode_session_start(hdr + n + TBW_TFR_HEADER, tbw__wall_time(),
		                                           c->repair_step);
		n += tbw__tfrecord_frame(hdr + n, hdr + n + TBW_TFR_HEADER, m);
	}
	rc = tbw__write_durable(tmp, path, hdr, n, 0, &fd, "compactor new file");
	if (rc != TBW_OK)
		goto out;
	nc = c->cur;
	nc.offset = n;
	nc.file_no = no;
	snprintf(nc.file, sizeof nc.file, "%s", name);
	rc = tbw__journal_set_export(c->j, &nc);
	if (rc != TBW_OK)
		goto out;   /* an orphan with only file_version stays: harmless */
	/* Everything the cursor covers in the old file was fsynced before
	 * the cursor moved, so a failed close loses nothing; it is not
	 * reported (that would overwrite the caller's error message). */
	if (c->fd >= 0)
		tbw__os.close(c->fd);
	c->fd = fd;
	fd = -1;
	c->cur = nc;
	c->st.cursor = nc;
	c->need_new_file = 0;
	c->file_last_seq = base;
	c->st.files_created++;
	c->start_in_file = hdr_start;
	c->repair_start = 0;
out:
	if (fd >= 0)
		tbw__os.close(fd);
	tbw__free(tmp);
	tbw__free(path);
	return rc;
}

static int grow_buf(tbw_compactor *c, size_t need)
{
	size_t ncap = c->cap;
	uint8_t *nb;

	while (ncap < c->used + need && ncap < BUF_CAP)
		ncap *= 2;
	if (ncap < c->used + need)
		ncap = c->used + need;    /* one huge record: still whole */
	nb = tbw__realloc(c->buf, ncap);
	if (!nb)
		return tbw__error_set(TBW_ENOMEM, "compactor buffer", NULL, "out of memory");
	c->buf = nb;
	c->cap = ncap;
	return TBW_OK;
}

static int purge_rewrite(tbw_compactor *c, const tbw_jrec *r);

/* Before the run's first record (cursor seq 0) the run's sacrificial START
 * goes into the buffer, unless the file's header already holds one (a
 * tbrecover repair file, tbw__compactor_set_repair). */
static int run_start_due(const tbw_compactor *c)
{
	return written_seq(c) == 0 && !c->start_in_buf && !c->start_in_file;
}

/* Encode one journal record (and, before the run's first one, a SessionLog
 * START) into the buffer. */
static int emit(tbw_compactor *c, const tbw_jrec *r, tbw_scalar_format fmt)
{
	const char *tag = NULL;
	size_t tag_len = 0, need, n;
	uint8_t *dst;
	int is_start = r->tag_id == TBW_JTAG_SESSION_START;
	int is_event = r->body_len > 0;
	int first_start = run_start_due(c);
	int rc;

	if (is_start && !c->repairing && (rc = settle(c)) != TBW_OK)
		return rc;
	if (is_start && !c->repairing && (c->cur.seq > 0 || c->used > 0)) {
		rc = purge_rewrite(c, r);   /* rewrite the run's files first */
		if (rc != TBW_OK)
			return rc;
		first_start = run_start_due(c);
	}
	if (is_event) {
		/* An event record exports its body verbatim: its tag only names
		 * it, so a damaged tag entry does not stop its export. */
	} else if (!is_start) {
		rc = tag_lookup(c, r->tag_id, &tag, &tag_len);
		if (rc != TBW_OK && rc != TBW_ECORRUPT && rc != TBW_ENOTFOUND)
			return rc;   /* out of memory, I/O: retried, never skipped */
		if (rc != TBW_OK) {
			/* The record's tag is damaged or missing: it cannot be
			 * exported faithfully, so it is skipped like a damaged
			 * record. Only such damage may move the cursor past a
			 * record that was not exported (pruning then drops it). */
			problem(c, "journal record seq %" PRIu64 " names tag id %" PRIu32
			        " which cannot be read (%s); skipped, not exported",
			        r->seq, r->tag_id, tbw_errmsg());
			c->st.skipped_corrupt++;
			c->pend_seq = r->seq;
			return TBW_OK;
		}
	}
	need = is_event ? TBW_EVENT_RECORD_HEAD_MAX + (size_t)r->body_len + TBW_TFR_OVERHEAD
	                : tbw__event_bound(tag_len) + TBW_TFR_OVERHEAD;
	if (first_start)
		need += tbw__event_bound(0) + TBW_TFR_OVERHEAD;
	if (c->used + need > c->cap) {
		if (c->cap >= BUF_CAP && c->used > 0) {
			rc = c->pipeline && !c->repairing ? flush_begin(c) : flush(c);
			if (rc != TBW_OK)
				return rc;
			first_start = run_start_due(c);
		}
		if (c->used + need > c->cap && (rc = grow_buf(c, need)) != TBW_OK)
			return rc;
	}
	/* A file holds consecutive sequence numbers only (tbrecover maps its
	 * records back by position): a gap, left by skipped damaged records or
	 * by records no source restored, starts a new file. */
	if (!c->repairing && r->seq != c->file_last_seq + 1)
		c->need_new_file = 1;
	if (!c->repairing && c->need_new_file) {
		rc = flush(c);   /* commits progress past skipped records, if any */
		if (rc == TBW_OK)
			rc = new_file(c, r->seq - 1, run_start_due(c));
		if (rc != TBW_OK)
			return rc;
		first_start = run_start_due(c);
	}
	if (first_start) {
		/* TensorBoard's Python loader ignores the first START of a run;
		 * this one is that sacrificial START, so that a later purge_step
		 * START is honoured. Its step is the first record's: if other
		 * writers' files precede ours it acts as a restart there. */
		dst = c->buf + c->used;
		n = tbw__event_encode_session_start(dst + TBW_TFR_HEADER, r->wall_time, r->step);
		c->used += tbw__tfrecord_frame(dst, dst + TBW_TFR_HEADER, n);
		c->start_in_buf = 1;
	}
	/* Encoded in place, where the framing puts the data (the frame's
	 * memmove onto itself is then a no-op copy): no scratch copy. */
	dst = c->buf + c->used;
	if (is_event) {
		/* Event{wall_time, step} then the body, read from the journal
		 * straight into the buffer (one copy; memory: the buffer, which
		 * holds at most one record beyond BUF_CAP). */
		size_t got = 0;
		n = tbw__event_encode_record_head(dst + TBW_TFR_HEADER, r->wall_time, r->step);
		rc = tbw__journal_read_body(c->j, r->seq, dst + TBW_TFR_HEADER + n, r->body_len, &got);
		if (rc == TBW_ECORRUPT || rc == TBW_ENOTFOUND) {
			/* changed under us (restored over a damaged copy) or gone:
			 * damage, skipped like a record failing its checksum */
			problem(c, "journal record %" PRIu64 ": its event body cannot be read (%s); skipped, not exported",
			        r->seq, tbw_errmsg());
			c->st.skipped_corrupt++;
			c->pend_seq = r->seq;
			return TBW_OK;
		}
		if (rc != TBW_OK)
			return rc;
		n += got;
	} else if (is_start)
		n = tbw__event_encode_session_start(dst + TBW_TFR_HEADER, r->wall_time, r->step);
	else if (fmt == TBW_SCALAR_TENSOR)
		n = tbw__event_encode_tensor(dst + TBW_TFR_HEADER, r->wall_time, r->step, tag, tag_len, (float)r->value);
	else
		n = tbw__event_encode_simple(dst + TBW_TFR_HEADER, r->wall_time, r->step, tag, tag_len, (float)r->value);
	c->used += tbw__tfrecord_frame(dst, dst + TBW_TFR_HEADER, n);
	c->pend_seq = r->seq;
	c->pend_count++;
	c->file_last_seq = r->seq;
	hist_note(c, r);
	if (c->on_export)
		c->on_export(c->on_export_ctx, r, tag, tag_len);
	return TBW_OK;
}

/* ---- Purge rewrite (doc/compactor.md, "Purge: rewriting the run's files") ----
 * At a purge marker (START at step N) after some history, the run's event
 * files are rewritten into one new file in which every record of the lost
 * attempt (a scalar or START at step >= N) is replaced by a tombstone (an
 * Event with only wall_time and step, which both TensorBoard loaders
 * ignore), so record k is still seq base+k. The old files are moved aside
 * out of the "tfevents" namespace. Order: the new file is written under a
 * temp name and fsynced; the cursor is pointed at its final name; the old
 * files are moved aside (latest first); the temp file is renamed into place.
 * An open that finds the cursor's file missing and its temp file present
 * finishes the last two steps. */

#define PURGE_ASIDE ".tbwal-purged"

typedef struct pfile {
	char *name;
	uint64_t base;
	int with_start;
} pfile;

static void purge_tmp_name(char *out, size_t cap, uint32_t no)
{
	snprintf(out, cap, TBW_COMPACT_TMP_PREFIX "%" PRIu32 ".purge.tmp", no);
}

static int cmp_pfile(const void *a, const void *b)
{
	return strcmp(((const pfile *)a)->name, ((const pfile *)b)->name);
}

static void free_pfiles(pfile *a, size_t n)
{
	for (size_t i = 0; i < n; i++)
		tbw__free(a[i].name);
	tbw__free(a);
}

/* This run's event files in logdir, sorted by name; with below, only
 * names sorting before it; with upto, only names up to it (inclusive). */
static int list_ours(tbw_compactor *c, const char *upto, const char *below, pfile **out, size_t *nout)
{
	DIR *d = opendir(c->logdir);
	struct dirent *e;
	pfile *a = NULL;
	size_t n = 0, cap = 0;

	*out = NULL;
	*nout = 0;
	if (!d)
		return tbw__error_errno(errno, "compactor purge: list event files", c->logdir);
	while ((e = readdir(d)) != NULL) {
		char run8[9];
		uint64_t base;
		int ws;

		if (!tbw__compactor_parse_name(e->d_name, run8, &base, &ws) || strcmp(run8, c->run8) != 0)
			continue;
		if ((upto && strcmp(e->d_name, upto) > 0) || (below && strcmp(e->d_name, below) >= 0))
			continue;
		if (n == cap) {
			pfile *na = tbw__realloc(a, (cap ? cap * 2 : 16) * sizeof *a);
			if (!na)
				goto nomem;
			a = na;
			cap = cap ? cap * 2 : 16;
		}
		if (!(a[n].name = tbw__strdup(e->d_name)))
			goto nomem;
		a[n].base = base;
		a[n].with_start = ws;
		n++;
	}
	closedir(d);
	if (n > 1)
		qsort(a, n, sizeof *a, cmp_pfile);
	*out = a;
	*nout = n;
	return TBW_OK;
nomem:
	closedir(d);
	free_pfiles(a, n);
	return tbw__error_set(TBW_ENOMEM, "compactor purge", c->logdir, "out of memory");
}

/* Event{wall_time, step}: nothing a loader shows. */
static size_t encode_tombstone(uint8_t *dst, double wall, int64_t step)
{
	uint64_t bits, v = (uint64_t)step;
	size_t n = 0;

	memcpy(&bits, &wall, 8);
	dst[n++] = 0x09;                        /* field 1 (wall_time), fixed64 */
	for (int i = 0; i < 8; i++)
		dst[n++] = (uint8_t)(bits >> (8 * i));
	dst[n++] = 0x10;                        /* field 2 (step), varint */
	do {
		uint8_t b = v & 0x7f;
		v >>= 7;
		dst[n++] = b | (v ? 0x80 : 0);
	} while (v);
	return n;
}

/* Append one framed record (data, len) to the buffer; write the buffer to
 * fd at *off when it is full. */
static int purge_put(tbw_compactor *c, int fd, uint64_t *off, const uint8_t *data, size_t len,
                     const char *tmp)
{
	int rc;

	if (c->used + len + TBW_TFR_OVERHEAD > c->cap && c->used >= BUF_CAP / 2) {
		rc = tbw__pwrite_all(fd, c->buf, c->used, (off_t)*off, "compactor purge: write", tmp);
		if (rc != TBW_OK)
			return rc;
		*off += c->used;
		c->used = 0;
	}
	if (c->used + len + TBW_TFR_OVERHEAD > c->cap && (rc = grow_buf(c, len + TBW_TFR_OVERHEAD)) != TBW_OK)
		return rc;
	memmove(c->buf + c->used + TBW_TFR_HEADER, data, len);
	c->used += tbw__tfrecord_frame(c->buf + c->used, c->buf + c->used + TBW_TFR_HEADER, len);
	return TBW_OK;
}

/* Read the sources; with fd >= 0, write their records, the lost attempt's
 * as tombstones. Returns 1 (with why) when the files cannot be rewritten
 * faithfully: not one contiguous run of sequence numbers ending at the
 * cursor, or a record that is not whole. *min_step: the smallest step of a
 * scalar kept (INT64_MAX if none). */
static int purge_copy(tbw_compactor *c, const pfile *f, size_t n, int64_t purge, int fd, uint64_t *off,
                      const char *tmp, int64_t *min_step, double *walls, char *why, size_t why_cap)
{
	uint64_t next = f[0].base;
	int rc = TBW_OK;

	*min_step = INT64_MAX;
	for (size_t i = 0; i < n && rc == TBW_OK; i++) {
		char *path = file_path(c, f[i].name);
		tbw_tfr_reader *r = NULL;
		int rfd = -1, st;
		uint64_t nev = 0;

		if (!path)
			return tbw__error_set(TBW_ENOMEM, "compactor purge", c->logdir, "out of memory");
		if (f[i].base != next) {
			snprintf(why, why_cap, "%s starts after seq %" PRIu64 " but the files before it end at seq %"
			         PRIu64, f[i].name, f[i].base, next);
			tbw__free(path);
			return 1;
		}
		rc = tbw__open(&rfd, path, O_RDONLY | O_NOFOLLOW, 0, "compactor purge: read event file");
		if (rc == TBW_OK)
			rc = tbw__tfr_reader_open(&r, rfd, 0, path);
		while (rc == TBW_OK) {
			const uint8_t *data;
			size_t len;
			tbw_event ev;
			uint8_t tomb[32];

			st = tbw__tfr_reader_next(r, &data, &len, NULL);
			if (st < 0) {
				rc = st;
				break;
			}
			if (st != TBW_TFR_RECORD) {
				if (st != TBW_TFR_END) {
					snprintf(why, why_cap, "%s holds a damaged or incomplete record", f[i].name);
					rc = 1;
				}
				break;
			}
			nev++;
			if (tbw__event_decode(data, len, &ev) != TBW_OK || (nev == 1) != (ev.kind == TBW_EVENT_FILE_VERSION)) {
				snprintf(why, why_cap, "%s holds a record tbwal does not write there", f[i].name);
				rc = 1;
				break;
			}
			if (nev == 1) {
				if (i == 0 && walls)
					walls[0] = ev.wall_time;
				continue;
			}
			if (f[i].with_start && nev == 2 && ev.kind == TBW_EVENT_SESSION_START) {
				if (i == 0 && walls)
					walls[1] = ev.wall_time;
				continue;   /* the run's sacrificial START: written anew */
			}
			next++;
			/* scalars, STARTs and event records (histograms, images ...) alike */
			if (ev.step >= purge) {
				if (fd >= 0)
					rc = purge_put(c, fd, off, tomb, encode_tombstone(tomb, ev.wall_time, ev.step), tmp);
				continue;
			}
			if (ev.kind == TBW_EVENT_SCALAR && ev.step < *min_step)
				*min_step = ev.step;
			if (fd >= 0)
				rc = purge_put(c, fd, off, data, len, tmp);
		}
		if (r)
			tbw__tfr_reader_close(r);
		if (rfd >= 0)
			tbw__os.close(rfd);
		tbw__free(path);
	}
	if (rc == TBW_OK && next != c->cur.seq) {
		snprintf(why, why_cap, "the event files end at seq %" PRIu64 " but the export cursor is at seq %" PRIu64,
		         next, c->cur.seq);
		rc = 1;
	}
	return rc;
}

/* Move this run's files superseded by the cursor's file (names sorting
 * before it, base at or after its base) aside, latest first, then rename
 * the cursor's file into place from its temp name if it is still there. */
static int purge_finish(tbw_compactor *c)
{
	char run8[9], tmpname[64];
	uint64_t base;
	pfile *f = NULL;
	size_t n = 0;
	char *aside = NULL, *tmp = NULL, *path = NULL;
	struct stat st;
	int rc, ws;

	if (!tbw__compactor_parse_name(c->cur.file, run8, &base, &ws))
		return TBW_OK;
	rc = list_ours(c, NULL, c->cur.file, &f, &n);
	if (rc != TBW_OK)
		return rc;
	aside = file_path(c, PURGE_ASIDE);
	if (!aside)
		rc = tbw__error_set(TBW_ENOMEM, "compactor purge", c->logdir, "out of memory");
	for (size_t i = n; rc == TBW_OK && i-- > 0;) {
		char to[512], *from, *dst;
		const char *t = strstr(f[i].name, TFEVENTS);

		if (f[i].base < base)
			continue;
		rc = tbw__mkdir_p(aside, "compactor purge: move replaced event file aside");
		if (rc != TBW_OK)
			break;
		snprintf(to, sizeof to, "%.*sTFEVENTS-PURGED%s", (int)(t - f[i].name), f[i].name, t + strlen(TFEVENTS));
		from = file_path(c, f[i].name);
		dst = tbw__path_join(aside, to);
		rc = from && dst ? tbw__rename_durable(from, dst, "compactor purge: move replaced event file aside")
		                 : tbw__error_set(TBW_ENOMEM, "compactor purge", c->logdir, "out of memory");
		if (rc == TBW_OK)
			rc = tbw__fsync_dir(c->logdir, 1, "compactor purge: move replaced event file aside");
		tbw__free(from);
		tbw__free(dst);
	}
	free_pfiles(f, n);
	purge_tmp_name(tmpname, sizeof tmpname, c->cur.file_no);
	tmp = file_path(c, tmpname);
	path = file_path(c, c->cur.file);
	if (rc == TBW_OK && (!tmp || !path))
		rc = tbw__error_set(TBW_ENOMEM, "compactor purge", c->logdir, "out of memory");
	if (rc == TBW_OK && lstat(tmp, &st) == 0)
		rc = tbw__rename_durable(tmp, path, "compactor purge: rename the rewritten event file");
	if (rc == TBW_OK)
		c->purge_pending = 0;
	tbw__free(aside);
	tbw__free(tmp);
	tbw__free(path);
	return rc;
}

/* The purge rewrite for the marker r (see above). Falls back to exporting
 * the marker alone, with a problem saying why, when the files cannot be
 * rewritten faithfully. */
static int purge_rewrite(tbw_compactor *c, const tbw_jrec *r)
{
	char name[256], maxname[256], tmpname[64], sfx[128], why[256] = "";
	char *tmp = NULL;
	pfile *f = NULL;
	size_t n = 0, hn;
	uint8_t hdr[256];
	uint64_t off = 0;
	int64_t min_step = INT64_MAX, secs = (int64_t)time(NULL);
	double walls[2];   /* the first source's file_version and START wall times, kept */
	uint32_t no;
	tbw_jexport nc;
	int fd = -1, rc;

	walls[0] = walls[1] = tbw__wall_time();
	rc = flush(c);
	if (rc != TBW_OK || !c->cur.file[0] || c->cur.seq == 0)
		return rc;
	rc = list_ours(c, c->cur.file, NULL, &f, &n);
	if (rc != TBW_OK || n == 0)
		goto out;
	rc = purge_copy(c, f, n, r->step, -1, NULL, NULL, &min_step, walls, why, sizeof why);
	if (rc != TBW_OK)
		goto out;
	no = c->cur.file_no + 1;
	snprintf(sfx, sizeof sfx, ".tbwal-%s-%s%016" PRIx64 "%s", c->run8, f[0].with_start ? "S" : "",
	         f[0].base, c->suffix);
	rc = max_event_name(c, maxname, sizeof maxname);
	if (rc == TBW_OK)
		rc = tbw__event_file_name(name, sizeof name, secs, c->host, c->pid, no, sfx);
	if (rc == TBW_OK && maxname[0] && strcmp(name, maxname) <= 0) {
		long long s2 = 0;
		if (strncmp(maxname, NAME_PREFIX, strlen(NAME_PREFIX)) == 0 &&
		    sscanf(maxname + strlen(NAME_PREFIX), "%10lld", &s2) == 1 && s2 >= secs)
			secs = (int64_t)s2 + 1;
		rc = tbw__event_file_name(name, sizeof name, secs, c->host, c->pid, no, sfx);
	}
	if (rc != TBW_OK)
		goto out;
	purge_tmp_name(tmpname, sizeof tmpname, no);
	if (!(tmp = file_path(c, tmpname))) {
		rc = tbw__error_set(TBW_ENOMEM, "compactor purge", c->logdir, "out of memory");
		goto out;
	}
	rc = tbw__open(&fd, tmp, O_RDWR | O_CREAT | O_TRUNC, 0666, "compactor purge: new event file");
	if (rc != TBW_OK)
		goto out;
	/* file_version; then, in a file that opens the run, its START: at the
	 * smallest step kept, so a Python loader that read the old files
	 * drops all it showed of them before reading them again. */
	hn = tbw__event_encode_file_version(hdr + TBW_TFR_HEADER, walls[0]);
	hn = tbw__tfrecord_frame(hdr, hdr + TBW_TFR_HEADER, hn);
	c->used = 0;
	memcpy(c->buf, hdr, hn);
	c->used = hn;
	if (f[0].with_start) {
		size_t k = tbw__event_encode_session_start(hdr + TBW_TFR_HEADER, walls[1],
		                                           min_step < r->step ? min_step : r->step);
		k = tbw__tfrecord_frame(hdr, hdr + TBW_TFR_HEADER, k);
		memcpy(c->buf + c->used, hdr, k);
		c->used += k;
	}
	rc = purge_copy(c, f, n, r->step, fd, &off, tmp, &min_step, NULL, why, sizeof why);
	if (rc == TBW_OK && c->used)
		rc = tbw__pwrite_all(fd, c->buf, c->used, (off_t)off, "compactor purge: write", tmp);
	if (rc == TBW_OK) {
		off += c->used;
		rc = tbw__fsync(fd, 0, "compactor purge: fsync", tmp);
	}
	c->used = 0;
	if (rc != TBW_OK)
		goto out_unlink;
	nc = c->cur;
	nc.offset = off;
	nc.file_no = no;
	snprintf(nc.file, sizeof nc.file, "%s", name);
	rc = tbw__journal_set_export(c->j, &nc);
	if (rc != TBW_OK)
		goto out_unlink;
	/* Committed: the cursor names the new file; an open finishes the rest. */
	if (c->fd >= 0)
		tbw__os.close(c->fd);
	c->fd = fd;
	fd = -1;
	c->cur = nc;
	c->st.cursor = nc;
	c->need_new_file = 0;
	c->file_last_seq = nc.seq;
	c->st.files_created++;
	c->purge_pending = 1;
	rc = purge_finish(c);
	goto out;
out_unlink:
	tbw__unlink(tmp, "compactor purge: remove temp file");
out:
	if (rc == 1) {
		problem(c, "purge at step %" PRId64 ": the run's event files in %s were not rewritten (%s); "
		        "TensorBoard's data server keeps showing the lost attempt's steps >= %" PRId64
		        " of tags not logged again: run tbrecover, then restart TensorBoard",
		        r->step, c->logdir, why, r->step);
		rc = TBW_OK;
	}
	if (fd >= 0)
		tbw__os.close(fd);
	free_pfiles(f, n);
	tbw__free(tmp);
	return rc;
}

/* Export records after the cursor through at least last_seq. With
 * repair_target, stop once the current file reaches that length (writing a
 * cut tail again) and never switch files. */
static int export_loop(tbw_compactor *c, tbw_scalar_format fmt, uint64_t last_seq,
                       uint64_t repair_target)
{
	uint64_t pos = written_seq(c);
	int rc = TBW_OK;

	discard(c);
	while (pos < last_seq) {
		tbw_jread info;
		int stopped = 0;

		if (repair_target && c->cur.offset + c->used >= repair_target)
			break;
		memset(&info, 0, sizeof info);
		rc = tbw__journal_read(c->j, pos, c->recs, READ_CHUNK, &info);
		if (rc != TBW_OK)
			break;
		if (info.ncorrupt) {
			c->st.skipped_corrupt += info.ncorrupt;
			problem(c, "journal %s: skipped %zu damaged record(s) (checksum or length mismatch), "
			        "the first at seq %" PRIu64 "; they are not exported",
			        tbw__journal_dir(c->j), info.ncorrupt, info.first_corrupt_seq);
		}
		for (size_t i = 0; i < info.n; i++) {
			if ((repair_target && c->cur.offset + c->used >= repair_target) ||
			    c->recs[i].seq > last_seq) {
				stopped = 1;
				break;
			}
			rc = emit(c, &c->recs[i], fmt);
			if (rc != TBW_OK)
				goto out;
			pos = c->recs[i].seq;
		}
		if (stopped)
			break;
		if (info.next_after > pos) {
			pos = info.next_after;   /* past trailing damaged records */
			c->pend_seq = pos;
		}
		if (info.n == 0 && info.ncorrupt == 0)
			break;
	}
	rc = c->pipeline && !repair_target ? flush_begin(c) : flush(c);
out:
	if (rc != TBW_OK)
		discard(c);
	return rc;
}

/* ---- Repair ---- */

/* The current file (fd, size bytes) is shorter than its cursor: someone
 * truncated or replaced it. Those records are not exported again (see the
 * exactly-once note in doc/compactor.md); export continues in a new file. */
static void damaged(tbw_compactor *c, int fd, uint64_t size, int missing)
{
	char *path = file_path(c, c->cur.file);

	c->st.damaged_files++;
	problem(c, "event file %s %s but the export cursor says %" PRIu64 " bytes (records through seq %"
	        PRIu64 "): it was truncated or replaced outside tbwal. The records it held past its end "
	        "are not exported again (tbrecover can restore them); export continues in a new file "
	        "from seq %" PRIu64,
	        path ? path : c->cur.file, missing ? "is missing" : "is shorter",
	        c->cur.offset, c->cur.seq, c->cur.seq + 1);
	if (fd >= 0 && size > 0 && path) {
		/* A torn last record would never be completed now: cut it so no
		 * reader waits on it. Anything else there is left untouched. */
		tbw_tfr_reader *r = NULL;
		if (tbw__tfr_reader_open(&r, fd, 0, path) == TBW_OK) {
			const uint8_t *d;
			size_t len;
			int s;
			while ((s = tbw__tfr_reader_next(r, &d, &len, NULL)) == TBW_TFR_RECORD)
				;
			if (s == TBW_TFR_TORN) {
				uint64_t keep = tbw__tfr_reader_offset(r);
				if (tbw__ftruncate(fd, (off_t)keep, "compactor cut torn record", path) == TBW_OK)
					tbw__fsync(fd, 0, "compactor cut torn record", path);
			}
			tbw__tfr_reader_close(r);
		}
	}
	if (fd >= 0)
		tbw__os.close(fd);
	if (c->fd == fd)
		c->fd = -1;
	c->need_new_file = 1;
	tbw__free(path);
}

/* The current file (fd, size bytes) is longer than the cursor's offset: the
 * tail was written but never acknowledged (a crash between fsync and the
 * cursor commit, or a torn write). Cut it back and write the same records
 * again into the same file, so a reader that saw part of the tail sees the
 * same bytes continue. */
static int cut_back(tbw_compactor *c, uint64_t size, int on_open)
{
	char *path = file_path(c, c->cur.file);
	tbw_scalar_format fmt = c->fmt;
	uint64_t start = c->cur.offset, valid_end = start;
	uint8_t *tail = NULL;
	tbw_tfr_reader *r = NULL;
	int rc;

	if (!path)
		return tbw__error_set(TBW_ENOMEM, "compactor repair", c->cur.file, "out of memory");
	/* How far do whole records reach past the cursor, and in which scalar
	 * form were they written (an earlier session may have used the other
	 * one)? */
	rc = tbw__tfr_reader_open(&r, c->fd, start, path);
	if (rc == TBW_OK) {
		const uint8_t *d;
		size_t len;
		int s, seen_scalar = 0;
		while ((s = tbw__tfr_reader_next(r, &d, &len, NULL)) == TBW_TFR_RECORD) {
			tbw_event ev;
			if (on_open && !seen_scalar && tbw__event_decode(d, len, &ev) == TBW_OK &&
			    ev.kind == TBW_EVENT_SCALAR) {
				fmt = ev.is_tensor ? TBW_SCALAR_TENSOR : TBW_SCALAR_SIMPLE;
				seen_scalar = 1;
			}
		}
		valid_end = tbw__tfr_reader_offset(r);
		tbw__tfr_reader_close(r);
		if (s < 0) {
			rc = s;
			goto out_rc;
		}
	} else {
		goto out_rc;
	}
	if (valid_end > start && valid_end - start <= TAIL_KEEP_MAX) {
		size_t got = 0;
		tail = tbw__malloc((size_t)(valid_end - start));
		if (tail && tbw__pread_full(c->fd, tail, (size_t)(valid_end - start), (off_t)start, &got,
		                            "compactor repair", path) != TBW_OK) {
			tbw__free(tail);
			tail = NULL;
		}
	}
	rc = tbw__ftruncate(c->fd, (off_t)start, "compactor cut back", path);
	if (rc == TBW_OK)
		rc = tbw__fsync(c->fd, 0, "compactor cut back", path);
	if (rc != TBW_OK)
		goto out_rc;
	c->st.repaired_bytes += size - start;
	c->need_repair = 0;
	if (valid_end > start) {
		uint64_t last = 0;
		rc = tbw__journal_last_seq(c->j, &last);
		if (rc != TBW_OK)
			goto out_rc;
		c->repairing = 1;
		rc = export_loop(c, fmt, last, valid_end);
		c->repairing = 0;
		if (rc != TBW_OK)
			goto out_rc;
		if (c->cur.offset < valid_end) {
			problem(c, "event file %s: the cut tail held %" PRIu64 " bytes of records but only %" PRIu64
			        " could be written again (journal records missing)", path,
			        valid_end - start, c->cur.offset - start);
		} else if (tail) {
			uint8_t *now = tbw__malloc((size_t)(valid_end - start));
			size_t got = 0;
			if (now && tbw__pread_full(c->fd, now, (size_t)(valid_end - start), (off_t)start, &got,
			                           "compactor repair", path) == TBW_OK &&
			    (got != valid_end - start || memcmp(now, tail, got) != 0))
				problem(c, "event file %s: records written again after byte %" PRIu64
				        " differ from the cut tail; a reader that saw the old tail may be confused",
				        path, start);
			tbw__free(now);
		}
	}
out_rc:
	tbw__free(tail);
	tbw__free(path);
	return rc;
}

/* Bring the current file in line with the cursor. */
static int repair(tbw_compactor *c, int on_open)
{
	struct stat st;
	char *path;
	int rc;

	if (!c->cur.file[0]) {
		c->need_repair = 0;
		return TBW_OK;
	}
	path = file_path(c, c->cur.file);
	if (!path)
		return tbw__error_set(TBW_ENOMEM, "compactor open", c->cur.file, "out of memory");
	if (c->fd < 0) {
		if (strchr(c->cur.file, '/') || !strstr(c->cur.file, TFEVENTS)) {
			rc = tbw__error_set(TBW_ECORRUPT, "compactor open", tbw__journal_dir(c->j),
			                    "export cursor names an invalid event file \"%s\"", c->cur.file);
			tbw__free(path);
			return rc;
		}
		rc = tbw__open(&c->fd, path, O_RDWR, 0, "compactor open event file");
		if (rc == TBW_ENOTFOUND && (rc = purge_finish(c)) == TBW_OK)
			rc = tbw__open(&c->fd, path, O_RDWR, 0, "compactor open event file");
		if (rc == TBW_ENOTFOUND) {
			tbw__free(path);
			damaged(c, -1, 0, 1);
			c->need_repair = 0;
			return TBW_OK;
		}
		if (rc != TBW_OK) {
			tbw__free(path);
			return rc;
		}
	}
	if (tbw__os.fstat(c->fd, &st) < 0) {
		rc = tbw__error_errno(errno, "compactor stat event file", path);
		tbw__free(path);
		return rc;
	}
	tbw__free(path);
	if ((uint64_t)st.st_size < c->cur.offset) {
		damaged(c, c->fd, (uint64_t)st.st_size, 0);
		c->need_repair = 0;
		return TBW_OK;
	}
	if ((uint64_t)st.st_size > c->cur.offset)
		return cut_back(c, (uint64_t)st.st_size, on_open);
	c->need_repair = 0;
	return TBW_OK;
}

/* ---- API ---- */

void tbw__compactor_set_on_export(tbw_compactor *c, tbw_compact_on_export fn, void *ctx)
{
	c->on_export = fn;
	c->on_export_ctx = ctx;
}

void tbw__compactor_set_repair(tbw_compactor *c, const char *sort_after, int with_start, int64_t step)
{
	snprintf(c->repair_after, sizeof c->repair_after, "%s", sort_after ? sort_after : "");
	c->repair_start = with_start;
	c->repair_step = step;
	c->need_new_file = 1;
}

int tbw__compactor_parse_name(const char *name, char run8[9], uint64_t *base, int *with_start)
{
	const char *p = strstr(name, ".tbwal-");
	int i, s = 0;
	uint64_t v = 0;

	if (strncmp(name, NAME_PREFIX, strlen(NAME_PREFIX)) != 0 || !p)
		return 0;
	p += strlen(".tbwal-");
	for (i = 0; i < 8; i++) {
		if (!isxdigit((unsigned char)p[i]) || isupper((unsigned char)p[i]))
			return 0;
		run8[i] = p[i];
	}
	run8[8] = '\0';
	p += 8;
	if (*p++ != '-')
		return 0;
	if (*p == 'S') {
		s = 1;
		p++;
	}
	for (i = 0; i < 16; i++) {
		int d = p[i];
		if (d >= '0' && d <= '9')
			d -= '0';
		else if (d >= 'a' && d <= 'f')
			d = d - 'a' + 10;
		else
			return 0;
		v = (v << 4) | (uint64_t)d;
	}
	*base = v;
	if (with_start)
		*with_start = s;
	return 1;
}

int tbw__compactor_open(tbw_compactor **out, tbw_journal *j, const tbw_compact_cfg *cfg)
{
	tbw_compactor *c;
	int rc;

	*out = NULL;
	if (!j || !cfg || !cfg->logdir || !cfg->logdir[0])
		return tbw__error_set(TBW_EINVAL, "compactor open", NULL, "journal and logdir are required");
	if (cfg->scalar_format != TBW_SCALAR_SIMPLE && cfg->scalar_format != TBW_SCALAR_TENSOR)
		return tbw__error_set(TBW_EINVAL, "compactor open", cfg->logdir, "unknown scalar format %d",
		                      (int)cfg->scalar_format);
	if (cfg->filename_suffix && (strchr(cfg->filename_suffix, '/') || strstr(cfg->filename_suffix, TFEVENTS) ||
	                             strlen(cfg->filename_suffix) > 64))
		return tbw__error_set(TBW_EINVAL, "compactor open", cfg->logdir,
		                      "filename suffix \"%s\" must be at most 64 bytes without '/' or \"tfevents\"",
		                      cfg->filename_suffix);
	c = tbw__calloc(1, sizeof *c);
	if (!c)
		return tbw__error_set(TBW_ENOMEM, "compactor open", cfg->logdir, "out of memory");
	c->j = j;
	c->fd = -1;
	c->fmt = cfg->scalar_format;
	c->rotate = cfg->rotate_bytes ? cfg->rotate_bytes : TBW_COMPACT_ROTATE_DEFAULT;
	c->pipeline = cfg->pipeline_sync;
	c->pid = (long)getpid();
	if (gethostname(c->host, sizeof c->host - 1) < 0 || !c->host[0])
		snprintf(c->host, sizeof c->host, "localhost");
	c->logdir = tbw__strdup(cfg->logdir);
	c->suffix = tbw__strdup(cfg->filename_suffix ? cfg->filename_suffix : "");
	c->cap = BUF_START;
	c->buf = tbw__malloc(c->cap);
	c->recs = tbw__calloc(READ_CHUNK, sizeof *c->recs);
	if (!c->logdir || !c->suffix || !c->buf || !c->recs) {
		tbw__free(c->logdir); tbw__free(c->suffix);
		tbw__free(c->buf); tbw__free(c->recs); tbw__free(c);
		return tbw__error_set(TBW_ENOMEM, "compactor open", cfg->logdir, "out of memory");
	}
	rc = tbw__journal_lock(j, TBW_JROLE_COMPACTOR, cfg->wait_lock);
	if (rc == TBW_EBUSY)
		rc = tbw__error_set(TBW_EBUSY, "compactor open", tbw__journal_dir(j),
		                    "another exporter (a writer's compactor thread, tbcompact, or another "
		                    "compactor of this process) is already exporting this journal; there is "
		                    "never more than one exporter");
	if (rc != TBW_OK) {
		tbw__free(c->logdir); tbw__free(c->suffix);
		tbw__free(c->buf); tbw__free(c->recs); tbw__free(c);
		return rc;
	}
	rc = tbw__mkdir_p(c->logdir, "compactor open");
	if (rc == TBW_OK)
		rc = tbw__journal_get_export(j, &c->cur);
	if (rc == TBW_OK) {
		tbw_jinfo info;
		rc = tbw__journal_info(j, &info);
		if (rc == TBW_OK)
			memcpy(c->run8, info.run_id_hex, 8);
	}
	if (rc == TBW_OK) {
		c->st.cursor = c->cur;
		c->pend_seq = c->cur.seq;
		clean_tmp(c);
		rc = repair(c, 1);
		if (rc == TBW_OK && c->cur.file[0])
			rc = purge_finish(c);   /* a purge rewrite's moves, if a crash cut them short */
	}
	if (rc != TBW_OK) {
		int keep = rc;
		char msg[512];
		snprintf(msg, sizeof msg, "%s", tbw_errmsg());
		tbw__compactor_close(c);
		tbw__error_set(keep, NULL, NULL, "%s", msg);
		return keep;
	}
	/* Every session starts its own file (created with its first record). */
	c->need_new_file = 1;
	*out = c;
	return TBW_OK;
}

int tbw__compactor_pass(tbw_compactor *c, uint64_t *nexported)
{
	return tbw__compactor_pass_through(c, UINT64_MAX, nexported);
}

int tbw__compactor_pass_through(tbw_compactor *c, uint64_t through, uint64_t *nexported)
{
	uint64_t before, last = 0;
	int rc;

	if (nexported)
		*nexported = 0;
	if (!c)
		return tbw__error_set(TBW_EINVAL, "compactor pass", NULL, "no compactor");
	before = c->st.exported;
	if (c->purge_pending && ((rc = settle(c)) != TBW_OK || (rc = purge_finish(c)) != TBW_OK))
		goto out;
	if (c->need_repair && !c->syncing) {   /* (a pipelined fsync's bytes need none) */
		rc = repair(c, 0);
		if (rc != TBW_OK)
			goto out;
	}
	rc = tbw__journal_last_seq(c->j, &last);
	if (rc == TBW_OK)
		rc = export_loop(c, c->fmt, last < through ? last : through, 0);
out:
	if (nexported)
		*nexported = c->st.exported - before;
	return rc;
}

int tbw__compactor_settle(tbw_compactor *c, uint64_t *nexported)
{
	uint64_t before;
	int rc;

	if (nexported)
		*nexported = 0;
	if (!c)
		return tbw__error_set(TBW_EINVAL, "compactor settle", NULL, "no compactor");
	before = c->st.exported;
	rc = settle(c);
	if (nexported)
		*nexported = c->st.exported - before;
	return rc;
}

uint64_t tbw__compactor_next_chunk(tbw_compactor *c, uint64_t last, uint64_t chunk)
{
	tbw_jrec r;
	tbw_jread inf;
	uint64_t next;

	if (tbw__journal_read(c->j, written_seq(c), &r, 1, &inf) != TBW_OK) {
		tbw__error_clear();
		return UINT64_MAX;    /* the pass itself reports what is wrong */
	}
	if (!inf.n)
		return UINT64_MAX;    /* none, or only damaged ones (the pass skips them) */
	next = r.seq;
	return next >= last || last - next < chunk ? UINT64_MAX : next + chunk - 1;
}

void tbw__compactor_stats(const tbw_compactor *c, tbw_compact_stats *out)
{
	*out = c->st;
}

void tbw__compactor_close(tbw_compactor *c)
{
	if (!c)
		return;
	if (c->sync_threaded)
		pthread_join(c->sync_thread, NULL);   /* its cursor is not committed */
	tbw__free(c->sync_hist);
	if (c->fd >= 0)
		tbw__os.close(c->fd);   /* fsynced up to the cursor; see new_file() */
	tbw__journal_unlock(c->j, TBW_JROLE_COMPACTOR);
	tbw__free(c->tags);
	tbw__free(c->hist);
	tbw__free(c->hist_touched);
	tbw__free(c->recs);
	tbw__free(c->buf);
	tbw__free(c->logdir);
	tbw__free(c->suffix);
	tbw__free(c);
}
