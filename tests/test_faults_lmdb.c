/* test_faults_lmdb.c -- failures on the journal's own write path (LMDB's
 * I/O, which does not pass through src/base/os.h), and a disk that fills up
 * for real (issue 9).
 *
 * 1. LMDB's writes and syncs fail: tests/inject/inject_lmdb.so, preloaded
 *    into tests/faults_child (a program logging through the public writer),
 *    fails LMDB's pwrite / writev / fdatasync / msync on data.mdb from the
 *    Nth call on, with EIO or ENOSPC. The writer must report it (TBW_EIO or
 *    TBW_EFULL naming the journal), refuse every later call with
 *    TBW_EPANIC, and the journal must open afterwards holding exactly the
 *    scalars whose calls returned 0. The shim's counts prove it intercepted
 *    LMDB (no vacuous pass).
 * 2. A full disk: a 2 MiB tmpfs holds the logdir and its journal; a child
 *    logs until a call fails. It must not die (with MDB_WRITEMAP a store
 *    into a hole of the sparse data file on a full filesystem raises
 *    SIGBUS), every call that returned 0 must be recoverable (after the
 *    filesystem is given room: tbrecover's library entry), and the call
 *    that failed must have written nothing.
 */
#include "config.h"
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
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>
#include "test_util.h"
#include "tbwal.h"
#include "recover/recover.h"
#include "faults_util.h"

static char root[256];
static const char *builddir;
/* tmpfs mounted by the full-disk cases, unmounted at exit even when a case
 * failed half-way */
static char mounted[2][600];
static int nmounted;
static unsigned long t_faults, t_ops, t_lost, t_acked;

/* Check the logdir after the failure: the journal opens and holds exactly
 * the acknowledged scalars 0..acked-1 (nothing of the failed call), and a
 * writer opened afterwards exports exactly those, once each, in order. */
static void check_after(const char *logdir, uint64_t acked, int via_recover)
{
	char jdir[700];
	uint64_t n = acked + 8;
	uint8_t *seen = calloc(n / 8 + 2, 1);
	fu_events ev;
	long bad;
	uint64_t lost = 0, extra = 0;

	snprintf(jdir, sizeof jdir, "%s/.tbwal", logdir);
	bad = fu_read_journal(jdir, seen, n);
	if (bad < 0)
		fail_msg("journal %s does not open after the failure: %s", jdir, tbw_errmsg());
	assert_int_equal(bad, 0);
	/* the compactor may already have exported (and pruned) a prefix */
	fu_read_events(logdir, seen, n, &ev);
	assert_int_equal(ev.corrupt, 0);
	assert_int_equal(ev.dups, 0);
	for (uint64_t i = 0; i < n; i++) {
		if (i < acked && !fu_has(seen, i))
			lost++;
		if (i >= acked && fu_has(seen, i))
			extra++;
	}
	if (lost || extra)
		fprintf(stderr, "%s: %" PRIu64 " acknowledged scalars missing, %" PRIu64
		        " scalars of failed calls present\n", logdir, lost, extra);
	t_lost += lost;
	assert_int_equal(lost, 0);
	assert_int_equal(extra, 0);

	/* Export everything: reopen the writer (or run recovery) and close. */
	if (via_recover) {
		tbw_recover_cfg cfg = TBW_RECOVER_CFG_INIT;
		tbw_recover_report rep;
		int rc;
		cfg.logdir = logdir;
		rc = tbw__recover_run(&cfg, &rep);
		if (rc != TBW_OK && !(acked == 0 && rc == TBW_ENOTFOUND))
			fail_msg("recover %s: %s", logdir, tbw_errmsg());
		if (rc == TBW_OK)
			assert_int_equal(rep.lost, 0);
		tbw__recover_report_free(&rep);
	} else {
		tbw_writer *w = NULL;
		tbw_options o = TBW_OPTIONS_INIT;
		o.compact_interval_ms = 0;
		if (tbw_open(&w, logdir, &o) != TBW_OK)
			fail_msg("reopen %s: %s", logdir, tbw_errmsg());
		assert_int_equal(tbw_close(w), TBW_OK);
	}
	memset(seen, 0, n / 8 + 2);
	fu_read_events(logdir, seen, n, &ev);
	assert_int_equal(ev.corrupt, 0);
	assert_int_equal(ev.torn, 0);
	assert_int_equal(ev.dups, 0);
	assert_int_equal(ev.phantoms, 0);
	assert_int_equal(ev.scalars, acked);
	for (uint64_t i = 0; i < acked; i++)
		assert_true(fu_has(seen, i));
	free(seen);
}

