/* test_faults.c -- fault injection walked through every part (issue 9), as
 * SQLite's I/O-error and OOM tests do: run an operation with the Nth call
 * failing, N = 1, 2, 3, ... until it completes without meeting a fault.
 *
 * Operations: a compactor session (open + passes that rotate files), a
 * syncer session (open + passes), a syncer pass that merges segments, and
 * tbw__recover_run over a journal, a sync folder and existing event files;
 * for allocations also tbw_open + add_scalar + flush + close.
 * Faults: the Nth call of the syscall layer (src/base/os.h) failing once, or from
 * the Nth on, with EIO and with ENOSPC; the Nth allocation (src/base/alloc.h)
 * failing once, or from the Nth on.
 *
 * After each run: the error the caller saw names the operation and the path;
 * nothing acknowledged is lost (every scalar is in the journal, the event
 * files or, for recover, the sync folder); faults are cleared, the operation
 * runs again to completion, and then: every scalar is where the operation
 * promises (event files: exactly once, in commit order, CRCs and events
 * intact; sync folder: restores to a prefix of the journal that covers the
 * ship cursor).
 *
 * Each campaign prints one summary line ("faults campaign ...: N faults
 * injected, K operations completed, data lost 0") for the README's
 * reliability figures.
 */
#include "config.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>
#include "test_util.h"
#include "tbwal.h"
#include "base/alloc.h"
#include "export/compactor.h"
#include "base/error.h"
#include "base/os.h"
#include "recover/recover.h"
#include "sync/syncer.h"
#include "faults_util.h"

static char root[256];

/* Small event files: a new one after every pass of ~50 scalars. */
#define ROTATE 2048
/* Walks longer than this are a bug in the walk (or an endless retry). */
#define MAX_WALK 5000

typedef struct paths {
	char dir[512];
	char logdir[600], jdir[700], sdir[600], rundir[900];
} paths;

static void make_paths(paths *p, const char *dir)
{
	snprintf(p->dir, sizeof p->dir, "%s", dir);
	snprintf(p->logdir, sizeof p->logdir, "%s/logs", dir);
	snprintf(p->jdir, sizeof p->jdir, "%s/.tbwal", p->logdir);
	snprintf(p->sdir, sizeof p->sdir, "%s/drive", dir);
	p->rundir[0] = '\0';
	{
		DIR *d = opendir(p->sdir);
		struct dirent *e;
		if (d) {
			while ((e = readdir(d)) != NULL)
				if (strncmp(e->d_name, "run-", 4) == 0)
					snprintf(p->rundir, sizeof p->rundir, "%s/%s", p->sdir, e->d_name);
			closedir(d);
		}
	}
}

static tbw_journal *open_journal(const paths *p, int create)
{
	tbw_jopen cfg = TBW_JOPEN_INIT;
	tbw_journal *j = NULL;

	cfg.create = create;
	cfg.logdir = p->logdir;
	if (tbw__journal_open(&j, p->jdir, &cfg) != TBW_OK)
		return NULL;
	return j;
}

static int open_compactor(tbw_compactor **c, tbw_journal *j, const paths *p)
{
	tbw_compact_cfg cc = TBW_COMPACT_CFG_INIT;

	cc.logdir = p->logdir;
	cc.rotate_bytes = ROTATE;
	return tbw__compactor_open(c, j, &cc);
}

/* ===================================================================
 * The operations, each with its starting state (template) and checks
 * =================================================================== */

typedef struct op_desc {
	const char *name;
	void (*make)(const paths *p);          /* build the starting state */
	int (*run)(const paths *p);            /* the operation: 0 or TBW_E* */
	void (*check)(const paths *p, int complete, uint64_t *lost);
	void (*reset)(void);                   /* before each run from the template (may be NULL) */
} op_desc;

/* Fill the journal to upto (LMDB's writes: never a fault of ours). */
static void fill(tbw_journal *j, uint64_t upto)
{
	assert_int_equal(tu_fill(j, upto), 0);
}

/* Record the first error of a sequence of calls. */
static int keep_first(int *first, int rc)
{
	if (rc != TBW_OK && *first == TBW_OK)
		*first = rc;
	return rc;
}

/* Check that every index < n is in journal or event files (or in the sync
 * folder, with segs); with complete, that the event files hold exactly
 * 0..n-1 cleanly. Returns the number of indices lost. */
