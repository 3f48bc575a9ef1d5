/* test_crash_compactor.c -- crash loop: the compactor, in a process of its
 * own (tests/crash_compactor_child), is SIGKILLed at random points, and on
 * purpose between the fsync of a batch and its cursor commit (through the
 * syscall layer's hook). After each kill the event files hold a prefix of
 * what was logged (a torn last record at most); after each restart they
 * decode to exactly the journal's records: each once, in order, every CRC
 * valid. Every other round logs some steps as step records
 * (tbw__journal_append_many), and a few rounds more than one compactor
 * read (4096), so reads and cursors end inside step records. At least 100
 * kills in make check, 1000 with TBW_SLOW_TESTS=1. */
#include "config.h"
#include <errno.h>
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
#include "format/event.h"
#include "journal/journal.h"
#include "base/os.h"
#include "tbwal.h"

typedef struct truth {
	int is_start;
	int tag;
	int64_t step;
	float value;
	double wall;
} truth;

static const char *tags[] = { "loss", "accuracy", "grad/norm", "lr" };

static char tmp[256], logdir[300], jdir[340], child[1024];
static truth *T;
static size_t NT, TCAP;

static void push(int is_start, int tag, int64_t step, float value, double wall)
{
	if (NT == TCAP) {
		TCAP = TCAP ? TCAP * 2 : 4096;
		T = realloc(T, TCAP * sizeof *T);
		assert_non_null(T);
	}
	T[NT].is_start = is_start;
	T[NT].tag = tag;
	T[NT].step = step;
	T[NT].value = value;
	T[NT].wall = wall;
	NT++;
}

/* Record k is covered by a later purge marker (step at or below its own). */
static int purged_later(size_t k)
{
	for (size_t j = k + 1; j < NT; j++)
		if (T[j].is_start && T[j].step <= T[k].step)
			return 1;
	return 0;
}

/* Compare the event files with the truth. With after_kill, a prefix of the
 * truth and a torn last record are allowed; otherwise everything, exactly. */
static void check(int after_kill, size_t iter)
{
	cu_scan s;
	size_t i, k = 0;
	int seen_first_start = 0;

	assert_int_equal(cu_scan_logdir(logdir, &s), 0);
	if (s.corrupt || (!after_kill && s.torn) || s.torn > 1 || s.other_tfevents)
		fail_msg("iteration %zu (%s): %s", iter, after_kill ? "after kill" : "after restart", s.why);
	for (i = 0; i < s.n; i++) {
		const cu_ev *e = &s.ev[i];
		const truth *t;
		if (e->first_in_file != (e->kind == TBW_EVENT_FILE_VERSION))
			fail_msg("iteration %zu: file %s: file_version is not (only) its first record",
			         iter, s.names[e->file]);
		if (e->kind == TBW_EVENT_FILE_VERSION)
			continue;
		if (!seen_first_start) {
			/* the run's first export opens with one START at the first
			 * record's step */
			if (e->kind != TBW_EVENT_SESSION_START || e->step != T[0].step)
				fail_msg("iteration %zu: the run's first START is missing", iter);
			seen_first_start = 1;
			continue;
		}
		if (k >= NT)
			fail_msg("iteration %zu: more records in the event files than were logged (%zu)", iter, NT);
		t = &T[k];
		/* A record a later purge marker (step <= its step) covers is a
		 * tombstone once that marker's rewrite ran (doc/compactor.md);
		 * after a kill the rewrite may not have run yet. */
		if (e->kind == TBW_EVENT_OTHER && purged_later(k) && e->step == t->step && e->wall_time == t->wall) {
			k++;
			continue;
		}
		if (!after_kill && purged_later(k))
			fail_msg("iteration %zu: record %zu (step %lld) should be a tombstone after the purge rewrite",
			         iter, k, (long long)t->step);
		if (t->is_start ? e->kind != TBW_EVENT_SESSION_START :
		    (e->kind != TBW_EVENT_SCALAR || strcmp(e->tag, tags[t->tag]) != 0 || e->value != t->value) ||
		    e->step != t->step || e->wall_time != t->wall)
			fail_msg("iteration %zu: record %zu in %s differs from the journal's (dup, gap or reorder): "
			         "got kind %d tag %s step %lld, want %s step %lld",
			         iter, k, s.names[e->file], e->kind, e->tag, (long long)e->step,
			         t->is_start ? "START" : tags[t->tag], (long long)t->step);
		k++;
	}
	if (!after_kill && k != NT)
		fail_msg("iteration %zu: %zu of %zu records exported after restart", iter, k, NT);
	cu_scan_free(&s);
}

static pid_t spawn(unsigned long kill_at, int tensor)
{
	char ka[32];
	pid_t pid;

	snprintf(ka, sizeof ka, "%lu", kill_at);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		execl(child, child, logdir, jdir, "8192", ka, tensor ? "tensor" : "simple", (char *)NULL);
		_exit(127);
	}
	return pid;
}

