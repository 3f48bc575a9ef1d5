/* api_sync.c -- tbw_sync() and tbw_restore() (include/tbwal.h): ship a
 * journal to a sync folder from a process of its own, once or following
 * it (the library side of tbsync), and rebuild a journal from a run folder.
 * Thin loops over src/sync/syncer.h; formats: doc/segment-format.md.
 */
#include "config.h"
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "base/alloc.h"
#include "base/bytes.h"
#include "api/api.h"
#include "export/backfill.h"
#include "base/error.h"
#include "journal/journal.h"
#include "journal/location.h"
#include "base/os.h"
#include "sync/syncer.h"

static const size_t sync_opt_sizes[] = {
	0, TBW__FIELD_END(tbw_sync_options, backfill),
};
/* A field appended to the struct bumps its version: add that version's size
 * above (TBW__FIELD_END of the new last field), or this fails to compile. */
_Static_assert(sizeof sync_opt_sizes / sizeof sync_opt_sizes[0] == TBW_SYNC_OPTIONS_VERSION + 1, "sync_opt_sizes lacks a size for the current version");

static const size_t sync_res_sizes[] = {
	0, TBW__FIELD_END(tbw_sync_result, unshippable),
};
_Static_assert(sizeof sync_res_sizes / sizeof sync_res_sizes[0] == TBW_SYNC_RESULT_VERSION + 1, "sync_res_sizes lacks a size for the current version");

static const size_t restore_res_sizes[] = {
	0, TBW__FIELD_END(tbw_restore_result, missing),
};
_Static_assert(sizeof restore_res_sizes / sizeof restore_res_sizes[0] == TBW_RESTORE_RESULT_VERSION + 1, "restore_res_sizes lacks a size for the current version");

static void fill(tbw_sync_result *r, const tbw_syncer *s)
{
	tbw_sync_stats st;
	tbw__syncer_stats(s, &st);
	r->passes = st.passes;
	r->records_shipped = st.records_shipped;
	r->ship_seq = st.ship_seq;
	r->segments_written = st.segments_written;
	r->merges = st.merges;
	r->files = st.files;
	r->bytes_written = st.bytes_written;
	r->unshippable = st.unshippable;
}

static int check_result_version(unsigned int v, unsigned int lib, const char *op, const char *what)
{
	if (v == 0 || v > lib)
		return tbw__error_set(TBW_EINVAL, op, NULL, "%s version %u is not between 1 and %u", what, v, lib);
	return TBW_OK;
}