static void check_export(const paths *p, uint64_t n, int complete, int segs, uint64_t *lost)
{
	uint8_t *seen = calloc(n / 8 + 2, 1), *inev = calloc(n / 8 + 2, 1);
	fu_events ev;
	long jbad;
	uint64_t missing = 0, nev = 0;

	fu_read_events(p->logdir, inev, n, &ev);
	if (ev.corrupt || ev.dups || ev.phantoms)
		fprintf(stderr, "%s: %" PRIu64 " corrupt, %" PRIu64 " duplicated, %" PRIu64 " phantom (%s)\n",
		        p->logdir, ev.corrupt, ev.dups, ev.phantoms, ev.why);
	assert_int_equal(ev.corrupt, 0);
	assert_int_equal(ev.dups, 0);
	assert_int_equal(ev.phantoms, 0);
	memcpy(seen, inev, n / 8 + 2);
	jbad = fu_read_journal(p->jdir, seen, n);
	assert_int_equal(jbad, 0);
	if (segs && p->rundir[0]) {
		tu_check c;
		tbw_sync_report rep;
		tbw_sync_restore_opts o = TBW_SYNC_RESTORE_OPTS_INIT;
		memset(&c, 0, sizeof c);
		c.max = n;
		c.seen = calloc(n / 8 + 2, 1);
		o.on_record = tu_on_record;
		o.ctx = &c;
		assert_int_equal(tbw__sync_restore(p->rundir, NULL, &o, &rep), TBW_OK);
		tbw__sync_report_free(&rep);
		assert_int_equal(c.bad, 0);
		for (uint64_t i = 0; i < n / 8 + 2; i++)
			seen[i] |= c.seen[i];
		free(c.seen);
	}
	for (uint64_t i = 0; i < n; i++) {
		if (!fu_has(seen, i))
			missing++;
		if (fu_has(inev, i))
			nev++;
	}
	if (missing)
		fprintf(stderr, "%s: %" PRIu64 " of %" PRIu64 " scalars lost\n", p->dir, missing, n);
	*lost += missing;
	if (complete) {
		if (ev.torn || nev != n || ev.scalars != n)
			fprintf(stderr, "%s: after completion %" PRIu64 " torn, %" PRIu64 " of %" PRIu64
			        " in event files (%" PRIu64 " scalars)\n", p->logdir, ev.torn, nev, n, ev.scalars);
		assert_int_equal(ev.torn, 0);
		assert_int_equal(nev, n);
		assert_int_equal(ev.scalars, n);
	}
	free(seen);
	free(inev);
}

/* ---- Compactor: open (repairs what a failed session left) + 4 passes,
 * each ~50 scalars, so each starts a new event file ---- */

#define COMP_LAST 350

static void comp_make(const paths *p)
{
	tbw_journal *j = open_journal(p, 1);
	tbw_compactor *c = NULL;

	assert_non_null(j);
	assert_int_equal(open_compactor(&c, j, p), TBW_OK);
	fill(j, 100);
	assert_int_equal(tbw__compactor_pass(c, NULL), TBW_OK);
	fill(j, 150);
	assert_int_equal(tbw__compactor_pass(c, NULL), TBW_OK);
	tbw__compactor_close(c);
	tbw__journal_close(j);
}

static int comp_run(const paths *p)
{
	static const uint64_t upto[] = { 200, 250, 300, COMP_LAST };
	tbw_journal *j = open_journal(p, 0);
	tbw_compactor *c = NULL;
	int first = TBW_OK, rc;

	if (!j)
		return tbw__error_set(TBW_EIO, "test: journal open", p->jdir, "cannot open");
	rc = open_compactor(&c, j, p);
	if (rc == TBW_OK) {
		/* Like a writer's compactor thread: a failed pass is retried
		 * by the next one on the same compactor. */
		for (size_t k = 0; k < sizeof upto / sizeof upto[0]; k++) {
			fill(j, upto[k]);
			keep_first(&first, tbw__compactor_pass(c, NULL));
		}
		rc = first;
	}
	tbw__compactor_close(c);
	tbw__journal_close(j);
	return rc;
}

static void comp_check(const paths *p, int complete, uint64_t *lost)
{
	tbw_journal *j = open_journal(p, 0);
	uint64_t last = 0;

	assert_non_null(j);
	assert_int_equal(tbw__journal_last_seq(j, &last), TBW_OK);
	tbw__journal_close(j);
	if (complete)
		assert_int_equal(last, COMP_LAST);
	check_export(p, last, complete, 0, lost);
}

/* ---- Syncer: open + 3 passes; and a pass that merges 8 segments ---- */

static void sync_check_folder(const paths *p, uint64_t want_last, int complete, uint64_t *lost)
{
	tbw_journal *j = open_journal(p, 0);
	uint64_t ship = 0, prefix, seen, last = 0;
	int present = 0;
	tu_check c;
	tbw_sync_report rep;
	tbw_sync_restore_opts o = TBW_SYNC_RESTORE_OPTS_INIT;
	paths q;

	assert_non_null(j);
	assert_int_equal(tbw__journal_get_ship(j, &ship, &present), TBW_OK);
	assert_int_equal(tbw__journal_last_seq(j, &last), TBW_OK);
	tbw__journal_close(j);
	if (complete)
		assert_int_equal(last, want_last);
	make_paths(&q, p->dir);
	assert_true(q.rundir[0] != '\0');
	memset(&c, 0, sizeof c);
	c.max = last;
	c.seen = calloc(last / 8 + 2, 1);
	o.on_record = tu_on_record;
	o.on_damage = tu_on_damage;
	o.ctx = &c;
	assert_int_equal(tbw__sync_restore(q.rundir, NULL, &o, &rep), TBW_OK);
	tbw__sync_report_free(&rep);
	prefix = tu_prefix(&c);
	seen = tu_count_seen(&c);
	if (c.bad || c.damaged || prefix != seen || prefix < ship)
		fprintf(stderr, "%s: %" PRIu64 " bad, %" PRIu64 " damaged (%s), prefix %" PRIu64
		        ", %" PRIu64 " seen, ship cursor %" PRIu64 "\n", q.rundir, c.bad, c.damaged,
		        c.last_damage, prefix, seen, ship);
	free(c.seen);
	assert_int_equal(c.bad, 0);
	assert_int_equal(c.damaged, 0);
	assert_int_equal(prefix, seen);             /* a prefix of the journal */
	if (prefix < ship)                          /* shipped means in the folder */
		*lost += ship - prefix;
	assert_true(prefix >= ship);
	if (complete) {
		assert_int_equal(prefix, last);
		assert_int_equal(ship, last);
	}
	/* Nothing prunes here: the journal still holds everything. */
	check_export(p, last, 0, 0, lost);
}

