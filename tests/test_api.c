/* test_api.c -- the public API for what the tools do (tbw_recover,
 * tbw_compact, tbw_sync, tbw_restore, tbw_stat_read, tbw_version), the
 * versioned-options rule, the shared-open rule for each option, close()
 * racing logging threads, and every tool on a bindfs-mounted logdir. */
#include "config.h"
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include "test_util.h"
#include "api/api.h"
#include "base/error.h"
#include "api/writer.h"
#include "journal/journal.h"
#include "tbwal.h"

static char tmpdir[256];
static char logdir[300], syncdir[300], syncdir2[300];

static int setup(void **state)
{
	(void)state;
	if (tbw_test_mkdtemp(tmpdir, sizeof tmpdir, "test_api") != 0)
		return -1;
	snprintf(logdir, sizeof logdir, "%s/run", tmpdir);
	snprintf(syncdir, sizeof syncdir, "%s/drive", tmpdir);
	snprintf(syncdir2, sizeof syncdir2, "%s/drive2", tmpdir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unsetenv("TBW_LOCAL_DIR");
	return tbw_test_rmtree(tmpdir);
}

static tbw_writer *open_ok(const char *dir, const tbw_options *o)
{
	tbw_writer *w = NULL;
	if (tbw_open(&w, dir, o) != TBW_OK)
		fail_msg("tbw_open %s: %s", dir, tbw_errmsg());
	return w;
}

/* Restore the sync folder into a fresh journal: how many records it holds
 * (and that they are 1..n with no gap). */
static uint64_t shipped_records(const char *sd)
{
	static int k;
	char rd[700], jd[400];
	tbw_restore_result rr;
	memset(&rr, 0, sizeof rr);
	rr.version = TBW_RESTORE_RESULT_VERSION;
	tbw_test_run_dir_of(sd, rd, sizeof rd);
	snprintf(jd, sizeof jd, "%s/restored%d", tmpdir, k++);
	if (tbw_restore(rd, jd, &rr) != TBW_OK)
		fail_msg("tbw_restore %s: %s", rd, tbw_errmsg());
	assert_int_equal(rr.segments_bad, 0);
	assert_int_equal(rr.missing, 0);
	if (rr.records_new)
		assert_int_equal(rr.first_seq, 1);
	assert_int_equal(rr.last_seq, rr.records_new);
	return rr.records_new;
}

static void test_api_version_matches_header(void **state)
{
	int ma = -1, mi = -1, pa = -1;
	(void)state;
	assert_string_equal(tbw_version(&ma, &mi, &pa), TBW_VERSION_STRING);
	assert_int_equal(ma * 10000 + mi * 100 + pa, TBW_VERSION_NUMBER);
	assert_string_equal(tbw_version(NULL, NULL, NULL), TBW_VERSION_STRING);
}

/* libgit2's rule, on a struct that grew from version 1 to 2. */
typedef struct grown { unsigned int version; int a; int b; } grown;
static const size_t grown_sizes[] = { 0, TBW__FIELD_END(grown, a), TBW__FIELD_END(grown, b) };

static void test_api_older_option_versions_accepted_newer_refused(void **state)
{
	grown dst = { 2, 10, 20 }, v1 = { 1, 11, 99 }, v2 = { 2, 12, 22 }, v3 = { 3, 0, 0 }, v0 = { 0, 0, 0 };
	tbw_compact_options co = TBW_COMPACT_OPTIONS_INIT;
	tbw_options o = TBW_OPTIONS_INIT;
	tbw_writer *w = NULL;
	(void)state;

	assert_int_equal(TBW__OPTS_COPY(&dst, &v1, grown_sizes, "t", "grown"), TBW_OK);
	assert_int_equal(dst.version, 2);
	assert_int_equal(dst.a, 11);
	assert_int_equal(dst.b, 20);           /* a version-1 caller has no b: default kept */
	assert_int_equal(TBW__OPTS_COPY(&dst, &v2, grown_sizes, "t", "grown"), TBW_OK);
	assert_int_equal(dst.b, 22);
	assert_int_equal(TBW__OPTS_COPY(&dst, &v3, grown_sizes, "t", "grown"), TBW_EINVAL);
	assert_non_null(strstr(tbw_errmsg(), "grown version 3"));
	assert_int_equal(TBW__OPTS_COPY(&dst, &v0, grown_sizes, "t", "grown"), TBW_EINVAL);
	assert_int_equal(TBW__OPTS_COPY(&dst, NULL, grown_sizes, "t", "grown"), TBW_OK);

	/* the real structs: the current version works, a newer one is refused */
	o.version = TBW_OPTIONS_VERSION + 1;
	assert_int_equal(tbw_open(&w, logdir, &o), TBW_EINVAL);
	assert_non_null(strstr(tbw_errmsg(), "tbw_options version"));
	co.version = TBW_COMPACT_OPTIONS_VERSION + 1;
	assert_int_equal(tbw_compact(logdir, &co, NULL), TBW_EINVAL);
	o.version = TBW_OPTIONS_VERSION;
	w = open_ok(logdir, &o);
	assert_int_equal(tbw_close(w), TBW_OK);
}

static void test_api_saving_and_restoring_the_message_keeps_it(void **state)
{
	tbw__errsave s;
	char before[600];
	(void)state;
	tbw__error_set(TBW_EIO, "op", "/some/path", "it broke: %d", 7);
	snprintf(before, sizeof before, "%s", tbw_errmsg());
	tbw__error_save(&s);
	tbw__error_set(TBW_EINVAL, "cleanup", NULL, "something else");
	tbw__error_restore(&s);
	assert_string_equal(tbw_errmsg(), before);
	tbw__error_save(&s);
	tbw__error_restore(&s);
	assert_string_equal(tbw_errmsg(), before);   /* no prefix added, ever */
}

/* The Colab re-run: w = SummaryWriter(d); later w2 = SummaryWriter(d,
 * sync_dir=DRIVE); flush: every scalar is in DRIVE, those the compactor
 * exported and pruned before DRIVE was given included. */
static void test_api_shared_open_late_sync_dir_ships_everything(void **state)
{
	tbw_options o2 = TBW_OPTIONS_INIT;
	tbw_writer *w, *w2;
	tbw_options eff;
	(void)state;

	w = open_ok(logdir, NULL);
	for (int i = 0; i < 300; i++)
		assert_int_equal(tbw_add_scalar(w, i % 2 ? "loss" : "acc", i, i, 0), TBW_OK);
	assert_int_equal(tbw_flush(w), TBW_OK);   /* exported and pruned: no syncer yet */
	o2.sync_dir = syncdir;
	o2.sync_interval_ms = 50;
	w2 = open_ok(logdir, &o2);
	tbw__writer_effective(w, &eff);
	assert_non_null(eff.sync_dir);
	assert_string_equal(eff.sync_dir, syncdir);
	for (int i = 300; i < 400; i++)
		assert_int_equal(tbw_add_scalar(i % 3 ? w : w2, "loss", i, i, 0), TBW_OK);
	assert_int_equal(tbw_flush(w2), TBW_OK);
	assert_int_equal(shipped_records(syncdir), 400);
	assert_int_equal(tbw_close(w), TBW_OK);
	assert_int_equal(tbw_close(w2), TBW_OK);
}

static void test_api_shared_open_other_sync_dir_refused(void **state)
{
	tbw_options o = TBW_OPTIONS_INIT, o2 = TBW_OPTIONS_INIT;
	tbw_writer *w, *w2 = NULL;
	(void)state;
	o.sync_dir = syncdir;
	w = open_ok(logdir, &o);
	o2.sync_dir = syncdir2;
	assert_int_equal(tbw_open(&w2, logdir, &o2), TBW_EINVAL);
	assert_null(w2);
	assert_non_null(strstr(tbw_errmsg(), "option sync_dir"));
	assert_non_null(strstr(tbw_errmsg(), syncdir2));
	/* the same folder is no conflict; no sync_dir on a second open neither */
	w2 = open_ok(logdir, &o);
	assert_int_equal(tbw_close(w2), TBW_OK);
	w2 = open_ok(logdir, NULL);
	assert_int_equal(tbw_close(w2), TBW_OK);
	o2.sync_dir = syncdir;
	o2.run_name = "other";
	assert_int_equal(tbw_open(&w2, logdir, &o2), TBW_EINVAL);
	assert_non_null(strstr(tbw_errmsg(), "option run_name"));
	assert_int_equal(tbw_close(w), TBW_OK);
}

static void test_api_shared_open_scalar_format_and_suffix_refused(void **state)
{
	tbw_options o2 = TBW_OPTIONS_INIT;
	tbw_writer *w, *w2 = NULL;
	(void)state;
	w = open_ok(logdir, NULL);
	o2.scalar_format = TBW_SCALAR_TENSOR;
	assert_int_equal(tbw_open(&w2, logdir, &o2), TBW_EINVAL);
	assert_non_null(strstr(tbw_errmsg(), "option scalar_format"));
	o2 = (tbw_options)TBW_OPTIONS_INIT;
	o2.filename_suffix = ".v2";
	assert_int_equal(tbw_open(&w2, logdir, &o2), TBW_EINVAL);
	assert_non_null(strstr(tbw_errmsg(), "option filename_suffix"));
	assert_null(w2);
	/* the first writer is untouched by the refusals */
	assert_int_equal(tbw_add_scalar(w, "x", 1, 1, 0), TBW_OK);
	assert_int_equal(tbw_close(w), TBW_OK);
}

static void test_api_shared_open_strongest_durability_applies(void **state)
{
	tbw_options o = TBW_OPTIONS_INIT, eff;
	tbw_writer *a, *b, *c, *d;
	(void)state;
	o.durability = TBW_DURABILITY_NEVER;
	a = open_ok(logdir, &o);
	tbw__writer_effective(a, &eff);
	assert_int_equal(eff.durability, TBW_DURABILITY_NEVER);
	o.durability = TBW_DURABILITY_INTERVAL;
	o.durability_interval_ms = 300;
	b = open_ok(logdir, &o);
	tbw__writer_effective(a, &eff);
	assert_int_equal(eff.durability, TBW_DURABILITY_INTERVAL);
	assert_int_equal(eff.durability_interval_ms, 300);
	o.durability_interval_ms = 40;             /* the shorter interval applies */
	c = open_ok(logdir, &o);
	tbw__writer_effective(a, &eff);
	assert_int_equal(eff.durability_interval_ms, 40);
	o.durability = TBW_DURABILITY_ALWAYS;
	d = open_ok(logdir, &o);
	tbw__writer_effective(a, &eff);
	assert_int_equal(eff.durability, TBW_DURABILITY_ALWAYS);
	assert_int_equal(tbw_add_scalar(a, "x", 1, 1, 0), TBW_OK);
	assert_int_equal(tbw_close(d), TBW_OK);
	o.durability = TBW_DURABILITY_NEVER;       /* weaker asks change nothing */
	d = open_ok(logdir, &o);
	tbw__writer_effective(a, &eff);
	assert_int_equal(eff.durability, TBW_DURABILITY_ALWAYS);
	assert_int_equal(tbw_close(d), TBW_OK);
	assert_int_equal(tbw_close(c), TBW_OK);
	assert_int_equal(tbw_close(b), TBW_OK);
	assert_int_equal(tbw_close(a), TBW_OK);
}

static uint64_t export_seq_now(void)
{
	tbw_stat *st = NULL;
	uint64_t seq;
	if (tbw_stat_read(&st, logdir, NULL) != TBW_OK)
		fail_msg("tbw_stat_read: %s", tbw_errmsg());
	seq = tbw_stat_get_info(st)->export_seq;
	tbw_stat_free(st);
	return seq;
}

static void test_api_shared_open_shorter_compact_interval_applies(void **state)
{
	tbw_options o = TBW_OPTIONS_INIT, eff;
	tbw_writer *a, *b;
	int waited = 0;
	(void)state;
	o.compact_interval_ms = 0;                 /* export only on flush */
	a = open_ok(logdir, &o);
	assert_int_equal(tbw_add_scalar(a, "x", 1, 1, 0), TBW_OK);
	usleep(200000);
	assert_int_equal(export_seq_now(), 0);
	o.compact_interval_ms = 30;
	b = open_ok(logdir, &o);
	tbw__writer_effective(a, &eff);
	assert_int_equal(eff.compact_interval_ms, 30);
	assert_int_equal(tbw_add_scalar(a, "x", 2, 2, 0), TBW_OK);
	while (export_seq_now() < 2 && waited++ < 300)
		usleep(10000);
	assert_int_equal(export_seq_now(), 2);      /* exported without a flush */
	o.compact_interval_ms = 5000;              /* a longer one changes nothing */
	assert_int_equal(tbw_close(open_ok(logdir, &o)), TBW_OK);
	tbw__writer_effective(a, &eff);
	assert_int_equal(eff.compact_interval_ms, 30);
	assert_int_equal(tbw_close(b), TBW_OK);
	assert_int_equal(tbw_close(a), TBW_OK);
}

static void test_api_shared_open_sync_interval_and_purge_step_take_effect(void **state)
{
	tbw_options o = TBW_OPTIONS_INIT, eff;
	tbw_writer *a, *b;
	tbw_stat *st = NULL;
	(void)state;
	o.compact_interval_ms = 0;
	o.sync_dir = syncdir;
	o.sync_interval_ms = 5000;
	a = open_ok(logdir, &o);
	assert_int_equal(tbw_add_scalar(a, "x", 1, 1, 0), TBW_OK);
	o.sync_interval_ms = 25;
	o.purge_step = 7;                          /* a second open resuming at step 7 */
	b = open_ok(logdir, &o);
	tbw__writer_effective(a, &eff);
	assert_int_equal(eff.sync_interval_ms, 25);
	assert_int_equal(tbw_stat_read(&st, logdir, NULL), TBW_OK);
	assert_int_equal(tbw_stat_get_info(st)->start_markers, 1);
	tbw_stat_free(st);
	assert_int_equal(tbw_close(b), TBW_OK);
	assert_int_equal(tbw_close(a), TBW_OK);
	assert_int_equal(shipped_records(syncdir), 2);   /* the scalar and the marker */
}

/* ---- close() racing add_scalar in 8 threads ---- */

#define NTHREADS 8

typedef struct racer {
	tbw_writer *w;
	int id;
	int64_t acked;          /* steps 0..acked-1 returned 0 */
	int bad_rc;             /* a return other than 0 / TBW_ECLOSED */
	volatile int *go;
} racer;

static void *race_main(void *p)
{
	racer *r = p;
	char tag[16];
	snprintf(tag, sizeof tag, "t%d", r->id);
	while (!*r->go)
		;
	for (int64_t step = 0; step < 10000000; step++) {
		int rc = tbw_add_scalar(r->w, tag, (double)step, step, 0);
		if (rc == TBW_ECLOSED)
			break;
		if (rc != TBW_OK) {
			r->bad_rc = rc;
			break;
		}
		r->acked = step + 1;
	}
	return NULL;
}

static void test_api_close_racing_8_logging_threads(void **state)
{
	for (int round = 0; round < 3; round++) {
		pthread_t t[NTHREADS];
		racer r[NTHREADS];
		volatile int go = 0;
		tbw_writer *w = open_ok(logdir, NULL);
		tbw_recover_options ro = TBW_RECOVER_OPTIONS_INIT;
		tbw_recovery *rep = NULL;
		(void)state;

		for (int i = 0; i < NTHREADS; i++) {
			r[i] = (racer){ w, i, 0, 0, &go };
			assert_int_equal(pthread_create(&t[i], NULL, race_main, &r[i]), 0);
		}
		go = 1;
		usleep(50000 + round * 50000);
		assert_int_equal(tbw_shutdown(w), TBW_OK);
		for (int i = 0; i < NTHREADS; i++)
			pthread_join(t[i], NULL);
		assert_int_equal(tbw_add_scalar(w, "late", 1, 1, 0), TBW_ECLOSED);
		assert_int_equal(tbw_flush(w), TBW_ECLOSED);
		assert_int_equal(tbw_shutdown(w), TBW_ECLOSED);
		assert_int_equal(tbw_close(w), TBW_OK);
		/* nothing acknowledged is lost: every thread's steps are in the
		 * event files, exactly once */
		ro.dry_run = 1;
		assert_int_equal(tbw_recover(&rep, logdir, &ro), TBW_OK);
		assert_int_equal(tbw_recovery_get_info(rep)->outcome, TBW_RECOVERED);
		for (int i = 0; i < NTHREADS; i++) {
			char tag[16];
			int found = 0;
			assert_int_equal(r[i].bad_rc, 0);
			snprintf(tag, sizeof tag, "t%d", i);
			for (size_t k = 0; k < tbw_recovery_ntags(rep); k++) {
				const tbw_recovery_tag *tg = tbw_recovery_get_tag(rep, k);
				if (strcmp(tg->tag, tag) == 0) {
					found = 1;
					assert_int_equal(tg->count, (uint64_t)r[i].acked);
					if (r[i].acked)
						assert_int_equal(tg->max_step, r[i].acked - 1);
				}
			}
			assert_true(found || r[i].acked == 0);
		}
		tbw_recovery_free(rep);
		assert_int_equal(tbw_test_rmtree(logdir), 0);
	}
}

/* Re-opening while the last handle is being closed waits for the close,
 * never TBW_EBUSY (the closing compactor still holds its role). */
static void *close_main(void *p)
{
	tbw_close(p);
	return NULL;
}

static void test_api_open_while_closing_waits_not_busy(void **state)
{
	(void)state;
	for (int i = 0; i < 20; i++) {
		tbw_writer *w = open_ok(logdir, NULL), *w2 = NULL;
		pthread_t t;
		int rc;
		assert_int_equal(tbw_add_scalar(w, "x", i, i, 0), TBW_OK);
		assert_int_equal(pthread_create(&t, NULL, close_main, w), 0);
		rc = tbw_open(&w2, logdir, NULL);
		if (rc != TBW_OK)
			fail_msg("open while closing: %s", tbw_errmsg());
		pthread_join(t, NULL);
		assert_int_equal(tbw_add_scalar(w2, "x", i, i, 0), TBW_OK);
		assert_int_equal(tbw_close(w2), TBW_OK);
	}
}

/* ---- the tools' calls ---- */

/* A writer killed before it exported anything: n records in the journal. */
static void crashed_writer(const char *dir, int n, const char *sd)
{
	pid_t pid = fork();
	int status;
	assert_true(pid >= 0);
	if (pid == 0) {
		tbw_options o = TBW_OPTIONS_INIT;
		tbw_writer *w = NULL;
		o.compact_interval_ms = 0;
		o.sync_dir = sd;
		o.sync_interval_ms = 0;
		if (tbw_open(&w, dir, &o) != TBW_OK)
			_exit(2);
		for (int i = 0; i < n; i++)
			if (tbw_add_scalar(w, i % 2 ? "b" : "a", i * 0.5, i, 0) != TBW_OK)
				_exit(3);
		_exit(0);   /* no close: the records stay unexported */
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_api_stat_compact_sync_recover_round_trip(void **state)
{
	tbw_stat *st = NULL;
	const tbw_stat_info *in;
	tbw_compact_result cr;
	tbw_sync_result sr;
	tbw_recovery *rep = NULL;
	tbw_recover_options ro = TBW_RECOVER_OPTIONS_INIT;
	char jd[400];
	(void)state;
	memset(&cr, 0, sizeof cr);
	cr.version = TBW_COMPACT_RESULT_VERSION;
	memset(&sr, 0, sizeof sr);
	sr.version = TBW_SYNC_RESULT_VERSION;

	assert_int_equal(tbw_stat_read(&st, logdir, NULL), TBW_ENOTFOUND);
	assert_null(st);
	assert_int_equal(tbw_compact(logdir, NULL, &cr), TBW_ENOTFOUND);
	assert_string_equal(cr.stage, "journal");
	crashed_writer(logdir, 101, NULL);
	assert_int_equal(tbw_journal_locate(jd, sizeof jd, logdir), TBW_OK);
	assert_non_null(strstr(jd, "/run/.tbwal"));
	assert_int_equal(tbw_journal_locate(jd, 4, logdir), TBW_EINVAL);
	assert_int_equal(tbw_stat_read(&st, logdir, NULL), TBW_OK);
	in = tbw_stat_get_info(st);
	assert_int_equal(in->records, 101);
	assert_int_equal(in->export_lag_records, 101);
	assert_int_equal(in->ship_present, 0);
	assert_int_equal(tbw_stat_ntags(st), 2);
	assert_int_equal(tbw_stat_get_tag(st, 0)->count, 51);
	assert_memory_equal(tbw_stat_get_tag(st, 0)->tag, "a", 1);
	assert_int_equal(tbw_stat_get_tag(st, 1)->last_step, 99);
	assert_null(tbw_stat_get_tag(st, 2));
	tbw_stat_free(st);
	/* ship first, export second: nothing is pruned before it is shipped */
	assert_int_equal(tbw_sync(logdir, syncdir, NULL, &sr), TBW_OK);
	assert_int_equal(sr.records_shipped, 101);
	assert_int_equal(sr.ship_seq, 101);
	assert_int_equal(tbw_compact(logdir, NULL, &cr), TBW_OK);
	assert_int_equal(cr.exported, 101);
	assert_int_equal(cr.cursor_seq, 101);
	assert_null(cr.stage);
	assert_int_equal(shipped_records(syncdir), 101);
	/* lose the machine; recover from the sync folder */
	{
		char rd[700];
		const char *from[1];
		assert_int_equal(tbw_test_rmtree(logdir), 0);
		tbw_test_run_dir_of(syncdir, rd, sizeof rd);
		from[0] = rd;
		ro.from = from;
		ro.nfrom = 1;
		assert_int_equal(tbw_recover(&rep, logdir, &ro), TBW_OK);
	}
	assert_int_equal(tbw_recovery_get_info(rep)->outcome, TBW_RECOVERED);
	assert_int_equal(tbw_recovery_get_info(rep)->total_scalars, 101);
	assert_int_equal(tbw_recovery_get_info(rep)->lost, 0);
	assert_int_equal(tbw_recovery_ntags(rep), 2);
	assert_string_equal(tbw_recovery_get_tag(rep, 1)->tag, "b");
	assert_true(tbw_recovery_nsources(rep) >= 1);
	assert_non_null(tbw_recovery_get_source(rep, 0)->kind);
	assert_null(tbw_recovery_get_source(rep, tbw_recovery_nsources(rep)));
	tbw_recovery_free(rep);
	/* a writer holding the journal: recovery refuses, with a report */
	{
		tbw_writer *w = open_ok(logdir, NULL);
		tbw_recover_options r2 = TBW_RECOVER_OPTIONS_INIT;
		assert_int_equal(tbw_recover(&rep, logdir, &r2), TBW_EBUSY);
		assert_non_null(rep);
		assert_int_equal(tbw_recovery_get_info(rep)->outcome, TBW_RECOVER_FAILED);
		assert_true(strlen(tbw_recovery_get_info(rep)->message) > 0);
		tbw_recovery_free(rep);
		assert_int_equal(tbw_close(w), TBW_OK);
	}
}

/* tbw_sync with backfill, attached after the writer exported and pruned
 * everything, still ships every scalar (put back from the event files);
 * without it (tbsync) they are reported unshippable. */
static void test_api_sync_attached_late_ships_pruned_records(void **state)
{
	tbw_writer *w = open_ok(logdir, NULL);
	tbw_sync_options so = TBW_SYNC_OPTIONS_INIT;
	tbw_sync_result sr;
	(void)state;
	memset(&sr, 0, sizeof sr);
	sr.version = TBW_SYNC_RESULT_VERSION;
	for (int i = 0; i < 250; i++)
		assert_int_equal(tbw_add_scalar(w, "loss", 1.0 / (i + 1), i, 0), TBW_OK);
	assert_int_equal(tbw_close(w), TBW_OK);    /* exported, and pruned: no shipper */
	so.backfill = 1;
	assert_int_equal(tbw_sync(logdir, syncdir, &so, &sr), TBW_OK);
	assert_int_equal(sr.unshippable, 0);
	assert_int_equal(sr.records_shipped, 250);
	assert_int_equal(shipped_records(syncdir), 250);
}

/* tbw_sync's progress (options version 2) on a backlog of several batches:
 * ("shipping", done, total) after each segment, done growing to total; a
 * caller built against version 1 (a struct that ends at backfill: nothing
 * past it is read) is still accepted and ships with no progress. */
typedef struct sync_progress_seen {
	int calls, bad;
	uint64_t last_done, total;
} sync_progress_seen;

static void on_sync_progress(void *ctx, const char *phase, uint64_t done, uint64_t total)
{
	sync_progress_seen *p = ctx;
	if (strcmp(phase, "shipping") != 0 || done > total || done < p->last_done ||
	    (p->calls && total != p->total))
		p->bad++;
	p->calls++;
	p->last_done = done;
	p->total = total;
}

static void test_api_sync_progress_on_a_backlog_and_version_1_options(void **state)
{
	tbw_options wo = TBW_OPTIONS_INIT;
	tbw_writer *w;
	tbw_sync_options so = TBW_SYNC_OPTIONS_INIT;
	unsigned char *v1;
	unsigned int one = 1;
	tbw_sync_result sr;
	sync_progress_seen seen = { 0, 0, 0, 0 };
	size_t v1_size = TBW__FIELD_END(tbw_sync_options, backfill);
	(void)state;

	wo.compact_interval_ms = 0;          /* nothing exported (or pruned) before the sync:
	                                        no flush either, which would export */
	w = open_ok(logdir, &wo);
	for (int i = 0; i < 150000; i++)
		assert_int_equal(tbw_add_scalar(w, i % 2 ? "a" : "b", i, i / 2, 0), TBW_OK);
	memset(&sr, 0, sizeof sr);
	sr.version = TBW_SYNC_RESULT_VERSION;
	so.progress = on_sync_progress;
	so.progress_ctx = &seen;
	assert_int_equal(tbw_sync(logdir, syncdir, &so, &sr), TBW_OK);    /* beside the live writer */
	assert_int_equal(sr.records_shipped, 150000);
	assert_true(seen.calls >= 3);        /* 150000 records: three batches of at most 65536 */
	assert_int_equal(seen.bad, 0);
	assert_int_equal(seen.total, 150000);
	assert_int_equal(seen.last_done, 150000);

	/* a small pass (one batch) reports nothing */
	for (int i = 0; i < 100; i++)
		assert_int_equal(tbw_add_scalar(w, "a", i, 75000 + i, 0), TBW_OK);
	seen.calls = 0;
	assert_int_equal(tbw_sync(logdir, syncdir, &so, &sr), TBW_OK);
	assert_int_equal(sr.records_shipped, 100);
	assert_int_equal(seen.calls, 0);

	/* version 1: exactly its size on the heap (ASan sees a read past it) */
	for (int i = 0; i < 70000; i++)
		assert_int_equal(tbw_add_scalar(w, "b", i, 80000 + i, 0), TBW_OK);
	v1 = malloc(v1_size);
	assert_non_null(v1);
	memcpy(v1, &so, v1_size);
	memcpy(v1, &one, sizeof one);        /* version = 1 */
	seen.calls = 0;
	assert_int_equal(tbw_sync(logdir, syncdir, (const tbw_sync_options *)(void *)v1, &sr), TBW_OK);
	assert_int_equal(sr.records_shipped, 70000);
	assert_int_equal(seen.calls, 0);
	free(v1);
	so.version = TBW_SYNC_OPTIONS_VERSION + 1;
	assert_int_equal(tbw_sync(logdir, syncdir, &so, &sr), TBW_EINVAL);
	assert_non_null(strstr(tbw_errmsg(), "tbw_sync_options version 3"));
	assert_int_equal(tbw_close(w), TBW_OK);
	assert_int_equal(shipped_records(syncdir), 220100);
}

/* Role exclusivity within one process: a second exporter or shipper of a
 * journal is refused here as it is from another process. */
/* tbw_compact with progress exports a big backlog in chunks, counted from
 * the next record stored: a journal whose sequence numbers jump (a restore
 * inserts what a segment claims) was stepped over a chunk of 262,144
 * numbers at a time, 4 M passes for a gap of 2^40 (the same loop in
 * tbrecover hung fuzz_recover). More than 100 progress reports fails it. */
static int progress_calls;

static void count_progress(void *ctx, const char *phase, uint64_t done, uint64_t total)
{
	(void)ctx; (void)phase; (void)done; (void)total;
	if (++progress_calls > 100)
		fail_msg("tbw_compact reported progress %d times for 3 records", progress_calls);
}

static void test_api_compact_progress_over_a_gap_in_the_sequence(void **state)
{
	tbw_journal *j = NULL;
	tbw_jopen jo = TBW_JOPEN_INIT;
	tbw_compact_options co = TBW_COMPACT_OPTIONS_INIT;
	tbw_compact_result cr;
	tbw_jrec_named r[3];
	char jd[400];
	size_t ins = 0;
	(void)state;

	assert_int_equal(mkdir(logdir, 0755), 0);
	snprintf(jd, sizeof jd, "%s/.tbwal", logdir);
	jo.create = 1;
	jo.logdir = logdir;
	assert_int_equal(tbw__journal_open(&j, jd, &jo), TBW_OK);
	memset(r, 0, sizeof r);
	for (int i = 0; i < 3; i++) {
		r[i].seq = i < 2 ? (uint64_t)i + 1 : (uint64_t)1 << 40;
		r[i].wall_time = 1700000000.0 + i;
		r[i].step = i;
		r[i].value = 0.5 * i;
		r[i].tag = "loss";
		r[i].tag_len = 4;
	}
	assert_int_equal(tbw__journal_insert(j, r, 3, &ins), TBW_OK);
	assert_int_equal(ins, 3);
	tbw__journal_close(j);
	memset(&cr, 0, sizeof cr);
	cr.version = TBW_COMPACT_RESULT_VERSION;
	co.progress = count_progress;
	progress_calls = 0;
	assert_int_equal(tbw_compact(logdir, &co, &cr), TBW_OK);
	assert_int_equal(cr.exported, 3);
	assert_int_equal(cr.cursor_seq, (uint64_t)1 << 40);
	assert_true(progress_calls >= 1);
}

static void test_api_second_exporter_or_shipper_in_this_process_refused(void **state)
{
	tbw_options o = TBW_OPTIONS_INIT;
	tbw_writer *w;
	tbw_compact_result cr;
	tbw_sync_result sr;
	(void)state;
	memset(&cr, 0, sizeof cr);
	cr.version = TBW_COMPACT_RESULT_VERSION;
	memset(&sr, 0, sizeof sr);
	sr.version = TBW_SYNC_RESULT_VERSION;
	o.sync_dir = syncdir;
	w = open_ok(logdir, &o);
	assert_int_equal(tbw_add_scalar(w, "x", 1, 1, 0), TBW_OK);
	assert_int_equal(tbw_compact(logdir, NULL, &cr), TBW_EBUSY);
	assert_string_equal(cr.stage, "open");
	assert_non_null(strstr(tbw_errmsg(), "already exporting"));
	assert_int_equal(tbw_sync(logdir, syncdir2, NULL, &sr), TBW_EBUSY);
	assert_non_null(strstr(tbw_errmsg(), "syncer role"));
	assert_int_equal(tbw_close(w), TBW_OK);
	/* once the writer is gone, both are free */
	assert_int_equal(tbw_compact(logdir, NULL, &cr), TBW_OK);
	assert_int_equal(tbw_sync(logdir, syncdir, NULL, &sr), TBW_OK);
}

/* ---- every tool on a bindfs-mounted logdir (a FUSE mount, as Drive) ---- */

static void test_api_every_tool_on_a_bindfs_logdir(void **state)
{
	const char *b = getenv("TBW_BUILDDIR");
	char src[400], mnt[400], local[400], ld[500], out[500];
	int rc[6];
	(void)state;

	if (access("/usr/bin/bindfs", X_OK) != 0 || access("/dev/fuse", R_OK | W_OK) != 0) {
		printf("SKIP reason: bindfs or /dev/fuse not available here\n");
		skip();
	}
	if (!b)
		b = ".";
	snprintf(src, sizeof src, "%s/src", tmpdir);
	snprintf(mnt, sizeof mnt, "%s/mnt", tmpdir);
	snprintf(local, sizeof local, "%s/localstate", tmpdir);
	snprintf(ld, sizeof ld, "%s/run", mnt);
	snprintf(out, sizeof out, "%s/out", tmpdir);
	mkdir(src, 0755);
	mkdir(mnt, 0755);
	assert_int_equal(sh_run("bindfs '%s' '%s'", src, mnt), 0);
	setenv("TBW_LOCAL_DIR", local, 1);
	crashed_writer(ld, 64, NULL);   /* journal on local disk, named in run/.tbwal-journal */
	/* every tool finds that journal with no --journal */
	rc[0] = sh_run("'%s/tools/tbstat' '%s' > '%s' && grep -q '64 stored' '%s'", b, ld, out, out);
	rc[1] = sh_run("'%s/tools/tbstat' --json '%s' | grep -q '\"journal\":\"%s'", b, ld, local);
	rc[2] = sh_run("'%s/tools/tbsync' --quiet '%s' '%s'", b, ld, syncdir);
	rc[3] = sh_run("'%s/tools/tbcompact' --quiet '%s'", b, ld);
	rc[4] = sh_run("'%s/tools/tbrecover' '%s' > '%s' && grep -q 'total: 64 scalars' '%s'", b, ld, out, out);
	rc[5] = sh_run("ls '%s' | grep -c tfevents | grep -qx 1", ld);
	sh_run("fusermount -u '%s' || umount '%s'", mnt, mnt);
	for (int i = 0; i < 6; i++)
		assert_int_equal(rc[i], 0);
	assert_int_equal(shipped_records(syncdir), 64);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_api_version_matches_header),
		cmocka_unit_test_setup_teardown(test_api_older_option_versions_accepted_newer_refused, setup, teardown),
		cmocka_unit_test(test_api_saving_and_restoring_the_message_keeps_it),
		cmocka_unit_test_setup_teardown(test_api_shared_open_late_sync_dir_ships_everything, setup, teardown),
		cmocka_unit_test_setup_teardown(test_api_shared_open_other_sync_dir_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_api_shared_open_scalar_format_and_suffix_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_api_shared_open_strongest_durability_applies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_api_shared_open_shorter_compact_interval_applies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_api_shared_open_sync_interval_and_purge_step_take_effect,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_api_close_racing_8_logging_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_api_open_while_closing_waits_not_busy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_api_stat_compact_sync_recover_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_api_sync_attached_late_ships_pruned_records, setup, teardown),
		cmocka_unit_test_setup_teardown(test_api_sync_progress_on_a_backlog_and_version_1_options,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_api_compact_progress_over_a_gap_in_the_sequence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_api_second_exporter_or_shipper_in_this_process_refused,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_api_every_tool_on_a_bindfs_logdir, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
