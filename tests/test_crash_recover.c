/* test_crash_recover.c -- crash loop: tbrecover, restoring a run from its
 * sync folder onto a fresh logdir (a lost runtime), is SIGKILLed at random
 * moments, one to three times in a row, then run to the end. After each
 * kill the event files hold a prefix of the run (a torn last record at
 * most); after the last run they hold every record exactly once, in order,
 * and tbrecover exits 0. tbrecover leaves each batch's fsync running while
 * it restores the next (pipeline_sync, src/export/compactor.h): the loop
 * counts the kills that left written bytes past the export cursor and
 * requires some. 30 kills in make check, 300 with TBW_SLOW_TESTS=1. */
#include "config.h"
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include "test_util.h"
#include "compactor_util.h"
#include "base/os.h"
#include "format/event.h"
#include "journal/journal.h"
#include "sync_testutil.h"
#include "tbwal.h"

/* Several segments (each one restore batch) and two event files (the
 * compactor rotates at 16 MB). */
#define NREC 400000u
#define SHIP_EVERY 40000u

static char base[256], srcdir[300], jsrc[340], sdir[300], logdir[300], jdir[340], tbrecover[1024];
static char rundir[700], outfile[300];

static int setup(void **state)
{
	const char *b = getenv("TBW_BUILDDIR");
	tbw_jopen jo = TBW_JOPEN_INIT;
	tbw_journal *j = NULL;
	tbw_syncer *s = NULL;
	(void)state;

	snprintf(tbrecover, sizeof tbrecover, "%s/tools/tbrecover", b ? b : ".");
	if (access(tbrecover, X_OK) != 0) {
		fprintf(stderr, "tbrecover not built at %s\n", tbrecover);
		return -1;
	}
	if (tbw_test_mkdtemp_shm(base, sizeof base, "crash_recover") != 0)
		return -1;
	snprintf(srcdir, sizeof srcdir, "%s/run", base);
	snprintf(jsrc, sizeof jsrc, "%s/.tbwal", srcdir);
	snprintf(sdir, sizeof sdir, "%s/drive", base);
	snprintf(logdir, sizeof logdir, "%s/restored", base);
	snprintf(jdir, sizeof jdir, "%s/.tbwal", logdir);
	snprintf(outfile, sizeof outfile, "%s/tbrecover.out", base);
	/* the run, shipped as it grew; then its machine is gone */
	jo.create = 1;
	jo.logdir = srcdir;
	if (tbw__mkdir_p(srcdir, "test") != TBW_OK || tbw__mkdir_p(sdir, "test") != TBW_OK ||
	    tbw__journal_open(&j, jsrc, &jo) != TBW_OK || tbw__syncer_open(&s, j, sdir, "crash", 0) != TBW_OK) {
		fprintf(stderr, "setup: %s\n", tbw_errmsg());
		return -1;
	}
	for (uint64_t upto = SHIP_EVERY; upto <= NREC; upto += SHIP_EVERY)
		if (tu_fill(j, upto) != 0 || tbw__syncer_pass(s, NULL) != TBW_OK) {
			fprintf(stderr, "setup: %s\n", tbw_errmsg());
			return -1;
		}
	snprintf(rundir, sizeof rundir, "%s", tbw__syncer_run_dir(s));
	tbw__syncer_close(s);
	tbw__journal_close(j);
	return tbw_test_rmtree(srcdir);
}

static int teardown(void **state)
{
	(void)state;
	if (tbw_test_rmtree(base) != 0)
		fprintf(stderr, "cannot remove %s\n", base);
	return 0;
}

static pid_t spawn(void)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		int out = open(outfile, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (out >= 0) {
			dup2(out, 1);
			dup2(out, 2);
		}
		execl(tbrecover, "tbrecover", "--from", rundir, logdir, (char *)NULL);
		_exit(127);
	}
	return pid;
}

/* What the last tbrecover printed, for a failure's message. */
static void show_output(void)
{
	char line[1024];
	FILE *f = fopen(outfile, "r");

	while (f && fgets(line, sizeof line, f))
		fprintf(stderr, "tbrecover: %s", line);
	if (f)
		fclose(f);
}

/* The event files hold records 1..M of the run in order, each once (all
 * NREC with whole), after one file_version per file and the run's
 * sacrificial START; a torn last record only after a kill. */