/* ===================================================================
 * 1. LMDB's write path, through the LD_PRELOAD shim
 * =================================================================== */

typedef struct shim_case {
	const char *mode;      /* always | interval */
	const char *call;      /* shim selection */
	unsigned from;
	int err;
} shim_case;

typedef struct child_out {
	uint64_t acked;        /* ACK lines (0..acked-1, in order) */
	int fail_rc, fail_kind;   /* kind: 0 none, 1 add, 2 flush, 3 open */
	char fail_msg[600];
	int next_add, next_flush, have_next;
	int close_rc, done;
	unsigned long matched, failed;
	/* always-mt: per thread */
	uint64_t tacked[4];
	int tfail_rc[4];
	char tfail_msg[4][600];
} child_out;

static void parse_line(child_out *o, char *line)
{
	unsigned long long i;
	int rc, a, f, off = 0;

	if (sscanf(line, "TACK %d %llu", &a, &i) == 2 && a >= 0 && a < 4) {
		assert_int_equal(i, o->tacked[a]);   /* per thread in order */
		o->tacked[a]++;
	} else if (sscanf(line, "TFAIL %d %llu %d %n", &a, &i, &rc, &off) == 3 && off && a >= 0 && a < 4) {
		assert_int_equal(i, o->tacked[a]);
		o->tfail_rc[a] = rc;
		snprintf(o->tfail_msg[a], sizeof o->tfail_msg[a], "%s", line + off);
	} else if (sscanf(line, "ACK %llu", &i) == 1) {
		assert_int_equal(i, o->acked);    /* in order, none skipped */
		o->acked++;
	} else if (sscanf(line, "FAIL %llu %d %n", &i, &rc, &off) == 2 && off) {
		o->fail_kind = 1, o->fail_rc = rc;
		snprintf(o->fail_msg, sizeof o->fail_msg, "%s", line + off);
	} else if (sscanf(line, "FLUSHFAIL %llu %d %n", &i, &rc, &off) == 2 && off) {
		o->fail_kind = 2, o->fail_rc = rc;
		snprintf(o->fail_msg, sizeof o->fail_msg, "%s", line + off);
	} else if (sscanf(line, "OPENFAIL %d %n", &rc, &off) == 1 && off) {
		o->fail_kind = 3, o->fail_rc = rc;
		snprintf(o->fail_msg, sizeof o->fail_msg, "%s", line + off);
	} else if (sscanf(line, "NEXT %d %d", &a, &f) == 2) {
		o->next_add = a, o->next_flush = f, o->have_next = 1;
	} else if (sscanf(line, "CLOSE %d", &rc) == 1) {
		o->close_rc = rc;
	} else if (strncmp(line, "DONE", 4) == 0) {
		o->done = 1;
	}
}