#define SYNC_LAST 250

static void sync_make(const paths *p)
{
	tbw_journal *j = open_journal(p, 1);
	tbw_syncer *s = NULL;

	assert_non_null(j);
	fill(j, 100);
	assert_int_equal(tbw__syncer_open(&s, j, p->sdir, "run", 0), TBW_OK);
	assert_int_equal(tbw__syncer_pass(s, NULL), TBW_OK);
	tbw__syncer_close(s);
	tbw__journal_close(j);
}

static int sync_run_to(const paths *p, const uint64_t *upto, size_t n)
{
	tbw_journal *j = open_journal(p, 0);
	tbw_syncer *s = NULL;
	int first = TBW_OK, rc;

	if (!j)
		return tbw__error_set(TBW_EIO, "test: journal open", p->jdir, "cannot open");
	rc = tbw__syncer_open(&s, j, p->sdir, "run", 0);
	if (rc == TBW_OK) {
		for (size_t k = 0; k < n; k++) {
			fill(j, upto[k]);
			keep_first(&first, tbw__syncer_pass(s, NULL));
		}
		rc = first;
	}
	tbw__syncer_close(s);
	tbw__journal_close(j);
	return rc;
}

static int sync_run(const paths *p)
{
	static const uint64_t upto[] = { 150, 200, SYNC_LAST };
	return sync_run_to(p, upto, 3);
}

static void sync_check(const paths *p, int complete, uint64_t *lost)
{
	sync_check_folder(p, SYNC_LAST, complete, lost);
}

/* Merge: 7 level-0 segments of 10 records; the op ships the 8th, which
 * makes 8 at level 0 and merges them into one of level 1. */
#define MERGE_LAST 80

static void merge_make(const paths *p)
{
	tbw_journal *j = open_journal(p, 1);
	tbw_syncer *s = NULL;

	assert_non_null(j);
	assert_int_equal(tbw__syncer_open(&s, j, p->sdir, "run", 0), TBW_OK);
	for (uint64_t k = 1; k < TBW_SYNC_MERGE_FANIN; k++) {
		fill(j, k * 10);
		assert_int_equal(tbw__syncer_pass(s, NULL), TBW_OK);
	}
	tbw__syncer_close(s);
	tbw__journal_close(j);
}

static int merge_run(const paths *p)
{
	static const uint64_t upto[] = { MERGE_LAST };
	return sync_run_to(p, upto, 1);
}

static void merge_check(const paths *p, int complete, uint64_t *lost)
{
	sync_check_folder(p, MERGE_LAST, complete, lost);
	if (complete) {
		paths q;
		make_paths(&q, p->dir);
		/* merged: a level-1 segment holds all eight level-0 ones. Its
		 * inputs are gone, bar those whose unlink failed (they are
		 * harmless duplicates, merged again with the next level-0
		 * ones): the folder stays within its bound. */
		char l1[TBW_SEG_NAME_MAX], path[TBW_SEG_NAME_MAX + 1000];
		struct stat st;
		tbw__seg_name(l1, 1, MERGE_LAST, 1);
		snprintf(path, sizeof path, "%s/%s", q.rundir, l1);
		assert_int_equal(stat(path, &st), 0);
		assert_true(tu_count_segments(q.rundir, NULL) <= TBW_SYNC_MERGE_FANIN);
	}
}

/* ---- Recover: journal (201..400), segments (1..200), event files (1..100
 * kept, 201..300 after a gap: read as a source and moved aside) ---- */

#define REC_LAST 400

static void rec_make(const paths *p)
{
	tbw_journal *j = open_journal(p, 1);
	tbw_compactor *c = NULL;
	tbw_syncer *s = NULL;
	cu_scan sc;

	assert_non_null(j);
	assert_int_equal(open_compactor(&c, j, p), TBW_OK);
	assert_int_equal(tbw__syncer_open(&s, j, p->sdir, "run", 0), TBW_OK);
	fill(j, 100);
	assert_int_equal(tbw__syncer_pass(s, NULL), TBW_OK);
	assert_int_equal(tbw__compactor_pass(c, NULL), TBW_OK);
	fill(j, 200);
	assert_int_equal(tbw__syncer_pass(s, NULL), TBW_OK);
	assert_int_equal(tbw__compactor_pass(c, NULL), TBW_OK);
	fill(j, 300);
	assert_int_equal(tbw__compactor_pass(c, NULL), TBW_OK);
	fill(j, REC_LAST);
	tbw__syncer_close(s);
	tbw__compactor_close(c);
	{
		uint64_t first = 0;
		assert_int_equal(tbw__journal_first_seq(j, &first), TBW_OK);
		assert_int_equal(first, 201);      /* 1..200 pruned: exported and shipped */
	}
	tbw__journal_close(j);
	/* Lose the second event file: its records are only in the segments. */
	assert_int_equal(cu_scan_logdir(p->logdir, &sc), 0);
	assert_int_equal(sc.nfiles, 3);
	sh("rm -f '%s/%s'", p->logdir, sc.names[1]);
	cu_scan_free(&sc);
}

