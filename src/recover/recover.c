/* recover.c -- rebuild a run's journal and event files from whatever survived.
 *
 * PROCEDURE (doc/recover.md has the reasoning; tests/test_recover.c a test
 * per case)
 *  1. Find the journal: cfg->journal_dir, LOGDIR/.tbwal, or the local path a
 *     writer recorded in LOGDIR/.tbwal-journal. Refuse (TBW_EBUSY) while a
 *     writer or another exporter holds it.
 *  2. Journal source. Intact: verify every record's checksum. LMDB refuses
 *     it: salvage every record that reads, move the damaged journal aside
 *     into LOGDIR/.tbwal-recovered/<stamp>/ and rebuild a fresh journal with
 *     the same run id from what was salvaged.
 *  3. A journal to restore into: with none (or none readable), a new one
 *     with the run id the segments carry (a new run id if none does).
 *  4. Event-file source and reconciliation. This run's event files (names
 *     carry the run id and the sequence number before their first record,
 *     see tbw__compactor_parse_name) are checked in name order. The longest
 *     prefix of files that are whole (a torn tail only in the last) and hold
 *     consecutive sequence numbers from the run's start (but for gaps no
 *     source can fill, gap_fillable: losses) is kept. Every file
 *     after it is read as a source (its intact records go into the journal)
 *     and moved aside into LOGDIR/.tbwal-recovered/<stamp>/ (deleted only
 *     with delete_replaced). The prefix is shortened while its steps reach
 *     those of the files after it, and the first file exported after it
 *     opens with a SessionLog START above every kept step and sorts after
 *     every name moved, so a TensorBoard following the logdir shows each
 *     record once (doc/recover.md, "A running TensorBoard"). The export
 *     cursor is set to the end of the kept prefix. Files of other runs, and
 *     files tbwal did not write, are never touched.
 *  5. Segment sources (--from): tbw__sync_restore() inserts their records
 *     (an existing sequence number is kept: deduplication by run id + seq),
 *     and the compactor exports them batch by batch as they are restored.
 *  6. --purge-step: append a SessionLog START marker.
 *  7. Export the rest with the compactor (it cuts a torn tail back to the
 *     cursor and exports everything after it, exactly once), then report
 *     what TensorBoard will show: per tag count, step range, last value; and
 *     the sequence numbers no source held (lost). The files that were there
 *     before the export are scanned; what this run exported is counted as
 *     the compactor writes it (export_cb), unless a purge rewrote the files.
 * The numbers are those of the driver's comments (tbw__recover_run).
 * A second run finds a clean prefix covering everything and changes nothing.
 *
 * BOUNDS: records flow in batches of INSERT_BATCH; the event-file scans
 * stream with the TFRecord reader; segments are read one at a time by the
 * syncer module. Memory does not grow with the number of records.
 */
#include "config.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "base/alloc.h"
#include "base/bytes.h"
#include "base/strmap.h"
#include "export/compactor.h"
#include "export/evscan.h"
#include "base/error.h"
#include "format/event.h"
#include "journal/journal.h"
#include "base/os.h"
#include "recover/recover.h"
#include "base/tagname.h"
#include "format/segment.h"
#include "sync/syncer.h"
#include "format/tfrecord.h"
#include "journal/location.h"

#define INSERT_BATCH 4096
#define RECOVERED_DIR ".tbwal-recovered"

/* ---- Report building ---- */

static int add_source(tbw_recover_report *rep, const char *kind, const char *path,
                      tbw_recover_source **out)
{
	tbw_recover_source *a = tbw__realloc(rep->sources, (rep->nsources + 1) * sizeof *a);

	if (!a)
		return tbw__error_set(TBW_ENOMEM, "recover", path, "out of memory");
	rep->sources = a;
	*out = &a[rep->nsources++];
	memset(*out, 0, sizeof **out);
	snprintf((*out)->kind, sizeof (*out)->kind, "%s", kind);
	snprintf((*out)->path, sizeof (*out)->path, "%s", path);
	return TBW_OK;
}

