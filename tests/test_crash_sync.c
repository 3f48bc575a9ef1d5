/* test_crash_sync.c -- crash loop: tbsync is SIGKILLed at random moments
 * while a parent keeps appending to the journal. After every kill the sync
 * folder must restore (dry scan) to an exact prefix 1..M of the journal,
 * bit for bit, with M at least what the last completed pass shipped and at
 * least the ship cursor; no named segment may ever be damaged.
 * 100 kills in make check, 1000 with TBW_SLOW_TESTS=1 (each counted only
 * if the child really died of SIGKILL). */
#include "config.h"
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include "test_util.h"
#include "base/alloc.h"
#include "base/os.h"
#include "sync_testutil.h"

static char base[256], logdir[300], jdir[300], sdir[300], tbsync[1024];

static int setup(void **state)
{
	const char *b = getenv("TBW_BUILDDIR");
	(void)state;
	snprintf(tbsync, sizeof tbsync, "%s/tools/tbsync", b ? b : ".");
	if (access(tbsync, X_OK) != 0) {
		fprintf(stderr, "tbsync not built at %s\n", tbsync);
		return -1;
	}
	if (tbw_test_mkdtemp_shm(base, sizeof base, "crash_sync") != 0)
		return -1;
	snprintf(logdir, sizeof logdir, "%s/logs", base);
	snprintf(jdir, sizeof jdir, "%s/journal", base);
	snprintf(sdir, sizeof sdir, "%s/drive", base);
	mkdir(logdir, 0777);
	return mkdir(sdir, 0777);
}

static int teardown(void **state)
{
	(void)state;
	if (tbw_test_rmtree(base) != 0)
		fprintf(stderr, "cannot remove %s\n", base);
	return 0;
}

static char *find_run_dir(void)
{
	DIR *d = opendir(sdir);
	struct dirent *de;
	static char path[600];
	path[0] = 0;
	if (!d)
		return NULL;
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, "crash-", 6) == 0)
			snprintf(path, sizeof path, "%s/%s", sdir, de->d_name);
	closedir(d);
	return path[0] ? path : NULL;
}

static pid_t spawn(int follow)
{
	pid_t pid = fork();
	if (pid == 0) {
		if (follow)
			execl(tbsync, "tbsync", logdir, sdir, "--journal", jdir, "--run-name", "crash",
			      "--quiet", "--follow", "--interval", "0.002", (char *)NULL);
		else
			execl(tbsync, "tbsync", logdir, sdir, "--journal", jdir, "--run-name", "crash",
			      "--quiet", "--once", (char *)NULL);
		_exit(127);
	}
	return pid;
}

