/* test_powerloss.c -- the power cut at every write and flush of the journal
 * (what ALWAYS promises: a call that returned 0 survives an OS crash or a
 * power loss).
 *
 * tests/powerloss_child logs through the public writer under the shim
 * tests/inject/powerloss.so, which models the disk under data.mdb (what
 * reached it and what was still in the page cache, see the shim) and
 * writes out, after every event (each write or flush of data.mdb), the
 * disk a power cut at that instant could leave: the flushed writes alone
 * ("clean"), and those with a random part of the others ("torn": the
 * kernel writes dirty pages back whenever it likes), each with the counts
 * of calls that had returned by then. Each such disk, in a process of
 * its own (LMDB may crash on damage), must
 *   - open as a journal (with no lock file, as after a reboot), and pass
 *     LMDB's walk of every table (tbw__journal_verify);
 *   - hold every scalar of every acknowledged call, its value intact
 *     (a step record's two scalars both);
 *   - take a new scalar.
 * The cases: one thread; four threads through one writer (the group
 * commit); step records. The control: INTERVAL (flushed every 20 ms, and
 * MDB_WRITEMAP off so the shim sees its writes) must lose acknowledged
 * scalars at some cut and still open at every clean one; a check that
 * finds no loss there would find none anywhere. The shim's counts prove it
 * saw LMDB's writes and flushes, and no msync (writes through a map it
 * cannot follow).
 */
#include "config.h"
#include <dirent.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>
#include "test_util.h"
#include "tbwal.h"
#include "journal/journal.h"

static char root[256];
static const char *builddir;

typedef struct pl_case {
	const char *name, *mode;
	int threads, count, every, steps;
} pl_case;

typedef struct pl_counts {
	unsigned long events, snapshots, writes, dsync_writes, flushes, msyncs;
} pl_counts;

