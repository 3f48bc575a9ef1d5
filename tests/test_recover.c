/* test_recover.c -- tbrecover's cases, one scenario each (issue 6), plus a
 * damage loop over random seeds and a lost-machine test with SIGKILL.
 *
 * Every scenario checks the same invariant at the end: the run's event files
 * hold each scalar the sources had exactly once, in commit order, and
 * nothing that was never logged.
 */
#include "config.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>
#include "../third_party/lmdb/lmdb.h"
#include "test_util.h"
#include "journal_testutil.h"
#include "tbwal.h"
#include "base/alloc.h"
#include "export/compactor.h"
#include "format/event.h"
#include "journal/journal.h"
#include "base/os.h"
#include "recover/recover.h"
#include "format/segment.h"
#include "sync/syncer.h"
#include "format/tfrecord.h"


static char root[256];
static char logdir[512], syncdir[512];
static int case_no;

static int setup_case(void **state)
{
	(void)state;
	case_no++;
	snprintf(logdir, sizeof logdir, "%s/c%d/logs", root, case_no);
	snprintf(syncdir, sizeof syncdir, "%s/c%d/drive", root, case_no);
	sh("mkdir -p '%s' '%s'", logdir, syncdir);
	return 0;
}

/* ---- Logging and reading back ---- */

static const char *tags[] = { "loss", "accuracy", "lr", "train/grad_norm" };
#define NTAGS 4

/* The scalar logged at index i (deterministic: checks values bit for bit). */
static void scalar_at(uint64_t i, const char **tag, int64_t *step, double *value)
{
	*tag = tags[i % NTAGS];
	*step = (int64_t)(i / NTAGS);
	*value = (double)(i % 1000) * 0.125 - 3.0;
}

/* Log scalars [from, to) through a writer: no background export (the tests
 * decide when to export), a sync folder if sync is set. close_it: close
 * normally; else _exit-like abandonment is done by the caller's child. */
static tbw_writer *open_writer(int sync)
{
	tbw_options o = TBW_OPTIONS_INIT;
	tbw_writer *w = NULL;

	o.compact_interval_ms = 0;
	o.sync_dir = sync ? syncdir : NULL;
	o.sync_interval_ms = 3600 * 1000;
	o.run_name = "run";
	assert_int_equal(tbw_open(&w, logdir, &o), TBW_OK);
	return w;
}

static void log_range(tbw_writer *w, uint64_t from, uint64_t to)
{
	for (uint64_t i = from; i < to; i++) {
		const char *tag;
		int64_t step;
		double v;
		scalar_at(i, &tag, &step, &v);
		assert_int_equal(tbw_add_scalar(w, tag, v, step, 1700000000.0 + (double)i), TBW_OK);
	}
}

/* In a child process: open, log [from, to), flush after flush_at (if not
 * 0), and die without closing (what a SIGKILL leaves). */
static void child_logs_and_dies(int sync, uint64_t from, uint64_t flush_at, uint64_t to)
{
	pid_t pid = fork();
	int st;

	assert_true(pid >= 0);
	if (pid == 0) {
		tbw_writer *w = open_writer(sync);
		log_range(w, from, flush_at ? flush_at : to);
		if (flush_at) {
			if (tbw_flush(w) != TBW_OK)
				_exit(3);
			log_range(w, flush_at, to);
		}
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static char *run_dir(void)
{
	DIR *d = opendir(syncdir);
	struct dirent *e;
	static char path[1024];

	assert_non_null(d);
	path[0] = '\0';
	while ((e = readdir(d)) != NULL)
		if (strncmp(e->d_name, "run-", 4) == 0)
			snprintf(path, sizeof path, "%s/%s", syncdir, e->d_name);
	closedir(d);
	assert_true(path[0] != '\0');
	return path;
}

typedef struct readback {
	uint64_t n;          /* scalars */
	uint64_t starts;     /* SessionLog STARTs (sacrificial included) */
	int in_order;        /* every scalar i is scalar_at(i), i = 0.. */
	uint64_t bad;        /* scalars that were never logged */
	uint64_t corrupt;    /* records failing CRC / torn */
	int increasing;      /* scalars appear in strictly increasing log index */
	uint64_t phantoms;   /* scalars that match no logged one */
} readback;

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Call fn for every event of every tbwal event file of dir (of the run whose
 * id starts with run8, or of any run: NULL) in name order. Returns how many
 * files end in a damaged or torn record. */
static uint64_t each_event(const char *dir, const char *run8, void (*fn)(void *, const tbw_event *), void *ctx)
{
	char *names[4096];
	size_t n = 0;
	uint64_t corrupt = 0;
	DIR *d = opendir(dir);
	struct dirent *e;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		char r8[9];
		uint64_t base;
		if (strstr(e->d_name, "tfevents") && tbw__compactor_parse_name(e->d_name, r8, &base, NULL) &&
		    (!run8 || strncmp(r8, run8, 8) == 0)) {
			assert_true(n < 4096);
			names[n++] = strdup(e->d_name);
		}
	}
	closedir(d);
	qsort(names, n, sizeof names[0], cmp_str);
	for (size_t f = 0; f < n; f++) {
		char path[1024];
		int fd;
		tbw_tfr_reader *r;

		snprintf(path, sizeof path, "%s/%s", dir, names[f]);
		fd = open(path, O_RDONLY);
		assert_true(fd >= 0);
		assert_int_equal(tbw__tfr_reader_open(&r, fd, 0, path), TBW_OK);
		for (;;) {
			const uint8_t *data;
			size_t len;
			tbw_event ev;
			int st = tbw__tfr_reader_next(r, &data, &len, NULL);
			if (st != TBW_TFR_RECORD) {
				if (st != TBW_TFR_END)
					corrupt++;
				break;
			}
			assert_int_equal(tbw__event_decode(data, len, &ev), TBW_OK);
			fn(ctx, &ev);
		}
		tbw__tfr_reader_close(r);
		close(fd);
		free(names[f]);
	}
	return corrupt;
}

typedef struct readback_ctx {
	readback rb;
	int64_t last_index;
} readback_ctx;

/* Checks scalar k is scalar_at(k): exactly once, in order, bit for bit (as
 * float32). */
static void readback_event(void *vctx, const tbw_event *ev)
{
	readback_ctx *c = vctx;
	readback *rb = &c->rb;
	const char *tag;
	int64_t step, idx = -1;
	double v;

	if (ev->kind == TBW_EVENT_SESSION_START)
		rb->starts++;
	if (ev->kind != TBW_EVENT_SCALAR)
		return;
	scalar_at(rb->n, &tag, &step, &v);
	if (ev->tag_len != strlen(tag) || memcmp(ev->tag, tag, ev->tag_len) ||
	    ev->step != step || ev->value != (float)v)
		rb->in_order = 0;
	if (ev->step < 0 || ev->tag_len == 0)
		rb->bad++;
	/* Which logged scalar is it? (tag, step) names one. */
	for (int t = 0; t < NTAGS; t++)
		if (ev->tag_len == strlen(tags[t]) && !memcmp(ev->tag, tags[t], ev->tag_len))
			idx = ev->step * NTAGS + t;
	if (idx < 0) {
		rb->phantoms++;
	} else {
		scalar_at((uint64_t)idx, &tag, &step, &v);
		if (ev->value != (float)v)
			rb->phantoms++;
		if (idx <= c->last_index)
			rb->increasing = 0;
		c->last_index = idx;
	}
	rb->n++;
}

/* Read every tbwal event file of dir in name order. */
static readback read_back(const char *dir)
{
	readback_ctx c = { { 0, 0, 1, 0, 0, 1, 0 }, -1 };
	c.rb.corrupt = each_event(dir, NULL, readback_event, &c);
	return c.rb;
}

typedef struct figures_ctx {
	const tbw_recover_report *rep;
	tbw_recover_tag *t;
	uint64_t total;
} figures_ctx;

static void figures_event(void *vctx, const tbw_event *ev)
{
	figures_ctx *c = vctx;
	size_t k;

	if (ev->kind != TBW_EVENT_SCALAR)
		return;
	for (k = 0; k < c->rep->ntags; k++)
		if (strlen(c->rep->tags[k].tag) == ev->tag_len && !memcmp(c->rep->tags[k].tag, ev->tag, ev->tag_len))
			break;
	assert_true(k < c->rep->ntags);   /* a tag the report does not name */
	if (c->t[k].count == 0)
		c->t[k].first_step = c->t[k].min_step = c->t[k].max_step = ev->step;
	if (ev->step < c->t[k].min_step)
		c->t[k].min_step = ev->step;
	if (ev->step > c->t[k].max_step)
		c->t[k].max_step = ev->step;
	c->t[k].last_step = ev->step;
	c->t[k].last_value = ev->value;
	c->t[k].last_wall_time = ev->wall_time;
	c->t[k].count++;
	c->total++;
}

/* A recovery's report takes the figures of what it exported as it writes
 * them and reads back only the files that were there before. They must be
 * what the files say: per tag (count, steps, last value and wall time) and
 * in all, read here with the TFRecord and event decoders alone. */
static void assert_report_as_files_say(const tbw_recover_report *rep)
{
	figures_ctx c = { rep, calloc(rep->ntags + 1, sizeof *c.t), 0 };

	assert_non_null(c.t);
	each_event(logdir, rep->run_id, figures_event, &c);
	assert_int_equal(rep->total_scalars, c.total);
	for (size_t k = 0; k < rep->ntags; k++) {
		assert_int_equal(rep->tags[k].count, c.t[k].count);
		assert_int_equal(rep->tags[k].first_step, c.t[k].first_step);
		assert_int_equal(rep->tags[k].min_step, c.t[k].min_step);
		assert_int_equal(rep->tags[k].max_step, c.t[k].max_step);
		assert_int_equal(rep->tags[k].last_step, c.t[k].last_step);
		assert_true(rep->tags[k].last_value == c.t[k].last_value);
		assert_true(rep->tags[k].last_wall_time == c.t[k].last_wall_time);
	}
	free(c.t);
}

static int recover(const char *const *from, size_t nfrom, int dry, tbw_recover_report *rep)
{
	tbw_recover_cfg cfg = TBW_RECOVER_CFG_INIT;
	int rc;

	cfg.logdir = logdir;
	cfg.from = from;
	cfg.nfrom = nfrom;
	cfg.dry_run = dry;
	rc = tbw__recover_run(&cfg, rep);
	if (!dry && (rc == TBW_OK || rc == TBW_ECORRUPT) && rep->exported > 0)
		assert_report_as_files_say(rep);
	return rc;
}

static void assert_exactly(uint64_t n)
{
	readback rb = read_back(logdir);
	assert_int_equal(rb.corrupt, 0);
	assert_true(rb.in_order);
	assert_int_equal(rb.n, n);
}

/* Snapshot of a directory's names and sizes, to prove a rerun changes nothing. */
static void snapshot(const char *dir, char *out, size_t cap)
{
	char cmd[1200];
	FILE *p;
	size_t k;

	snprintf(cmd, sizeof cmd, "cd '%s' && find . -path ./.tbwal -prune -o -type f -printf '%%p %%s\\n' | sort", dir);
	p = popen(cmd, "r");
	assert_non_null(p);
	k = fread(out, 1, cap - 1, p);
	out[k] = '\0';
	pclose(p);
}

/* ---- Case 1: the process died, the journal is intact ---- */

static void test_recover_intact_journal_finishes_export(void **state)
{
	tbw_recover_report rep;
	(void)state;

	child_logs_and_dies(0, 0, 0, 1000);
	assert_int_equal(read_back(logdir).n, 0);
	assert_int_equal(recover(NULL, 0, 0, &rep), TBW_OK);
	assert_int_equal(rep.exported, 1000);
	assert_int_equal(rep.total_scalars, 1000);
	assert_int_equal(rep.lost, 0);
	assert_int_equal(rep.ntags, NTAGS);
	assert_string_equal(rep.tags[0].tag, "accuracy");   /* sorted */
	assert_int_equal(rep.tags[0].count, 250);
	tbw__recover_report_free(&rep);
	assert_exactly(1000);
}

/* The report's tag table over 20,000 tags first seen in descending order
 * (each new tag sorts before every earlier one, the worst case for a table
 * kept sorted by insertion): each tag once, sorted by name, its count and
 * last value right. */
static void test_recover_report_of_20000_tags_seen_in_reverse_order_is_sorted(void **state)
{
	enum { N = 20000 };
	tbw_options o = TBW_OPTIONS_INIT;
	tbw_recover_report rep;
	tbw_writer *w = NULL;
	(void)state;

	assert_int_equal(tbw_open(&w, logdir, &o), TBW_OK);
	for (int i = 0; i < N; i++) {
		char tag[32];
		snprintf(tag, sizeof tag, "t/%05d", N - 1 - i);
		assert_int_equal(tbw_add_scalar(w, tag, (double)i, i, 0), TBW_OK);
		if (i % 7 == 0)   /* some tags twice */
			assert_int_equal(tbw_add_scalar(w, tag, (double)i + 0.5, i + 1, 0), TBW_OK);
	}
	assert_int_equal(tbw_close(w), TBW_OK);
	assert_int_equal(recover(NULL, 0, 0, &rep), TBW_OK);
	assert_int_equal(rep.ntags, N);
	for (int k = 0; k < N; k++) {
		char tag[32];
		int i = N - 1 - k;                 /* the record that logged t/<k> */
		snprintf(tag, sizeof tag, "t/%05d", k);
		assert_string_equal(rep.tags[k].tag, tag);
		assert_int_equal(rep.tags[k].count, i % 7 == 0 ? 2 : 1);
		assert_true(rep.tags[k].last_value == (i % 7 == 0 ? i + 0.5 : (double)i));
	}
	assert_int_equal(rep.total_scalars, N + (N + 6) / 7);
	tbw__recover_report_free(&rep);
}

/* ---- Case 2: the machine is lost: only the sync folder is left ---- */

static void test_recover_lost_machine_from_segments_alone(void **state)
{
	tbw_recover_report rep;
	const char *from[1];
	(void)state;

	{
		tbw_writer *w = open_writer(1);
		log_range(w, 0, 700);
		assert_int_equal(tbw_close(w), TBW_OK);
	}
	sh("rm -rf '%s'", logdir);                     /* the VM is gone */
	from[0] = run_dir();
	assert_int_equal(recover(from, 1, 0, &rep), TBW_OK);
	assert_true(rep.journal_created);
	assert_int_equal(rep.total_scalars, 700);
	assert_int_equal(rep.lost, 0);
	assert_true(rep.newest_shipped_wall_time >= 1700000000.0 + 699);
	for (size_t i = 0; i < rep.ntags; i++)
		if (!strcmp(rep.tags[i].tag, "loss"))   /* index 696 is its last: step 174 */
			assert_int_equal(rep.tags[i].last_step, 174);
	tbw__recover_report_free(&rep);
	assert_exactly(700);

	/* Training resumes with the same logdir and goes on in that journal. */
	{
		tbw_writer *w = open_writer(0);
		log_range(w, 700, 800);
		assert_int_equal(tbw_close(w), TBW_OK);
	}
	assert_exactly(800);
}

/* ---- Case 3: journal and segments, overlapping ---- */

static void test_recover_merges_journal_and_segments(void **state)
{
	tbw_recover_report rep;
	const char *from[1];
	(void)state;

	/* 0..600 shipped and exported, then 600..900 only in the journal. */
	child_logs_and_dies(1, 0, 600, 900);
	from[0] = run_dir();
	assert_int_equal(recover(from, 1, 0, &rep), TBW_OK);
	assert_int_equal(rep.total_scalars, 900);
	assert_int_equal(rep.exported, 300);
	tbw__recover_report_free(&rep);
	assert_exactly(900);
}

/* ---- Case 4: a damaged journal ---- */

static void damage_meta_pages(const char *jdir)
{
	char path[1100];
	int fd;
	char zero[8192] = {0};

	snprintf(path, sizeof path, "%s/data.mdb", jdir);
	fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, zero, sizeof zero, 0), (ssize_t)sizeof zero);
	close(fd);
}