static uint64_t check(int whole, int iter)
{
	cu_scan s;
	uint64_t seq = 0;
	int seen_start = 0;

	if (!whole && access(logdir, F_OK) != 0)
		return 0;   /* killed before it made the logdir */
	assert_int_equal(cu_scan_logdir(logdir, &s), 0);
	if (s.corrupt || s.other_tfevents || s.torn > (whole ? 0u : 1u))
		fail_msg("iteration %d (%s): %zu corrupt, %zu torn: %s", iter, whole ? "finished" : "killed",
		         s.corrupt, s.torn, s.why);
	for (size_t i = 0; i < s.n; i++) {
		const cu_ev *e = &s.ev[i];
		const char *tag;
		double v, w;
		int64_t step;
		if (e->first_in_file != (e->kind == TBW_EVENT_FILE_VERSION))
			fail_msg("iteration %d: %s: file_version is not (only) its first record", iter,
			         s.names[e->file]);
		if (e->kind == TBW_EVENT_FILE_VERSION)
			continue;
		if (!seen_start) {
			if (e->kind != TBW_EVENT_SESSION_START || e->step != 0)
				fail_msg("iteration %d: the run's first START is missing", iter);
			seen_start = 1;
			continue;
		}
		tu_expected(++seq, &tag, &v, &step, &w);
		if (seq > NREC || e->kind != TBW_EVENT_SCALAR || strcmp(e->tag, tag) != 0 ||
		    e->value != (float)v || e->step != step || e->wall_time != w)
			fail_msg("iteration %d: event %zu in %s is not record %" PRIu64 " (duplicate, gap or "
			         "reorder): kind %d tag %s step %lld", iter, i, s.names[e->file], seq, e->kind,
			         e->tag, (long long)e->step);
	}
	if (whole && seq != NREC)
		fail_msg("iteration %d: %" PRIu64 " of %u records in the event files", iter, seq, NREC);
	cu_scan_free(&s);
	return seq;
}

/* Did the kill leave written bytes past the export cursor? (*seq: the
 * cursor's) */
static int past_cursor(uint64_t *seq)
{
	tbw_jopen jo = TBW_JOPEN_INIT;
	tbw_journal *j = NULL;
	tbw_jexport cur;
	char p[1024];
	int past = 0, rc;

	*seq = 0;
	if (access(jdir, F_OK) != 0)
		return 0;
	jo.read_only = 1;
	rc = tbw__journal_open(&j, jdir, &jo);
	if (rc == TBW_ENOTFOUND)
		return 0;   /* killed while it created the journal */
	if (rc != TBW_OK)
		fail_msg("journal %s after a kill: %s", jdir, tbw_errmsg());
	assert_int_equal(tbw__journal_get_export(j, &cur), TBW_OK);
	tbw__journal_close(j);
	*seq = cur.seq;
	if (cur.file[0]) {
		snprintf(p, sizeof p, "%s/%s", logdir, cur.file);
		past = cu_file_size(p) > (long long)cur.offset;
	}
	return past;
}

/* A finished recovery: every record once, and the export cursor covers
 * them all (the last batch's fsync was waited for and acknowledged). */
static void finished(int iter)
{
	uint64_t seq;

	check(1, iter);
	if (past_cursor(&seq) || seq != NREC)
		fail_msg("iteration %d: finished, but the export cursor is at seq %" PRIu64 " of %u, "
		         "or bytes lie past it", iter, seq, NREC);
}

static void test_crash_recover_sigkill_loop_exports_exactly_once(void **state)
{
	const char *slow = getenv("TBW_SLOW_TESTS");
	int want = slow && *slow && strcmp(slow, "0") ? 300 : 30;
	int kills = 0, window = 0, finished_early = 0, iter = 0;
	uint64_t run_ns = 0, t0;
	unsigned seed;
	(void)state;

	seed = tbw_test_crash_seed();
	/* how long a whole recovery takes here (sanitizers are slower) */
	t0 = tbw__now_ns();
	{
		int status;
		pid_t pid = spawn();
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	run_ns = tbw__now_ns() - t0;
	finished(-1);
	while (kills < want || window < want / 10) {
		int in_a_row = 1 + rand() % 3, status;
		uint64_t seq;
		pid_t pid;

		assert_true(iter < 20 * want);
		assert_int_equal(tbw_test_rmtree(logdir), 0);   /* a fresh runtime */
		for (int k = 0; k < in_a_row; k++, iter++) {
			long d = (long)((double)rand() / RAND_MAX * (double)run_ns * 1.1);
			struct timespec ts = { d / 1000000000L, d % 1000000000L };
			pid = spawn();
			nanosleep(&ts, NULL);
			kill(pid, SIGKILL);
			assert_int_equal(waitpid(pid, &status, 0), pid);
			if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
				kills++;
				window += past_cursor(&seq);
				check(0, iter);
			} else {
				if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
					show_output();
					fail_msg("iteration %d: tbrecover failed (status %d)", iter, status);
				}
				finished_early++;
				finished(iter);
			}
		}
		/* the last run, not killed: everything, exactly once */
		pid = spawn();
		assert_int_equal(waitpid(pid, &status, 0), pid);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			show_output();
			fail_msg("iteration %d: tbrecover after the kills failed (status %d); seed %u", iter, status,
			         seed);
		}
		finished(iter);
	}
	fprintf(stderr, "%d kills (%d left bytes past the export cursor), %d runs finished before their kill\n",
	        kills, window, finished_early);
	assert_true(window >= want / 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_crash_recover_sigkill_loop_exports_exactly_once, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
