/* api_compact.c -- tbw_compact() (include/tbwal.h): export a journal to
 * event files from a process of its own, once or following it; the library
 * side of tbcompact. A thin loop over the compactor (src/export/compactor.h);
 * protocol: doc/compactor.md.
 */
#include "config.h"
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "base/alloc.h"
#include "api/api.h"
#include "export/compactor.h"
#include "base/error.h"
#include "journal/journal.h"
#include "journal/location.h"
#include "base/os.h"

static const size_t compact_opt_sizes[] = {
	0, TBW__FIELD_END(tbw_compact_options, notify_ctx),
	TBW__FIELD_END(tbw_compact_options, progress_ctx),
};
/* A field appended to the struct bumps its version: add that version's size
 * above (TBW__FIELD_END of the new last field), or this fails to compile. */
_Static_assert(sizeof compact_opt_sizes / sizeof compact_opt_sizes[0] == TBW_COMPACT_OPTIONS_VERSION + 1, "compact_opt_sizes lacks a size for the current version");

static const size_t compact_res_sizes[] = {
	0, TBW__FIELD_END(tbw_compact_result, journal_dir),
};
_Static_assert(sizeof compact_res_sizes / sizeof compact_res_sizes[0] == TBW_COMPACT_RESULT_VERSION + 1, "compact_res_sizes lacks a size for the current version");

static void notify(const tbw_compact_options *o, tbw_compact_event ev, const tbw_compact_result *r,
                   const char *msg)
{
	if (o->notify)
		o->notify(o->notify_ctx, ev, r, msg);
}

/* Append the purge marker. Appending is the writer's job, so take the
 * writer role for the moment of the append: if a writer is live, refuse
 * (it should be given purge_step itself) rather than interleave. */
static int append_purge(tbw_journal *j, int64_t step, uint64_t *seq)
{
	int rc = tbw__journal_lock(j, TBW_JROLE_WRITER, 0);

	if (rc == TBW_EBUSY)
		return tbw__error_set(TBW_EBUSY, "compact: purge_step", tbw__journal_dir(j),
		                      "a writer has the journal open; pass purge_step to the writer (tbw_open) instead");
	if (rc != TBW_OK)
		return rc;
	rc = tbw__journal_append_start(j, step, tbw__wall_time(), seq);
	if (rc == TBW_OK)
		rc = tbw__journal_sync(j);
	tbw__journal_unlock(j, TBW_JROLE_WRITER);
	return rc;
}

/* Records per chunk of a big backlog when progress is asked for. */
#define PROGRESS_CHUNK 262144

/* One pass; with progress and a backlog over a chunk, in chunks. */
static int pass_progress(const tbw_compact_options *o, tbw_compactor *c, tbw_journal *j, uint64_t *n)
{
	tbw_compact_stats st;
	uint64_t last = 0, from, got, through;
	int rc;

	*n = 0;
	tbw__compactor_stats(c, &st);
	if (!o->progress || tbw__journal_last_seq(j, &last) != TBW_OK || last <= st.cursor.seq + PROGRESS_CHUNK)
		return tbw__compactor_pass(c, n);
	from = st.cursor.seq;
	do {
		through = tbw__compactor_next_chunk(c, last, PROGRESS_CHUNK);
		rc = tbw__compactor_pass_through(c, through, &got);
		*n += got;
		tbw__compactor_stats(c, &st);
		o->progress(o->progress_ctx, "exporting", st.cursor.seq > from ? st.cursor.seq - from : 0, last - from);
	} while (rc == TBW_OK && (through != UINT64_MAX || got > 0));
	return rc;
}