static int rec_run(const paths *p)
{
	tbw_recover_cfg cfg = TBW_RECOVER_CFG_INIT;
	tbw_recover_report rep;
	paths q;
	const char *from[1];
	int rc;

	make_paths(&q, p->dir);
	from[0] = q.rundir;
	cfg.logdir = p->logdir;
	cfg.from = from;
	cfg.nfrom = 1;
	rc = tbw__recover_run(&cfg, &rep);
	if (rc == TBW_OK && rep.lost != 0)
		rc = tbw__error_set(TBW_ECORRUPT, "test: recover", p->logdir, "reported %" PRIu64 " lost",
		                    rep.lost);
	tbw__recover_report_free(&rep);
	return rc;
}

static void rec_check(const paths *p, int complete, uint64_t *lost)
{
	paths q;

	make_paths(&q, p->dir);
	check_export(&q, REC_LAST, complete, 1, lost);
}

static const op_desc op_compactor = { "compactor", comp_make, comp_run, comp_check, NULL };
static const op_desc op_syncer = { "syncer", sync_make, sync_run, sync_check, NULL };
static const op_desc op_merge = { "merge", merge_make, merge_run, merge_check, NULL };
static const op_desc op_recover = { "recover", rec_make, rec_run, rec_check, NULL };

/* ===================================================================
 * The walk
 * =================================================================== */

enum { FAULT_SYSCALL, FAULT_ALLOC };

static unsigned long hook_nth;
static tbw_os_call hook_call;
static int hook_seen;

static void record_call(tbw_os_call call, unsigned long n)
{
	if (n == hook_nth) {
		hook_call = call;
		hook_seen = 1;
	}
}

static const char *call_name(tbw_os_call c)
{
	static const char *names[] = { "open", "read", "pread", "write", "pwrite", "fsync",
	                               "fdatasync", "rename", "ftruncate", "unlink", "close",
	                               "mkdir", "fstat", "fallocate" };
	return (unsigned)c < sizeof names / sizeof names[0] ? names[c] : "?";
}

typedef struct tally {
	unsigned long runs, faults, failed, completed, swallowed, maxn;
	uint64_t lost;
} tally;

static void print_tally(const char *what, const tally *t)
{
	printf("faults campaign %s: walk of %lu points, %lu faults injected, %lu runs failed cleanly, "
	       "%lu operations completed, %lu faults absorbed, data lost %" PRIu64 "\n",
	       what, t->maxn, t->faults, t->failed, t->completed, t->swallowed, t->lost);
	fflush(stdout);
}

/* The error the caller saw names the operation and the path. */
static void check_errmsg(const paths *p, int kind, int rc)
{
	const char *msg = tbw_errmsg();
	const char *at = strstr(msg, p->dir);

	if (kind == FAULT_ALLOC && rc == TBW_ENOMEM) {
		/* Out of memory: the operation must be named; a path is given
		 * where the failing step has one. */
		assert_true(strstr(msg, "out of memory") != NULL || at != NULL);
		assert_true(msg[0] != '/' && msg[0] != ':');
		return;
	}
	if (!at || at == msg || msg[0] == ':')
		fprintf(stderr, "error message does not name the operation and path: %s\n", msg);
	assert_non_null(at);
	assert_true(at > msg + 1);   /* "<operation> <path>: <cause>" */
}