static void run_child(const char *logdir, const shim_case *c, const char *report, child_out *out)
{
	char shim[700], child[700], from[32];
	int pfd[2], st;
	pid_t pid;
	FILE *f;
	char line[1024];

	snprintf(shim, sizeof shim, "%s/tests/inject/.libs/inject_lmdb.so", builddir);
	snprintf(child, sizeof child, "%s/tests/faults_child", builddir);
	if (access(shim, R_OK) != 0)
		fail_msg("the shim %s is not built (make check builds it)", shim);
	snprintf(from, sizeof from, "%u", c->from);
	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		const char *asan = getenv("ASAN_OPTIONS");
		char aopt[1024];
		dup2(pfd[1], 1);
		close(pfd[0]);
		close(pfd[1]);
		/* In sanitizer builds the child is an ASan program: let a
		 * preloaded library come before the ASan runtime. */
		snprintf(aopt, sizeof aopt, "%s%sverify_asan_link_order=0", asan ? asan : "", asan && *asan ? ":" : "");
		setenv("ASAN_OPTIONS", aopt, 1);
		setenv("LD_PRELOAD", shim, 1);
		setenv("TBW_INJECT_CALL", c->call, 1);
		setenv("TBW_INJECT_FROM", from, 1);
		setenv("TBW_INJECT_ERRNO", c->err == ENOSPC ? "ENOSPC" : "EIO", 1);
		setenv("TBW_INJECT_REPORT", report, 1);
		execl(child, child, logdir, c->mode, "400", "25", (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	memset(out, 0, sizeof *out);
	f = fdopen(pfd[0], "r");
	assert_non_null(f);
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = '\0';
		parse_line(out, line);
	}
	fclose(f);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("child %s %s from %u: %s %d", c->mode, c->call, c->from,
		         WIFSIGNALED(st) ? "killed by signal" : "exit status",
		         WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
	f = fopen(report, "r");
	if (!f)
		fail_msg("the shim wrote no report %s: was it preloaded?", report);
	if (fscanf(f, "matched=%lu failed=%lu", &out->matched, &out->failed) != 2)
		fail_msg("unreadable shim report %s", report);
	fclose(f);
}

static void shim_case_run(const shim_case *c, int k)
{
	char logdir[600], report[600];
	child_out o;
	int want = c->err == ENOSPC ? TBW_EFULL : TBW_EIO;

	snprintf(logdir, sizeof logdir, "%s/shim%d/logs", root, k);
	snprintf(report, sizeof report, "%s/shim%d/report", root, k);
	sh("mkdir -p '%s/shim%d'", root, k);
	run_child(logdir, c, report, &o);
	/* the shim met LMDB's calls and failed one */
	if (o.matched < c->from || o.failed == 0)
		fail_msg("%s %s from %u: the shim saw %lu matching calls and failed %lu: not intercepted",
		         c->mode, c->call, c->from, o.matched, o.failed);
	/* the writer reported it, naming the journal */
	if (o.fail_kind == 0)
		fail_msg("%s %s from %u: %lu calls failed under LMDB and the writer reported nothing",
		         c->mode, c->call, c->from, o.failed);
	if (o.fail_rc != want || !strstr(o.fail_msg, logdir))
		fail_msg("%s %s from %u: the failure was reported as %d \"%s\", want %d naming %s",
		         c->mode, c->call, c->from, o.fail_rc, o.fail_msg, want, logdir);
	if (o.fail_kind != 3) {
		/* and refuses everything after it */
		assert_true(o.have_next);
		assert_int_equal(o.next_add, TBW_EPANIC);
		assert_int_equal(o.next_flush, TBW_EPANIC);
	}
	printf("lmdb %s %s from %u (%s): %s after %" PRIu64 " acknowledged scalars: %s\n", c->mode, c->call,
	       c->from, c->err == ENOSPC ? "ENOSPC" : "EIO",
	       o.fail_kind == 1 ? "add_scalar failed" : o.fail_kind == 2 ? "flush failed" : "open failed",
	       o.acked, o.fail_msg);
	t_faults += o.failed;
	t_acked += o.acked;
	check_after(logdir, o.acked, 0);
	t_ops++;
}

static void test_faults_lmdb_writes_fail_always(void **state)
{
	/* ALWAYS: no WRITEMAP; each commit writes pages (writev/pwrite),
	 * fdatasyncs, writes the meta page (pwrite). */
	static const shim_case cases[] = {
		{ "always", "pwrite", 1, ENOSPC },     /* creating the journal */
		{ "always", "pwrite", 60, EIO },
		{ "always", "pwrite", 61, ENOSPC },
		{ "always", "writev", 10, EIO },
		{ "always", "fdatasync", 30, EIO },
		{ "always", "fdatasync", 31, ENOSPC },
	};
	(void)state;
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
		shim_case_run(&cases[k], (int)k);
}

/* Four threads share commits (group commit) when LMDB's writes or syncs
 * fail: a call returns 0 only if its record is in the journal afterwards
 * (per thread: steps 0..acknowledged-1, nothing of a failed call), the
 * commit's failure reaches every call it held (TBW_EIO/TBW_EFULL naming
 * the journal, or TBW_EPANIC once the journal is poisoned), and the
 * journal opens and takes writes again. */
static void mt_case_run(const shim_case *c, int k)
{
	char logdir[600], report[600], jdir[700];
	child_out o;
	int want = c->err == ENOSPC ? TBW_EFULL : TBW_EIO, nwant = 0;
	tbw_jopen cfg = TBW_JOPEN_INIT;
	tbw_journal *j = NULL;
	uint64_t stored[4] = {0}, after = 0, acked = 0;
	tbw_jrec *recs = calloc(1024, sizeof *recs);

	snprintf(logdir, sizeof logdir, "%s/mt%d/logs", root, k);
	snprintf(report, sizeof report, "%s/mt%d/report", root, k);
	snprintf(jdir, sizeof jdir, "%s/.tbwal", logdir);
	sh("mkdir -p '%s/mt%d'", root, k);
	run_child(logdir, c, report, &o);
	if (o.matched < c->from || o.failed == 0)
		fail_msg("always-mt %s from %u: the shim saw %lu matching calls and failed %lu: not intercepted",
		         c->call, c->from, o.matched, o.failed);
	for (int t = 0; t < 4; t++) {
		acked += o.tacked[t];
		if (o.tfail_rc[t] == 0)
			fail_msg("always-mt %s from %u: thread %d saw no failure", c->call, c->from, t);
		if (o.tfail_rc[t] == want) {
			nwant++;
			if (!strstr(o.tfail_msg[t], logdir))
				fail_msg("always-mt: thread %d: \"%s\" does not name %s", t, o.tfail_msg[t], logdir);
		} else if (o.tfail_rc[t] != TBW_EPANIC) {
			fail_msg("always-mt %s from %u: thread %d failed with %d \"%s\", want %d or TBW_EPANIC",
			         c->call, c->from, t, o.tfail_rc[t], o.tfail_msg[t], want);
		}
	}
	assert_true(nwant >= 1);
	/* the journal: exactly the acknowledged calls */
	assert_int_equal(tbw__journal_open(&j, jdir, &cfg), TBW_OK);
	for (;;) {
		tbw_jread info;
		memset(&info, 0, sizeof info);
		assert_int_equal(tbw__journal_read(j, after, recs, 1024, &info), TBW_OK);
		assert_int_equal(info.ncorrupt, 0);
		for (size_t i = 0; i < info.n; i++) {
			const char *name;
			size_t len;
			int t;
			if (recs[i].tag_id == TBW_JTAG_SESSION_START)
				continue;
			assert_int_equal(tbw__journal_tag_name(j, recs[i].tag_id, &name, &len), TBW_OK);
			assert_true(len == 3 && name[0] == 'm' && name[1] == 't');
			t = name[2] - '0';
			assert_true(t >= 0 && t < 4);
			assert_int_equal(recs[i].step, (int64_t)stored[t]);   /* in order, once */
			stored[t]++;
		}
		if (info.n == 0 || info.next_after <= after)
			break;
		after = info.next_after;
	}
	tbw__journal_close(j);
	free(recs);
	for (int t = 0; t < 4; t++) {
		if (stored[t] != o.tacked[t])
			fprintf(stderr, "always-mt %s from %u: thread %d: %" PRIu64 " acknowledged, %" PRIu64
			        " in the journal\n", c->call, c->from, t, o.tacked[t], stored[t]);
		if (stored[t] < o.tacked[t])
			t_lost += o.tacked[t] - stored[t];
		assert_int_equal(stored[t], o.tacked[t]);
	}
	printf("lmdb always-mt %s from %u (%s): %" PRIu64 " acknowledged over 4 threads, then "
	       "%d of them got the failure, the others TBW_EPANIC\n", c->call, c->from,
	       c->err == ENOSPC ? "ENOSPC" : "EIO", acked, nwant);
	/* the journal takes writes again */
	{
		tbw_writer *w = NULL;
		tbw_options wo = TBW_OPTIONS_INIT;
		wo.compact_interval_ms = 0;
		wo.durability = TBW_DURABILITY_ALWAYS;
		if (tbw_open(&w, logdir, &wo) != TBW_OK)
			fail_msg("reopen %s: %s", logdir, tbw_errmsg());
		assert_int_equal(tbw_add_scalar(w, "mt0", 0, (int64_t)stored[0], 0), TBW_OK);
		assert_int_equal(tbw_close(w), TBW_OK);
	}
	t_faults += o.failed;
	t_acked += acked;
	t_ops++;
}

static void test_faults_lmdb_writes_fail_always_threads(void **state)
{
	static const shim_case cases[] = {
		{ "always-mt", "pwrite", 40, EIO },
		{ "always-mt", "pwrite", 41, ENOSPC },
		{ "always-mt", "writev", 12, EIO },
		{ "always-mt", "fdatasync", 25, EIO },
		{ "always-mt", "fdatasync", 26, ENOSPC },
	};
	(void)state;
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
		mt_case_run(&cases[k], (int)k);
}

static void test_faults_lmdb_writes_and_syncs_fail_interval(void **state)
{
	/* INTERVAL: WRITEMAP + NOSYNC (see want_writemap() in src/journal/journal.c);
	 * the journal reaches the disk by msync in tbw_flush (and the
	 * durability thread). LMDB's pwrite/writev/fdatasync path is the
	 * ALWAYS cases'. */
	static const shim_case cases[] = {
		{ "interval", "msync", 1, EIO },
		{ "interval", "msync", 3, ENOSPC },
	};
	(void)state;
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
		shim_case_run(&cases[k], 100 + (int)k);
}

/* ===================================================================
 * 2. A full disk: a 2 MiB tmpfs
 * =================================================================== */

typedef struct disk_result {
	uint64_t acked;
	int fail_rc, next_rc, close_rc;
	char msg[600];
} disk_result;

static void disk_child(const char *logdir, tbw_durability mode, int wfd)
{
	tbw_options o = TBW_OPTIONS_INIT;
	tbw_writer *w = NULL;
	disk_result r;
	const char *tag;
	double v, wt;
	int64_t st;
	int rc;

	/* cmocka's handlers came with fork(): a fault here must kill this
	 * child, for the parent to see it. */
	signal(SIGBUS, SIG_DFL);
	signal(SIGSEGV, SIG_DFL);
	memset(&r, 0, sizeof r);
	o.durability = mode;
	o.durability_interval_ms = 3600 * 1000;
	o.compact_interval_ms = 0;
	rc = tbw_open(&w, logdir, &o);
	if (rc != TBW_OK) {
		r.fail_rc = rc;
		snprintf(r.msg, sizeof r.msg, "open: %s", tbw_errmsg());
	} else {
		for (uint64_t i = 0; i < 2000000; i++) {
			fu_scalar(i, &tag, &v, &st, &wt);
			rc = tbw_add_scalar(w, tag, v, st, wt);
			if (rc != TBW_OK) {
				r.fail_rc = rc;
				snprintf(r.msg, sizeof r.msg, "%s", tbw_errmsg());
				fu_scalar(i + 1, &tag, &v, &st, &wt);
				r.next_rc = tbw_add_scalar(w, tag, v, st, wt);
				break;
			}
			r.acked = i + 1;
		}
		r.close_rc = tbw_close(w);
	}
	if (write(wfd, &r, sizeof r) != (ssize_t)sizeof r)
		_exit(3);
	_exit(0);
}

static void disk_case(tbw_durability mode, const char *name)
{
	char mnt[600], logdir[700];
	disk_result r;
	int pfd[2], st;
	pid_t pid;

	snprintf(mnt, sizeof mnt, "%s/disk-%s", root, name);
	snprintf(logdir, sizeof logdir, "%s/logs", mnt);
	sh("mkdir -p '%s'", mnt);
	if (mount("tmpfs", mnt, "tmpfs", 0, "size=2m") != 0) {
		printf("SKIP full disk (%s): cannot mount a 2 MiB tmpfs on %s: %s (needs root or "
		       "CAP_SYS_ADMIN)\n", name, mnt, strerror(errno));
		skip();
	}
	if (nmounted < 2)
		snprintf(mounted[nmounted++], sizeof mounted[0], "%s", mnt);
	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(pfd[0]);
		disk_child(logdir, mode, pfd[1]);
	}
	close(pfd[1]);
	memset(&r, 0, sizeof r);
	{
		ssize_t got = read(pfd[0], &r, sizeof r);
		close(pfd[0]);
		assert_int_equal(waitpid(pid, &st, 0), pid);
		if (WIFSIGNALED(st)) {
			umount2(mnt, MNT_DETACH);
			fail_msg("full disk (%s): the writer was killed by signal %d (%s)%s", name, WTERMSIG(st),
			         strsignal(WTERMSIG(st)), WTERMSIG(st) == SIGBUS ?
			         ": a store into the journal's map faulted on the full filesystem" : "");
		}
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		assert_int_equal(got, (ssize_t)sizeof r);
	}
	printf("full disk (%s): %" PRIu64 " scalars acknowledged, then %d (%s): %s; next call %d, close %d\n",
	       name, r.acked, r.fail_rc, tbw_strerror(r.fail_rc), r.msg, r.next_rc, r.close_rc);
	assert_true(r.acked > 1000);                 /* it did fill the disk */
	assert_int_equal(r.fail_rc, TBW_EFULL);
	assert_non_null(strstr(r.msg, logdir));
	assert_true(r.next_rc == TBW_EFULL || r.next_rc == TBW_EPANIC);
	/* Give the filesystem room, then recover: every acknowledged scalar,
	 * nothing of the failed call. */
	if (mount("tmpfs", mnt, "tmpfs", MS_REMOUNT, "size=64m") != 0)
		fail_msg("remount %s bigger: %s", mnt, strerror(errno));
	check_after(logdir, r.acked, 1);
	t_faults++;
	t_ops++;
	t_acked += r.acked;
	if (umount2(mnt, 0) != 0)
		umount2(mnt, MNT_DETACH);
}

static void test_faults_full_disk_always(void **state)
{
	(void)state;
	disk_case(TBW_DURABILITY_ALWAYS, "always");
}

static void test_faults_full_disk_interval(void **state)
{
	(void)state;
	disk_case(TBW_DURABILITY_INTERVAL, "interval");
}

static void test_faults_lmdb_summary(void **state)
{
	(void)state;
	printf("faults campaign lmdb+disk: %lu faults injected, %lu operations completed, "
	       "%lu scalars acknowledged before the failures, data lost %lu\n",
	       t_faults, t_ops, t_acked, t_lost);
	assert_int_equal(t_lost, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_faults_lmdb_writes_fail_always),
		cmocka_unit_test(test_faults_lmdb_writes_fail_always_threads),
		cmocka_unit_test(test_faults_lmdb_writes_and_syncs_fail_interval),
		cmocka_unit_test(test_faults_full_disk_always),
		cmocka_unit_test(test_faults_full_disk_interval),
		cmocka_unit_test(test_faults_lmdb_summary),
	};
	int rc;

	builddir = getenv("TBW_BUILDDIR");
	if (!builddir)
		builddir = ".";
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (tbw_test_mkdtemp(root, sizeof root, "test_faults_lmdb") != 0) {
		perror("mkdtemp");
		return 1;
	}
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	for (int i = 0; i < nmounted; i++)
		umount2(mounted[i], MNT_DETACH);   /* no-op if the case unmounted it */
	if (rc == 0 && tbw_test_rmtree(root) != 0)
		fprintf(stderr, "cannot remove %s\n", root);
	return rc;
}