int tbw_sync(const char *logdir, const char *sync_dir, const tbw_sync_options *opts, tbw_sync_result *out)
{
	tbw_sync_options o = TBW_SYNC_OPTIONS_INIT;
	tbw_sync_result r;
	tbw_jopen jo = TBW_JOPEN_INIT;
	tbw_journal *j = NULL;
	tbw_syncer *s = NULL;
	char *jdir = NULL;
	unsigned int rv = out ? out->version : TBW_SYNC_RESULT_VERSION;
	uint64_t unshippable = 0;
	int rc, follow;

	memset(&r, 0, sizeof r);
	if ((rc = check_result_version(rv, TBW_SYNC_RESULT_VERSION, "sync", "tbw_sync_result")) != 0)
		return rc;
	if ((rc = TBW__OPTS_COPY(&o, opts, sync_opt_sizes, "sync", "tbw_sync_options")) != 0)
		goto done;
	if (!logdir || !*logdir || !sync_dir || !*sync_dir) {
		rc = tbw__error_set(TBW_EINVAL, "sync", logdir, "logdir or sync_dir is NULL or empty");
		goto done;
	}
	jdir = o.journal_dir ? tbw__strdup(o.journal_dir) : tbw__location_find(logdir);
	if (!jdir) {
		rc = tbw__error_set(TBW_ENOMEM, "sync", logdir, "out of memory");
		goto done;
	}
	tbw__copy_str(r.journal_dir, sizeof r.journal_dir, jdir);
	if ((rc = tbw__journal_open(&j, jdir, &jo)) != TBW_OK)
		goto done;
	if ((rc = tbw__syncer_open(&s, j, sync_dir, o.run_name, o.wait)) != TBW_OK)
		goto done;
	tbw__copy_str(r.run_dir, sizeof r.run_dir, tbw__syncer_run_dir(s));
	fill(&r, s);
	unshippable = r.unshippable;
	if (r.unshippable && o.backfill) {
		/* The compactor pruned records before any shipper attached: put
		 * them back from the event files (the ship cursor, now at 0,
		 * keeps them until shipped), so the folder gets every scalar. */
		uint64_t back = 0;
		if ((rc = tbw__backfill_from_events(j, logdir, r.unshippable, &back)) != TBW_OK)
			goto done;
		unshippable = r.unshippable > back ? r.unshippable - back : 0;
		r.unshippable = unshippable;
	}
	if (r.unshippable && o.notify)
		o.notify(o.notify_ctx, TBW_SYNC_UNSHIPPABLE, 0, &r, NULL);
	follow = o.follow;
	for (;;) {
		uint64_t n = 0;
		int last = !follow || (o.stop && *o.stop);
		rc = tbw__syncer_pass(s, &n);
		fill(&r, s);
		r.unshippable = unshippable;
		if (rc != TBW_OK) {
			if (o.notify) {
				tbw__errsave saved;
				tbw__error_save(&saved);
				o.notify(o.notify_ctx, TBW_SYNC_PASS_FAILED, 0, &r, saved.msg);
				tbw__error_restore(&saved);
			}
			if (!follow)
				break;
		} else if (n && o.notify) {
			o.notify(o.notify_ctx, TBW_SYNC_SHIPPED, n, &r, NULL);
		}
		if (last)
			break;
		tbw__sleep_stop(o.interval_ms, o.stop);
	}
done:
	{
		tbw__errsave saved;
		tbw__error_save(&saved);
		tbw__syncer_close(s);
		tbw__journal_close(j);
		tbw__error_restore(&saved);
	}
	tbw__free(jdir);
	if (out) {
		r.version = rv;
		memcpy(out, &r, sync_res_sizes[rv]);
	}
	return rc;
}

int tbw_restore(const char *run_dir, const char *journal_dir, tbw_restore_result *out)
{
	tbw_restore_result r;
	tbw_jopen jo = TBW_JOPEN_INIT;
	tbw_journal *j = NULL;
	tbw_sync_restore_opts ro = TBW_SYNC_RESTORE_OPTS_INIT;
	tbw_sync_report rep;
	uint8_t id[16];
	unsigned int rv = out ? out->version : TBW_RESTORE_RESULT_VERSION;
	int rc;

	memset(&r, 0, sizeof r);
	memset(&rep, 0, sizeof rep);
	if ((rc = check_result_version(rv, TBW_RESTORE_RESULT_VERSION, "restore", "tbw_restore_result")) != 0)
		return rc;
	if (!run_dir || !*run_dir || !journal_dir || !*journal_dir)
		return tbw__error_set(TBW_EINVAL, "restore", run_dir, "run_dir or journal_dir is NULL or empty");
	if ((rc = tbw__sync_run_id(run_dir, id)) != TBW_OK)
		goto done;
	jo.create = 1;
	jo.run_id = id;
	if ((rc = tbw__journal_open(&j, journal_dir, &jo)) != TBW_OK)
		goto done;
	/* inserting records is the writer's job: never beside a live writer */
	if ((rc = tbw__journal_lock(j, TBW_JROLE_WRITER, 0)) != TBW_OK)
		goto done;
	ro.run_id = id;
	rc = tbw__sync_restore(run_dir, j, &ro, &rep);
	if (rc == TBW_OK)
		rc = tbw__journal_sync(j);
	tbw__runid_hex(r.run_id, id);
	r.segments_ok = rep.segments_ok;
	r.segments_bad = rep.segments_bad;
	r.records = rep.records;
	r.records_new = rep.records_new;
	r.first_seq = rep.first_seq;
	r.last_seq = rep.last_seq;
	r.missing = rep.missing;
done:
	{
		tbw__errsave saved;
		tbw__error_save(&saved);
		tbw__sync_report_free(&rep);
		tbw__journal_close(j);
		tbw__error_restore(&saved);
	}
	if (out) {
		r.version = rv;
		memcpy(out, &r, restore_res_sizes[rv]);
	}
	return rc;
}