static void walk(const op_desc *op, int kind, int persist, int err, tally *t)
{
	char tmpl[512], work[512];
	paths pt, pw;
	tally mine;

	memset(&mine, 0, sizeof mine);
	snprintf(tmpl, sizeof tmpl, "%s/%s-template", root, op->name);
	snprintf(work, sizeof work, "%s/%s-work", root, op->name);
	sh("rm -rf '%s' && mkdir -p '%s/logs' '%s/drive'", tmpl, tmpl, tmpl);
	make_paths(&pt, tmpl);
	if (op->reset)
		op->reset();
	op->make(&pt);
	for (unsigned long n = 1;; n++) {
		unsigned long hits;
		int rc, rc2;

		assert_true(n < MAX_WALK);
		sh("rm -rf '%s' && cp -a '%s' '%s'", work, tmpl, work);
		make_paths(&pw, work);
		if (op->reset)
			op->reset();
		tbw__error_clear();
		hook_nth = n;
		hook_seen = 0;
		if (kind == FAULT_SYSCALL) {
			/* Every call but the journal's space reservation: the
			 * walks fill the journal as scaffolding (its own test is
			 * test_faults_journal_reservation_fails_cleanly). */
			tbw__os_fault_arm(((1u << TBW_OS_NCALLS) - 1) & ~(1u << TBW_OS_FALLOCATE),
			                  n, persist, err);
			tbw__os_fault_hook(record_call);
		} else {
			tbw__alloc_fail_at(n, persist);
		}
		rc = op->run(&pw);
		if (kind == FAULT_SYSCALL) {
			hits = tbw__os_fault_hits();
			tbw__os_fault_clear();
		} else {
			hits = tbw__alloc_failures();
			tbw__alloc_fail_at(0, 0);
		}
		mine.runs++;
		mine.faults += hits;
		if (getenv("TBW_FAULTS_VERBOSE"))
			fprintf(stderr, "%s n=%lu hits=%lu rc=%d call=%s: %s\n", op->name, n, hits, rc,
			        kind == FAULT_SYSCALL && hook_seen ? call_name(hook_call) : "-",
			        rc ? tbw_errmsg() : "ok");
		if (hits == 0) {
			/* Ran to completion without meeting a fault: the walk ends. */
			if (rc != TBW_OK)
				fprintf(stderr, "%s: clean run failed: %s\n", op->name, tbw_errmsg());
			assert_int_equal(rc, TBW_OK);
			op->check(&pw, 1, &mine.lost);
			mine.completed++;
			mine.maxn = n;
			break;
		}
		if (rc != TBW_OK) {
			mine.failed++;
			check_errmsg(&pw, kind, rc);
		} else if (kind == FAULT_SYSCALL && hook_seen &&
		           (hook_call == TBW_OS_FSYNC || hook_call == TBW_OS_FDATASYNC ||
		            hook_call == TBW_OS_WRITE || hook_call == TBW_OS_PWRITE ||
		            hook_call == TBW_OS_RENAME)) {
			/* A failed write, sync or rename the caller never heard of. */
			fprintf(stderr, "%s: fault %lu (%s, %s) absorbed: the operation returned success\n",
			        op->name, n, call_name(hook_call), persist ? "persistent" : "once");
			mine.swallowed++;
		}
		/* Nothing acknowledged is lost, whatever state the failure left. */
		op->check(&pw, 0, &mine.lost);
		/* Clear faults, reopen, run again to completion. */
		tbw__error_clear();
		rc2 = op->run(&pw);
		if (rc2 != TBW_OK)
			fprintf(stderr, "%s: rerun after fault %lu (%s) failed: %s\n", op->name, n,
			        kind == FAULT_SYSCALL && hook_seen ? call_name(hook_call) : "alloc", tbw_errmsg());
		assert_int_equal(rc2, TBW_OK);
		op->check(&pw, 1, &mine.lost);
		mine.completed++;
	}
	sh("rm -rf '%s' '%s'", tmpl, work);
	{
		char what[128];
		snprintf(what, sizeof what, "%s/%s/%s/%s", op->name,
		         kind == FAULT_SYSCALL ? "syscall" : "alloc", persist ? "from-nth" : "nth-once",
		         kind == FAULT_ALLOC ? "ENOMEM" : err == EIO ? "EIO" : "ENOSPC");
		print_tally(what, &mine);
	}
	assert_int_equal(mine.lost, 0);
	assert_int_equal(mine.swallowed, 0);
	t->runs += mine.runs;
	t->faults += mine.faults;
	t->failed += mine.failed;
	t->completed += mine.completed;
	t->swallowed += mine.swallowed;
	t->lost += mine.lost;
	if (mine.maxn > t->maxn)
		t->maxn = mine.maxn;
}

static tally total_sys, total_alloc;

static void syscall_campaign(const op_desc *op)
{
	tally t;

	memset(&t, 0, sizeof t);
	walk(op, FAULT_SYSCALL, 0, EIO, &t);
	walk(op, FAULT_SYSCALL, 1, EIO, &t);
	walk(op, FAULT_SYSCALL, 0, ENOSPC, &t);
	walk(op, FAULT_SYSCALL, 1, ENOSPC, &t);
	total_sys.runs += t.runs;
	total_sys.faults += t.faults;
	total_sys.failed += t.failed;
	total_sys.completed += t.completed;
	total_sys.lost += t.lost;
	if (t.maxn > total_sys.maxn)
		total_sys.maxn = t.maxn;
}

static void alloc_campaign(const op_desc *op)
{
	tally t;

	memset(&t, 0, sizeof t);
	walk(op, FAULT_ALLOC, 0, 0, &t);
	walk(op, FAULT_ALLOC, 1, 0, &t);
	total_alloc.runs += t.runs;
	total_alloc.faults += t.faults;
	total_alloc.failed += t.failed;
	total_alloc.completed += t.completed;
	total_alloc.lost += t.lost;
	if (t.maxn > total_alloc.maxn)
		total_alloc.maxn = t.maxn;
}