static void test_recover_damaged_journal_salvages_and_uses_segments(void **state)
{
	tbw_recover_report rep;
	const char *from[1];
	char jdir[1024];
	(void)state;

	child_logs_and_dies(1, 0, 400, 500);
	snprintf(jdir, sizeof jdir, "%s/.tbwal", logdir);
	damage_meta_pages(jdir);
	from[0] = run_dir();
	assert_int_equal(recover(from, 1, 0, &rep), TBW_OK);
	assert_true(rep.journal_salvaged);
	assert_true(rep.moved_aside[0] != '\0');
	assert_true(rep.ndamage >= 1);
	assert_int_equal(rep.total_scalars, 500);
	tbw__recover_report_free(&rep);
	assert_exactly(500);
}

/* A rebuild interrupted between its two renames (where names cannot be
 * exchanged atomically) leaves JDIR missing and JDIR.rebuilt complete: the
 * next run puts it in place. A rebuilt journal left beside a whole JDIR is
 * moved aside, never deleted. */
static void test_recover_finishes_an_interrupted_rebuild(void **state)
{
	tbw_recover_report rep;
	(void)state;

	child_logs_and_dies(0, 0, 0, 120);
	sh("mv '%s/.tbwal' '%s/.tbwal.rebuilt'", logdir, logdir);
	assert_int_equal(recover(NULL, 0, 0, &rep), TBW_OK);
	tbw__recover_report_free(&rep);
	assert_exactly(120);
	sh("test -d '%s/.tbwal' && test ! -e '%s/.tbwal.rebuilt'", logdir, logdir);
	/* A leftover beside a whole journal goes aside. */
	sh("mkdir '%s/.tbwal.rebuilt' && touch '%s/.tbwal.rebuilt/data.mdb'", logdir, logdir);
	assert_int_equal(recover(NULL, 0, 0, &rep), TBW_OK);
	tbw__recover_report_free(&rep);
	sh("test ! -e '%s/.tbwal.rebuilt' && ls '%s'/.tbwal-recovered/*/leftover-journal/data.mdb >/dev/null",
	   logdir, logdir);
	assert_exactly(120);
}

static void test_recover_damaged_journal_without_segments_reports_loss(void **state)
{
	tbw_recover_report rep;
	char path[1024];
	(void)state;

	child_logs_and_dies(0, 0, 0, 300);
	/* Remove the journal entirely, leave one event file's worth? No: lose
	 * the journal and have nothing else: nothing to recover. */
	snprintf(path, sizeof path, "%s/.tbwal", logdir);
	sh("rm -rf '%s'", path);
	assert_int_equal(recover(NULL, 0, 0, &rep), TBW_ENOTFOUND);
	tbw__recover_report_free(&rep);
}

/* ---- Case 5: event files already there, whole or in part ---- */

static void test_recover_half_kept_event_file_ends_exactly_once(void **state)
{
	tbw_recover_report rep;
	const char *from[1];
	char cmd[1200];
	(void)state;

	{
		tbw_writer *w = open_writer(1);
		log_range(w, 0, 800);
		assert_int_equal(tbw_close(w), TBW_OK);
	}
	/* A file TensorBoard reads that tbwal did not write. */
	sh("printf 'foreign' > '%s/events.out.tfevents.1600000000.other.1.0'", logdir);
	/* The VM is lost; the Drive folder kept half of the event file. */
	sh("rm -rf '%s/.tbwal'", logdir);
	snprintf(cmd, sizeof cmd, "cd '%s' && for f in events.out.tfevents.*.tbwal-*; do "
	         "s=$(stat -c %%s \"$f\"); truncate -s $((s/2)) \"$f\"; done", logdir);
	sh("%s", cmd);
	from[0] = run_dir();
	assert_int_equal(recover(from, 1, 0, &rep), TBW_OK);
	assert_int_equal(rep.total_scalars, 800);
	tbw__recover_report_free(&rep);
	assert_exactly(800);
	sh("test \"$(cat '%s/events.out.tfevents.1600000000.other.1.0')\" = foreign", logdir);
}