/* Run the child under the shim; snapshots into dir/snaps. */
static void run_child(const char *dir, const pl_case *c, pl_counts *out)
{
	char shim[700], child[700], logdir[700], snaps[700], report[700], every[16], threads[16], count[16];
	int st;
	pid_t pid;
	FILE *f;

	snprintf(shim, sizeof shim, "%s/tests/inject/.libs/powerloss.so", builddir);
	snprintf(child, sizeof child, "%s/tests/powerloss_child", builddir);
	if (access(shim, R_OK) != 0)
		fail_msg("the shim %s is not built (make check builds it)", shim);
	snprintf(logdir, sizeof logdir, "%s/logs", dir);
	snprintf(snaps, sizeof snaps, "%s/snaps", dir);
	snprintf(report, sizeof report, "%s/report", dir);
	sh("mkdir -p '%s'", snaps);
	snprintf(every, sizeof every, "%d", c->every);
	snprintf(threads, sizeof threads, "%d", c->threads);
	snprintf(count, sizeof count, "%d", c->count);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		const char *asan = getenv("ASAN_OPTIONS");
		char aopt[1024];
		/* In sanitizer builds the child is an ASan program: let a
		 * preloaded library come before the ASan runtime. */
		snprintf(aopt, sizeof aopt, "%s%sverify_asan_link_order=0", asan ? asan : "", asan && *asan ? ":" : "");
		setenv("ASAN_OPTIONS", aopt, 1);
		setenv("LD_PRELOAD", shim, 1);
		setenv("TBW_POWERLOSS_DIR", snaps, 1);
		setenv("TBW_POWERLOSS_EVERY", every, 1);
		setenv("TBW_POWERLOSS_REPORT", report, 1);
		setenv("TBW_JOURNAL_WRITEMAP", "0", 1);
		execl(child, child, logdir, c->mode, threads, count, c->steps ? "steps" : "plain", (char *)NULL);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("%s: powerloss_child %s: %s %d", c->name, c->mode, WIFSIGNALED(st) ? "killed by signal" : "exit status",
		         WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
	f = fopen(report, "r");
	if (!f)
		fail_msg("%s: the shim wrote no report %s: was it preloaded?", c->name, report);
	memset(out, 0, sizeof *out);
	if (fscanf(f, "events=%lu snapshots=%lu writes=%lu dsync_writes=%lu flushes=%lu msyncs=%lu", &out->events,
	           &out->snapshots, &out->writes, &out->dsync_writes, &out->flushes, &out->msyncs) != 6)
		fail_msg("%s: unreadable shim report %s", c->name, report);
	fclose(f);
}

/* The verdict on one disk, from the process that looked at it. */
enum { PL_OK = 0, PL_NOOPEN = 10, PL_DAMAGED = 11, PL_LOST = 12, PL_WRONG = 13, PL_NOWRITE = 14, PL_NOACKED = 15 };

/* In a child process: look at the journal in snap (see the header). */
static int check_snapshot(const char *snap, int threads, int steps)
{
	char path[800];
	long acked[8];
	FILE *f;
	tbw_jopen cfg = TBW_JOPEN_INIT;
	tbw_journal *j = NULL;
	tbw_jrec *recs;
	uint64_t after = 0, ent;
	uint8_t *seen[8][2];
	long lost = 0, wrong = 0;

	snprintf(path, sizeof path, "%s/acked", snap);
	f = fopen(path, "r");
	if (!f)
		return PL_NOACKED;
	for (int t = 0; t < 8; t++)
		if (fscanf(f, "%ld", &acked[t]) != 1)
			return PL_NOACKED;
	fclose(f);
	cfg.create = 1;
	if (tbw__journal_open(&j, snap, &cfg) != TBW_OK) {
		fprintf(stderr, "%s: does not open: %s\n", snap, tbw_errmsg());
		return PL_NOOPEN;
	}
	if (tbw__journal_verify(j, &ent) != TBW_OK) {
		fprintf(stderr, "%s: damaged: %s\n", snap, tbw_errmsg());
		return PL_DAMAGED;
	}
	for (int t = 0; t < threads; t++)
		for (int b = 0; b < 2; b++)
			seen[t][b] = calloc((size_t)acked[t] + 1, 1);
	recs = calloc(1024, sizeof *recs);
	for (;;) {
		tbw_jread info;
		memset(&info, 0, sizeof info);
		if (tbw__journal_read(j, after, recs, 1024, &info) != TBW_OK) {
			fprintf(stderr, "%s: read: %s\n", snap, tbw_errmsg());
			return PL_DAMAGED;
		}
		if (info.ncorrupt) {
			fprintf(stderr, "%s: %zu damaged records\n", snap, (size_t)info.ncorrupt);
			return PL_DAMAGED;
		}
		for (size_t k = 0; k < info.n; k++) {
			const char *name;
			size_t len;
			int t, b;
			if (recs[k].tag_id == TBW_JTAG_SESSION_START)
				continue;
			if (tbw__journal_tag_name(j, recs[k].tag_id, &name, &len) != TBW_OK || len < 3 ||
			    memcmp(name, "pl", 2) != 0 || (t = name[2] - '0') < 0 || t >= threads) {
				wrong++;
				continue;
			}
			b = len == 5 && memcmp(name + 3, "/b", 2) == 0;
			if ((len != 3 && !b) || recs[k].value != (double)recs[k].step) {
				wrong++;
				continue;
			}
			if (recs[k].step >= 0 && recs[k].step < acked[t])
				seen[t][b][recs[k].step] = 1;
		}
		if (info.next_after <= after || info.n == 0)
			break;
		after = info.next_after;
	}
	for (int t = 0; t < threads; t++)
		for (long i = 0; i < acked[t]; i++)
			for (int b = 0; b < 1 + steps; b++)
				if (!seen[t][b][i])
					lost++;
	if (wrong) {
		fprintf(stderr, "%s: %ld records that no call logged\n", snap, wrong);
		return PL_WRONG;
	}
	if (lost) {
		fprintf(stderr, "%s: %ld scalars of acknowledged calls missing\n", snap, lost);
		return PL_LOST;
	}
	if (tbw__journal_append(j, "after", 5, 1.0, 1, 1.0, NULL) != TBW_OK) {
		fprintf(stderr, "%s: takes no new scalar: %s\n", snap, tbw_errmsg());
		return PL_NOWRITE;
	}
	tbw__journal_close(j);
	return PL_OK;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

typedef struct pl_tally {
	int snapshots, torn, lost, other;
	long acked_max;
} pl_tally;

/* Check every snapshot of dir/snaps (torn ones too unless clean_only). */
static void check_all(const char *dir, const pl_case *c, int clean_only, pl_tally *tl)
{
	char snaps[700], snap[1000];
	struct dirent **names;
	int n;

	memset(tl, 0, sizeof *tl);
	snprintf(snaps, sizeof snaps, "%s/snaps", dir);
	n = scandir(snaps, &names, NULL, by_name);
	assert_true(n >= 0);
	for (int i = 0; i < n; i++) {
		const char *nm = names[i]->d_name;
		int torn = strstr(nm, "-torn") != NULL, st;
		long a0;
		FILE *f;
		pid_t pid;

		if (strncmp(nm, "snap-", 5) != 0 || (clean_only && torn)) {
			free(names[i]);
			continue;
		}
		snprintf(snap, sizeof snap, "%s/%s", snaps, nm);
		free(names[i]);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0)
			_exit(check_snapshot(snap, c->threads, c->steps));
		assert_int_equal(waitpid(pid, &st, 0), pid);
		tl->snapshots++;
		tl->torn += torn;
		if (WIFEXITED(st) && WEXITSTATUS(st) == PL_LOST)
			tl->lost++;
		else if (!WIFEXITED(st) || WEXITSTATUS(st) != PL_OK) {
			fprintf(stderr, "%s: %s %d\n", snap, WIFSIGNALED(st) ? "the check was killed by signal" : "verdict",
			        WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
			tl->other++;
		}
		snprintf(snap + strlen(snap), sizeof snap - strlen(snap), "/acked");
		f = fopen(snap, "r");
		if (f && fscanf(f, "%ld", &a0) == 1 && a0 > tl->acked_max)
			tl->acked_max = a0;
		if (f)
			fclose(f);
	}
	free(names);
}

static void run_case(const pl_case *c, int expect_loss)
{
	char dir[600];
	pl_counts k;
	pl_tally tl;

	snprintf(dir, sizeof dir, "%s/%s", root, c->name);
	run_child(dir, c, &k);
	/* the shim followed LMDB: writes and flushes of data.mdb, no msync */
	if (k.writes == 0 || k.flushes == 0 || k.snapshots == 0)
		fail_msg("%s: the shim saw %lu writes and %lu flushes of data.mdb and took %lu snapshots: not intercepted",
		         c->name, k.writes, k.flushes, k.snapshots);
	if (k.msyncs)
		fail_msg("%s: %lu msync calls: writes through a map the shim cannot follow", c->name, k.msyncs);
	check_all(dir, c, expect_loss, &tl);
	printf("powerloss %s: %lu events (%lu writes, %lu of them O_DSYNC; %lu flushes); %d disks checked (%d torn); "
	       "%d lost acknowledged scalars; %d failed otherwise; thread 0 acknowledged up to %ld\n",
	       c->name, k.events, k.writes, k.dsync_writes, k.flushes, tl.snapshots, tl.torn, tl.lost, tl.other,
	       tl.acked_max);
	assert_true(tl.snapshots >= 2 * (int)(k.snapshots > 0));
	/* the cuts reached the end of the run: thread 0's last calls */
	assert_int_equal(tl.acked_max > c->count / 2, 1);
	assert_int_equal(tl.other, 0);
	if (expect_loss)
		assert_true(tl.lost > 0);
	else
		assert_int_equal(tl.lost, 0);
	assert_int_equal(tbw_test_rmtree(dir), 0);
}

static void test_powerloss_always_one_thread(void **state)
{
	static const pl_case c = { "always1", "always", 1, 60, 1, 0 };
	(void)state;
	run_case(&c, 0);
}

static void test_powerloss_always_four_threads_group_commit(void **state)
{
	static const pl_case c = { "always4", "always", 4, 40, 1, 0 };
	(void)state;
	run_case(&c, 0);
}

static void test_powerloss_always_step_records(void **state)
{
	static const pl_case c = { "steps", "always", 2, 40, 1, 1 };
	(void)state;
	run_case(&c, 0);
}

static void test_powerloss_interval_loses_what_it_may(void **state)
{
	static const pl_case c = { "interval", "interval", 1, 3000, 25, 0 };
	(void)state;
	run_case(&c, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_powerloss_always_one_thread),
		cmocka_unit_test(test_powerloss_always_four_threads_group_commit),
		cmocka_unit_test(test_powerloss_always_step_records),
		cmocka_unit_test(test_powerloss_interval_loses_what_it_may),
	};
	int rc;

	builddir = getenv("TBW_BUILDDIR") ? getenv("TBW_BUILDDIR") : ".";
	if (tbw_test_mkdtemp(root, sizeof root, "powerloss") != 0) {
		perror("mkdtemp");
		return 1;
	}
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	tbw_test_rmtree(root);
	return rc;
}