static void test_faults_syscall_walk_compactor(void **state) { (void)state; syscall_campaign(&op_compactor); }
static void test_faults_syscall_walk_syncer(void **state) { (void)state; syscall_campaign(&op_syncer); }
static void test_faults_syscall_walk_segment_merge(void **state) { (void)state; syscall_campaign(&op_merge); }
static void test_faults_syscall_walk_recover(void **state) { (void)state; syscall_campaign(&op_recover); }

/* ---- The writer through the public API, for allocation failures:
 * tbw_open + add_scalar (every other step add_scalars) + flush + close on a logdir that already holds a
 * run. A call that failed must have written nothing: the event files hold
 * exactly the scalars whose calls returned 0, in order. ---- */

#define W_BEFORE 100
#define W_LOG 60
static uint8_t w_acked[(W_BEFORE + W_LOG) / 8 + 2];   /* calls that returned 0 */
static uint8_t w_tried[(W_BEFORE + W_LOG) / 8 + 2];   /* calls made */

static tbw_options writer_opts(const paths *p)
{
	tbw_options o = TBW_OPTIONS_INIT;

	o.compact_interval_ms = 0;            /* export on flush and close only */
	o.durability_interval_ms = 3600 * 1000;
	o.sync_dir = p->sdir;
	o.sync_interval_ms = 0;               /* ship on flush and close only */
	o.run_name = "run";
	return o;
}

static int log_scalar(tbw_writer *w, uint64_t i)
{
	const char *tag;
	double v, wt;
	int64_t st;

	fu_scalar(i, &tag, &v, &st, &wt);
	return tbw_add_scalar(w, tag, v, st, wt);
}

/* Indices i .. i + TU_NTAGS - 1 (i a multiple of TU_NTAGS: one step, each
 * of the tags) in one tbw_add_scalars() call. */
static int log_step(tbw_writer *w, uint64_t i)
{
	const char *tags[TU_NTAGS];
	double v[TU_NTAGS], wt = 0;
	int64_t st = 0;

	for (uint64_t k = 0; k < TU_NTAGS; k++)
		fu_scalar(i + k, &tags[k], &v[k], &st, &wt);
	return tbw_add_scalars(w, TU_NTAGS, tags, v, st, wt);
}

static void writer_make(const paths *p)
{
	tbw_options o = writer_opts(p);
	tbw_writer *w = NULL;

	assert_int_equal(tbw_open(&w, p->logdir, &o), TBW_OK);
	for (uint64_t i = 0; i < W_BEFORE; i++)
		assert_int_equal(log_scalar(w, i), TBW_OK);
	assert_int_equal(tbw_close(w), TBW_OK);
}

static int writer_run(const paths *p)
{
	tbw_options o = writer_opts(p);
	tbw_writer *w = NULL;
	int first = TBW_OK, rc;

	rc = tbw_open(&w, p->logdir, &o);
	if (rc != TBW_OK)
		return rc;
	for (uint64_t i = W_BEFORE; i < W_BEFORE + W_LOG; i++) {
		if (fu_has(w_tried, i))
			continue;            /* a rerun after a failure logs nothing new */
		if (i % 8 == 0 && i + TU_NTAGS <= W_BEFORE + W_LOG) {
			/* every other step: its TU_NTAGS scalars in one
			 * tbw_add_scalars() call (a step record), all or nothing */
			if (keep_first(&first, log_step(w, i)) == TBW_OK)
				for (uint64_t k = i; k < i + TU_NTAGS; k++)
					w_acked[k / 8] |= (uint8_t)(1u << (k % 8));
			for (uint64_t k = i; k < i + TU_NTAGS; k++)
				w_tried[k / 8] |= (uint8_t)(1u << (k % 8));
			i += TU_NTAGS - 1;
			continue;
		}
		w_tried[i / 8] |= (uint8_t)(1u << (i % 8));
		if (keep_first(&first, log_scalar(w, i)) == TBW_OK)
			w_acked[i / 8] |= (uint8_t)(1u << (i % 8));
	}
	keep_first(&first, tbw_flush(w));
	keep_first(&first, tbw_close(w));
	return first;
}

static void writer_check(const paths *p, int complete, uint64_t *lost)
{
	uint8_t seen[sizeof w_acked];
	fu_events ev;
	uint64_t n = W_BEFORE + W_LOG;

	memset(seen, 0, sizeof seen);
	fu_read_events(p->logdir, seen, n, &ev);
	assert_int_equal(ev.corrupt, 0);
	assert_int_equal(ev.dups, 0);
	assert_int_equal(ev.phantoms, 0);
	if (!complete) {
		/* exported or still in the journal: indices in the journal are
		 * not known here (a failed call takes no sequence), so count
		 * the journal's records instead */
		tbw_journal *j = open_journal(p, 0);
		uint64_t cnt = 0, exported = 0;
		assert_non_null(j);
		assert_int_equal(tbw__journal_count(j, &cnt), TBW_OK);
		tbw__journal_close(j);
		for (uint64_t i = 0; i < n; i++)
			exported += fu_has(seen, i);
		for (uint64_t i = 0; i < n; i++)
			if (fu_has(seen, i) && !fu_has(w_acked, i))
				fail_msg("index %" PRIu64 " is in the event files but its call failed", i);
		{
			uint64_t acked = 0;
			for (uint64_t i = 0; i < n; i++)
				acked += fu_has(w_acked, i);
			if (exported + cnt < acked) {
				*lost += acked - exported - cnt;
				fprintf(stderr, "%s: %" PRIu64 " acknowledged, %" PRIu64 " exported + %" PRIu64
				        " in the journal\n", p->dir, acked, exported, cnt);
			}
		}
		return;
	}
	for (uint64_t i = 0; i < n; i++) {
		if (fu_has(w_acked, i) && !fu_has(seen, i))
			(*lost)++;
		if (!fu_has(w_acked, i) && fu_has(seen, i))
			fail_msg("index %" PRIu64 " is in the event files but its call failed", i);
	}
	assert_int_equal(ev.torn, 0);
	{
		uint64_t acked = 0;
		for (uint64_t i = 0; i < n; i++)
			acked += fu_has(w_acked, i);
		assert_int_equal(ev.scalars, acked);
	}
}