static void test_recover_damaged_middle_file_is_moved_aside_and_rewritten(void **state)
{
	tbw_recover_report rep;
	const char *from[1];
	(void)state;

	/* Three sessions, three files; then a byte of the first is flipped. */
	for (int s = 0; s < 3; s++) {
		tbw_writer *w = open_writer(1);
		log_range(w, (uint64_t)s * 200, (uint64_t)(s + 1) * 200);
		assert_int_equal(tbw_close(w), TBW_OK);
	}
	assert_exactly(600);
	sh("cd '%s' && f=$(ls events.out.tfevents.*.tbwal-* | head -n1) && "
	   "printf '\\377' | dd of=\"$f\" bs=1 seek=300 conv=notrunc status=none", logdir);
	from[0] = run_dir();
	assert_int_equal(recover(from, 1, 0, &rep), TBW_OK);
	assert_int_equal(rep.files_replaced, 3);
	assert_true(rep.moved_aside[0] != '\0');
	tbw__recover_report_free(&rep);
	assert_exactly(600);
	/* The replaced files are kept, where TensorBoard does not look. */
	sh("ls '%s'/.tbwal-recovered/*/ | grep -c TFEVENTS-REPLACED | grep -qx 3", logdir);
	sh("! ls -R '%s/.tbwal-recovered' | grep -q tfevents", logdir);
}

/* ---- Case 6: a writer is still running ---- */