static int add_damage(tbw_recover_report *rep, const char *path, uint64_t offset,
                      uint64_t lost, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int add_damage(tbw_recover_report *rep, const char *path, uint64_t offset,
                      uint64_t lost, const char *fmt, ...)
{
	tbw_recover_damage *a, *d;
	va_list ap;

	/* A hostile folder could hold millions of damaged files: keep the first
	 * 10000 in full and count the rest in the last entry. */
	if (rep->ndamage >= 10000) {
		rep->damage[rep->ndamage - 1].lost += lost;
		return TBW_OK;
	}
	a = tbw__realloc(rep->damage, (rep->ndamage + 1) * sizeof *a);
	if (!a)
		return tbw__error_set(TBW_ENOMEM, "recover", path, "out of memory");
	rep->damage = a;
	d = &a[rep->ndamage++];
	memset(d, 0, sizeof *d);
	snprintf(d->path, sizeof d->path, "%s", path ? path : "");
	d->offset = offset;
	d->lost = lost;
	va_start(ap, fmt);
	vsnprintf(d->what, sizeof d->what, fmt, ap);
	va_end(ap);
	for (char *p = d->what; *p; p++)
		if (*p == '\n')
			*p = ' ';
	return TBW_OK;
}

void tbw__recover_report_free(tbw_recover_report *rep)
{
	if (!rep)
		return;
	for (size_t i = 0; i < rep->ntags; i++)
		tbw__free(rep->tags[i].tag);
	tbw__free(rep->tags);
	tbw__free(rep->sources);
	tbw__free(rep->damage);
	memset(rep, 0, sizeof *rep);
}

/* ---- Batched inserts (tag names copied into a per-batch arena) ---- */

typedef struct inserter {
	tbw_journal *j;
	tbw_jrec_named recs[INSERT_BATCH];
	char *arena;
	size_t arena_used, arena_cap;
	size_t n;
	uint64_t inserted;
	uint64_t seen;
	int rc;
} inserter;

static int ins_flush(inserter *in)
{
	size_t got = 0;
	int rc = TBW_OK;

	if (in->n && in->j) {
		rc = tbw__journal_insert(in->j, in->recs, in->n, &got);
		in->inserted += got;
	} else if (!in->j) {
		in->inserted += in->n;
	}
	in->n = 0;
	in->arena_used = 0;
	return rc;
}

/* Event bodies in one insert batch: past this the batch is committed, so
 * one transaction (and the arena) holds about this much plus one record. */
#define INSERT_BODY_BYTES ((size_t)8 << 20)

static int ins_add(inserter *in, uint64_t seq, double wall_time, int64_t step,
                   double value, const char *tag, size_t tag_len,
                   const void *body, size_t body_len)
{
	tbw_jrec_named *r;
	size_t need = (tag ? tag_len : 0) + body_len;
	int rc;

	in->seen++;
	if (in->n == INSERT_BATCH || (need && in->arena_used + need > in->arena_cap) ||
	    (body_len && in->arena_used > INSERT_BODY_BYTES)) {
		rc = ins_flush(in);
		if (rc != TBW_OK)
			return rc;
	}
	if (need && in->arena_used + need > in->arena_cap) {
		size_t cap = in->arena_cap ? in->arena_cap : 65536;
		char *na;
		while (cap < need)
			cap *= 2;
		na = tbw__realloc(in->arena, cap);
		if (!na)
			return tbw__error_set(TBW_ENOMEM, "recover", NULL, "out of memory");
		in->arena = na;
		in->arena_cap = cap;
	}
	r = &in->recs[in->n++];
	r->seq = seq;
	r->wall_time = wall_time;
	r->step = step;
	r->value = value;
	r->tag = NULL;
	r->tag_len = 0;
	r->body = NULL;
	r->body_len = 0;
	if (tag) {
		memcpy(in->arena + in->arena_used, tag, tag_len);
		r->tag = in->arena + in->arena_used;
		r->tag_len = tag_len;
		in->arena_used += tag_len;
	}
	if (body_len) {
		memcpy(in->arena + in->arena_used, body, body_len);
		r->body = in->arena + in->arena_used;
		r->body_len = body_len;
		in->arena_used += body_len;
	}
	return TBW_OK;
}

/* ---- Sets of sequence numbers (dry run) ---- */

/* Sorted, disjoint, non-adjacent closed intervals. Sources deliver mostly
 * increasing runs, so adding is usually an extension of the last one. */
typedef struct seqset {
	uint64_t (*iv)[2];
	size_t n, cap;
} seqset;

static int ss_add(seqset *s, uint64_t x)
{
	size_t lo = 0, hi = s->n;
	if (s->n && s->iv[s->n - 1][1] + 1 == x) {
		s->iv[s->n - 1][1] = x;
		return TBW_OK;
	}
	while (lo < hi) {                  /* first interval ending at or after x - 1 */
		size_t mid = (lo + hi) / 2;
		if (s->iv[mid][1] + 1 < x)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < s->n && s->iv[lo][0] <= x && x <= s->iv[lo][1])
		return TBW_OK;
	if (lo < s->n && s->iv[lo][1] + 1 == x) {
		s->iv[lo][1] = x;
		if (lo + 1 < s->n && s->iv[lo + 1][0] == x + 1) {
			s->iv[lo][1] = s->iv[lo + 1][1];
			memmove(s->iv + lo + 1, s->iv + lo + 2, (s->n - lo - 2) * sizeof *s->iv);
			s->n--;
		}
		return TBW_OK;
	}
	if (lo < s->n && s->iv[lo][0] == x + 1) {
		s->iv[lo][0] = x;
		return TBW_OK;
	}
	if (s->n == s->cap) {
		size_t nc = s->cap ? s->cap * 2 : 64;
		uint64_t (*nv)[2] = tbw__realloc(s->iv, nc * sizeof *nv);
		if (!nv)
			return TBW_ENOMEM;
		s->iv = nv;
		s->cap = nc;
	}
	memmove(s->iv + lo + 1, s->iv + lo, (s->n - lo) * sizeof *s->iv);
	s->iv[lo][0] = s->iv[lo][1] = x;
	s->n++;
	return TBW_OK;
}

/* How many members lie in (lo, hi]. */
static uint64_t ss_count(const seqset *s, uint64_t lo, uint64_t hi)
{
	uint64_t n = 0;
	for (size_t i = 0; i < s->n; i++) {
		uint64_t a = s->iv[i][0] > lo ? s->iv[i][0] : lo + 1;
		uint64_t b = s->iv[i][1] < hi ? s->iv[i][1] : hi;
		if (a <= b)
			n += b - a + 1;
	}
	return n;
}

/* How many runs of consecutive members lie in (lo, hi]. */
static uint64_t ss_runs(const seqset *s, uint64_t lo, uint64_t hi)
{
	uint64_t n = 0;
	for (size_t i = 0; i < s->n; i++)
		if (s->iv[i][1] > lo && s->iv[i][0] <= hi)
			n++;
	return n;
}

/* ---- Context ---- */

typedef struct recover_ctx {
	const tbw_recover_cfg *cfg;
	tbw_recover_report *rep;
	char *logdir;          /* absolute */
	char *jdir;            /* journal directory */
	char *aside;           /* LOGDIR/.tbwal-recovered/<stamp> (made on demand) */
	tbw_journal *j;        /* NULL in a dry run without a journal */
	uint8_t run_id[16];
	int have_run_id;
	char run8[9];
	inserter *ins;
	uint64_t dry_last_seq; /* highest seq any source holds */
	int need_rebuild;      /* the journal is damaged: rebuild it from a salvage */
	uint64_t skipped;      /* damaged records the export skipped */
	tbw_compactor *comp;   /* exporting while segments are restored */
	int batch_rc;          /* a failed export inside the restore */
	char batch_msg[512];        /* its message (the restore's "stopped" replaces it) */
	uint64_t claimed_seq;  /* highest seq a damaged segment's name claims */
	char claimed_by[4096]; /* that segment */
	/* Dry run: what the real run would merge, to report its numbers. */
	seqset dry_all;        /* every seq some source holds */
	seqset dry_starts;     /* of those, START markers */
	uint64_t dry_keep_end; /* end of the kept prefix of event files (the export cursor) */
	size_t dry_keep_files; /* files in that prefix */
	int dry_rc;            /* out of memory while noting */
	/* Repair of a run TensorBoard may be following (doc/recover.md, "A
	 * running TensorBoard"): set when event files are replaced. */
	int repair;            /* files were (or would be) replaced */
	int repair_start;      /* the repair file opens with a START at repair_step */
	int64_t repair_step;
	uint64_t repair_base;  /* records after this seq are exported again */
	char repair_after[256];/* the latest name moved out of LOGDIR */
	size_t foreign;        /* "tfevents" files in LOGDIR not of this run */
	struct seqrange { uint64_t lo, hi; } *unsure; /* (lo, hi]: seqs a loader may have read */
	size_t nunsure;        /* from a replaced file, whose steps no source showed us */
	uint64_t unsure_below; /* re-exported records among those with a step < repair_step */
	/* The report's figures of what this run's compactor exports, noted as
	 * it writes them (export_cb), so the final scan reads only the files
	 * that were there before (doc/recover.md, step 7). */
	int noted;             /* export_cb is on (not in a dry run, nor with a purge) */
	uint64_t noted_from;   /* the export cursor when the compactor opened */
	struct seqrange *exported; /* (lo-1, hi]: runs of consecutive exported seqs */
	size_t nexported, exported_cap;
	struct noted_tag { char *tag; tbw_jtagstat f; } *noted_tags; /* their figures, merged after the scan's */
	size_t nnoted_tags, noted_tags_cap;
	uint32_t *tag_slot_of; /* journal tag id -> 1 + index in noted_tags (0: none yet) */
	size_t tag_slot_cap;
	tbw_strmap byname;     /* tag name -> index in rep->tags (keys: the report's copies) */
	tbw_jtagstat *figs;    /* the scan's figures of rep->tags[i], copied into it at the end */
	size_t tags_cap;       /* of rep->tags and figs */
	int noted_rc;          /* out of memory while noting */
} recover_ctx;

/* Records per export chunk of step 6 (progress between chunks). */
#define EXPORT_CHUNK 262144

static void progress(recover_ctx *x, const char *phase, uint64_t done, uint64_t total)
{
	if (x->cfg->progress)
		x->cfg->progress(x->cfg->progress_ctx, phase, done, total);
}

static void set_run_id(recover_ctx *x, const uint8_t id[16])
{
	memcpy(x->run_id, id, 16);
	x->have_run_id = 1;
	tbw__runid_hex(x->rep->run_id, id);
	memcpy(x->run8, x->rep->run_id, 8);
	x->run8[8] = '\0';
}

/* Dry run: note a record some source holds. */
static void dry_note(recover_ctx *x, uint64_t seq, int is_start)
{
	if (!x->cfg->dry_run)
		return;
	if (ss_add(&x->dry_all, seq) != TBW_OK || (is_start && ss_add(&x->dry_starts, seq) != TBW_OK))
		x->dry_rc = TBW_ENOMEM;
}

/* Make dir (its parent exists) unless it is already a real folder; a
 * symlink or anything else in its place is refused, never followed. */
static int real_subdir(const char *dir)
{
	struct stat st;

	if (tbw__os.mkdir(dir, 0777) != 0 && errno != EEXIST)
		return tbw__error_errno(errno, "recover: make folder for replaced files", dir);
	if (lstat(dir, &st) != 0)
		return tbw__error_errno(errno, "recover: make folder for replaced files", dir);
	if (!S_ISDIR(st.st_mode))
		return tbw__error_set(TBW_EINVAL, "recover: make folder for replaced files", dir,
		                      "exists and is not a folder (a symlink?); move it away and run again");
	return tbw__fsync_dir(dir, 0, "recover: make folder for replaced files");
}

/* The folder things are moved aside into, made on first use. */
static int aside_dir(recover_ctx *x, const char **out)
{
	if (!x->aside) {
		char stamp[96];
		char *base = tbw__path_join(x->logdir, RECOVERED_DIR);
		time_t now = time(NULL);
		struct tm tm;
		int rc;

		if (!base)
			return tbw__error_set(TBW_ENOMEM, "recover", x->logdir, "out of memory");
		/* The top level is made here, never followed: a symlink (or
		 * file) planted as LOGDIR/.tbwal-recovered must not lead out. */
		rc = real_subdir(base);
		gmtime_r(&now, &tm);
		/* A folder of our own per run: time, pid, and a number if a run
		 * of the same second and pid (tests) made one already. */
		for (int n = 0; rc == TBW_OK; n++) {
			size_t k = strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
			snprintf(stamp + k, sizeof stamp - k, n ? "-%ld-%d" : "-%ld", (long)getpid(), n);
			tbw__free(x->aside);
			x->aside = tbw__path_join(base, stamp);
			if (!x->aside) {
				rc = tbw__error_set(TBW_ENOMEM, "recover", x->logdir, "out of memory");
				break;
			}
			if (tbw__os.mkdir(x->aside, 0777) == 0) {
				rc = tbw__fsync_dir(x->aside, 0, "recover: make folder for replaced files");
				break;
			}
			if (errno != EEXIST || n > 1000)
				rc = tbw__error_errno(errno, "recover: make folder for replaced files", x->aside);
		}
		tbw__free(base);
		if (rc != TBW_OK) {
			tbw__free(x->aside);
			x->aside = NULL;
			return rc;
		}
		snprintf(x->rep->moved_aside, sizeof x->rep->moved_aside, "%s", x->aside);
	}
	*out = x->aside;
	return TBW_OK;
}

static int dir_exists(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* ---- Step 2: the journal ---- */

/* Salvage callback: counts, and inserts once a journal is there. */
static int salvage_cb(void *ctx, const tbw_jrec_named *r)
{
	recover_ctx *x = ctx;
	int rc;

	if (r->seq > x->dry_last_seq)
		x->dry_last_seq = r->seq;
	dry_note(x, r->seq, r->tag == NULL);
	if (!x->ins->j)
		return 0;
	rc = ins_add(x->ins, r->seq, r->wall_time, r->step, r->value, r->tag, r->tag_len, r->body, r->body_len);
	if (rc != TBW_OK) {
		x->ins->rc = rc;
		return 1;
	}
	return 0;
}

/* Salvage dir. A journal gets here because LMDB refused, failed or died on
 * it: the raw page scan never trusts its tree (nor calls LMDB), and finds
 * every record, tag and meta entry whose CRC holds. */
static int salvage(recover_ctx *x, const char *dir, uint64_t *nread, uint64_t *ncorrupt, tbw_jinfo *info)
{
	return tbw__journal_salvage_raw(dir, salvage_cb, x, nread, ncorrupt, info);
}

/* Hold the writer and recover roles, so no writer starts meanwhile. */
static int journal_locks(recover_ctx *x)
{
	int rc = tbw__journal_lock(x->j, TBW_JROLE_WRITER, 0);

	if (rc == TBW_OK)
		rc = tbw__journal_lock(x->j, TBW_JROLE_RECOVER, 0);
	return rc;
}

static int open_new_journal(recover_ctx *x)
{
	tbw_jopen jo = TBW_JOPEN_INIT;
	tbw_jinfo info;
	int rc;

	jo.create = 1;
	jo.logdir = x->logdir;
	jo.run_id = x->have_run_id ? x->run_id : NULL;
	rc = tbw__journal_open(&x->j, x->jdir, &jo);
	if (rc == TBW_OK && !x->have_run_id && (rc = tbw__journal_info(x->j, &info)) == TBW_OK)
		set_run_id(x, info.run_id);
	if (rc == TBW_OK) {
		x->rep->journal_created = 1;
		rc = journal_locks(x);
	}
	return rc;
}

/* ---- Rebuilding a damaged journal, crash-safely ----
 * The salvaged records go into a new journal built beside the damaged one,
 * at JDIR.rebuilt; only when it is complete do the two swap (swap_in): the
 * new one takes JDIR, the damaged one moves aside into
 * LOGDIR/.tbwal-recovered/. A rerun after a crash finds JDIR whole (and
 * moves a leftover JDIR.rebuilt aside, never deleting it) or, where the
 * filesystem cannot exchange names atomically, possibly JDIR missing and
 * JDIR.rebuilt complete: it is moved into place. So no salvaged record is
 * ever only in a folder recovery does not look at. */

static char *rebuilt_path(const recover_ctx *x)
{
	size_t n = strlen(x->jdir) + sizeof ".rebuilt";
	char *p = tbw__malloc(n);

	if (p)
		snprintf(p, n, "%s.rebuilt", x->jdir);
	return p;
}

/* Before anything else: settle what an interrupted rebuild left. */
static int settle_rebuild(recover_ctx *x)
{
	char *t = rebuilt_path(x);
	int rc = TBW_OK;

	if (!t)
		return tbw__error_set(TBW_ENOMEM, "recover", x->jdir, "out of memory");
	if (dir_exists(t)) {
		if (dir_exists(x->jdir)) {
			/* Either a rebuild that never reached the swap, or the
			 * damaged journal after an exchange: keep it, aside. */
			const char *aside;
			char *dst = NULL;
			rc = aside_dir(x, &aside);
			if (rc == TBW_OK && !(dst = tbw__path_join(aside, "leftover-journal")))
				rc = tbw__error_set(TBW_ENOMEM, "recover", x->jdir, "out of memory");
			if (rc == TBW_OK)
				rc = tbw__rename_durable(t, dst, "recover: move a leftover journal aside");
			tbw__free(dst);
		} else {
			rc = tbw__rename_durable(t, x->jdir, "recover: finish an interrupted rebuild");
		}
	}
	tbw__free(t);
	return rc;
}

/* Put the rebuilt journal t in place of the damaged one, which goes to dst.
 * Where the filesystem can exchange two names atomically (renameat2
 * RENAME_EXCHANGE), JDIR names a whole journal at every instant and the
 * damaged one is then moved from t to dst. Elsewhere, two renames; if the
 * second fails, the first is undone. */
static int swap_in(recover_ctx *x, const char *t, const char *dst)
{
	const char *op = "recover: put the rebuilt journal in place";
	int rc;

	if (renameat2(AT_FDCWD, t, AT_FDCWD, x->jdir, RENAME_EXCHANGE) == 0) {
		rc = tbw__fsync_dir(x->jdir, 0, op);
		if (rc == TBW_OK)
			rc = tbw__rename_durable(t, dst, "recover: move damaged journal aside");
		return rc;
	}
	if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
		return tbw__error_errno(errno, op, x->jdir);
	rc = tbw__rename_durable(x->jdir, dst, "recover: move damaged journal aside");
	if (rc != TBW_OK)
		return rc;
	rc = tbw__rename_durable(t, x->jdir, op);
	if (rc != TBW_OK) {
		char msg[512];
		snprintf(msg, sizeof msg, "%s", tbw_errmsg());
		if (rename(dst, x->jdir) == 0)           /* undo: the damaged one back */
			tbw__fsync_dir(x->jdir, 0, op);
		tbw__error_set(rc, NULL, NULL, "%s", msg);
	}
	return rc;
}

static int rebuild_journal(recover_ctx *x)
{
	tbw_jopen jo = TBW_JOPEN_INIT;
	char *t = rebuilt_path(x), *dst = NULL;
	const char *aside;
	uint64_t nread = 0, ncorrupt = 0;
	tbw_jinfo info;
	int rc;

	if (!t)
		return tbw__error_set(TBW_ENOMEM, "recover", x->jdir, "out of memory");
	jo.create = 1;
	jo.logdir = x->logdir;
	jo.run_id = x->have_run_id ? x->run_id : NULL;
	rc = tbw__journal_open(&x->j, t, &jo);
	if (rc == TBW_OK && !x->have_run_id && (rc = tbw__journal_info(x->j, &info)) == TBW_OK)
		set_run_id(x, info.run_id);
	if (rc == TBW_OK) {
		x->ins->j = x->j;
		x->ins->inserted = 0;
		x->ins->rc = TBW_OK;
		/* Any failure here (I/O, memory) stops the rebuild before the
		 * swap: the damaged journal stays where it is, whole, and a
		 * rerun starts over. */
		rc = salvage(x, x->jdir, &nread, &ncorrupt, &info);
		if (x->ins->rc != TBW_OK)
			rc = x->ins->rc;
		else if (rc == TBW_ECORRUPT && nread == 0)
			rc = TBW_OK;       /* nothing intact in it: already reported */
		if (rc == TBW_OK)
			rc = ins_flush(x->ins);
		x->rep->sources[0].added = x->ins->inserted;
	}
	if (rc == TBW_OK)
		rc = tbw__journal_sync(x->j);
	tbw__journal_close(x->j);
	x->j = NULL;
	x->ins->j = NULL;
	/* The swap. */
	if (rc == TBW_OK)
		rc = aside_dir(x, &aside);
	if (rc == TBW_OK && !(dst = tbw__path_join(aside, "journal")))
		rc = tbw__error_set(TBW_ENOMEM, "recover", x->jdir, "out of memory");
	if (rc == TBW_OK)
		rc = swap_in(x, t, dst);
	if (rc == TBW_OK) {
		x->rep->journal_salvaged = 1;
		x->rep->journal_created = 1;
		jo.create = 0;
		jo.run_id = NULL;
		rc = tbw__journal_open(&x->j, x->jdir, &jo);
		if (rc == TBW_OK)
			rc = journal_locks(x);
	}
	tbw__free(dst);
	tbw__free(t);
	return rc;
}

/* ---- The probe: LMDB reads the journal in a child process first ----
 * LMDB trusts its page structure, and some damage makes it crash rather than
 * report (found by fuzz/fuzz_recover). So a child opens the journal and
 * walks every table and the free list (tbw__journal_verify); only if it
 * comes back does this process let LMDB near the file. */

/* Child exit codes: OK; no journal; LMDB reports damage; another error
 * (out of memory, I/O: not damage, recovery stops with it). CRASHED is a
 * signal or a hang. */
enum { PROBE_OK = 0, PROBE_MISSING, PROBE_DAMAGED, PROBE_ERROR, PROBE_CRASHED };

#define PROBE_SECONDS 300    /* a damaged tree may loop: the child gets this long */

/* TBW_PROBE_SECONDS shortens it (tests and fuzzing). */
static unsigned probe_seconds(void)
{
	const char *v = getenv("TBW_PROBE_SECONDS");
	long n = v ? strtol(v, NULL, 10) : 0;
	return n > 0 && n <= PROBE_SECONDS ? (unsigned)n : PROBE_SECONDS;
}

static int probe_journal(const char *jdir, char *why, size_t cap)
{
	int pfd[2], status = 0;
	pid_t pid;
	ssize_t k;
	size_t got = 0;

	why[0] = '\0';
	if (pipe(pfd) != 0) {
		tbw__error_errno(errno, "recover: probe journal", jdir);
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		tbw__error_errno(errno, "recover: probe journal", jdir);
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	if (pid == 0) {
		tbw_jopen jo = TBW_JOPEN_INIT;
		tbw_journal *j = NULL;
		int rc;
		close(pfd[0]);
		/* Die of the signal, not in an inherited handler (a test
		 * harness's or a fuzzer's), so the parent sees what happened. */
		signal(SIGSEGV, SIG_DFL);
		signal(SIGBUS, SIG_DFL);
		signal(SIGFPE, SIG_DFL);
		signal(SIGILL, SIG_DFL);
		signal(SIGABRT, SIG_DFL);
		signal(SIGALRM, SIG_DFL);
		alarm(probe_seconds());
		/* Injected faults are the parent's (tests walk them through
		 * its calls); the probe only reads, in a process of its own. */
		tbw__alloc_fail_at(0, 0);
		tbw__os_fault_clear();
		jo.read_only = 1;
		rc = tbw__journal_open(&j, jdir, &jo);
		if (rc == TBW_OK)
			rc = tbw__journal_verify(j, NULL);
		if (rc != TBW_OK) {
			const char *m = tbw_errmsg();
			if (write(pfd[1], m, strlen(m)) < 0)
				_exit(PROBE_DAMAGED);
		}
		_exit(rc == TBW_OK ? PROBE_OK : rc == TBW_ENOTFOUND ? PROBE_MISSING :
		      rc == TBW_ECORRUPT || rc == TBW_EVERSION ? PROBE_DAMAGED : PROBE_ERROR);
	}
	close(pfd[1]);
	while (got + 1 < cap && (k = read(pfd[0], why + got, cap - 1 - got)) != 0) {
		if (k < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		got += (size_t)k;
	}
	why[got] = '\0';
	close(pfd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFSIGNALED(status)) {
		snprintf(why, cap, "LMDB died reading it (signal %d%s)", WTERMSIG(status),
		         WTERMSIG(status) == SIGALRM ? ": it did not finish in time" : "");
		return PROBE_CRASHED;
	}
	if (!WIFEXITED(status))
		return PROBE_CRASHED;
	switch (WEXITSTATUS(status)) {
	case PROBE_OK:      return PROBE_OK;
	case PROBE_MISSING: return PROBE_MISSING;
	case PROBE_DAMAGED: return PROBE_DAMAGED;
	case PROBE_ERROR:   return PROBE_ERROR;
	default:
		snprintf(why, cap, "the probe exited with status %d", WEXITSTATUS(status));
		return PROBE_CRASHED;
	}
}


/* The reason at the end of an error chain about dir ("op DIR: op DIR/x:
 * reason"): what follows the last mention of dir, so a report line whose
 * path is dir keeps its reason, not the path again. */
static const char *innermost(const char *why, const char *dir)
{
	const char *last = NULL, *p = why, *c;
	size_t dl = strlen(dir);

	while (dl && (p = strstr(p, dir)) != NULL) {
		last = p;
		p += dl;
	}
	if (!last || !(c = strstr(last + dl, ": ")))
		return why;
	return c + 2;
}
static int journal_phase(recover_ctx *x)
{
	tbw_recover_report *rep = x->rep;
	tbw_recover_source *src;
	tbw_jopen jo = TBW_JOPEN_INIT;
	int rc;

	rc = add_source(rep, "journal", x->jdir, &src);
	if (rc != TBW_OK)
		return rc;
	if (!dir_exists(x->jdir)) {
		snprintf(src->note, sizeof src->note, "no journal here");
		return TBW_OK;
	}
	{
		char why[512];
		int pr = probe_journal(x->jdir, why, sizeof why);
		if (pr < 0)
			return TBW_EIO;
		if (pr == PROBE_MISSING) {
			snprintf(src->note, sizeof src->note, "no journal here");
			return TBW_OK;
		}
		if (pr == PROBE_ERROR)
			return tbw__error_set(TBW_EIO, "recover: probe journal", x->jdir, "%s", why);
		if (pr != PROBE_OK) {
			/* Damaged: never open it with LMDB in this process. */
			tbw__error_set(TBW_ECORRUPT, "recover: probe journal", x->jdir, "%s", why);
			rc = TBW_ECORRUPT;
			goto damaged;
		}
	}
	jo.read_only = x->cfg->dry_run;
	rc = tbw__journal_open(&x->j, x->jdir, &jo);
	if (rc == TBW_ENOTFOUND) {
		snprintf(src->note, sizeof src->note, "no journal here");
		return TBW_OK;
	}
	if (rc == TBW_OK && !x->cfg->dry_run) {
		rc = tbw__journal_lock(x->j, TBW_JROLE_WRITER, 0);
		if (rc == TBW_OK)
			rc = tbw__journal_lock(x->j, TBW_JROLE_RECOVER, 0);
		if (rc != TBW_OK)
			return rc;     /* a writer started meanwhile: refuse */
	}
	if (rc == TBW_OK) {
		tbw_jinfo info;
		uint64_t after = 0;
		tbw_jrec *buf = tbw__malloc(INSERT_BATCH * sizeof *buf);

		if (!buf)
			return tbw__error_set(TBW_ENOMEM, "recover", x->jdir, "out of memory");
		rc = tbw__journal_info(x->j, &info);
		if (rc == TBW_OK)
			set_run_id(x, info.run_id);
		/* Verify every stored record's checksum. */
		while (rc == TBW_OK) {
			tbw_jread ri;
			memset(&ri, 0, sizeof ri);
			rc = tbw__journal_read(x->j, after, buf, INSERT_BATCH, &ri);
			if (rc != TBW_OK)
				break;
			src->records += ri.n;
			for (size_t k = 0; k < ri.n; k++)
				dry_note(x, buf[k].seq, buf[k].tag_id == TBW_JTAG_SESSION_START);
			if (ri.ncorrupt) {
				src->damaged += ri.ncorrupt;
				add_damage(rep, x->jdir, ri.first_corrupt_seq, 0,
				           "%zu journal record(s) failed their checksum, the first at seq %" PRIu64,
				           ri.ncorrupt, ri.first_corrupt_seq);
			}
			if (ri.next_after <= after || (ri.n == 0 && ri.ncorrupt == 0))
				break;
			after = ri.next_after;
			progress(x, "verifying journal", src->records, 0);
		}
		tbw__free(buf);
		if (rc == TBW_OK) {
			src->used = 1;
			tbw__journal_last_seq(x->j, &x->dry_last_seq);
			return TBW_OK;
		}
		/* A read failure part-way: treat as a damaged environment. */
		tbw__journal_close(x->j);
		x->j = NULL;
	}
	/* LMDB refuses the environment (or reading it failed, or killed the
	 * probe): salvage. This pass only counts and learns the run id; the
	 * records go into a rebuilt journal once the run id is settled
	 * (rebuild_journal). */
damaged:
	{
		char why[512];
		uint64_t nread = 0, ncorrupt = 0;
		tbw_jinfo info;

		snprintf(why, sizeof why, "%s", tbw_errmsg());
		memset(&info, 0, sizeof info);
		x->ins->j = NULL;
		rc = salvage(x, x->jdir, &nread, &ncorrupt, &info);
		if (rc != TBW_OK && rc != TBW_ECORRUPT)
			return rc;         /* cannot read it (I/O, memory): stop, change nothing */
		add_damage(rep, x->jdir, 0, 0, "journal does not open; %" PRIu64 " record(s) salvaged, %"
		           PRIu64 " damaged: %s", nread, ncorrupt, innermost(why, x->jdir));
		src->records = nread;
		src->damaged = ncorrupt + 1;
		src->used = nread > 0;
		if (rc != TBW_OK)
			snprintf(src->note, sizeof src->note, "nothing intact: %s", tbw_errmsg());
		if (info.run_id_hex[0])
			set_run_id(x, info.run_id);
		x->need_rebuild = 1;
		return TBW_OK;
	}
}

/* ---- Step 5: segments ---- */

typedef struct seg_cb_ctx {
	recover_ctx *x;
	const char *dir;
	tbw_recover_source *src;
} seg_cb_ctx;

static void seg_damage(void *ctx, const char *file, uint64_t offset, int in_payload,
                       int code, const char *reason)
{
	seg_cb_ctx *s = ctx;
	char *p = tbw__path_join(s->dir, file);

	(void)code;
	s->src->damaged++;
	{
		/* What a damaged segment held is unknown, but its name claims a
		 * range: anything of it no other source restores is lost. */
		uint64_t first, last;
		uint32_t level;
		if (tbw__seg_parse_name(file, &first, &last, &level) && last > s->x->claimed_seq) {
			s->x->claimed_seq = last;
			snprintf(s->x->claimed_by, sizeof s->x->claimed_by, "%s", p ? p : file);
		}
	}
	add_damage(s->x->rep, p ? p : file, offset, 0, "segment damaged%s: %s",
	           in_payload ? " (offset in inflated payload)" : "", reason);
	tbw__free(p);
}

/* Dry run: every intact record a folder gives. */
static int seg_record(void *ctx, const tbw_jrec_named *r)
{
	seg_cb_ctx *s = ctx;
	dry_note(s->x, r->seq, r->tag == NULL);
	return 0;
}

/* A lost range in a segment whose other blocks were restored: its exact
 * sequence (and step) range is known. */
static void seg_lost(void *ctx, const char *file, const tbw_seg_lost *l)
{
	seg_cb_ctx *s = ctx;
	char *p = tbw__path_join(s->dir, file);
	char why[400];

	s->src->damaged++;
	tbw__seg_lost_describe(l, why, sizeof why);
	add_damage(s->x->rep, p ? p : file, l->offset, l->records, "segment block damaged: %s", why);
	tbw__free(p);
}

/* A segment restore did not use on purpose (another run's, or an older
 * generation's): reported with where it is now, never a silent drop. */
static void seg_aside(void *ctx, const char *file, uint64_t first, uint64_t last,
                      uint64_t records, const char *moved_to, const char *why)
{
	seg_cb_ctx *s = ctx;
	char *p = tbw__path_join(s->dir, file);
	size_t dl = strlen(s->dir);

	/* moved_to is inside the same folder (.tbwal-set-aside/): named from
	 * there, so the line keeps its end. */
	if (moved_to && strncmp(moved_to, s->dir, dl) == 0 && moved_to[dl] == '/')
		moved_to += dl + 1;
	add_damage(s->x->rep, p ? p : file, 0, 0,
	           "set aside: %s; records seq %" PRIu64 "..%" PRIu64 " (%" PRIu64 " records) not used; %s%s",
	           why, first, last, records, moved_to ? "moved to " : "left in place",
	           moved_to ? moved_to : "");
	tbw__free(p);
}

/* After each batch of restored records: export and prune what is complete,
 * so the journal (and the memory its map pages take) stays small. */
static int seg_batch(void *ctx, uint64_t safe_through)
{
	seg_cb_ctx *s = ctx;
	recover_ctx *x = s->x;
	uint64_t n = 0;
	int rc = tbw__compactor_pass_through(x->comp, safe_through, &n);

	x->rep->exported += n;
	progress(x, "restoring and exporting", x->rep->exported, 0);
	if (rc != TBW_OK) {
		x->batch_rc = rc;
		snprintf(x->batch_msg, sizeof x->batch_msg, "%s", tbw_errmsg());
		return 1;
	}
	return 0;
}

/* The run id, when no journal gave one: from the first sync folder with a
 * readable segment. */
static void run_id_from_segments(recover_ctx *x)
{
	for (size_t i = 0; i < x->cfg->nfrom && !x->have_run_id; i++) {
		uint8_t id[16];
		if (dir_exists(x->cfg->from[i]) && tbw__sync_run_id(x->cfg->from[i], id) == TBW_OK)
			set_run_id(x, id);
	}
}

/* With no journal: does any sync folder hold a segment of a run we can
 * name? If not, every folder goes into the report with what was found
 * there, and 0 is returned (the caller stops before creating anything). */
static int preflight_sources(recover_ctx *x)
{
	int usable = 0;
	for (size_t i = 0; i < x->cfg->nfrom; i++) {
		const char *dir = x->cfg->from[i];
		uint64_t nseg = 0, other = 0, copies = 0;
		DIR *d;
		struct dirent *e;
		uint8_t id[16];
		if (dir_exists(dir) && (d = opendir(dir)) != NULL) {
			while ((e = readdir(d)) != NULL) {
				uint64_t a, b;
				uint32_t l;
				if (e->d_name[0] == '.')
					continue;
				if (tbw__seg_parse_name(e->d_name, &a, &b, &l))
					nseg++;
				else if (strncmp(e->d_name, "seg-", 4) == 0 && strstr(e->d_name, " ("))
					copies++;
				else
					other++;
			}
			closedir(d);
		}
		if (nseg && tbw__sync_run_id(dir, id) == TBW_OK)
			usable = 1;
		tbw__error_clear();
		(void)other;
		(void)copies;
	}
	if (usable && x->have_run_id)
		return 1;
	for (size_t i = 0; i < x->cfg->nfrom; i++) {
		const char *dir = x->cfg->from[i];
		tbw_recover_source *src;
		uint64_t nseg = 0, other = 0, copies = 0;
		DIR *d;
		struct dirent *e;
		uint8_t id[16];
		if (add_source(x->rep, "segments", dir, &src) != TBW_OK)
			return 0;
		if (!dir_exists(dir)) {
			snprintf(src->note, sizeof src->note, "no such folder");
			add_damage(x->rep, dir, 0, 0, "sync folder does not exist");
			continue;
		}
		if ((d = opendir(dir)) == NULL) {
			snprintf(src->note, sizeof src->note, "cannot be listed: %s", strerror(errno));
			continue;
		}
		while ((e = readdir(d)) != NULL) {
			uint64_t a, b;
			uint32_t l;
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			if (tbw__seg_parse_name(e->d_name, &a, &b, &l))
				nseg++;
			else if (strncmp(e->d_name, "seg-", 4) == 0 && strstr(e->d_name, " ("))
				copies++;
			else
				other++;
		}
		closedir(d);
		if (nseg == 0 && copies)
			snprintf(src->note, sizeof src->note,
			         "no readable segments: %" PRIu64 " file(s) named like Drive's \" (1)\" copies of "
			         "segments (not read: rename them to the original names to use them)", copies);
		else if (nseg == 0)
			snprintf(src->note, sizeof src->note, "no readable segments (%" PRIu64 " other entries)",
			         other);
		else if (tbw__sync_run_id(dir, id) != TBW_OK)
			snprintf(src->note, sizeof src->note,
			         "%" PRIu64 " segment(s), but no run.json with a run_id and the folder's name is "
			         "not <run>-<run id>: which run they belong to is unknown", nseg);
		else
			snprintf(src->note, sizeof src->note, "%" PRIu64 " segment(s)", nseg);
		tbw__error_clear();
		if (!src->note[0] || nseg == 0)
			add_damage(x->rep, dir, 0, 0, "%s", src->note);
	}
	return 0;
}

static int segments_phase(recover_ctx *x)
{
	tbw_recover_report *rep = x->rep;
	int rc;

	for (size_t i = 0; i < x->cfg->nfrom; i++) {
		const char *dir = x->cfg->from[i];
		tbw_recover_source *src;
		tbw_sync_restore_opts so = TBW_SYNC_RESTORE_OPTS_INIT;
		tbw_sync_report sr;
		seg_cb_ctx sc;
		uint8_t id[16];
		int stopped;

		rc = add_source(rep, "segments", dir, &src);
		if (rc != TBW_OK)
			return rc;
		if (!dir_exists(dir)) {
			snprintf(src->note, sizeof src->note, "no such folder");
			add_damage(rep, dir, 0, 0, "sync folder does not exist");
			continue;
		}
		if (x->have_run_id && tbw__sync_run_id(dir, id) == TBW_OK &&
		    memcmp(id, x->run_id, 16) != 0) {
			char hex[33];
			tbw__runid_hex(hex, id);
			snprintf(src->note, sizeof src->note, "segments belong to run %s, not %s; not used",
			         hex, rep->run_id);
			continue;
		}
		if (!x->have_run_id) {
			/* Only in a dry run without a journal: the run id step
			 * found no readable segment anywhere. */
			snprintf(src->note, sizeof src->note, "no readable segment");
			add_damage(rep, dir, 0, 0, "no segment in this folder could be read");
			continue;
		}
		memset(&sr, 0, sizeof sr);
		sc.x = x;
		sc.dir = dir;
		sc.src = src;
		so.on_damage = seg_damage;
		so.on_lost = seg_lost;
		so.on_aside = seg_aside;
		so.set_aside = !x->cfg->dry_run;
		so.on_batch = x->comp ? seg_batch : NULL;
		so.ctx = &sc;
		so.run_id = x->run_id;
		progress(x, "restoring segments", 0, 0);
		if (x->cfg->dry_run)
			so.on_record = seg_record;
		rc = tbw__sync_restore(dir, x->cfg->dry_run ? NULL : x->j, &so, &sr);
		src->records = sr.records;
		src->added = sr.records_new;
		src->used = sr.segments_ok > 0;
		if (sr.newest_wall_time > rep->newest_shipped_wall_time)
			rep->newest_shipped_wall_time = sr.newest_wall_time;
		if (sr.last_seq > x->dry_last_seq)
			x->dry_last_seq = sr.last_seq;
		stopped = sr.stopped;
		if (sr.missing)
			snprintf(src->note, sizeof src->note, "%" PRIu64 " sequence number(s) between %"
			         PRIu64 " and %" PRIu64 " are in no segment here", sr.missing,
			         sr.first_seq, sr.last_seq);
		tbw__sync_report_free(&sr);
		if (rc == TBW_OK && stopped && x->batch_rc != TBW_OK)   /* the export failed: its error */
			return tbw__error_set(x->batch_rc, NULL, NULL, "%s", x->batch_msg);
		if (rc != TBW_OK && rc != TBW_ENOTFOUND)
			return rc;
	}
	return TBW_OK;
}

/* ---- Step 4: event files ---- */

typedef struct evfile {
	char *name;
	uint64_t base;        /* seq before its first record */
	int with_start;       /* opens with the run's sacrificial START */
	/* filled by events_phase's scans */
	uint64_t records, last_seq, valid_len;
	int64_t min_step, max_step; /* of the records a loader shows (no tombstones) */
} evfile;

static int cmp_evfile(const void *a, const void *b)
{
	return strcmp(((const evfile *)a)->name, ((const evfile *)b)->name);
}

/* This run's event files in LOGDIR, sorted by name. */
static int list_run_files(recover_ctx *x, evfile **out, size_t *nout)
{
	DIR *d = opendir(x->logdir);
	struct dirent *e;
	evfile *a = NULL;
	size_t n = 0, cap = 0;

	*out = NULL;
	*nout = 0;
	x->foreign = 0;
	if (!d) {
		if (errno == ENOENT)
			return TBW_OK;
		return tbw__error_errno(errno, "recover: list event files", x->logdir);
	}
	while ((e = readdir(d)) != NULL) {
		char run8[9];
		uint64_t base;
		int with_start;

		if (!strstr(e->d_name, "tfevents"))
			continue;
		if (!tbw__compactor_parse_name(e->d_name, run8, &base, &with_start) ||
		    !x->have_run_id || strcmp(run8, x->run8) != 0) {
			x->foreign++;      /* not ours, or another run's: never touched */
			continue;
		}
		if (n == cap) {
			evfile *na = tbw__realloc(a, (cap ? cap * 2 : 16) * sizeof *a);
			if (!na)
				goto nomem;
			a = na;
			cap = cap ? cap * 2 : 16;
		}
		a[n].name = tbw__strdup(e->d_name);
		if (!a[n].name)
			goto nomem;
		a[n].base = base;
		a[n].with_start = with_start;
		a[n].records = a[n].last_seq = a[n].valid_len = 0;
		a[n].min_step = INT64_MAX;
		a[n].max_step = INT64_MIN;
		n++;
	}
	closedir(d);
	if (n > 1)
		qsort(a, n, sizeof *a, cmp_evfile);
	*out = a;
	*nout = n;
	return TBW_OK;
nomem:
	closedir(d);
	for (size_t i = 0; i < n; i++)
		tbw__free(a[i].name);
	tbw__free(a);
	return tbw__error_set(TBW_ENOMEM, "recover", x->logdir, "out of memory");
}

static void free_files(evfile *a, size_t n)
{
	for (size_t i = 0; i < n; i++)
		tbw__free(a[i].name);
	tbw__free(a);
}

static int insert_event_cb(void *ctx, uint64_t seq, const tbw_event *ev)
{
	recover_ctx *x = ctx;
	tbw_jrec_named r;

	if (seq > x->dry_last_seq)
		x->dry_last_seq = seq;
	if (tbw__evscan_record(seq, ev, &r) != 0)
		return TBW_OK;       /* a purge tombstone: nothing to restore */
	dry_note(x, seq, ev->kind == TBW_EVENT_SESSION_START);
	return ins_add(x->ins, seq, r.wall_time, r.step, r.value, r.tag, r.tag_len, r.body, r.body_len);
}

static int move_aside(recover_ctx *x, const char *name)
{
	char *from = tbw__path_join(x->logdir, name);
	char *to = NULL;
	const char *aside;
	int rc;

	if (!from)
		return tbw__error_set(TBW_ENOMEM, "recover", x->logdir, "out of memory");
	if (x->cfg->delete_replaced) {
		rc = tbw__unlink(from, "recover: delete replaced event file");
		if (rc == TBW_OK)
			rc = tbw__fsync_dir(x->logdir, 1, "recover: delete replaced event file");
	} else {
		rc = aside_dir(x, &aside);
		if (rc == TBW_OK) {
			/* Inside the aside folder the name must not contain
			 * "tfevents": TensorBoard reads subdirectories as runs. */
			char buf[512];
			const char *t = strstr(name, "tfevents");
			snprintf(buf, sizeof buf, "%.*sTFEVENTS-REPLACED%s", (int)(t - name), name,
			         t + strlen("tfevents"));
			to = tbw__path_join(aside, buf);
			rc = to ? tbw__rename_durable(from, to, "recover: move replaced event file aside")
			        : tbw__error_set(TBW_ENOMEM, "recover", x->logdir, "out of memory");
			if (rc == TBW_OK)
				rc = tbw__fsync_dir(x->logdir, 1, "recover: move replaced event file aside");
		}
	}
	tbw__free(from);
	tbw__free(to);
	return rc;
}

/* Per record of a scanned file: the file's step range, and with insert,
 * the record restored into the journal. */
typedef struct step_ctx {
	recover_ctx *x;
	evfile *f;
	int insert;
} step_ctx;

static int step_cb(void *ctx, uint64_t seq, const tbw_event *ev)
{
	step_ctx *s = ctx;

	if (!tbw__evscan_is_tombstone(ev)) {
		if (ev->step < s->f->min_step)
			s->f->min_step = ev->step;
		if (ev->step > s->f->max_step)
			s->f->max_step = ev->step;
	}
	return s->insert ? insert_event_cb(s->x, seq, ev) : TBW_OK;
}

static int scan_steps(recover_ctx *x, evfile *f, int insert, tbw_evscan *sr)
{
	char *p = tbw__path_join(x->logdir, f->name);
	step_ctx sc = { x, f, insert };
	int rc;

	if (!p)
		return tbw__error_set(TBW_ENOMEM, "recover", x->logdir, "out of memory");
	f->min_step = INT64_MAX;
	f->max_step = INT64_MIN;
	x->ins->j = x->cfg->dry_run ? NULL : x->j;
	rc = tbw__evscan_file(p, f->base, f->with_start, step_cb, &sc, sr);
	if (rc == TBW_OK && insert)
		rc = ins_flush(x->ins);
	f->records = sr->records;
	f->last_seq = sr->last_seq;
	f->valid_len = sr->valid_len;
	tbw__free(p);
	return rc;
}

/* Note (lo, hi]: sequence numbers a running TensorBoard may have read from
 * a replaced file but whose steps no readable copy showed us. */
static int add_unsure(recover_ctx *x, uint64_t lo, uint64_t hi)
{
	struct seqrange *a;

	if (hi <= lo)
		return TBW_OK;
	a = tbw__realloc(x->unsure, (x->nunsure + 1) * sizeof *a);
	if (!a)
		return tbw__error_set(TBW_ENOMEM, "recover", x->logdir, "out of memory");
	x->unsure = a;
	a[x->nunsure].lo = lo;
	a[x->nunsure].hi = hi;
	x->nunsure++;
	return TBW_OK;
}

static int is_unsure(const recover_ctx *x, uint64_t seq)
{
	for (size_t i = 0; i < x->nunsure; i++)
		if (seq > x->unsure[i].lo && seq <= x->unsure[i].hi)
			return 1;
	return 0;
}

/* Can some source give records of the gap (lo, hi] before files[i] (whose
 * base is hi)? The journal (a record, or a damaged one, in the gap; in a
 * dry run without one, what its salvage noted), a later file starting
 * before hi (it may hold some), or a segment of this run whose name claims
 * part of the gap (what a segment holds is known only once it is read, in
 * step 5: a damaged one counts too). Writes which into why; 0 if none. */
static int gap_fillable(recover_ctx *x, const evfile *files, size_t nfiles, size_t i, uint64_t lo,
                        char *why, size_t cap)
{
	uint64_t hi = files[i].base;

	for (size_t j = i + 1; j < nfiles; j++)
		if (files[j].base < hi) {
			snprintf(why, cap, "event file %s may hold some", files[j].name);
			return 1;
		}
	if (x->j) {
		tbw_jrec r;
		tbw_jread ri;
		memset(&ri, 0, sizeof ri);
		if (tbw__journal_read(x->j, lo, &r, 1, &ri) != TBW_OK ||
		    (ri.n && r.seq <= hi) || (ri.ncorrupt && ri.first_corrupt_seq <= hi)) {
			tbw__error_clear();
			snprintf(why, cap, "the journal holds some");
			return 1;
		}
	} else if (x->cfg->dry_run && ss_count(&x->dry_all, lo, hi)) {
		snprintf(why, cap, "the journal holds some");
		return 1;
	}
	for (size_t f = 0; f < x->cfg->nfrom; f++) {
		const char *dir = x->cfg->from[f];
		uint8_t id[16];
		DIR *d;
		struct dirent *e;

		if (!dir_exists(dir) || (tbw__sync_run_id(dir, id) == TBW_OK && memcmp(id, x->run_id, 16) != 0))
			continue;      /* step 5 does not use it either */
		tbw__error_clear();
		if ((d = opendir(dir)) == NULL)
			continue;
		while ((e = readdir(d)) != NULL) {
			uint64_t a, b;
			uint32_t l;
			if (tbw__seg_parse_name(e->d_name, &a, &b, &l) && a <= hi && b > lo) {
				snprintf(why, cap, "segment %s claims seq %" PRIu64 "..%" PRIu64, e->d_name, a, b);
				closedir(d);
				return 1;
			}
		}
		closedir(d);
	}
	return 0;
}

static int events_phase(recover_ctx *x)
{
	tbw_recover_report *rep = x->rep;
	tbw_recover_source *src = NULL;
	evfile *files = NULL;
	size_t nfiles = 0, keep = 0, k;
	uint64_t prev_end = 0;
	int rc;
	tbw_jexport cur;
	char filler[600] = "";

	rc = list_run_files(x, &files, &nfiles);
	if (rc != TBW_OK || nfiles == 0) {
		free_files(files, nfiles);
		return rc;
	}
	rc = add_source(rep, "events", x->logdir, &src);
	if (rc != TBW_OK)
		goto out;
	/* The intact prefix: whole files (torn only at the very end)
	 * continuing the sequence from the run's start, without a gap that
	 * some source could fill (a gap none can is a loss, and a rewrite
	 * would write the same files again: a rerun keeps them). */
	for (keep = 0; keep < nfiles; keep++) {
		tbw_evscan sr;

		rc = scan_steps(x, &files[keep], 0, &sr);
		if (rc != TBW_OK)
			goto out;
		if (files[keep].base < prev_end ||
		    (files[keep].base > prev_end &&
		     gap_fillable(x, files, nfiles, keep, prev_end, filler, sizeof filler)))
			break;
		if (sr.status == TBW_TFR_CORRUPT)
			break;
		if (sr.status == TBW_TFR_TORN && keep + 1 < nfiles)
			break;
		src->records += sr.records;
		prev_end = sr.last_seq;
	}
	src->used = 1;
	/* Files after it: read as a source. What a running TensorBoard may
	 * have read from them and we cannot (past damage, a missing file)
	 * is noted as unsure, checked against the restored steps later. */
	for (size_t i = keep; i < nfiles; i++) {
		char *p = tbw__path_join(x->logdir, files[i].name);
		tbw_evscan sr;
		uint64_t before = i == keep ? prev_end : files[i - 1].last_seq;

		if (!p) {
			rc = tbw__error_set(TBW_ENOMEM, "recover", x->logdir, "out of memory");
			goto out;
		}
		rc = scan_steps(x, &files[i], 1, &sr);
		src->records += sr.records;
		if (rc == TBW_OK && files[i].base > before)
			rc = add_unsure(x, before, files[i].base);
		if (rc == TBW_OK && (sr.status == TBW_TFR_CORRUPT || sr.status == TBW_TFR_TORN))
			rc = add_unsure(x, sr.last_seq, i + 1 < nfiles ? files[i + 1].base : UINT64_MAX);
		if (rc == TBW_OK && (sr.status == TBW_TFR_CORRUPT || (sr.status == TBW_TFR_TORN && i + 1 < nfiles))) {
			src->damaged++;
			/* The Rust data server may have taken a damaged record
			 * for a point (it checks data CRCs only when parsing
			 * fails); nothing written can take that back. */
			rc = add_damage(rep, p, sr.bad_offset, 0, "event file damaged%s: %s",
			                sr.status == TBW_TFR_CORRUPT ?
			                " (restart TensorBoard if it was running: its data server may keep a damaged "
			                "record as a point)" : "",
			                sr.why[0] ? sr.why : "incomplete record");
		} else if (rc == TBW_OK && files[i].base != prev_end && i == keep) {
			rc = add_damage(rep, p, 0, 0, "event file starts after seq %" PRIu64
			                " but the files before it end at seq %" PRIu64 "; rewriting from here%s%s",
			                files[i].base, prev_end, filler[0] ? ": " : "", filler);
		}
		tbw__free(p);
		if (rc != TBW_OK)
			goto out;
	}
	/* Where the rewrite starts: the repair file opens with a SessionLog
	 * START at a step above every step kept and at or below every step
	 * replaced, so a running Python loader drops exactly what it read
	 * from the replaced files. Kept files whose steps reach the replaced
	 * ones' are rewritten too (k moves back; k = 0 rewrites the run). */
	k = keep;
	if (keep < nfiles) {
		int64_t lo = INT64_MAX, hi = INT64_MIN;
		for (size_t i = keep; i < nfiles; i++)
			if (files[i].min_step < lo)
				lo = files[i].min_step;
		for (;;) {
			hi = INT64_MIN;
			for (size_t i = 0; i < k; i++)
				if (files[i].max_step > hi)
					hi = files[i].max_step;
			if (k == 0 || (hi < lo && hi < INT64_MAX))
				break;
			k--;
			if (files[k].min_step < lo)
				lo = files[k].min_step;
		}
		x->repair = 1;
		x->repair_base = k ? files[k - 1].last_seq : 0;
		x->repair_step = k ? hi + 1 : INT64_MIN;
		snprintf(x->repair_after, sizeof x->repair_after, "%s", files[nfiles - 1].name);
		/* The START acts only on a loader that saw the run's first one
		 * (the first is ignored), and it would hide other writers'
		 * points too: then only a restart shows the run right. */
		x->repair_start = x->foreign == 0 && files[0].base == 0 && files[0].with_start;
		if (!x->repair_start)
			rc = add_damage(rep, x->logdir, 0, 0,
			                "restart TensorBoard if it is running on this logdir: %s, so no SessionLog START "
			                "can make its Python loader (--load_fast=false) drop what it read from the "
			                "replaced files; it may show those scalars twice",
			                x->foreign ? "other writers' event files are in it" :
			                "this run's first event file is not there with the run's START");
		/* Intact files rewritten for their steps: restored from
		 * themselves (their records are pruned from the journal). */
		for (size_t i = k; rc == TBW_OK && i < keep; i++) {
			tbw_evscan sr;
			rc = scan_steps(x, &files[i], 1, &sr);
		}
		/* Moved aside latest first: what TensorBoard can list is a
		 * prefix of the run at every instant. */
		for (size_t i = nfiles; rc == TBW_OK && i-- > k;) {
			if (!x->cfg->dry_run)
				rc = move_aside(x, files[i].name);
			if (rc == TBW_OK)
				rep->files_replaced++;   /* (would be, in a dry run) */
		}
		if (rc != TBW_OK)
			goto out;
	}
	src->added = x->ins->inserted;
	x->dry_keep_end = k ? files[k - 1].last_seq : 0;
	x->dry_keep_files = k;
	if (x->cfg->dry_run || !x->j)
		goto out;
	/* Point the export cursor at the end of the kept prefix. */
	rc = tbw__journal_get_export(x->j, &cur);
	if (rc != TBW_OK)
		goto out;
	if (k == 0) {
		uint32_t no = cur.file_no;
		memset(&cur, 0, sizeof cur);
		cur.file_no = no;
	} else {
		const evfile *last = &files[k - 1];
		/* An intact journal whose cursor already names the last kept file
		 * at or inside its valid length needs nothing: the compactor's
		 * own open repairs a torn tail. */
		if (!(strcmp(cur.file, last->name) == 0 && cur.seq == last->last_seq &&
		      cur.offset <= last->valid_len)) {
			cur.seq = last->last_seq;
			cur.offset = last->valid_len;
			snprintf(cur.file, sizeof cur.file, "%s", last->name);
		}
	}
	rc = tbw__journal_set_export(x->j, &cur);
out:
	free_files(files, nfiles);
	return rc;
}

/* ---- Step 7: final scan and statistics ---- */

typedef struct stats_ctx {
	recover_ctx *x;
	long last;              /* cache: most records repeat a few tags (-1: none) */
} stats_ctx;

static int tag_cmp_key(const char *a, size_t alen, const char *b)
{
	size_t blen = strlen(b);
	int c = memcmp(a, b, alen < blen ? alen : blen);
	return c ? c : (alen < blen ? -1 : alen > blen);
}

static int tag_order(const void *a, const void *b)
{
	return strcmp(((const tbw_recover_tag *)a)->tag, ((const tbw_recover_tag *)b)->tag);
}

/* The index of the report's entry for tag, added if new (in order of first
 * sight; sorted by name once the scan is done); its figures are figs[i].
 * -1 on ENOMEM. */
static long tag_slot(recover_ctx *x, const char *tag, size_t len)
{
	tbw_recover_report *rep = x->rep;
	tbw_recover_tag *t;
	uint32_t idx;

	if (tbw__strmap_find(&x->byname, tag, len, &idx))
		return (long)idx;
	if (rep->ntags == x->tags_cap) {
		size_t nc = x->tags_cap ? x->tags_cap * 2 : 64;
		tbw_recover_tag *a = tbw__realloc(rep->tags, nc * sizeof *a);
		tbw_jtagstat *f;
		if (!a)
			return -1;
		rep->tags = a;
		if (!(f = tbw__realloc(x->figs, nc * sizeof *f)))
			return -1;
		x->figs = f;
		x->tags_cap = nc;
	}
	t = &rep->tags[rep->ntags];
	memset(t, 0, sizeof *t);
	memset(&x->figs[rep->ntags], 0, sizeof x->figs[0]);
	if (!(t->tag = tbw__malloc(len + 1)))
		return -1;
	memcpy(t->tag, tag, len);
	t->tag[len] = '\0';
	if (tbw__strmap_put(&x->byname, t->tag, len, (uint32_t)rep->ntags) != TBW_OK) {
		tbw__free(t->tag);
		t->tag = NULL;
		return -1;
	}
	return (long)rep->ntags++;
}

static int stats_cb(void *ctx, uint64_t seq, const tbw_event *ev)
{
	stats_ctx *s = ctx;
	long t;

	if (s->x->noted && seq > s->x->noted_from)
		return TBW_OK;   /* exported by this run: export_cb counted it */
	if (s->x->repair_start && seq > s->x->repair_base && ev->step < s->x->repair_step &&
	    !tbw__evscan_is_tombstone(ev) && is_unsure(s->x, seq))
		s->x->unsure_below++;
	if (ev->kind != TBW_EVENT_SCALAR)
		return TBW_OK;
	t = s->last;
	if (t < 0 || tag_cmp_key(ev->tag, ev->tag_len, s->x->rep->tags[t].tag) != 0) {
		t = tag_slot(s->x, ev->tag, ev->tag_len);
		if (t < 0)
			return tbw__error_set(TBW_ENOMEM, "recover", NULL, "out of memory");
	}
	tbw__jtagstat_add(&s->x->figs[t], ev->step, ev->value, ev->wall_time);
	s->x->rep->total_scalars++;
	s->last = t;
	return TBW_OK;
}

/* Every record this run's compactor writes (tbw__compactor_set_on_export):
 * the same figures stats_cb takes from a file, without reading it back. A
 * scalar's value is counted as the file holds it (float32). */
static void export_cb(void *ctx, const tbw_jrec *r, const char *tag, size_t tag_len)
{
	recover_ctx *x = ctx;
	struct noted_tag *t;
	struct seqrange *last = x->nexported ? &x->exported[x->nexported - 1] : NULL;

	if (r->seq <= x->noted_from || (last && r->seq <= last->hi) || x->noted_rc)
		return;
	if (last && r->seq == last->hi + 1) {
		last->hi = r->seq;
	} else {
		if (x->nexported == x->exported_cap) {
			size_t nc = x->exported_cap ? x->exported_cap * 2 : 16;
			struct seqrange *a = tbw__realloc(x->exported, nc * sizeof *a);
			if (!a) {
				x->noted_rc = TBW_ENOMEM;
				return;
			}
			x->exported = a;
			x->exported_cap = nc;
		}
		x->exported[x->nexported].lo = r->seq - 1;
		x->exported[x->nexported].hi = r->seq;
		x->nexported++;
	}
	if (x->repair_start && r->seq > x->repair_base && r->step < x->repair_step && is_unsure(x, r->seq))
		x->unsure_below++;
	if (!tag || r->body_len || r->tag_id == TBW_JTAG_SESSION_START)
		return;   /* an event record or a START: not a scalar */
	if (r->tag_id >= x->tag_slot_cap) {
		size_t nc = x->tag_slot_cap ? x->tag_slot_cap : 64;
		uint32_t *a;
		while (nc <= r->tag_id)
			nc *= 2;
		if (!(a = tbw__realloc(x->tag_slot_of, nc * sizeof *a))) {
			x->noted_rc = TBW_ENOMEM;
			return;
		}
		memset(a + x->tag_slot_cap, 0, (nc - x->tag_slot_cap) * sizeof *a);
		x->tag_slot_of = a;
		x->tag_slot_cap = nc;
	}
	if (x->tag_slot_of[r->tag_id]) {
		t = &x->noted_tags[x->tag_slot_of[r->tag_id] - 1];
	} else {
		if (x->nnoted_tags == x->noted_tags_cap) {
			size_t nc = x->noted_tags_cap ? x->noted_tags_cap * 2 : 64;
			struct noted_tag *a = tbw__realloc(x->noted_tags, nc * sizeof *a);
			if (!a) {
				x->noted_rc = TBW_ENOMEM;
				return;
			}
			x->noted_tags = a;
			x->noted_tags_cap = nc;
		}
		t = &x->noted_tags[x->nnoted_tags];
		memset(t, 0, sizeof *t);
		if (!(t->tag = tbw__malloc(tag_len + 1))) {
			x->noted_rc = TBW_ENOMEM;
			return;
		}
		memcpy(t->tag, tag, tag_len);
		t->tag[tag_len] = '\0';
		x->tag_slot_of[r->tag_id] = (uint32_t)++x->nnoted_tags;
	}
	tbw__jtagstat_add(&t->f, r->step, (double)(float)r->value, r->wall_time);
}

static int final_scan(recover_ctx *x)
{
	tbw_recover_report *rep = x->rep;
	evfile *files = NULL;
	size_t nfiles = 0;
	uint64_t prev_end = 0;
	stats_ctx sc = { x, -1 };
	int rc;

	if (x->noted_rc)
		return tbw__error_set(x->noted_rc, "recover", x->logdir, "out of memory");
	rc = list_run_files(x, &files, &nfiles);
	if (rc != TBW_OK)
		return rc;
	if (x->cfg->dry_run && nfiles > x->dry_keep_files) {
		/* The real run replaces every file after the kept prefix. */
		for (size_t i = x->dry_keep_files; i < nfiles; i++)
			tbw__free(files[i].name);
		nfiles = x->dry_keep_files;
	}
	rep->event_files = nfiles;
	for (size_t i = 0; i < nfiles; i++) {
		char *p;
		tbw_evscan sr;

		if (x->noted && files[i].base >= x->noted_from)
			continue;   /* written by this run: export_cb has its figures */
		p = tbw__path_join(x->logdir, files[i].name);
		if (!p) {
			rc = tbw__error_set(TBW_ENOMEM, "recover", x->logdir, "out of memory");
			break;
		}
		rc = tbw__evscan_file(p, files[i].base, files[i].with_start, stats_cb, &sc, &sr);
		if (rc == TBW_OK && files[i].base > prev_end) {
			rep->lost += files[i].base - prev_end;
			add_damage(rep, p, 0, files[i].base - prev_end,
			           "sequence numbers %" PRIu64 "..%" PRIu64 " are in no source; lost",
			           prev_end + 1, files[i].base);
		}
		if (rc == TBW_OK && sr.status == TBW_TFR_CORRUPT)
			add_damage(rep, p, sr.bad_offset, 0, "event file still damaged after recovery: %s", sr.why);
		tbw__free(p);
		if (rc != TBW_OK)
			break;
		if (x->noted && sr.last_seq > x->noted_from)
			sr.last_seq = x->noted_from;   /* the rest: this run's export, below */
		if (sr.last_seq > prev_end)
			prev_end = sr.last_seq;
		progress(x, "checking event files", i + 1, nfiles);
	}
	/* What this run exported: a new file starts at every gap (doc/compactor.md),
	 * so a gap is named by the file that follows it. This run's files sort
	 * by name in export order, like the gaps: one forward walk finds them. */
	for (size_t k = 0, fi = 0; rc == TBW_OK && x->noted && k < x->nexported; k++) {
		const struct seqrange *g = &x->exported[k];
		if (g->lo > prev_end) {
			const char *name = NULL;
			char *p;
			for (size_t i = fi; i < nfiles && !name; i++)
				if (files[i].base == g->lo) {
					name = files[i].name;
					fi = i + 1;
				}
			p = name ? tbw__path_join(x->logdir, name) : NULL;
			rep->lost += g->lo - prev_end;
			add_damage(rep, p ? p : x->logdir, 0, g->lo - prev_end,
			           "sequence numbers %" PRIu64 "..%" PRIu64 " are in no source; lost",
			           prev_end + 1, g->lo);
			tbw__free(p);
		}
		if (g->hi > prev_end)
			prev_end = g->hi;
	}
	for (size_t k = 0; rc == TBW_OK && k < x->nnoted_tags; k++) {
		long t = tag_slot(x, x->noted_tags[k].tag, strlen(x->noted_tags[k].tag));
		if (t < 0) {
			rc = tbw__error_set(TBW_ENOMEM, "recover", x->logdir, "out of memory");
			break;
		}
		tbw__jtagstat_merge(&x->figs[t], &x->noted_tags[k].f);
		rep->total_scalars += x->noted_tags[k].f.count;
	}
	for (size_t k = 0; k < rep->ntags; k++) {
		const tbw_jtagstat *f = &x->figs[k];
		tbw_recover_tag *t = &rep->tags[k];
		t->count = f->count;
		t->first_step = f->first_step;
		t->min_step = f->min_step;
		t->max_step = f->max_step;
		t->last_step = f->last_step;
		t->last_value = f->last_value;
		t->last_wall_time = f->last_wall;
	}
	rep->last_seq = prev_end;
	if (rep->ntags > 1)
		qsort(rep->tags, rep->ntags, sizeof *rep->tags, tag_order);
	free_files(files, nfiles);
	return rc;
}

/* ---- Driver ---- */

static char *absolute(const char *p)
{
	char cwd[PATH_MAX];

	if (p[0] == '/')
		return tbw__strdup(p);
	if (!getcwd(cwd, sizeof cwd))
		return NULL;
	return tbw__path_join(cwd, p);
}

int tbw__recover_run(const tbw_recover_cfg *cfg, tbw_recover_report *rep)
{
	recover_ctx x;
	int rc = TBW_OK, busy;

	memset(rep, 0, sizeof *rep);
	memset(&x, 0, sizeof x);
	x.cfg = cfg;
	x.rep = rep;
	if (!cfg->logdir || !*cfg->logdir)
		return tbw__error_set(TBW_EINVAL, "recover", NULL, "no LOGDIR given");
	x.logdir = absolute(cfg->logdir);
	x.ins = tbw__calloc(1, sizeof *x.ins);
	if (!x.logdir || !x.ins) {
		rc = tbw__error_set(TBW_ENOMEM, "recover", cfg->logdir, "out of memory");
		goto out;
	}
	x.jdir = cfg->journal_dir ? tbw__strdup(cfg->journal_dir) : tbw__location_find(x.logdir);
	if (!x.jdir) {
		rc = tbw__error_set(TBW_ENOMEM, "recover", cfg->logdir, "out of memory");
		goto out;
	}
	snprintf(rep->journal_dir, sizeof rep->journal_dir, "%s", x.jdir);

	/* 1. Refuse to touch a live run. */
	if (dir_exists(x.jdir)) {
		static const struct { tbw_jrole role; const char *what; } live[] = {
			{ TBW_JROLE_WRITER, "a writer" },
			{ TBW_JROLE_COMPACTOR, "an exporter (a writer or tbcompact)" },
			{ TBW_JROLE_RECOVER, "another tbrecover" },
		};
		for (size_t i = 0; i < sizeof live / sizeof live[0]; i++) {
			busy = tbw__journal_role_busy(x.jdir, live[i].role);
			if (busy > 0) {
				rc = tbw__error_set(TBW_EBUSY, "recover", x.jdir,
				                    "%s is running on this journal; close it first "
				                    "(a live writer exports by itself; tbstat shows its state)",
				                    live[i].what);
				goto out;
			}
		}
	}

	/* 2. The journal (after finishing or discarding an interrupted rebuild). */
	if (!cfg->dry_run) {
		rc = settle_rebuild(&x);
		if (rc != TBW_OK)
			goto out;
	}
	rc = journal_phase(&x);
	if (rc != TBW_OK)
		goto out;
	/* 3. With no journal to name the run, the segments do; then a new
	 * journal (salvaged records go into it). */
	if (!x.have_run_id)
		run_id_from_segments(&x);
	/* No journal: the sync folders must hold something before anything
	 * (LOGDIR included) is created; every source is named either way. */
	if (!x.j && !x.need_rebuild && !preflight_sources(&x)) {
		rc = tbw__error_set(TBW_ENOTFOUND, "recover", x.logdir,
		                    "nothing to recover: no journal, and no readable segments in %zu sync "
		                    "folder(s) given (the report lists each)", cfg->nfrom);
		goto out;
	}
	if (!cfg->dry_run) {
		rc = tbw__mkdir_p(x.logdir, "recover: create LOGDIR");
		if (rc != TBW_OK)
			goto out;
	}
	if (!cfg->dry_run && x.need_rebuild)
		rc = rebuild_journal(&x);      /* a new run id if none is known */
	else if (!x.j && !cfg->dry_run && x.have_run_id)
		rc = open_new_journal(&x);
	if (rc != TBW_OK)
		goto out;
	if (!x.have_run_id) {
		rc = tbw__error_set(TBW_ENOTFOUND, "recover", x.logdir,
		                    "nothing to recover: no journal and no readable segments");
		goto out;
	}
	/* 4. Event files: keep the whole prefix, take the rest as a source. */
	x.ins->inserted = 0;
	rc = events_phase(&x);
	if (rc != TBW_OK)
		goto out;
	if (!cfg->dry_run) {
		tbw_compact_cfg cc = TBW_COMPACT_CFG_INIT;
		cc.logdir = x.logdir;
		cc.scalar_format = cfg->scalar_format;
		cc.pipeline_sync = 1;   /* a batch's fsync overlaps the next batch's restore */
		rc = tbw__compactor_open(&x.comp, x.j, &cc);
		if (rc != TBW_OK)
			goto out;
		if (x.repair)
			tbw__compactor_set_repair(x.comp, x.repair_after, x.repair_start, x.repair_step);
		if (cfg->purge_step == TBW_NO_PURGE) {
			/* (a purge rewrites the files: then the final scan reads them all) */
			tbw_compact_stats cs;
			tbw__compactor_stats(x.comp, &cs);
			x.noted = 1;
			x.noted_from = cs.cursor.seq;
			tbw__compactor_set_on_export(x.comp, export_cb, &x);
		}
	}
	/* 5. Segments, exported as they are restored. */
	rc = segments_phase(&x);
	if (rc != TBW_OK)
		goto out;

	if (cfg->dry_run) {
		rc = final_scan(&x);
		if (rc == TBW_OK && x.dry_rc)
			rc = tbw__error_set(x.dry_rc, "recover", x.logdir, "out of memory");
		if (rc != TBW_OK)
			goto out;
		/* What the real run would do: export every record some source
		 * holds after the kept prefix, once; the rest of the range is a
		 * loss. The purge marker is one more record. */
		uint64_t end = x.dry_keep_end, top = x.dry_last_seq > end ? x.dry_last_seq : end;
		uint64_t have = ss_count(&x.dry_all, end, top);
		uint64_t starts = ss_count(&x.dry_starts, end, top);
		rep->exported = have + (cfg->purge_step != TBW_NO_PURGE);
		rep->total_scalars += have - starts;
		/* The export starts a file of its own, and one more at every
		 * gap (doc/compactor.md); a file past the rotation size (16 MiB)
		 * also starts one, which this count does not foresee. */
		rep->event_files += ss_runs(&x.dry_all, end, top);
		if (have > 0 && rep->last_seq < top)
			rep->lost += (top - end) - have;
		rep->last_seq = top;
		goto verdict;
	}

	/* 6. Purge marker. */
	if (cfg->purge_step != TBW_NO_PURGE) {
		rc = tbw__journal_append_start(x.j, cfg->purge_step, 0.0, NULL);
		if (rc != TBW_OK)
			goto out;
	}

	/* 7. Export the rest, then scan what TensorBoard will read. */
	{
		tbw_compact_stats cs;
		uint64_t n, last = 0, start, through;

		/* in chunks, so progress has a total and moves during a big export */
		tbw__compactor_stats(x.comp, &cs);
		start = cs.cursor.seq;
		if (tbw__journal_last_seq(x.j, &last) != TBW_OK)
			last = 0;
		do {
			/* sequence numbers need not be dense (a segment may claim
			 * any): tests/fuzz-regress/recover/export-in-chunks-over-a-gap-of-2-to-the-55-hangs */
			through = tbw__compactor_next_chunk(x.comp, last, EXPORT_CHUNK);
			rc = tbw__compactor_pass_through(x.comp, through, &n);
			rep->exported += n;
			tbw__compactor_stats(x.comp, &cs);
			progress(&x, "exporting", cs.cursor.seq > start ? cs.cursor.seq - start : 0,
			         last > start ? last - start : 0);
		} while (rc == TBW_OK && (through != UINT64_MAX || n > 0));
		if (rc == TBW_OK) {
			rc = tbw__compactor_settle(x.comp, &n);   /* the last pass's fsync and cursor */
			rep->exported += n;
		}
		tbw__compactor_stats(x.comp, &cs);
		if (cs.skipped_corrupt) {
			x.skipped = cs.skipped_corrupt;
			add_damage(rep, x.jdir, 0, cs.skipped_corrupt, "%s", cs.problem);
		}
		tbw__compactor_close(x.comp);
		x.comp = NULL;
		if (rc == TBW_OK)
			rc = tbw__journal_sync(x.j);
		if (rc != TBW_OK)
			goto out;
	}
	rc = final_scan(&x);
	if (rc != TBW_OK)
		goto out;
	if (x.unsure_below) {
		rc = add_damage(rep, x.logdir, 0, 0,
		                "restart TensorBoard if it is running on this logdir: %" PRIu64 " re-exported "
		                "record(s) that a replaced file held where it could not be read have steps below "
		                "%" PRId64 ", the step of the repair file's SessionLog START, so its Python loader "
		                "(--load_fast=false) may show them twice", x.unsure_below, x.repair_step);
		if (rc != TBW_OK)
			goto out;
	}
verdict:
	/* Losses: sequence numbers no source held (gaps between the event
	 * files), records a damaged segment's name claims beyond everything
	 * recovered, and journal records the export had to skip. Damage whose
	 * records were recovered from another source is reported, not a loss. */
	if (x.claimed_seq > rep->last_seq && !cfg->dry_run) {
		uint64_t n = x.claimed_seq - rep->last_seq;
		rep->lost += n;
		add_damage(rep, x.claimed_by, 0, n, "sequence numbers %" PRIu64 "..%" PRIu64
		           " are claimed by this damaged segment and in no other source; lost",
		           rep->last_seq + 1, x.claimed_seq);
	}
	if (rep->total_scalars == 0 && rep->last_seq == 0 && !cfg->dry_run)
		rc = tbw__error_set(TBW_ENOTFOUND, "recover", x.logdir, "no scalar could be recovered");
	else if (rep->lost || x.skipped)
		rc = tbw__error_set(TBW_ECORRUPT, "recover", x.logdir,
		                    "recovered with losses: %" PRIu64 " record(s) known lost, %"
		                    PRIu64 " damaged journal record(s) skipped", rep->lost, x.skipped);
out:
	tbw__compactor_close(x.comp);
	tbw__journal_close(x.j);
	if (x.ins)
		tbw__free(x.ins->arena);
	tbw__free(x.ins);
	tbw__free(x.logdir);
	tbw__free(x.jdir);
	tbw__free(x.aside);
	tbw__free(x.dry_all.iv);
	tbw__free(x.dry_starts.iv);
	tbw__free(x.unsure);
	tbw__free(x.exported);
	for (size_t k = 0; k < x.nnoted_tags; k++)
		tbw__free(x.noted_tags[k].tag);
	tbw__free(x.noted_tags);
	tbw__free(x.figs);
	tbw__free(x.tag_slot_of);
	tbw__strmap_free(&x.byname);
	return rc;
}