static void test_crash_sync_kill_loop_leaves_a_restorable_prefix(void **state)
{
	const char *slow = getenv("TBW_SLOW_TESTS");
	int target = slow && *slow && strcmp(slow, "0") ? 1000 : 100, iters = 0;
	tbw_journal *j = tu_open_journal(jdir, 1);
	uint64_t upto = 0, completed = 0;
	int kills = 0, finished = 0, maxfiles = 0;
	double window_us = 20000;
	unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
	(void)state;
	assert_non_null(j);
	if (getenv("TBW_CRASH_SEED"))
		seed = (unsigned)strtoul(getenv("TBW_CRASH_SEED"), NULL, 10);
	printf("seed %u (set TBW_CRASH_SEED to replay)\n", seed);
	srand(seed);
	for (int it = 0; kills < target; it++) {
		assert_true(it < 10 * target);
		iters++;
		int status;
		upto += 1 + (uint64_t)(rand() % 300);
		assert_int_equal(tu_fill(j, upto), 0);
		int follow = rand() % 3 == 0;
		uint64_t t0 = tbw__now_ns();
		pid_t pid = spawn(follow);
		assert_true(pid > 0);
		/* kill anywhere from before exec to well after a pass; with
		 * --follow always (it never exits on its own) */
		int mode = rand() % 10;
		if (mode < 8 || follow) {
			/* uniform over a window that tracks how long a whole
			 * run takes, so kills land inside passes, not after */
			useconds_t delay = (useconds_t)(rand() % (int)window_us);
			usleep(delay);
			kill(pid, SIGKILL);
		}
		assert_int_equal(waitpid(pid, &status, 0), pid);
		if (WIFSIGNALED(status)) {
			kills++;
		} else {
			assert_true(WIFEXITED(status));
			assert_int_equal(WEXITSTATUS(status), 0);
			finished++;
			double took = (double)(tbw__now_ns() - t0) / 1000.0;
			window_us = 0.7 * window_us + 0.3 * (took * 1.2);
			if (window_us < 500)
				window_us = 500;
			completed = upto; /* a completed --once pass shipped everything so far */
		}
		/* the folder now */
		char *rd = find_run_dir();
		if (!rd) {
			assert_int_equal(completed, 0);
			continue;
		}
		tu_check c;
		tbw_sync_report rep;
		tbw_sync_restore_opts o = TBW_SYNC_RESTORE_OPTS_INIT;
		memset(&c, 0, sizeof c);
		c.max = upto;
		c.seen = calloc(upto / 8 + 1, 1);
		o.on_record = tu_on_record;
		o.on_damage = tu_on_damage;
		o.ctx = &c;
		assert_int_equal(tbw__sync_restore(rd, NULL, &o, &rep), TBW_OK);
		if (c.damaged)
			fprintf(stderr, "iteration %d: %s\n", it, c.last_damage);
		assert_int_equal(c.damaged, 0);
		assert_int_equal(c.bad, 0);
		uint64_t prefix = tu_prefix(&c);
		assert_int_equal(tu_count_seen(&c), prefix); /* a prefix, no holes */
		assert_true(prefix >= completed);
		uint64_t ship = 0;
		int present = 0;
		assert_int_equal(tbw__journal_get_ship(j, &ship, &present), TBW_OK);
		assert_true(ship <= prefix);      /* the cursor never runs ahead of the folder */
		assert_true(ship >= completed);
		int files = tu_count_segments(rd, NULL);
		if (files > maxfiles)
			maxfiles = files;
		tbw__sync_report_free(&rep);
		free(c.seen);
	}
	/* a last, uninterrupted pass ships everything */
	{
		int status;
		pid_t pid = spawn(0);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		tu_check c;
		tbw_sync_report rep;
		tbw_sync_restore_opts o = TBW_SYNC_RESTORE_OPTS_INIT;
		memset(&c, 0, sizeof c);
		c.max = upto;
		c.seen = calloc(upto / 8 + 1, 1);
		o.on_record = tu_on_record;
		o.ctx = &c;
		assert_int_equal(tbw__sync_restore(find_run_dir(), NULL, &o, &rep), TBW_OK);
		assert_int_equal(tu_prefix(&c), upto);
		assert_int_equal(rep.segments_bad, 0);
		tbw__sync_report_free(&rep);
		free(c.seen);
	}
	printf("%d iterations: %d killed, %d finished, %llu records, at most %d segment files, "
	       "kill window %.0f us\n", iters, kills, finished, (unsigned long long)upto, maxfiles,
	       window_us);
	assert_true(maxfiles <= 200);
	tbw__journal_close(j);
}

static int run_tbsync(const char *a1, const char *a2, const char *a3, const char *a4,
                      const char *a5)
{
	int status;
	pid_t pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1);
		execl(tbsync, "tbsync", a1, a2, a3, a4, a5, (char *)NULL);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

/* Exit codes of tbsync(1), and a second syncer beside one that runs. */
static void test_crash_sync_tbsync_exit_codes_and_busy_role(void **state)
{
	tbw_journal *j = tu_open_journal(jdir, 1);
	tbw_syncer *s = NULL;
	char nojournal[400];
	(void)state;
	assert_non_null(j);
	assert_int_equal(tu_fill(j, 50), 0);
	snprintf(nojournal, sizeof nojournal, "%s/nothing", base);
	assert_int_equal(run_tbsync("--help", NULL, NULL, NULL, NULL), 0);
	assert_int_equal(run_tbsync(NULL, NULL, NULL, NULL, NULL), 2);
	assert_int_equal(run_tbsync(logdir, sdir, "--bogus", NULL, NULL), 2);
	assert_int_equal(run_tbsync(logdir, sdir, "--interval", "abc", NULL), 2);
	assert_int_equal(run_tbsync(logdir, sdir, "--journal", nojournal, NULL), 4);
	/* this process is the syncer now (as a writer's syncer thread would be) */
	assert_int_equal(tbw__syncer_open(&s, j, sdir, "busy", 0), TBW_OK);
	assert_int_equal(run_tbsync(logdir, sdir, "--journal", jdir, "--once"), 3);
	tbw__syncer_close(s);
	assert_int_equal(run_tbsync(logdir, sdir, "--journal", jdir, "--json"), 0);
	uint64_t ship = 0;
	int present = 0;
	assert_int_equal(tbw__journal_get_ship(j, &ship, &present), TBW_OK);
	assert_int_equal(ship, 50);
	tbw__journal_close(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_crash_sync_kill_loop_leaves_a_restorable_prefix,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_sync_tbsync_exit_codes_and_busy_role,
		                                setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