static void test_recover_refuses_while_a_writer_runs(void **state)
{
	tbw_recover_report rep;
	int pfd[2];
	pid_t pid;
	char c;
	(void)state;

	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		tbw_writer *w = open_writer(0);
		log_range(w, 0, 10);
		if (write(pfd[1], "x", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	assert_int_equal(read(pfd[0], &c, 1), 1);
	assert_int_equal(recover(NULL, 0, 0, &rep), TBW_EBUSY);
	assert_non_null(strstr(tbw_errmsg(), "writer"));
	tbw__recover_report_free(&rep);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(pfd[0]);
	close(pfd[1]);
	/* Once it is dead, recovery goes ahead. */
	assert_int_equal(recover(NULL, 0, 0, &rep), TBW_OK);
	tbw__recover_report_free(&rep);
	assert_exactly(10);
}

/* ---- Hostile LOGDIR entries named like our event files ---- */

static void test_recover_non_regular_entry_named_like_an_event_file(void **state)
{
	tbw_recover_report rep;
	char canary[700];
	(void)state;

	{
		tbw_writer *w = open_writer(0);
		log_range(w, 0, 100);
		assert_int_equal(tbw_close(w), TBW_OK);
	}
	snprintf(canary, sizeof canary, "%s/../canary", logdir);
	sh("printf keep > '%s'", canary);
	/* Same run, later names: a FIFO, a symlink out of LOGDIR, a folder. */
	sh("cd '%s' && f=$(ls events.out.tfevents.*.tbwal-*) && r=${f#*.tbwal-} && r=${r%%%%-*} && "
	   "mkfifo events.out.tfevents.9999999991.h.1.0000000002.tbwal-$r-0000000000000064 && "
	   "ln -s ../canary events.out.tfevents.9999999992.h.1.0000000003.tbwal-$r-0000000000000064 && "
	   "mkdir events.out.tfevents.9999999993.h.1.0000000004.tbwal-$r-0000000000000064", logdir);
	assert_int_equal(recover(NULL, 0, 0, &rep), TBW_OK);
	assert_int_equal(rep.files_replaced, 3);
	assert_true(rep.ndamage >= 1);
	assert_non_null(strstr(rep.damage[0].what, "not a regular file"));
	tbw__recover_report_free(&rep);
	assert_exactly(100);
	sh("test \"$(cat '%s')\" = keep", canary);
	sh("test $(ls '%s' | grep -c tfevents) -eq 1", logdir);
}

static void test_recover_never_follows_a_planted_recovered_folder_symlink(void **state)
{
	tbw_recover_report rep;
	char outside[700];
	(void)state;

	{
		tbw_writer *w = open_writer(0);
		log_range(w, 0, 50);
		assert_int_equal(tbw_close(w), TBW_OK);
	}
	snprintf(outside, sizeof outside, "%s/../outside", logdir);
	sh("mkdir -p '%s' && ln -s ../outside '%s/.tbwal-recovered'", outside, logdir);
	/* Damage the event file so that recovery must move it aside. */
	sh("cd '%s' && f=$(ls events.out.tfevents.*.tbwal-*) && "
	   "printf '\\377' | dd of=\"$f\" bs=1 seek=200 conv=notrunc status=none", logdir);
	assert_int_equal(recover(NULL, 0, 0, &rep), TBW_EINVAL);
	assert_non_null(strstr(tbw_errmsg(), "not a folder"));
	tbw__recover_report_free(&rep);
	sh("test -z \"$(ls -A '%s')\"", outside);     /* nothing was put there */
}

/* ---- Running it twice changes nothing ---- */

static void test_recover_twice_changes_nothing(void **state)
{
	tbw_recover_report rep;
	const char *from[1];
	static char a[65536], b[65536];
	(void)state;

	child_logs_and_dies(1, 0, 300, 450);
	from[0] = run_dir();
	assert_int_equal(recover(from, 1, 0, &rep), TBW_OK);
	tbw__recover_report_free(&rep);
	snapshot(logdir, a, sizeof a);
	assert_int_equal(recover(from, 1, 0, &rep), TBW_OK);
	assert_int_equal(rep.exported, 0);
	assert_int_equal(rep.files_replaced, 0);
	tbw__recover_report_free(&rep);
	snapshot(logdir, b, sizeof b);
	assert_string_equal(a, b);
	assert_exactly(450);
}

/* Every file under dir (the journal left out) with its size, inode, mtime
 * and checksum: a rerun that rewrote or moved one shows. */
static void snapshot_files(const char *dir, char *out, size_t cap)
{
	char cmd[1400];
	FILE *p;
	size_t k;

	snprintf(cmd, sizeof cmd, "cd '%s' && find . -path ./.tbwal -prune -o -type f -printf '%%p %%s %%i %%T@ ' "
	         "-exec sh -c 'cksum < \"$1\"' sh {} \\; | sort", dir);
	p = popen(cmd, "r");
	assert_non_null(p);
	k = fread(out, 1, cap - 1, p);
	out[k] = '\0';
	pclose(p);
}

/* The loss line of a report ("sequence numbers a..b are in no source"). */
static const tbw_recover_damage *loss_line(const tbw_recover_report *rep)
{
	const tbw_recover_damage *found = NULL;
	for (size_t k = 0; k < rep->ndamage; k++)
		if (strstr(rep->damage[k].what, "are in no source; lost")) {
			assert_null(found);   /* one gap, one line */
			found = &rep->damage[k];
		}
	assert_non_null(found);
	return found;
}

/* Three writer sessions, a file each (seq 1..200, 201..400, 401..600),
 * shipped to the sync folder if sync is set. */
static void three_sessions(int sync)
{
	for (int s = 0; s < 3; s++) {
		tbw_writer *w = open_writer(sync);
		log_range(w, (uint64_t)s * 200, (uint64_t)(s + 1) * 200);
		assert_int_equal(tbw_close(w), TBW_OK);
	}
	assert_exactly(600);
}

/* The event files' reading, with a gap: each scalar once, in order. */
static void assert_once_in_order(uint64_t n)
{
	readback rb = read_back(logdir);
	assert_int_equal(rb.corrupt, 0);
	assert_int_equal(rb.phantoms, 0);
	assert_true(rb.increasing);
	assert_int_equal(rb.n, n);
}

/* The middle one of three event files is cut to half its size, and no
 * source holds the records it lost: the first recovery restores the half
 * that is left, rewriting the files from it on, and reports the rest
 * lost. A second run can restore nothing more: it must leave the files
 * alone (no move aside, no new repair file a running TensorBoard would
 * read again) and report the same loss, with the same exit code. */
static void test_recover_twice_after_a_loss_keeps_the_files(void **state)
{
	tbw_recover_report rep;
	static char a[65536], b[65536];
	char what[256], path[4096];
	uint64_t lost;
	(void)state;

	three_sessions(0);
	sh("cd '%s' && f=$(ls events.out.tfevents.*.tbwal-* | sed -n 2p) && "
	   "truncate -s $(($(stat -c %%s \"$f\") / 2)) \"$f\"", logdir);
	assert_int_equal(recover(NULL, 0, 0, &rep), TBW_ECORRUPT);
	assert_true(rep.lost > 0 && rep.lost < 200);
	assert_int_equal(rep.files_replaced, 2);
	assert_int_equal(rep.last_seq, 600);
	lost = rep.lost;
	snprintf(what, sizeof what, "%s", loss_line(&rep)->what);
	snprintf(path, sizeof path, "%s", loss_line(&rep)->path);
	tbw__recover_report_free(&rep);
	assert_once_in_order(600 - lost);
	snapshot_files(logdir, a, sizeof a);
	sleep(1);   /* a rewrite would change an mtime */

	assert_int_equal(recover(NULL, 0, 0, &rep), TBW_ECORRUPT);
	assert_int_equal(rep.lost, lost);
	assert_int_equal(rep.last_seq, 600);
	assert_string_equal(loss_line(&rep)->what, what);
	assert_string_equal(loss_line(&rep)->path, path);
	assert_int_equal(rep.exported, 0);
	assert_int_equal(rep.files_replaced, 0);
	assert_int_equal(rep.total_scalars, 600 - lost);
	assert_report_as_files_say(&rep);
	tbw__recover_report_free(&rep);
	snapshot_files(logdir, b, sizeof b);
	assert_string_equal(a, b);
}

/* The middle file is deleted and nothing else holds its records: a loss
 * (exit 1, the range named) that no rewrite can fill, so not even the
 * first run rewrites the files after it; nor does a second. */
static void test_recover_a_gap_no_source_holds_is_reported_and_nothing_rewritten(void **state)
{
	tbw_recover_report rep;
	static char a[65536], b[65536];
	(void)state;

	three_sessions(0);
	sh("cd '%s' && rm \"$(ls events.out.tfevents.*.tbwal-* | sed -n 2p)\"", logdir);
	snapshot_files(logdir, a, sizeof a);
	for (int run = 0; run < 2; run++) {
		assert_int_equal(recover(NULL, 0, 0, &rep), TBW_ECORRUPT);
		assert_int_equal(rep.lost, 200);
		assert_string_equal(loss_line(&rep)->what, "sequence numbers 201..400 are in no source; lost");
		assert_int_equal(rep.exported, 0);
		assert_int_equal(rep.files_replaced, 0);
		assert_int_equal(rep.event_files, 2);
		assert_report_as_files_say(&rep);
		tbw__recover_report_free(&rep);
		snapshot_files(logdir, b, sizeof b);
		assert_string_equal(a, b);
	}
	assert_once_in_order(400);
}

/* A damaged segment whose name claims part of the gap might hold some of
 * it: what a segment gives is known only once it is read, after the files
 * are decided. So every run rewrites from the gap, and the report names
 * the segment (doc/recover.md, "A rerun after a loss"). */
static void test_recover_rerun_rewrites_while_a_damaged_segment_claims_the_gap(void **state)
{
	tbw_recover_report rep;
	const char *from[1];
	(void)state;

	three_sessions(1);
	sh("rm -rf '%s/.tbwal' && cd '%s' && rm \"$(ls events.out.tfevents.*.tbwal-* | sed -n 2p)\"",
	   logdir, logdir);
	from[0] = run_dir();
	/* every segment holding some of 201..400: cut inside its first block */
	sh("cd '%s' && for f in seg-*; do a=$(printf %%d 0x$(echo $f | cut -c5-20)); "
	   "b=$(printf %%d 0x$(echo $f | cut -c22-37)); if [ $a -le 400 ] && [ $b -gt 200 ]; then "
	   "truncate -s 100 $f; fi; done", from[0]);
	for (int run = 0; run < 2; run++) {
		unsigned long long first = 0, last = 0;
		assert_int_equal(recover(from, 1, 0, &rep), TBW_ECORRUPT);
		assert_int_equal(rep.lost, 200);
		assert_string_equal(loss_line(&rep)->what, "sequence numbers 201..400 are in no source; lost");
		assert_int_equal(rep.files_replaced, 1);
		for (size_t k = 0; k < rep.ndamage; k++) {
			const char *w = strstr(rep.damage[k].what, "rewriting from here: segment seg-");
			if (w)
				assert_int_equal(sscanf(w, "rewriting from here: segment seg-%16llx-%16llx", &first, &last), 2);
		}
		assert_true(first <= 400 && last > 200);
		tbw__recover_report_free(&rep);
		assert_once_in_order(400);
	}
}

/* ---- Dry run changes nothing ---- */

static void test_recover_dry_run_changes_nothing(void **state)
{
	tbw_recover_report rep;
	static char a[65536], b[65536];
	(void)state;

	child_logs_and_dies(0, 0, 0, 200);
	snapshot(logdir, a, sizeof a);
	assert_int_equal(recover(NULL, 0, 1, &rep), TBW_OK);
	assert_int_equal(rep.sources[0].records, 200);
	tbw__recover_report_free(&rep);
	snapshot(logdir, b, sizeof b);
	assert_string_equal(a, b);
	assert_int_equal(read_back(logdir).n, 0);
}

/* ---- --purge-step ---- */

static void test_recover_purge_step_writes_a_start(void **state)
{
	tbw_recover_cfg cfg = TBW_RECOVER_CFG_INIT;
	tbw_recover_report rep;
	readback rb;
	(void)state;

	child_logs_and_dies(0, 0, 0, 100);
	cfg.logdir = logdir;
	cfg.purge_step = 10;
	assert_int_equal(tbw__recover_run(&cfg, &rep), TBW_OK);
	tbw__recover_report_free(&rep);
	rb = read_back(logdir);
	/* the purge rewrite left only the scalars at steps < 10 (4 tags);
	 * the others are tombstones (doc/compactor.md) */
	assert_int_equal(rb.n, 10 * NTAGS);
	assert_int_equal(rb.starts, 2);    /* the run's sacrificial START + the purge */
}

/* ---- Segments of another run are not merged ---- */

static void test_recover_ignores_segments_of_another_run(void **state)
{
	tbw_recover_report rep;
	const char *from[1];
	char other[1024];
	(void)state;

	{
		tbw_writer *w = open_writer(1);
		log_range(w, 0, 50);
		assert_int_equal(tbw_close(w), TBW_OK);
	}
	snprintf(other, sizeof other, "%s", run_dir());
	sh("mv '%s' '%s.other'", other, other);
	sh("rm -rf '%s/.tbwal' '%s'/events.out.tfevents.*", logdir, logdir);
	child_logs_and_dies(0, 0, 0, 20);   /* a new run in the same logdir */
	snprintf(other + strlen(other), sizeof other - strlen(other), ".other");
	from[0] = other;
	assert_int_equal(recover(from, 1, 0, &rep), TBW_OK);
	assert_int_equal(rep.sources[1].used, 0);
	assert_non_null(strstr(rep.sources[1].note, "belong to run"));
	tbw__recover_report_free(&rep);
	assert_exactly(20);
}

/* ---- Issue 17: run identity comes from the folder, never a segment ---- */

static int count_damage_with(const tbw_recover_report *rep, const char *needle)
{
	int n = 0;
	for (size_t i = 0; i < rep->ndamage; i++)
		if (strstr(rep->damage[i].what, needle))
			n++;
	return n;
}

/* Copy the segments of folder from into folder to that to has no file of
 * the name of; returns how many were copied. */
static int copy_segments_not_there(const char *from, const char *to)
{
	DIR *d = opendir(from);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		char p[2048];
		if (strncmp(de->d_name, "seg-", 4) != 0)
			continue;
		snprintf(p, sizeof p, "%s/%s", to, de->d_name);
		if (access(p, F_OK) == 0)
			continue;
		sh("cp '%s/%s' '%s'", from, de->d_name, p);
		n++;
	}
	closedir(d);
	return n;
}

static void test_recover_run_identity_from_the_folder_not_the_first_segment(void **state)
{
	tbw_recover_report rep;
	const char *from[1];
	char mine[1024], other[1024], other_id[33];
	int nforeign;
	(void)state;

	/* Another run: 500 scalars shipped, in a folder of its own. */
	{
		tbw_writer *w = open_writer(1);
		log_range(w, 0, 500);
		assert_int_equal(tbw_close(w), TBW_OK);
	}
	{
		char *r = run_dir();
		snprintf(other, sizeof other, "%s/c%d/elsewhere/%s", root, case_no, strrchr(r, '/') + 1);
		sh("mkdir -p '%s/c%d/elsewhere' && mv '%s' '%s' && rm -rf '%s'", root, case_no, r, other, logdir);
	}
	memcpy(other_id, other + strlen(other) - 32, 32);
	other_id[32] = '\0';
	/* This run: 1,000 scalars; then the VM is lost. */
	{
		tbw_writer *w = open_writer(1);
		log_range(w, 0, 1000);
		assert_int_equal(tbw_close(w), TBW_OK);
	}
	snprintf(mine, sizeof mine, "%s", run_dir());
	sh("rm -rf '%s'", logdir);
	/* The other run's segments copied in sort first (their ranges end
	 * sooner). A sync pass during the run may have shipped the 500 in more
	 * than one segment: each is reported. One named like one of ours (both
	 * runs' first passes shipped the same range) is not copied: it would
	 * replace ours, a loss of the test's making. */
	nforeign = copy_segments_not_there(other, mine);
	assert_true(nforeign >= 1);
	from[0] = mine;
	assert_int_equal(recover(from, 1, 0, &rep), TBW_OK);
	assert_memory_equal(rep.run_id, mine + strlen(mine) - 32, 32);
	assert_int_equal(rep.total_scalars, 1000);
	assert_int_equal(rep.lost, 0);
	/* Each foreign segment is named with its run id and set aside, not deleted. */
	assert_int_equal(count_damage_with(&rep, other_id), nforeign);
	assert_int_equal(count_damage_with(&rep, "foreign"), nforeign);
	assert_int_equal(count_damage_with(&rep, "moved to"), nforeign);
	tbw__recover_report_free(&rep);
	assert_exactly(1000);
	assert_int_equal(sh_status("ls '%s'/.tbwal-set-aside/seg-* >/dev/null 2>&1", mine), 0);
}

/* ---- Issue 17: split brain, the old VM alive while a new one resumes ---- */

static tbw_writer *open_writer_at(const char *dir)
{
	tbw_options o = TBW_OPTIONS_INIT;
	tbw_writer *w = NULL;

	o.compact_interval_ms = 0;
	o.sync_dir = syncdir;
	o.sync_interval_ms = 3600 * 1000;
	o.run_name = "run";
	assert_int_equal(tbw_open(&w, dir, &o), TBW_OK);
	return w;
}

/* Split brain, the start: the new VM's LOGDIR and the final one are
 * named, LOGDIR saved; the old VM logs and ships 0..600 and keeps running
 * (its writer is returned). */
static tbw_writer *split_brain_old_vm(char newvm[512], char final_dir[512], char saved[512])
{
	tbw_writer *old;
	snprintf(newvm, 512, "%s/c%d/newvm", root, case_no);
	snprintf(final_dir, 512, "%s/c%d/final", root, case_no);
	snprintf(saved, 512, "%s", logdir);
	old = open_writer_at(logdir);
	log_range(old, 0, 600);
	assert_int_equal(tbw_flush(old), TBW_OK);
	return old;
}

/* Split brain, the end: everything lost, the run restored from the folder
 * alone into final_dir: the new VM's 1,000 scalars, none lost. */
static void split_brain_final_restore(const char *const *from, const char *final_dir,
                                      tbw_recover_report *rep)
{
	snprintf(logdir, sizeof logdir, "%s", final_dir);
	sh("mkdir -p '%s'", final_dir);
	assert_int_equal(recover(from, 1, 0, rep), TBW_OK);
	assert_int_equal(rep->total_scalars, 1000);
	assert_int_equal(rep->lost, 0);
}

static void test_recover_split_brain_restores_one_history_and_reports_the_rest(void **state)
{
	tbw_recover_report rep;
	const char *from[1];
	char newvm[512], final_dir[512], saved[512];
	tbw_writer *old;
	(void)state;

	/* The old VM ships 0..600 and keeps running. The new VM will start
	 * from the folder as it is now (a copy, taken before the old VM logs
	 * more: its background ship pass may run at any moment after). */
	old = split_brain_old_vm(newvm, final_dir, saved);
	from[0] = run_dir();
	char snap[700];
	snprintf(snap, sizeof snap, "%s/c%d/snap", root, case_no);
	sh("mkdir -p '%s' && cp -r '%s' '%s/'", snap, from[0], snap);
	/* The old VM ships 600..900 more (other values: tag "old/loss")
	 * before the new VM's writer starts: this cannot be prevented. */
	for (int i = 600; i < 900; i++)
		assert_int_equal(tbw_add_scalar(old, "old/loss", -1.0, i, 1.8e9 + i), TBW_OK);
	/* A new VM restores what was shipped at 600 (the copy), resumes and
	 * ships 600..1000 as a new generation. */
	snprintf(logdir, sizeof logdir, "%s", newvm);
	{
		assert_int_equal(tbw_flush(old), TBW_OK);      /* 600..900 of the old VM ship now */
		char snapdir[1200];
		snprintf(snapdir, sizeof snapdir, "%s/%s", snap, strrchr(from[0], '/') + 1);
		const char *sf[1] = { snapdir };
		assert_int_equal(recover(sf, 1, 0, &rep), TBW_OK);
		assert_int_equal(rep.total_scalars, 600);
		tbw__recover_report_free(&rep);
	}
	{
		tbw_writer *w = open_writer_at(newvm);
		log_range(w, 600, 1000);
		assert_int_equal(tbw_close(w), TBW_OK);
	}
	/* The old VM goes on logging: now it cannot ship over the new one. */
	for (int i = 900; i < 950; i++)
		assert_int_equal(tbw_add_scalar(old, "old/loss", -1.0, i, 1.8e9 + i), TBW_OK);
	assert_int_equal(tbw_flush(old), TBW_EBUSY);
	assert_non_null(strstr(tbw_errmsg(), "generation"));
	tbw_close(old);
	assert_int_equal(sh_status("ls '%s' | grep -v -- '-g' | grep -q '0000000000000384-L'", from[0]), 0);
	assert_int_equal(sh_status("ls '%s' | grep -q '03b6-L'", from[0]), 1); /* 950: never shipped */

	/* Everything lost again: restore from the folder alone. One history
	 * (the new VM's, 1000 scalars in order, no "old/loss"), and what was
	 * set aside is said: where and why. */
	split_brain_final_restore(from, final_dir, &rep);
	{
		uint64_t aside = 0;
		int n = 0;
		for (size_t i = 0; i < rep.ndamage; i++)
			if (strstr(rep.damage[i].what, "superseded")) {
				n++;
				assert_non_null(strstr(rep.damage[i].what, "moved to"));
				unsigned long long a, b, c;
				const char *p = strstr(rep.damage[i].what, "records seq ");
				assert_non_null(p);
				assert_int_equal(sscanf(p, "records seq %llu..%llu (%llu records)", &a, &b, &c), 3);
				aside += c;
			}
		assert_true(n >= 1);
		assert_true(aside >= 300);       /* at least the old VM's 300 conflicting records */
	}
	for (size_t i = 0; i < rep.ntags; i++)
		assert_string_not_equal(rep.tags[i].tag, "old/loss");
	tbw__recover_report_free(&rep);
	assert_exactly(1000);
	snprintf(logdir, sizeof logdir, "%s", saved);
}

/* Split brain where both machines logged the same records: the old VM,
 * still alive, logs and ships 600..700 exactly as the resumed new VM does
 * (a deterministic run resumed from the same point), then `conflicting`
 * records of its own. The records both have in common (same seq, same
 * content) are one history: restored once and never reported as set
 * aside; only the conflicting ones are, with their exact range, where and
 * why. With no conflict, nothing is set aside at all. */
static void split_brain_with_shared_history(uint64_t conflicting)
{
	tbw_recover_report rep;
	const char *from[1];
	char newvm[512], final_dir[512], saved[512];
	tbw_writer *old;

	old = split_brain_old_vm(newvm, final_dir, saved);
	from[0] = run_dir();
	/* The new VM restores the 600 shipped so far. */
	snprintf(logdir, sizeof logdir, "%s", newvm);
	assert_int_equal(recover(from, 1, 0, &rep), TBW_OK);
	assert_int_equal(rep.total_scalars, 600);
	tbw__recover_report_free(&rep);
	/* The old VM ships seq 601..700 as the new VM will log them, and
	 * 701.. of its own, before the new VM's writer starts. */
	log_range(old, 600, 700);
	for (uint64_t i = 700; i < 700 + conflicting; i++)
		assert_int_equal(tbw_add_scalar(old, "old/loss", -1.0, (int64_t)i, 1.8e9 + (double)i), TBW_OK);
	assert_int_equal(tbw_flush(old), TBW_OK);
	{
		tbw_writer *w = open_writer_at(newvm);
		log_range(w, 600, 1000);
		assert_int_equal(tbw_close(w), TBW_OK);
	}
	tbw_close(old);
	/* Everything lost: restore from the folder alone. */
	split_brain_final_restore(from, final_dir, &rep);
	{
		int n = 0;
		for (size_t i = 0; i < rep.ndamage; i++) {
			const char *p = strstr(rep.damage[i].what, "records seq ");
			unsigned long long a, b, c;
			if (!strstr(rep.damage[i].what, "set aside"))
				continue;
			n++;
			assert_non_null(strstr(rep.damage[i].what, "superseded"));
			assert_non_null(strstr(rep.damage[i].what, "moved to .tbwal-set-aside/seg-"));
			assert_non_null(strstr(rep.damage[i].what, "100 below it or identical used"));
			assert_non_null(p);
			assert_int_equal(sscanf(p, "records seq %llu..%llu (%llu records)", &a, &b, &c), 3);
			assert_int_equal(a, 701);                  /* not 601: 601..700 are shared */
			assert_int_equal(b, 700 + conflicting);
			assert_int_equal(c, conflicting);
		}
		assert_int_equal(n, conflicting ? 1 : 0);
	}
	for (size_t i = 0; i < rep.ntags; i++)
		assert_string_not_equal(rep.tags[i].tag, "old/loss");
	tbw__recover_report_free(&rep);
	assert_exactly(1000);
	snprintf(logdir, sizeof logdir, "%s", saved);
}

static void test_recover_split_brain_shared_history_is_one_history_not_set_aside(void **state)
{
	(void)state;
	split_brain_with_shared_history(50);
	setup_case(NULL);
	split_brain_with_shared_history(0);
}

/* ---- Issue 17: a 0-byte or truncated data.mdb is damage, never a new run ---- */

/* The journal of the run in the sync folder from0 (id) is damaged: the
 * writer refuses it, naming data.mdb and what `says` (no new run over it);
 * tbrecover reports it as damage and restores the run's n scalars from
 * the folder under its own id; no second run folder appears. */
static void assert_damaged_journal_restored_from(const char *from0, const char *id, uint64_t n,
                                                 const char *says)
{
	tbw_recover_report rep;
	const char *from[1] = { from0 };
	tbw_writer *w = NULL;
	tbw_options o = TBW_OPTIONS_INIT;

	o.compact_interval_ms = 0;
	o.sync_dir = syncdir;
	o.run_name = "run";
	assert_int_equal(tbw_open(&w, logdir, &o), TBW_ECORRUPT);
	assert_null(w);
	assert_non_null(strstr(tbw_errmsg(), "data.mdb"));
	assert_non_null(strstr(tbw_errmsg(), says));
	assert_int_equal(recover(from, 1, 0, &rep), TBW_OK);
	assert_string_equal(rep.run_id, id);
	assert_true(rep.journal_salvaged);
	assert_int_equal(rep.total_scalars, n);
	assert_true(count_damage_with(&rep, says) >= 1);
	tbw__recover_report_free(&rep);
	assert_exactly(n);
	assert_int_equal(sh_status("test $(ls -d '%s'/run-* | wc -l) -eq 1", syncdir), 0);
}

/* The folder's id, from its name. */
static void folder_id(const char *dir, char id[33])
{
	memcpy(id, dir + strlen(dir) - 32, 32);
	id[32] = '\0';
}

static void test_recover_zero_byte_journal_is_damage_and_salvaged_from_the_folder(void **state)
{
	char id[33], from[1024];
	(void)state;

	{
		tbw_writer *w0 = open_writer(1);
		log_range(w0, 0, 500);
		assert_int_equal(tbw_close(w0), TBW_OK);
	}
	snprintf(from, sizeof from, "%s", run_dir());
	folder_id(from, id);
	sh("rm -f '%s'/events.out.tfevents.* && : > '%s/.tbwal/data.mdb'", logdir, logdir);
	assert_damaged_journal_restored_from(from, id, 500, "0 bytes");
}

/* A journal's first open commits its tables, then (a second transaction)
 * its run id and format. A tbrecover killed between the two leaves tables
 * and nothing else: the rerun takes that for no journal at all, and the
 * run comes back from the folder under its own id, with no damage to
 * report (there was nothing in it to lose). */
static void test_recover_journal_whose_creation_was_cut_short_starts_over(void **state)
{
	char id[33], from[1024], jd[700];
	tbw_recover_report rep;
	const char *fromv[1];
	(void)state;

	{
		tbw_writer *w0 = open_writer(1);
		log_range(w0, 0, 500);
		assert_int_equal(tbw_close(w0), TBW_OK);
	}
	snprintf(from, sizeof from, "%s", run_dir());
	folder_id(from, id);
	sh("rm -rf '%s' && mkdir -p '%s'", logdir, logdir);
	snprintf(jd, sizeof jd, "%s/.tbwal", logdir);
	tbw_test_tables_only(jd, 0);

	fromv[0] = from;
	assert_int_equal(recover(fromv, 1, 0, &rep), TBW_OK);
	assert_string_equal(rep.run_id, id);
	assert_int_equal(rep.total_scalars, 500);
	assert_int_equal(rep.lost, 0);
	assert_int_equal(rep.ndamage, 0);
	tbw__recover_report_free(&rep);
	assert_exactly(500);
	{
		tbw_journal *j = NULL;
		tbw_jopen jo = TBW_JOPEN_INIT;
		tbw_jinfo info;
		jo.read_only = 1;
		assert_int_equal(tbw__journal_open(&j, jd, &jo), TBW_OK);
		assert_int_equal(tbw__journal_info(j, &info), TBW_OK);
		assert_string_equal(info.run_id_hex, id);
		tbw__journal_close(j);
	}
}

/* The bytes of data.mdb its newest meta page says are in use (LMDB 0.9's
 * MDB_meta: page size at 40, mm_last_pg at 136, mm_txnid at 144 of each of
 * the two meta pages); the file itself is preallocated to the map size. */
static uint64_t journal_used_bytes(void)
{
	char path[700];
	uint8_t m[152];
	uint64_t used = 0, best = 0;
	uint32_t ps = 4096;
	int fd;
	snprintf(path, sizeof path, "%s/.tbwal/data.mdb", logdir);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	for (int i = 0; i < 2; i++) {
		uint64_t last, txn;
		assert_int_equal(pread(fd, m, sizeof m, (off_t)i * ps), (ssize_t)sizeof m);
		memcpy(&ps, m + 40, 4);
		memcpy(&last, m + 136, 8);
		memcpy(&txn, m + 144, 8);
		if (i == 0 || txn >= best) {
			best = txn;
			used = (last + 1) * ps;
		}
	}
	close(fd);
	return used;
}

/* Cut data.mdb to `keep` bytes. */
static void cut_journal(uint64_t keep)
{
	char path[700];
	snprintf(path, sizeof path, "%s/.tbwal/data.mdb", logdir);
	assert_int_equal(truncate(path, (off_t)keep), 0);
}

/* A SIGKILL and a truncation leave data.mdb cut short, not empty: half of
 * the pages in use, three pages (both meta pages and one more), one page
 * (the file is preallocated to the map size: half of the file may lose
 * nothing). Each is damage
 * tbrecover names, the run comes back whole from the sync folder under its
 * own id, the writer refuses the file (no new run over it), and no second
 * run folder appears. */
static void test_recover_truncated_journal_is_damage_and_salvaged_from_the_folder(void **state)
{
	static const uint64_t cuts[] = { 0, 3 * 4096, 4096 };   /* 0: half the pages in use */
	(void)state;

	for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
		char id[33], from[1024];
		uint64_t used;

		if (c)
			setup_case(NULL);
		child_logs_and_dies(1, 0, 3000, 3000);   /* 3,000 shipped, then a SIGKILL */
		snprintf(from, sizeof from, "%s", run_dir());
		folder_id(from, id);
		sh("rm -f '%s'/events.out.tfevents.*", logdir);
		used = journal_used_bytes();
		assert_true(used > 4 * 4096);
		cut_journal(cuts[c] ? cuts[c] : used / 2);
		assert_damaged_journal_restored_from(from, id, 3000, "truncated");
	}
}