static void writer_reset(void)
{
	memset(w_acked, 0, sizeof w_acked);
	memset(w_tried, 0, sizeof w_tried);
	for (uint64_t i = 0; i < W_BEFORE; i++)
		w_acked[i / 8] |= (uint8_t)(1u << (i % 8));
}

static const op_desc op_writer = { "writer", writer_make, writer_run, writer_check, writer_reset };

static void test_faults_alloc_walk_writer(void **state) { (void)state; alloc_campaign(&op_writer); }
static void test_faults_alloc_walk_compactor(void **state) { (void)state; alloc_campaign(&op_compactor); }
static void test_faults_alloc_walk_syncer(void **state) { (void)state; alloc_campaign(&op_syncer); }
static void test_faults_alloc_walk_recover(void **state) { (void)state; alloc_campaign(&op_recover); }

/* ===================================================================
 * A failed fsync of an event file, through the writer
 * =================================================================== */

/* The compactor's fsync fails under tbw_flush: the flush reports it (it
 * never pretends the scalars are exported), the export cursor does not
 * move, logging goes on (the scalars are safe in the journal, which did not
 * fail), and the next flush cuts the unacknowledged tail back and writes it
 * again: exactly once. The event file's state after a failed fsync is
 * unknown, which is why it is cut back rather than trusted. */
static void test_faults_event_fsync_failure_reported_then_rewritten(void **state)
{
	paths p;
	char dir[512];
	tbw_options o;
	tbw_writer *w = NULL;
	tbw_journal *j;
	tbw_jexport before, after;
	int rc;

	(void)state;
	snprintf(dir, sizeof dir, "%s/event-fsync", root);
	sh("rm -rf '%s' && mkdir -p '%s/logs' '%s/drive'", dir, dir, dir);
	make_paths(&p, dir);
	o = writer_opts(&p);
	o.sync_dir = NULL;
	assert_int_equal(tbw_open(&w, p.logdir, &o), TBW_OK);
	for (uint64_t i = 0; i < 50; i++)
		assert_int_equal(log_scalar(w, i), TBW_OK);
	assert_int_equal(tbw_flush(w), TBW_OK);
	j = open_journal(&p, 0);
	assert_non_null(j);
	assert_int_equal(tbw__journal_get_export(j, &before), TBW_OK);
	for (uint64_t i = 50; i < 100; i++)
		assert_int_equal(log_scalar(w, i), TBW_OK);

	tbw__os_fault_arm(1u << TBW_OS_FSYNC, 1, 0, EIO);
	rc = tbw_flush(w);
	assert_int_equal(tbw__os_fault_hits(), 1);
	tbw__os_fault_clear();
	assert_int_equal(rc, TBW_EIO);
	assert_non_null(strstr(tbw_errmsg(), "fsync"));
	assert_non_null(strstr(tbw_errmsg(), p.logdir));
	assert_int_equal(tbw__journal_get_export(j, &after), TBW_OK);
	assert_int_equal(after.seq, before.seq);       /* not pretended exported */
	assert_int_equal(after.offset, before.offset);

	/* the journal did not fail: logging goes on */
	for (uint64_t i = 100; i < 120; i++)
		assert_int_equal(log_scalar(w, i), TBW_OK);
	assert_int_equal(tbw_flush(w), TBW_OK);
	assert_int_equal(tbw__journal_get_export(j, &after), TBW_OK);
	assert_int_equal(after.seq, 120);
	tbw__journal_close(j);
	assert_int_equal(tbw_close(w), TBW_OK);
	{
		uint64_t lost = 0;
		check_export(&p, 120, 1, 0, &lost);
		assert_int_equal(lost, 0);
	}
	sh("rm -rf '%s'", dir);
}

/* The same failure in the compactor thread (nobody calls flush): the
 * thread retries, the scalars stay in the journal until a pass succeeds,
 * and close exports them exactly once. */