int tbw_compact(const char *logdir, const tbw_compact_options *opts, tbw_compact_result *out)
{
	tbw_compact_options o = TBW_COMPACT_OPTIONS_INIT;
	tbw_compact_result r;
	tbw_jopen jo = TBW_JOPEN_INIT;
	tbw_compact_cfg cfg = TBW_COMPACT_CFG_INIT;
	tbw_journal *j = NULL;
	tbw_compactor *c = NULL;
	tbw_compact_stats st;
	char *jdir = NULL;
	char last_problem[512] = "";
	int rc, follow;
	unsigned int rv = out ? out->version : 0;

	memset(&r, 0, sizeof r);
	r.version = TBW_COMPACT_RESULT_VERSION;
	r.stage = "open";
	if (out && (rv == 0 || rv > TBW_COMPACT_RESULT_VERSION))
		return tbw__error_set(TBW_EINVAL, "compact", logdir,
		                      "tbw_compact_result version %u is not between 1 and %u", rv,
		                      TBW_COMPACT_RESULT_VERSION);
	if ((rc = TBW__OPTS_COPY(&o, opts, compact_opt_sizes, "compact", "tbw_compact_options")) != 0)
		goto done;
	if (!logdir || !*logdir) {
		rc = tbw__error_set(TBW_EINVAL, "compact", NULL, "logdir is NULL or empty");
		goto done;
	}
	if ((unsigned)o.scalar_format > TBW_SCALAR_TENSOR) {
		rc = tbw__error_set(TBW_EINVAL, "compact", logdir, "scalar_format %d is not a TBW_SCALAR_* value",
		                    (int)o.scalar_format);
		goto done;
	}
	if (o.follow && o.interval_ms == 0) {
		rc = tbw__error_set(TBW_EINVAL, "compact", logdir, "interval_ms is 0 with follow");
		goto done;
	}
	jdir = o.journal_dir ? tbw__strdup(o.journal_dir) : tbw__location_find(logdir);
	if (!jdir) {
		rc = tbw__error_set(TBW_ENOMEM, "compact", logdir, "out of memory");
		goto done;
	}
	tbw__copy_str(r.journal_dir, sizeof r.journal_dir, jdir);
	r.stage = "journal";
	if ((rc = tbw__journal_open(&j, jdir, &jo)) != TBW_OK)
		goto done;
	if (o.purge_step != TBW_NO_PURGE) {
		r.stage = "purge";
		if ((rc = append_purge(j, o.purge_step, &r.purge_seq)) != TBW_OK)
			goto done;
		notify(&o, TBW_COMPACT_PURGED, &r, NULL);
	}
	r.stage = "open";
	cfg.logdir = logdir;
	cfg.scalar_format = o.scalar_format;
	cfg.rotate_bytes = o.rotate_bytes;
	cfg.wait_lock = o.wait;
	if (o.wait && tbw__journal_role_busy(jdir, TBW_JROLE_COMPACTOR) == 1)
		notify(&o, TBW_COMPACT_WAITING, &r, NULL);
	if ((rc = tbw__compactor_open(&c, j, &cfg)) != TBW_OK)
		goto done;
	r.stage = "export";
	follow = o.follow;
	for (;;) {
		uint64_t n = 0;
		rc = pass_progress(&o, c, j, &n);
		r.exported += n;
		tbw__compactor_stats(c, &st);
		r.cursor_seq = st.cursor.seq;
		r.pruned = st.pruned;
		tbw__copy_str(r.cursor_file, sizeof r.cursor_file, st.cursor.file);
		if (st.problem[0] && strcmp(st.problem, last_problem) != 0) {
			tbw__errsave saved;
			tbw__error_save(&saved);
			snprintf(last_problem, sizeof last_problem, "%s", st.problem);
			r.problems = 1;
			notify(&o, TBW_COMPACT_PROBLEM, &r, last_problem);
			tbw__error_restore(&saved);
		}
		if (rc != TBW_OK) {
			/* keep what the passes before did: the cursor is durable */
			tbw__errsave saved;
			tbw__error_save(&saved);
			tbw__journal_sync(j);
			tbw__error_restore(&saved);
			goto done;
		}
		if (follow && n)
			notify(&o, TBW_COMPACT_PASS, &r, NULL);
		if (!follow || (o.stop && *o.stop))
			break;
		tbw__sleep_stop(o.interval_ms, o.stop);
		if (o.stop && *o.stop)
			follow = 0;    /* one last pass, then out */
	}
	/* The cursor and pruning were committed without fsync (the journal's
	 * default); make them durable before saying we are done. */
	r.stage = "sync";
	if ((rc = tbw__journal_sync(j)) != TBW_OK)
		goto done;
	tbw__compactor_stats(c, &st);
	r.cursor_seq = st.cursor.seq;
	r.pruned = st.pruned;
	tbw__copy_str(r.cursor_file, sizeof r.cursor_file, st.cursor.file);
	r.stage = NULL;
done:
	if (rc != TBW_OK) {
		tbw__errsave saved;
		tbw__error_save(&saved);
		tbw__compactor_close(c);
		tbw__journal_close(j);
		tbw__error_restore(&saved);
	} else {
		tbw__compactor_close(c);
		tbw__journal_close(j);
	}
	tbw__free(jdir);
	if (out) {
		r.version = rv;
		memcpy(out, &r, compact_res_sizes[rv]);
	}
	return rc;
}