/* The same cut with no sync folder: the damage is reported and what the
 * remaining pages hold is salvaged; never a new, empty run reported as
 * recovered. */
static void test_recover_truncated_journal_without_a_folder_is_reported_as_damage(void **state)
{
	tbw_recover_report rep;
	readback rb;
	int rc;
	(void)state;

	child_logs_and_dies(0, 0, 0, 3000);      /* 3,000 in the journal only, then a SIGKILL */
	cut_journal(journal_used_bytes() / 2);
	rc = recover(NULL, 0, 0, &rep);
	assert_int_equal(rc, TBW_ECORRUPT);
	assert_true(rep.journal_salvaged);
	assert_true(count_damage_with(&rep, "truncated") >= 1);
	rb = read_back(logdir);
	assert_int_equal(rb.phantoms, 0);
	assert_true(rb.increasing);
	assert_true(rb.n < 3000);
	assert_int_equal(rep.total_scalars, rb.n);
	tbw__recover_report_free(&rep);
}

/* ---- Issue 17: --dry-run reports exactly what the real run then does ---- */

static void dry_then_real(const char *const *from, size_t nfrom, uint64_t want_total)
{
	tbw_recover_report d, r;
	int drc = recover(from, nfrom, 1, &d);
	int rrc = recover(from, nfrom, 0, &r);
	fprintf(stderr, "dry: rc %d, total %" PRIu64 ", exported %" PRIu64 ", lost %" PRIu64
	        ", last %" PRIu64 "; real: rc %d, total %" PRIu64 ", exported %" PRIu64 ", lost %"
	        PRIu64 ", last %" PRIu64 "\n", drc, d.total_scalars, d.exported, d.lost, d.last_seq,
	        rrc, r.total_scalars, r.exported, r.lost, r.last_seq);
	assert_int_equal(rrc, TBW_OK);
	assert_int_equal(drc, rrc);
	assert_int_equal(r.total_scalars, want_total);
	assert_int_equal(d.total_scalars, r.total_scalars);
	assert_int_equal(d.exported, r.exported);
	assert_int_equal(d.lost, r.lost);
	assert_int_equal(d.last_seq, r.last_seq);
	assert_int_equal(d.event_files, r.event_files);
	tbw__recover_report_free(&d);
	tbw__recover_report_free(&r);
}