static void test_crash_compactor_sigkill_loop_exports_exactly_once(void **state)
{
	int slow = getenv("TBW_SLOW_TESTS") != NULL;
	size_t want_kills = slow ? 1000 : 100, max_iter = want_kills * 4;
	size_t kills = 0, hook_kills = 0, window = 0, iter;
	int64_t step = 0;
	double clock = 1700000000.0;
	uint64_t last_run_ns = 15000000, t0;
	tbw_jopen jo = TBW_JOPEN_INIT;
	(void)state;

	(void)tbw_test_crash_seed();
	jo.create = 1;
	jo.logdir = logdir;
	/* Go on until there were enough kills, and enough of them in the window
	 * between a batch's fsync and its cursor commit. */
	for (iter = 0; iter < max_iter && (kills < want_kills || window < want_kills / 10); iter++) {
		tbw_journal *j = NULL;
		tbw_jexport cur;
		int status;
		size_t k = 1 + (size_t)(rand() % 300);
		if (iter % 48 == 5)
			k += 4096;   /* more than one read of the compactor's: reads end inside step records */
		int tensor = 0;   /* one run, one form: see doc/compactor.md */
		pid_t pid;

		/* a writer logs some more (this process, journal closed again
		 * before any child starts: LMDB handles do not cross fork) */
		assert_int_equal(tbw__journal_open(&j, jdir, &jo), TBW_OK);
		assert_int_equal(tbw__journal_lock(j, TBW_JROLE_WRITER, 0), TBW_OK);
		if (iter % 7 == 3 && step > 10) {
			int64_t back = step - 1 - rand() % 10;
			clock += 0.001;
			assert_int_equal(tbw__journal_append_start(j, back, clock, NULL), TBW_OK);
			push(1, 0, back, 0, clock);
			step = back;
		}
		for (size_t i = 0; i < k; i++) {
			int tg = rand() % 4;
			float v = (float)rand() / (float)RAND_MAX * 10.0f - 5.0f;
			clock += 0.001;
			if (iter % 2 == 1 && i + 1 < k && rand() % 3 == 0) {
				/* a step of 2-9 scalars in one step record, so the
				 * compactor's reads and cursors land inside them */
				const char *mt[9];
				size_t ml[9], m = 2 + (size_t)(rand() % 8);
				double mv[9];
				if (m > k - i)
					m = k - i;
				for (size_t x = 0; x < m; x++) {
					int t = rand() % 4;
					mt[x] = tags[t];
					ml[x] = strlen(tags[t]);
					mv[x] = (float)rand() / (float)RAND_MAX * 10.0f - 5.0f;
					push(0, t, step, (float)mv[x], clock);
				}
				assert_int_equal(tbw__journal_append_many(j, m, mt, ml, mv, step, clock, NULL), TBW_OK);
				i += m - 1;
				step += rand() % 2;
				continue;
			}
			assert_int_equal(tbw__journal_append(j, tags[tg], strlen(tags[tg]), v, step, clock, NULL), TBW_OK);
			push(0, tg, step, v, clock);
			step += rand() % 2;
		}
		tbw__journal_close(j);

		/* the compactor, killed: half at a chosen fsync, half after a
		 * random delay */
		if (iter % 2 == 0) {
			pid = spawn(1 + (unsigned long)(rand() % 6), tensor);
		} else {
			/* a delay spread over a whole run of the child (measured on
			 * the previous restart: sanitizers make it slower) */
			long span = (long)((double)last_run_ns * 1.2) + 1;
			long d = (long)((double)rand() / RAND_MAX * (double)span);
			struct timespec ts = { d / 1000000000L, d % 1000000000L };
			pid = spawn(0, tensor);
			nanosleep(&ts, NULL);
			kill(pid, SIGKILL);
		}
		assert_int_equal(waitpid(pid, &status, 0), pid);
		if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
			kills++;
			hook_kills += iter % 2 == 0;
		} else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			fail_msg("iteration %zu: the compactor failed (status %d)", iter, status);
		}
		/* was it killed between the fsync and the cursor commit? */
		assert_int_equal(tbw__journal_open(&j, jdir, &jo), TBW_OK);
		assert_int_equal(tbw__journal_get_export(j, &cur), TBW_OK);
		tbw__journal_close(j);
		if (cur.file[0]) {
			char p[700];
			snprintf(p, sizeof p, "%s/%s", logdir, cur.file);
			if (cu_file_size(p) > (long long)cur.offset)
				window++;
		}
		check(1, iter);

		/* restart, not killed: everything exactly once */
		t0 = tbw__now_ns();
		pid = spawn(0, tensor);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		last_run_ns = tbw__now_ns() - t0;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			fail_msg("iteration %zu: restarted compactor failed (status %d)", iter, status);
		check(0, iter);
	}
	fprintf(stderr, "%zu iterations, %zu records, %zu kills (%zu at an fsync), "
	        "%zu left bytes past the cursor\n", iter, NT, kills, hook_kills, window);
	assert_true(kills >= want_kills);
	/* the window between fsync and cursor commit was really exercised */
	assert_true(window >= want_kills / 10);
}

static int setup(void **state)
{
	const char *b = getenv("TBW_BUILDDIR");
	(void)state;
	snprintf(child, sizeof child, "%s/tests/crash_compactor_child", b ? b : ".");
	if (access(child, X_OK) != 0) {
		fprintf(stderr, "cannot run %s: %s\n", child, strerror(errno));
		return -1;
	}
	if (tbw_test_mkdtemp(tmp, sizeof tmp, "crash_compactor") < 0)
		return -1;
	snprintf(logdir, sizeof logdir, "%s/logs", tmp);
	snprintf(jdir, sizeof jdir, "%s/journal", tmp);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	free(T);
	(void)tbw_test_rmtree(tmp);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_crash_compactor_sigkill_loop_exports_exactly_once, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