static void test_faults_event_fsync_failure_in_thread_retried(void **state)
{
	paths p;
	char dir[512];
	tbw_options o;
	tbw_writer *w = NULL;

	(void)state;
	snprintf(dir, sizeof dir, "%s/event-fsync-thread", root);
	sh("rm -rf '%s' && mkdir -p '%s/logs'", dir, dir);
	make_paths(&p, dir);
	o = writer_opts(&p);
	o.sync_dir = NULL;
	o.compact_interval_ms = 20;
	assert_int_equal(tbw_open(&w, p.logdir, &o), TBW_OK);
	/* every fsync of the library fails for a while: the compactor
	 * thread's passes fail and are retried */
	tbw__os_fault_arm(1u << TBW_OS_FSYNC, 1, 1, EIO);
	for (uint64_t i = 0; i < 200; i++) {
		assert_int_equal(log_scalar(w, i), TBW_OK);
		if (i % 50 == 0)
			usleep(30000);
	}
	assert_true(tbw__os_fault_hits() > 0);
	tbw__os_fault_clear();
	assert_int_equal(tbw_close(w), TBW_OK);
	{
		uint64_t lost = 0;
		check_export(&p, 200, 1, 0, &lost);
		assert_int_equal(lost, 0);
	}
	sh("rm -rf '%s'", dir);
}

/* The journal reserves disk space for a write transaction before it
 * writes (LMDB turns a short pwrite on a full disk into EIO, which poisons
 * the journal; with MDB_WRITEMAP a store into a hole of data.mdb on a full
 * disk is a SIGBUS). When the reservation fails: TBW_EFULL naming the journal,
 * nothing written, the journal not poisoned, and logging goes on once
 * there is room. */
static void test_faults_journal_reservation_fails_cleanly(void **state)
{
	paths p;
	char dir[512];
	tbw_journal *j;
	uint64_t last = 0, before = 0, seq = 0;
	int rc = TBW_OK;

	(void)state;
	snprintf(dir, sizeof dir, "%s/reserve", root);
	sh("rm -rf '%s' && mkdir -p '%s/logs'", dir, dir);
	make_paths(&p, dir);
	setenv("TBW_JOURNAL_MAPSIZE", "67108864", 1);   /* room to grow past the first reservation */
	j = open_journal(&p, 1);
	setenv("TBW_JOURNAL_MAPSIZE", "1048576", 1);
	assert_non_null(j);
	tbw__os_fault_arm(1u << TBW_OS_FALLOCATE, 1, 1, ENOSPC);
	for (uint64_t s = 1; s <= 200000 && rc == TBW_OK; s++) {
		const char *tag;
		double v, w;
		int64_t st;
		assert_int_equal(tbw__journal_last_seq(j, &before), TBW_OK);
		tu_expected(s, &tag, &v, &st, &w);
		rc = tbw__journal_append(j, tag, strlen(tag), v, st, w, NULL);
	}
	assert_true(tbw__os_fault_hits() > 0);
	tbw__os_fault_clear();
	assert_int_equal(rc, TBW_EFULL);
	assert_non_null(strstr(tbw_errmsg(), p.jdir));
	assert_non_null(strstr(tbw_errmsg(), "reserve"));
	assert_int_equal(tbw__journal_last_seq(j, &last), TBW_OK);
	assert_int_equal(last, before);                          /* nothing written */
	assert_int_equal(tbw__journal_check_poisoned(j), TBW_OK); /* not poisoned */
	assert_int_equal(tu_fill(j, last + 10), 0);               /* and it goes on */
	assert_int_equal(tbw__journal_last_seq(j, &seq), TBW_OK);
	assert_int_equal(seq, last + 10);
	printf("journal reservation: refused cleanly after %" PRIu64 " records\n", last);
	tbw__journal_close(j);
	sh("rm -rf '%s'", dir);
}

static void test_faults_summary(void **state)
{
	(void)state;
	print_tally("ALL syscall", &total_sys);
	print_tally("ALL alloc", &total_alloc);
	assert_int_equal(total_sys.lost + total_alloc.lost, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_faults_event_fsync_failure_reported_then_rewritten),
		cmocka_unit_test(test_faults_event_fsync_failure_in_thread_retried),
		cmocka_unit_test(test_faults_journal_reservation_fails_cleanly),
		cmocka_unit_test(test_faults_syscall_walk_compactor),
		cmocka_unit_test(test_faults_syscall_walk_syncer),
		cmocka_unit_test(test_faults_syscall_walk_segment_merge),
		cmocka_unit_test(test_faults_syscall_walk_recover),
		cmocka_unit_test(test_faults_alloc_walk_writer),
		cmocka_unit_test(test_faults_alloc_walk_compactor),
		cmocka_unit_test(test_faults_alloc_walk_syncer),
		cmocka_unit_test(test_faults_alloc_walk_recover),
		cmocka_unit_test(test_faults_summary),
	};
	int rc;

	/* tmpfs when there is one: thousands of runs, each fsyncing. A small
	 * map keeps the copied journals small (it grows as needed). */
	if (tbw_test_mkdtemp_shm(root, sizeof root, "test_faults") != 0) {
		perror("mkdtemp");
		return 1;
	}
	setenv("TBW_JOURNAL_MAPSIZE", "1048576", 1);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	if (rc == 0 && tbw_test_rmtree(root) != 0)
		fprintf(stderr, "cannot remove %s\n", root);
	return rc;
}