static void test_recover_dry_run_numbers_equal_the_real_run(void **state)
{
	const char *from[1];
	(void)state;

	/* A local journal and a sync folder: 0..600 shipped and exported,
	 * 600..900 only in the journal. */
	child_logs_and_dies(1, 0, 600, 900);
	from[0] = run_dir();
	dry_then_real(from, 1, 900);
	assert_exactly(900);

	/* The VM lost: only the folder. */
	setup_case(NULL);
	{
		tbw_writer *w = open_writer(1);
		log_range(w, 0, 700);
		assert_int_equal(tbw_close(w), TBW_OK);
	}
	sh("rm -rf '%s'", logdir);
	from[0] = run_dir();
	dry_then_real(from, 1, 700);
	assert_exactly(700);
}

/* ---- Issue 17: every source is named; nothing is created when a run fails ---- */

static void test_recover_names_every_source_and_creates_nothing_when_it_fails(void **state)
{
	tbw_recover_report rep;
	const char *from[2];
	char missing[700], copies[1024], saved[512];
	struct stat st;
	(void)state;

	{
		tbw_writer *w = open_writer(1);
		log_range(w, 0, 100);
		assert_int_equal(tbw_close(w), TBW_OK);
	}
	snprintf(copies, sizeof copies, "%s", run_dir());
	/* Drive handed back only " (1)" copies of the segments. */
	sh("cd '%s' && for f in seg-*.tbws; do mv \"$f\" \"${f%%.tbws} (1).tbws\"; done", copies);
	snprintf(missing, sizeof missing, "%s/c%d/no-such-folder", root, case_no);
	snprintf(saved, sizeof saved, "%s", logdir);
	snprintf(logdir, sizeof logdir, "%s/c%d/new-logdir", root, case_no);
	from[0] = missing;
	from[1] = copies;
	assert_int_equal(recover(from, 2, 0, &rep), TBW_ENOTFOUND);
	{
		int saw_missing = 0, saw_copies = 0;
		for (size_t i = 0; i < rep.nsources; i++) {
			if (!strcmp(rep.sources[i].path, missing)) {
				saw_missing = 1;
				assert_non_null(strstr(rep.sources[i].note, "no such folder"));
			}
			if (!strcmp(rep.sources[i].path, copies)) {
				saw_copies = 1;
				assert_non_null(strstr(rep.sources[i].note, "no readable segments"));
				assert_non_null(strstr(rep.sources[i].note, "(1)"));
			}
		}
		assert_true(saw_missing && saw_copies);
	}
	tbw__recover_report_free(&rep);
	assert_int_not_equal(stat(logdir, &st), 0);       /* LOGDIR was not created */
	/* The dry run says the same. */
	assert_int_equal(recover(from, 2, 1, &rep), TBW_ENOTFOUND);
	assert_true(rep.nsources >= 2);
	tbw__recover_report_free(&rep);
	assert_int_not_equal(stat(logdir, &st), 0);
	snprintf(logdir, sizeof logdir, "%s", saved);
}

/* ---- Issue 17: one flipped bit in a merged segment loses one block at most ---- */

static void test_recover_bit_flips_in_merged_segments_lose_one_block_at_most(void **state)
{
	const uint64_t total = 50000;
	int trials = getenv("TBW_SLOW_TESTS") ? 100 : 12;
	uint64_t worst = 0, sum = 0, hits = 0;
	char src[1024], saved[512];
	(void)state;

	/* 20 passes of 2,500: level-0 segments merged into level-1 ones of
	 * 20,000 records (5 blocks each). */
	{
		tbw_writer *w = open_writer(1);
		for (uint64_t k = 0; k < total; k += 2500) {
			log_range(w, k, k + 2500);
			assert_int_equal(tbw_flush(w), TBW_OK);
		}
		assert_int_equal(tbw_close(w), TBW_OK);
	}
	snprintf(src, sizeof src, "%s", run_dir());
	assert_int_equal(sh_status("ls '%s' | grep -q -- '-L1'", src), 0);
	snprintf(saved, sizeof saved, "%s", logdir);
	srand(17);
	for (int t = 0; t < trials; t++) {
		char trial[400], seg[1400], cmd[2400];
		tbw_recover_report rep;
		const char *from[1];
		readback rb;
		FILE *p;
		int rc;

		snprintf(trial, sizeof trial, "%s/c%d/t%d", root, case_no, t);
		snprintf(logdir, sizeof logdir, "%s/logs", trial);
		sh("mkdir -p '%s' && cp -r '%s' '%s/'", logdir, src, trial);
		snprintf(seg, sizeof seg, "%s/%s", trial, strrchr(src, '/') + 1);
		/* One random bit of one random merged segment. */
		snprintf(cmd, sizeof cmd, "ls '%s'/*-L1*.tbws | sed -n '%dp'", seg, 1 + rand() % 2);
		p = popen(cmd, "r");
		assert_non_null(p);
		char file[1400];
		assert_non_null(fgets(file, sizeof file, p));
		pclose(p);
		file[strcspn(file, "\n")] = '\0';
		{
			struct stat st;
			assert_int_equal(stat(file, &st), 0);
			long off = (long)(((uint64_t)rand() * 65536u + (uint64_t)rand()) % (uint64_t)st.st_size);
			int fd = open(file, O_RDWR);
			unsigned char b;
			assert_true(fd >= 0);
			assert_int_equal(pread(fd, &b, 1, off), 1);
			b ^= (unsigned char)(1u << (rand() % 8));
			assert_int_equal(pwrite(fd, &b, 1, off), 1);
			close(fd);
		}
		from[0] = seg;
		rc = recover(from, 1, 0, &rep);
		rb = read_back(logdir);
		assert_int_equal(rb.phantoms, 0);
		assert_true(rb.increasing);
		assert_int_equal(rep.total_scalars, rb.n);
		uint64_t lost = total - rb.n;
		assert_true(lost <= TBW_SEG_BLOCK_RECORDS);
		assert_int_equal(rep.lost, lost);
		assert_int_equal(rc, lost ? TBW_ECORRUPT : TBW_OK);
		if (lost) {
			/* the report names the exact lost range */
			int named = 0;
			for (size_t i = 0; i < rep.ndamage; i++) {
				unsigned long long a, b;
				const char *q = strstr(rep.damage[i].what, "records seq ");
				if (q && sscanf(q, "records seq %llu..%llu", &a, &b) == 2 && b - a + 1 == lost)
					named = 1;
			}
			assert_true(named);
			hits++;
		}
		if (lost > worst)
			worst = lost;
		sum += lost;
		tbw__recover_report_free(&rep);
		sh("rm -rf '%s'", trial);
	}
	printf("one flipped bit in a merged segment: %d flips, %" PRIu64 " of them lost records, worst %" PRIu64
	       " records (of %" PRIu64 "), mean %.0f per flip\n", trials, hits, worst, total,
	       (double)sum / trials);
	snprintf(logdir, sizeof logdir, "%s", saved);
}

/* ---- Random damage: never crash, never report more than restored ---- */

static void test_recover_random_damage_never_crashes_or_overreports(void **state)
{
	int seeds = getenv("TBW_SLOW_TESTS") ? 1000 : 100;
	(void)state;

	for (int seed = 1; seed <= seeds; seed++) {
		tbw_recover_report rep;
		const char *from[1];
		char cmd[2048];
		readback rb;
		int rc;

		setup_case(NULL);
		srand((unsigned)seed);
		child_logs_and_dies(1, 0, 150, 200);
		from[0] = run_dir();
		/* Damage: random bytes in the journal's data file, a segment and
		 * an event file, chosen by the seed. */
		snprintf(cmd, sizeof cmd,
		         "cd '%s' && for f in .tbwal/data.mdb '%s'/seg-* events.out.tfevents.*; do "
		         "[ -f \"$f\" ] || continue; s=$(stat -c %%s \"$f\"); [ $s -gt 0 ] || continue; "
		         "for k in 1 2 3; do o=$(( (RANDOM * 32768 + RANDOM) %% s )); "
		         "printf \"\\\\$(printf %%o $((RANDOM %% 256)))\" | dd of=\"$f\" bs=1 seek=$o conv=notrunc status=none; "
		         "done; done", logdir, from[0]);
		{
			char script[2400];
			FILE *f;
			snprintf(script, sizeof script, "%s/c%d/damage.sh", root, case_no);
			f = fopen(script, "w");
			assert_non_null(f);
			fprintf(f, "RANDOM=%d\n%s\n", seed, cmd);
			fclose(f);
			sh("bash '%s'", script);
		}
		rc = recover(from, 1, 0, &rep);
		if (getenv("TBW_VERBOSE"))
			fprintf(stderr, "seed %d: rc %d, %" PRIu64 " scalars, %zu damage: %s\n", seed, rc,
			        rep.total_scalars, rep.ndamage, rep.ndamage ? rep.damage[0].what : "");
		if (getenv("TBW_VERBOSE") && rc != TBW_OK)
			for (size_t k = 0; k < rep.ndamage; k++)
				fprintf(stderr, "   %s @%" PRIu64 " lost %" PRIu64 ": %s\n", rep.damage[k].path,
				        rep.damage[k].offset, rep.damage[k].lost, rep.damage[k].what);
		assert_true(rc == TBW_OK || rc == TBW_ECORRUPT || rc == TBW_ENOTFOUND);
		rb = read_back(logdir);
		/* Never more than was logged, never a scalar twice or out of order
		 * (read_back checks scalar k is the k-th logged, so a duplicate or
		 * a phantom breaks in_order). */
		assert_true(rb.n <= 200);
		assert_true(rep.total_scalars <= 200);
		assert_int_equal(rb.phantoms, 0);     /* nothing that was not logged */
		assert_true(rb.increasing);           /* none twice, in commit order */
		if (rc != TBW_ENOTFOUND) {
			assert_int_equal(rep.total_scalars, rb.n);
		}
		if (rb.n == 200 && rb.in_order)
			assert_true(rc == TBW_OK || rc == TBW_ECORRUPT);
		tbw__recover_report_free(&rep);
		sh("rm -rf '%s/c%d'", root, case_no);
	}
}

/* ---- Lost machine after SIGKILL of a syncing writer ---- */

static void test_recover_sigkilled_syncing_writer_lost_machine(void **state)
{
	int rounds = getenv("TBW_SLOW_TESTS") ? 50 : 8;
	(void)state;

	for (int round = 0; round < rounds; round++) {
		int pfd[2];
		pid_t pid;
		uint64_t acked = 0, flushed = 0, v;
		tbw_recover_report rep;
		const char *from[1];
		readback rb;

		setup_case(NULL);
		assert_int_equal(pipe(pfd), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			tbw_options o = TBW_OPTIONS_INIT;
			tbw_writer *w = NULL;
			close(pfd[0]);
			o.sync_dir = syncdir;
			o.sync_interval_ms = 20;
			o.compact_interval_ms = 20;
			o.run_name = "run";
			if (tbw_open(&w, logdir, &o) != TBW_OK) {
				fprintf(stderr, "writer child: %s\n", tbw_errmsg());
				_exit(2);
			}
			for (uint64_t i = 0; ; i++) {
				const char *tag;
				int64_t step;
				double val;
				scalar_at(i, &tag, &step, &val);
				if (tbw_add_scalar(w, tag, val, step, 1700000000.0 + (double)i) != TBW_OK) {
					fprintf(stderr, "writer child: %s\n", tbw_errmsg());
					_exit(3);
				}
				v = i + 1;
				if (i % 97 == 0) {
					if (tbw_flush(w) != TBW_OK) {
						fprintf(stderr, "writer child: %s\n", tbw_errmsg());
						_exit(4);
					}
					v |= 1ull << 63;   /* flushed: shipped for sure */
				}
				if (write(pfd[1], &v, sizeof v) != sizeof v)
					_exit(5);
			}
		}
		close(pfd[1]);
		/* Kill only once the first flush returned: the sync folder (and a
		 * first segment) exists, so a lost machine has something to
		 * recover from. Killed earlier, under load (make -j16 check), the
		 * child could die before creating it and the round failed. */
		if (read(pfd[0], &v, sizeof v) != sizeof v || !(v >> 63)) {
			int cst = 0;
			kill(pid, SIGKILL);
			waitpid(pid, &cst, 0);
			fail_msg("round %d: writer child died before its first flush (%s %d: 2 open, 3 add, "
			         "4 flush failed)", round, WIFEXITED(cst) ? "exit" : "signal",
			         WIFEXITED(cst) ? WEXITSTATUS(cst) : WTERMSIG(cst));
		}
		acked = flushed = v & ~(1ull << 63);
		usleep(20000 + (useconds_t)(rand() % 200000));
		kill(pid, SIGKILL);
		while (read(pfd[0], &v, sizeof v) == sizeof v) {
			acked = v & ~(1ull << 63);
			if (v >> 63)
				flushed = acked;
		}
		close(pfd[0]);
		waitpid(pid, NULL, 0);
		/* Lose the machine: the journal and the event files go. */
		sh("rm -rf '%s'", logdir);
		if (flushed == 0 && sh_status("ls '%s'/run-*/seg-* >/dev/null 2>&1", syncdir) != 0) {
			/* Killed (on a loaded machine) before anything shipped:
			 * nothing to recover, and recovery must say so. */
			if (sh_status("ls -d '%s'/run-* >/dev/null 2>&1", syncdir) == 0) {
				from[0] = run_dir();
				assert_int_equal(recover(from, 1, 0, &rep), TBW_ENOTFOUND);
				tbw__recover_report_free(&rep);
			}
			sh("rm -rf '%s/c%d'", root, case_no);
			continue;
		}
		from[0] = run_dir();
		assert_int_equal(recover(from, 1, 0, &rep), TBW_OK);
		tbw__recover_report_free(&rep);
		rb = read_back(logdir);
		assert_int_equal(rb.corrupt, 0);
		assert_true(rb.in_order);            /* exactly once, in order */
		assert_true(rb.n >= flushed);        /* everything shipped before the kill */
		/* Nothing that was not logged: at most the one call that had
		 * committed but not yet reported its return when the kill came. */
		assert_true(rb.n <= acked + 1);
		sh("rm -rf '%s/c%d'", root, case_no);
	}
}

/* ---- Memory stays bounded whatever the folder holds ---- */

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

static void test_recover_memory_bounded_with_largest_segments(void **state)
{
	static const uint8_t run_id[16] = { 0x5e, 0x61, 0x7a, 0x11 };
	const size_t n = TBW_SEG_MAX_RECORDS, nseg = 6;
	tbw_seg_rec *r = calloc(n, sizeof *r);
	tbw_seg_tag tg[64];
	char names[64][16], rdir[700];
	uint64_t x = 12345;
	long rss;
	(void)state;

	/* Six segments at the format's caps (2^18 records each, noisy values,
	 * 64 tags), as a huge or hostile folder may hold. */
	snprintf(rdir, sizeof rdir, "%s/big-5e617a11000000000000000000000000", syncdir);
	sh("mkdir -p '%s'", rdir);
	for (int t = 0; t < 64; t++) {
		snprintf(names[t], sizeof names[t], "tag%02d", t);
		tg[t].name = names[t];
		tg[t].len = strlen(names[t]);
	}
	for (size_t k = 0; k < nseg; k++) {
		uint8_t *img = NULL;
		size_t len;
		char name[TBW_SEG_NAME_MAX], path[800];
		for (size_t i = 0; i < n; i++) {
			x ^= x << 13; x ^= x >> 7; x ^= x << 17;
			r[i].seq = k * n + i + 1;
			r[i].tag = (uint32_t)(x % 64) + 1;
			r[i].step = (int64_t)r[i].seq;
			r[i].wall_time = 1700000000.0 + (double)(x % 100000) / 7.0;
			r[i].value = (double)(int64_t)x / 3.0;
		}
		assert_int_equal(tbw__seg_encode(run_id, 0, r, n, tg, 64, &img, &len), TBW_OK);
		tbw__seg_name(name, k * n + 1, (k + 1) * n, 0);
		snprintf(path, sizeof path, "%s/%s", rdir, name);
		tbw_test_write_file(path, img, len);
		tbw__free(img);
	}
	free(r);
	rss = tbw_test_tbrecover_rss(rdir, logdir);
	fprintf(stderr, "tbrecover over %zu max-size segments: peak RSS %.1f MB\n", nseg,
	        (double)rss / 1024.0);
#ifndef UNDER_ASAN
	assert_true(rss <= 64 * 1024);
#endif
	{
		readback rb = read_back(logdir);
		assert_int_equal(rb.corrupt, 0);
		assert_int_equal(rb.n, n * nseg);
	}
}

/* ---- The naming contract recovery relies on ---- */

static void test_recover_compactor_starts_a_file_at_every_gap(void **state)
{
	tbw_jopen jo = TBW_JOPEN_INIT;
	tbw_compact_cfg cc = TBW_COMPACT_CFG_INIT;
	tbw_journal *j;
	tbw_compactor *c;
	tbw_jrec_named r[8];
	static const uint64_t seqs[8] = { 1, 2, 3, 7, 8, 20, 21, 22 };
	char jdir[600];
	uint64_t n;
	DIR *d;
	struct dirent *e;
	int files = 0, saw[3] = { 0, 0, 0 };
	(void)state;

	snprintf(jdir, sizeof jdir, "%s/.tbwal", logdir);
	jo.create = 1;
	assert_int_equal(tbw__journal_open(&j, jdir, &jo), TBW_OK);
	for (int i = 0; i < 8; i++) {
		memset(&r[i], 0, sizeof r[i]);
		r[i].seq = seqs[i];
		r[i].step = (int64_t)seqs[i];
		r[i].tag = "loss";
		r[i].tag_len = 4;
	}
	assert_int_equal(tbw__journal_insert(j, r, 8, NULL), TBW_OK);
	cc.logdir = logdir;
	assert_int_equal(tbw__compactor_open(&c, j, &cc), TBW_OK);
	assert_int_equal(tbw__compactor_pass(c, &n), TBW_OK);
	assert_int_equal(n, 8);
	tbw__compactor_close(c);
	tbw__journal_close(j);
	d = opendir(logdir);
	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		char run8[9];
		uint64_t base;
		int ws;
		if (!tbw__compactor_parse_name(e->d_name, run8, &base, &ws))
			continue;
		files++;
		/* Three runs of consecutive seqs: after 0 (with the run's
		 * START), after 6, after 19. */
		if (base == 0 && ws) saw[0] = 1;
		if (base == 6 && !ws) saw[1] = 1;
		if (base == 19 && !ws) saw[2] = 1;
	}
	closedir(d);
	assert_int_equal(files, 3);
	assert_true(saw[0] && saw[1] && saw[2]);
}

static void test_recover_parse_name_rejects_foreign_names(void **state)
{
	char run8[9];
	uint64_t base;
	(void)state;

	assert_false(tbw__compactor_parse_name("events.out.tfevents.1700000000.h.1.0", run8, &base, NULL));
	assert_false(tbw__compactor_parse_name("events.out.tfevents.1700000000.h.1.0000000001.tbwal-ABCDEF12-0000000000000000", run8, &base, NULL));
	assert_false(tbw__compactor_parse_name("events.out.tfevents.1700000000.h.1.0000000001.tbwal-abcdef12-00000000000000", run8, &base, NULL));
	assert_false(tbw__compactor_parse_name("x.tbwal-abcdef12-0000000000000000", run8, &base, NULL));
	assert_true(tbw__compactor_parse_name("events.out.tfevents.1700000000.h.1.0000000001.tbwal-abcdef12-00000000000000ffmine", run8, &base, NULL));
	assert_string_equal(run8, "abcdef12");
	assert_int_equal(base, 255);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_recover_intact_journal_finishes_export, setup_case),
		cmocka_unit_test_setup(test_recover_report_of_20000_tags_seen_in_reverse_order_is_sorted, setup_case),
		cmocka_unit_test_setup(test_recover_lost_machine_from_segments_alone, setup_case),
		cmocka_unit_test_setup(test_recover_merges_journal_and_segments, setup_case),
		cmocka_unit_test_setup(test_recover_damaged_journal_salvages_and_uses_segments, setup_case),
		cmocka_unit_test_setup(test_recover_damaged_journal_without_segments_reports_loss, setup_case),
		cmocka_unit_test_setup(test_recover_finishes_an_interrupted_rebuild, setup_case),
		cmocka_unit_test_setup(test_recover_half_kept_event_file_ends_exactly_once, setup_case),
		cmocka_unit_test_setup(test_recover_damaged_middle_file_is_moved_aside_and_rewritten, setup_case),
		cmocka_unit_test_setup(test_recover_refuses_while_a_writer_runs, setup_case),
		cmocka_unit_test_setup(test_recover_non_regular_entry_named_like_an_event_file, setup_case),
		cmocka_unit_test_setup(test_recover_never_follows_a_planted_recovered_folder_symlink, setup_case),
		cmocka_unit_test_setup(test_recover_twice_changes_nothing, setup_case),
		cmocka_unit_test_setup(test_recover_twice_after_a_loss_keeps_the_files, setup_case),
		cmocka_unit_test_setup(test_recover_a_gap_no_source_holds_is_reported_and_nothing_rewritten, setup_case),
		cmocka_unit_test_setup(test_recover_rerun_rewrites_while_a_damaged_segment_claims_the_gap, setup_case),
		cmocka_unit_test_setup(test_recover_dry_run_changes_nothing, setup_case),
		cmocka_unit_test_setup(test_recover_purge_step_writes_a_start, setup_case),
		cmocka_unit_test_setup(test_recover_ignores_segments_of_another_run, setup_case),
		cmocka_unit_test_setup(test_recover_run_identity_from_the_folder_not_the_first_segment, setup_case),
		cmocka_unit_test_setup(test_recover_split_brain_restores_one_history_and_reports_the_rest, setup_case),
		cmocka_unit_test_setup(test_recover_split_brain_shared_history_is_one_history_not_set_aside, setup_case),
		cmocka_unit_test_setup(test_recover_zero_byte_journal_is_damage_and_salvaged_from_the_folder, setup_case),
		cmocka_unit_test_setup(test_recover_journal_whose_creation_was_cut_short_starts_over, setup_case),
		cmocka_unit_test_setup(test_recover_truncated_journal_is_damage_and_salvaged_from_the_folder, setup_case),
		cmocka_unit_test_setup(test_recover_truncated_journal_without_a_folder_is_reported_as_damage, setup_case),
		cmocka_unit_test_setup(test_recover_bit_flips_in_merged_segments_lose_one_block_at_most, setup_case),
		cmocka_unit_test_setup(test_recover_names_every_source_and_creates_nothing_when_it_fails, setup_case),
		cmocka_unit_test_setup(test_recover_dry_run_numbers_equal_the_real_run, setup_case),
		cmocka_unit_test_setup(test_recover_compactor_starts_a_file_at_every_gap, setup_case),
		cmocka_unit_test(test_recover_parse_name_rejects_foreign_names),
		cmocka_unit_test_setup(test_recover_memory_bounded_with_largest_segments, setup_case),
		cmocka_unit_test(test_recover_random_damage_never_crashes_or_overreports),
		cmocka_unit_test(test_recover_sigkilled_syncing_writer_lost_machine),
	};
	int rc;

	if (tbw_test_mkdtemp(root, sizeof root, "test_recover") != 0)
		return 1;
	/* TBW_TEST_FILTER=test_recover_x runs one case (loops of a flaky one) */
	if (getenv("TBW_TEST_FILTER"))
		cmocka_set_test_filter(getenv("TBW_TEST_FILTER"));
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	if (rc == 0 && tbw_test_rmtree(root) != 0)
		rc = 1;
	return rc;
}
