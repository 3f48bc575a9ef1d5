/* test_writer.c -- the public writer API: open/add/flush/close, validation,
 * journal placement (FUSE redirect), sharing, fork, failures, threads. */
#include "config.h"
#include <errno.h>
#include <fcntl.h>
#include <math.h>
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
#include <unistd.h>
#include <cmocka.h>
#include "test_util.h"
#include "base/alloc.h"
#include "base/error.h"
#include "journal/journal.h"
#include "base/os.h"
#include "api/writer.h"
#include "tbwal.h"

static char tmpdir[256];
static char logdir[300];

static int setup(void **state)
{
	(void)state;
	if (tbw_test_mkdtemp(tmpdir, sizeof tmpdir, "test_writer") != 0)
		return -1;
	snprintf(logdir, sizeof logdir, "%s/run1", tmpdir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tbw__writer_fs_is_remote_hook = NULL;
	unsetenv("TBW_LOCAL_DIR");
	unsetenv("TBW_JOURNAL_WRITEMAP");
	unsetenv("TBW_JOURNAL_MAPSIZE");
	return tbw_test_rmtree(tmpdir);
}

static tbw_writer *open_w(const char *dir, const tbw_options *o)
{
	tbw_writer *w = NULL;
	tbw_journal *j = NULL;
	tbw_jopen jo = TBW_JOPEN_INIT;
	int rc = tbw_open(&w, dir, o);
	if (rc)
		fail_msg("tbw_open %s: %s", dir, tbw_errmsg());
	assert_non_null(w);
	/* These tests read the records back from the journal after close. The
	 * compactor prunes what it exported, except past a ship cursor: one at
	 * 0 (as a syncer that shipped nothing) keeps every record. */
	if (tbw__journal_open(&j, tbw_journal_path(w), &jo) != TBW_OK)
		fail_msg("journal open %s: %s", tbw_journal_path(w), tbw_errmsg());
	assert_int_equal(tbw__journal_set_ship(j, 0), TBW_OK);
	tbw__journal_close(j);
	return w;
}

/* Read every record of the journal in jdir (after the writer closed). */
static size_t read_all(const char *jdir, tbw_jrec *out, size_t cap, char names[][32])
{
	tbw_journal *j = NULL;
	tbw_jopen cfg = TBW_JOPEN_INIT;
	tbw_jread inf;
	int rc = tbw__journal_open(&j, jdir, &cfg);
	if (rc)
		fail_msg("journal open %s: %s", jdir, tbw_errmsg());
	assert_int_equal(tbw__journal_read(j, 0, out, cap, &inf), TBW_OK);
	assert_int_equal(inf.ncorrupt, 0);
	for (size_t i = 0; names && i < inf.n; i++) {
		const char *nm = "";
		size_t len = 0;
		if (out[i].tag_id != TBW_JTAG_SESSION_START)
			assert_int_equal(tbw__journal_tag_name(j, out[i].tag_id, &nm, &len), TBW_OK);
		snprintf(names[i], 32, "%.*s", (int)len, nm);
	}
	tbw__journal_close(j);
	return inf.n;
}

static uint64_t bits(double d)
{
	uint64_t u;
	memcpy(&u, &d, 8);
	return u;
}

static void test_writer_round_trip_all_modes(void **state)
{
	tbw_durability modes[] = { TBW_DURABILITY_INTERVAL, TBW_DURABILITY_ALWAYS, TBW_DURABILITY_NEVER };
	(void)state;

	for (int m = 0; m < 3; m++) {
		char dir[400], jdir[600];
		tbw_options o = TBW_OPTIONS_INIT;
		tbw_writer *w;
		tbw_jrec r[8];
		char names[8][32];
		double nan = NAN;
		o.durability = modes[m];
		snprintf(dir, sizeof dir, "%s/mode%d", tmpdir, m);
		w = open_w(dir, &o);
		snprintf(jdir, sizeof jdir, "%s", tbw_journal_path(w));
		assert_non_null(strstr(jdir, "/.tbwal"));
		assert_int_equal(tbw_add_scalar(w, "loss", 0.25, 1, 100.5), TBW_OK);
		assert_int_equal(tbw_add_scalar(w, "loss", nan, INT64_MIN, 101.5), TBW_OK);
		assert_int_equal(tbw_add_scalar(w, "acc", -INFINITY, INT64_MAX, 0), TBW_OK);
		assert_int_equal(tbw_flush(w), TBW_OK);
		assert_int_equal(tbw_close(w), TBW_OK);
		assert_int_equal(read_all(jdir, r, 8, names), 3);
		assert_string_equal(names[0], "loss");
		assert_string_equal(names[2], "acc");
		assert_int_equal(bits(r[0].value), bits(0.25));
		assert_int_equal(bits(r[1].value), bits(nan));
		assert_int_equal(r[1].step, INT64_MIN);
		assert_int_equal(r[2].step, INT64_MAX);
		assert_true(r[0].wall_time == 100.5);
		/* wall_time 0 means now */
		assert_true(r[2].wall_time > 1.6e9);
	}
}

static void test_writer_bad_tags_write_nothing(void **state)
{
	tbw_writer *w = open_w(logdir, NULL);
	char jdir[600], longtag[TBW_TAG_MAX + 2];
	tbw_jrec r[4];
	const char *bad[] = { "", "new\nline", "bell\a", "half\xe2\x82", "\xc0\x80" };
	(void)state;

	snprintf(jdir, sizeof jdir, "%s", tbw_journal_path(w));
	assert_int_equal(tbw_add_scalar(w, NULL, 1, 1, 0), TBW_EINVAL);
	assert_non_null(strstr(tbw_errmsg(), "NULL"));
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(tbw_add_scalar(w, bad[i], 1, 1, 0), TBW_EINVAL);
		assert_non_null(strstr(tbw_errmsg(), "add_scalar"));
	}
	memset(longtag, 'a', sizeof longtag);
	longtag[TBW_TAG_MAX + 1] = 0;
	assert_int_equal(tbw_add_scalar(w, longtag, 1, 1, 0), TBW_EINVAL);
	assert_non_null(strstr(tbw_errmsg(), "1024"));
	assert_int_equal(tbw_add_scalar(NULL, "x", 1, 1, 0), TBW_EINVAL);
	assert_int_equal(tbw_close(w), TBW_OK);
	assert_int_equal(read_all(jdir, r, 4, NULL), 0);
}

static void test_writer_bad_options_refused(void **state)
{
	tbw_writer *w = (tbw_writer *)&w;
	tbw_options o;
	struct stat st;
	(void)state;

	o = (tbw_options)TBW_OPTIONS_INIT; o.version = 99;
	assert_int_equal(tbw_open(&w, logdir, &o), TBW_EINVAL);
	assert_null(w);
	assert_non_null(strstr(tbw_errmsg(), "version"));
	o = (tbw_options)TBW_OPTIONS_INIT; o.durability = (tbw_durability)7;
	assert_int_equal(tbw_open(&w, logdir, &o), TBW_EINVAL);
	assert_non_null(strstr(tbw_errmsg(), "durability"));
	o = (tbw_options)TBW_OPTIONS_INIT; o.scalar_format = (tbw_scalar_format)-1;
	assert_int_equal(tbw_open(&w, logdir, &o), TBW_EINVAL);
	o = (tbw_options)TBW_OPTIONS_INIT; o.durability_interval_ms = 0;
	assert_int_equal(tbw_open(&w, logdir, &o), TBW_EINVAL);
	o = (tbw_options)TBW_OPTIONS_INIT; o.sync_dir = "";
	assert_int_equal(tbw_open(&w, logdir, &o), TBW_EINVAL);
	o = (tbw_options)TBW_OPTIONS_INIT; o.filename_suffix = "a/b";
	assert_int_equal(tbw_open(&w, logdir, &o), TBW_EINVAL);
	o = (tbw_options)TBW_OPTIONS_INIT; o.run_name = "..";
	assert_int_equal(tbw_open(&w, logdir, &o), TBW_EINVAL);
	assert_int_equal(tbw_open(&w, "", NULL), TBW_EINVAL);
	assert_int_equal(tbw_open(&w, NULL, NULL), TBW_EINVAL);
	assert_int_equal(tbw_open(NULL, logdir, NULL), TBW_EINVAL);
	/* nothing was created by the refused opens */
	assert_int_not_equal(stat(logdir, &st), 0);
	assert_int_equal(tbw_close(NULL), TBW_OK);
}

static void test_writer_purge_step_appends_start_marker(void **state)
{
	tbw_options o = TBW_OPTIONS_INIT;
	tbw_writer *w;
	char jdir[600];
	tbw_jrec r[4];
	(void)state;

	o.purge_step = 500;
	w = open_w(logdir, &o);
	snprintf(jdir, sizeof jdir, "%s", tbw_journal_path(w));
	assert_int_equal(tbw_add_scalar(w, "loss", 1, 500, 0), TBW_OK);
	assert_int_equal(tbw_close(w), TBW_OK);
	assert_int_equal(read_all(jdir, r, 4, NULL), 2);
	assert_int_equal(r[0].tag_id, TBW_JTAG_SESSION_START);
	assert_int_equal(r[0].step, 500);
	assert_int_not_equal(r[1].tag_id, TBW_JTAG_SESSION_START);
}

static int force_remote(const char *path)
{
	/* the logdir (and nothing under TBW_LOCAL_DIR) counts as remote */
	return strstr(path, "/run1") != NULL && strstr(path, "/local") == NULL;
}

static void test_writer_fuse_logdir_redirects_journal(void **state)
{
	char local[400], ptr[400], line[600], errpath[400];
	tbw_writer *w;
	FILE *f;
	int saved;
	tbw_jrec r[2];
	(void)state;

	snprintf(local, sizeof local, "%s/local", tmpdir);
	setenv("TBW_LOCAL_DIR", local, 1);
	tbw__writer_fs_is_remote_hook = force_remote;
	/* capture stderr to see the writer say where the journal went */
	snprintf(errpath, sizeof errpath, "%s/stderr.txt", tmpdir);
	fflush(stderr);
	saved = dup(2);
	{
		int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		assert_true(fd >= 0);
		dup2(fd, 2);
		close(fd);
	}
	w = open_w(logdir, NULL);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	assert_int_equal(strncmp(tbw_journal_path(w), local, strlen(local)), 0);
	assert_non_null(strstr(tbw_journal_path(w), "run1-"));
	assert_int_equal(tbw_add_scalar(w, "x", 3, 3, 0), TBW_OK);
	snprintf(line, sizeof line, "%s", tbw_journal_path(w));
	assert_int_equal(tbw_close(w), TBW_OK);
	/* no LMDB in the logdir */
	snprintf(ptr, sizeof ptr, "%s/.tbwal", logdir);
	assert_int_not_equal(access(ptr, F_OK), 0);
	/* the pointer file names the journal */
	{
		char *found = tbw__writer_find_journal(logdir);
		assert_string_equal(found, line);
		tbw__free(found);
	}
	assert_int_equal(read_all(line, r, 2, NULL), 1);
	/* and the writer said where, once */
	f = fopen(errpath, "r");
	assert_non_null(f);
	{
		char buf[2048] = {0};
		size_t n = fread(buf, 1, sizeof buf - 1, f);
		int count = 0;
		assert_true(n > 0);
		for (char *p = buf; (p = strstr(p, "journal is kept")); p++)
			count++;
		assert_int_equal(count, 1);
		assert_non_null(strstr(buf, line));
	}
	fclose(f);
}

static void test_writer_bindfs_logdir_redirects_journal(void **state)
{
	char src[400], mnt[400], cmd[1200], local[400], ld[500];
	tbw_writer *w;
	int rc;
	(void)state;

	if (access("/usr/bin/bindfs", X_OK) != 0 || access("/dev/fuse", R_OK | W_OK) != 0) {
		printf("SKIP reason: bindfs or /dev/fuse not available here\n");
		skip();
	}
	snprintf(src, sizeof src, "%s/src", tmpdir);
	snprintf(mnt, sizeof mnt, "%s/mnt", tmpdir);
	snprintf(local, sizeof local, "%s/localstate", tmpdir);
	mkdir(src, 0755);
	mkdir(mnt, 0755);
	snprintf(cmd, sizeof cmd, "bindfs '%s' '%s'", src, mnt);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(tbw__fs_is_remote(mnt), 1);
	setenv("TBW_LOCAL_DIR", local, 1);
	snprintf(ld, sizeof ld, "%s/run", mnt);
	rc = tbw_open(&w, ld, NULL);
	if (rc == 0) {
		assert_int_equal(strncmp(tbw_journal_path(w), local, strlen(local)), 0);
		assert_int_equal(tbw_add_scalar(w, "x", 1, 1, 0), TBW_OK);
		assert_int_equal(tbw_close(w), TBW_OK);
		snprintf(cmd, sizeof cmd, "%s/run/.tbwal-journal", src);
		assert_int_equal(access(cmd, F_OK), 0);
		snprintf(cmd, sizeof cmd, "%s/run/.tbwal", src);
		assert_int_not_equal(access(cmd, F_OK), 0);
	}
	snprintf(cmd, sizeof cmd, "fusermount -u '%s' || umount '%s'", mnt, mnt);
	assert_int_equal(system(cmd), 0);
	if (rc)
		fail_msg("tbw_open on bindfs: %s", tbw_errmsg());
}

static void test_writer_explicit_journal_dir_on_fuse_refused(void **state)
{
	tbw_options o = TBW_OPTIONS_INIT;
	tbw_writer *w = NULL;
	char jd[400];
	(void)state;
	snprintf(jd, sizeof jd, "%s/run1/jr", tmpdir);
	o.journal_dir = jd;
	tbw__writer_fs_is_remote_hook = force_remote;
	assert_int_equal(tbw_open(&w, logdir, &o), TBW_EINVAL);
	assert_non_null(strstr(tbw_errmsg(), "FUSE"));
	assert_null(w);
}

static void test_writer_same_logdir_twice_shares(void **state)
{
	tbw_writer *a = open_w(logdir, NULL), *b;
	char jdir[600];
	tbw_jrec r[8];
	(void)state;

	b = open_w(logdir, NULL);
	assert_string_equal(tbw_journal_path(a), tbw_journal_path(b));
	snprintf(jdir, sizeof jdir, "%s", tbw_journal_path(a));
	assert_int_equal(tbw_add_scalar(a, "a", 1, 1, 0), TBW_OK);
	assert_int_equal(tbw_add_scalar(b, "b", 2, 2, 0), TBW_OK);
	assert_int_equal(tbw_close(a), TBW_OK);
	assert_int_equal(tbw_add_scalar(b, "b", 3, 3, 0), TBW_OK);
	assert_int_equal(tbw_close(b), TBW_OK);
	assert_int_equal(read_all(jdir, r, 8, NULL), 3);
	assert_int_equal(r[2].seq, 3);
}

static void test_writer_second_process_gets_ebusy(void **state)
{
	tbw_writer *w = open_w(logdir, NULL);
	pid_t pid;
	int st;
	(void)state;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* a fresh open in the child is another process */
		tbw_writer *cw = NULL;
		int rc = tbw_open(&cw, logdir, NULL);
		_exit(rc == TBW_EBUSY && strstr(tbw_errmsg(), "writer") &&
		      strstr(tbw_errmsg(), "writer.lock") ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_int_equal(tbw_close(w), TBW_OK);
}

static void test_writer_fork_child_gets_efork(void **state)
{
	tbw_writer *w = open_w(logdir, NULL);
	char jdir[600];
	tbw_jrec r[16];
	pid_t pid;
	int st;
	(void)state;

	snprintf(jdir, sizeof jdir, "%s", tbw_journal_path(w));
	for (int i = 0; i < 5; i++)
		assert_int_equal(tbw_add_scalar(w, "p", i, i, 0), TBW_OK);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int ok = tbw_add_scalar(w, "c", 1, 1, 0) == TBW_EFORK &&
		         strstr(tbw_errmsg(), "fork") != NULL &&
		         tbw_flush(w) == TBW_EFORK &&
		         tbw_close(w) == TBW_EFORK;
		_exit(ok ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	for (int i = 5; i < 10; i++)
		assert_int_equal(tbw_add_scalar(w, "p", i, i, 0), TBW_OK);
	assert_int_equal(tbw_close(w), TBW_OK);
	assert_int_equal(read_all(jdir, r, 16, NULL), 10);
	for (int i = 0; i < 10; i++)
		assert_int_equal(r[i].step, i);
}

/* The fd LMDB uses for data.mdb in this process. */
static int lmdb_data_fd(const char *jdir)
{
	char data[700];
	snprintf(data, sizeof data, "%s/data.mdb", jdir);
	for (int f = 3; f < 1024; f++) {
		char p[64], target[700];
		ssize_t k;
		snprintf(p, sizeof p, "/proc/self/fd/%d", f);
		k = readlink(p, target, sizeof target - 1);
		if (k > 0) {
			target[k] = 0;
			if (strcmp(target, data) == 0) {
				/* LMDB opens data.mdb twice (data and meta fds); the
				 * first is the data fd */
				return f;
			}
		}
	}
	return -1;
}

static void test_writer_enospc_in_commit_is_an_error_and_poisons(void **state)
{
	tbw_options o = TBW_OPTIONS_INIT;
	tbw_writer *w;
	char jdir[600];
	tbw_jrec r[64];
	int fd, saved, full, rc;
	(void)state;

	/* LMDB writes pages with pwrite() on its data fd (without WRITEMAP):
	 * point that fd at /dev/full and the commit fails with ENOSPC. No
	 * background compactor: its commit inside that window would take the
	 * ENOSPC first, and add_scalar would then see the poisoned journal. */
	setenv("TBW_JOURNAL_WRITEMAP", "0", 1);
	o.durability = TBW_DURABILITY_ALWAYS;
	o.compact_interval_ms = 0;
	w = open_w(logdir, &o);
	unsetenv("TBW_JOURNAL_WRITEMAP");
	snprintf(jdir, sizeof jdir, "%s", tbw_journal_path(w));
	for (int i = 0; i < 20; i++)
		assert_int_equal(tbw_add_scalar(w, "ok", i, i, 0), TBW_OK);
	fd = lmdb_data_fd(jdir);
	assert_true(fd >= 0);
	saved = dup(fd);
	full = open("/dev/full", O_WRONLY);
	assert_true(full >= 0);
	assert_int_equal(dup2(full, fd), fd);
	rc = tbw_add_scalar(w, "lost", 1, 1, 0);
	assert_int_equal(dup2(saved, fd), fd);
	close(saved);
	close(full);
	assert_int_equal(rc, TBW_EFULL);
	assert_non_null(strstr(tbw_errmsg(), "add_scalar"));
	/* the writer refuses later writes instead of pretending */
	assert_int_equal(tbw_add_scalar(w, "after", 1, 1, 0), TBW_EPANIC);
	assert_non_null(strstr(tbw_errmsg(), "reopen"));
	assert_int_equal(tbw_flush(w), TBW_EPANIC);
	/* close still releases it (and reports the failure) */
	assert_int_equal(tbw_close(w), TBW_EPANIC);
	/* everything committed before is intact; the failed scalar is absent */
	assert_int_equal(read_all(jdir, r, 64, NULL), 20);
	for (int i = 0; i < 20; i++)
		assert_int_equal(r[i].step, i);
	/* and a new writer works */
	w = open_w(logdir, &o);
	assert_int_equal(tbw_add_scalar(w, "ok", 20, 20, 0), TBW_OK);
	assert_int_equal(tbw_close(w), TBW_OK);
	assert_int_equal(read_all(jdir, r, 64, NULL), 21);
}

static void test_writer_failed_sync_poisons(void **state)
{
	tbw_writer *w;
	char jdir[600];
	int fd, saved, p[2], rc;
	(void)state;

	setenv("TBW_JOURNAL_WRITEMAP", "0", 1);
	w = open_w(logdir, NULL);
	unsetenv("TBW_JOURNAL_WRITEMAP");
	snprintf(jdir, sizeof jdir, "%s", tbw_journal_path(w));
	assert_int_equal(tbw_add_scalar(w, "ok", 1, 1, 0), TBW_OK);
	fd = lmdb_data_fd(jdir);
	assert_true(fd >= 0);
	saved = dup(fd);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(dup2(p[0], fd), fd); /* fdatasync on a pipe fails */
	rc = tbw_flush(w);
	assert_int_equal(dup2(saved, fd), fd);
	close(saved);
	close(p[0]);
	close(p[1]);
	assert_int_not_equal(rc, TBW_OK);
	assert_int_equal(tbw_add_scalar(w, "after", 1, 1, 0), TBW_EPANIC);
	assert_non_null(strstr(tbw_errmsg(), "journal sync"));
	assert_int_equal(tbw_close(w), TBW_EPANIC);
}

typedef struct targ {
	tbw_writer *w;
	int id, n, fails;
} targ;

static void *tmain(void *p)
{
	targ *a = p;
	char tag[32];
	snprintf(tag, sizeof tag, "t%d", a->id);
	for (int i = 0; i < a->n; i++)
		if (tbw_add_scalar(a->w, tag, i, i, 0) != 0)
			a->fails++;
	return NULL;
}

static void test_writer_many_threads(void **state)
{
	tbw_writer *w = open_w(logdir, NULL);
	char jdir[600];
	pthread_t t[6];
	targ a[6];
	tbw_jrec *r = calloc(3001, sizeof *r);
	char (*names)[32] = calloc(3001, 32);
	int next[6] = {0};
	size_t n;
	(void)state;

	snprintf(jdir, sizeof jdir, "%s", tbw_journal_path(w));
	for (int i = 0; i < 6; i++) {
		a[i] = (targ){ w, i, 500, 0 };
		assert_int_equal(pthread_create(&t[i], NULL, tmain, &a[i]), 0);
	}
	for (int i = 0; i < 6; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(a[i].fails, 0);
	}
	assert_int_equal(tbw_close(w), TBW_OK);
	n = read_all(jdir, r, 3001, names);
	assert_int_equal(n, 3000);
	for (size_t i = 0; i < n; i++) {
		int id = atoi(names[i] + 1);
		assert_int_equal(r[i].step, next[id]);
		next[id]++;
	}
	free(r);
	free(names);
}

static void test_writer_close_does_not_wait_for_intervals(void **state)
{
	tbw_options o = TBW_OPTIONS_INIT;
	tbw_writer *w;
	uint64_t t0;
	(void)state;

	o.durability_interval_ms = 60000;
	o.compact_interval_ms = 60000;
	o.sync_interval_ms = 60000;
	w = open_w(logdir, &o);
	assert_int_equal(tbw_add_scalar(w, "x", 1, 1, 0), TBW_OK);
	usleep(50000); /* let the threads go to sleep */
	t0 = tbw__now_ns();
	assert_int_equal(tbw_close(w), TBW_OK);
	assert_true(tbw__now_ns() - t0 < 2000000000ULL);
}

static void test_writer_map_grows_through_writer(void **state)
{
	tbw_writer *w;
	char jdir[600];
	tbw_jrec *r = calloc(5001, sizeof *r);
	(void)state;

	setenv("TBW_JOURNAL_MAPSIZE", "65536", 1);
	w = open_w(logdir, NULL);
	unsetenv("TBW_JOURNAL_MAPSIZE");
	snprintf(jdir, sizeof jdir, "%s", tbw_journal_path(w));
	for (int i = 0; i < 5000; i++)
		if (tbw_add_scalar(w, "grow", i, i, 0) != 0)
			fail_msg("scalar %d: %s", i, tbw_errmsg());
	assert_int_equal(tbw_close(w), TBW_OK);
	assert_int_equal(read_all(jdir, r, 5001, NULL), 5000);
	for (int i = 0; i < 5000; i++)
		assert_int_equal(r[i].step, i);
	free(r);
}

static void test_writer_tbstat_reports_tags_and_lag(void **state)
{
	const char *bd = getenv("TBW_BUILDDIR");
	tbw_writer *w = open_w(logdir, NULL);
	char cmd[1200], out[8192] = {0};
	FILE *f;
	size_t n;
	int st;
	(void)state;

	if (!bd)
		fail_msg("TBW_BUILDDIR is not set (run through make check)");
	for (int i = 0; i < 30; i++)
		assert_int_equal(tbw_add_scalar(w, i % 3 ? "loss" : "acc", i * 0.5, 100 + i, 1000.0 + i), TBW_OK);
	assert_int_equal(tbw_close(w), TBW_OK);
	snprintf(cmd, sizeof cmd, "'%s/tools/tbstat' --json '%s'", bd, logdir);
	f = popen(cmd, "r");
	assert_non_null(f);
	n = fread(out, 1, sizeof out - 1, f);
	st = pclose(f);
	assert_true(n > 0);
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_non_null(strstr(out, "\"records\":30"));
	assert_non_null(strstr(out, "{\"tag\":\"acc\",\"count\":10,\"first_step\":100,\"last_step\":127,\"last_value\":13.5"));
	assert_non_null(strstr(out, "{\"tag\":\"loss\",\"count\":20,\"first_step\":101,\"last_step\":129,\"last_value\":14.5"));
	/* nothing exported by the placeholder compactor: lag is every record,
	 * 29 s of wall time; the real compactor makes it 0 */
	assert_true(strstr(out, "\"lag_records\":30,\"lag_seconds\":29.000") ||
	            strstr(out, "\"lag_records\":0,"));
	snprintf(cmd, sizeof cmd, "'%s/tools/tbstat' '%s/nothing' 2>/dev/null", bd, tmpdir);
	assert_int_equal(WEXITSTATUS(system(cmd)), 2);
	snprintf(cmd, sizeof cmd, "'%s/tools/tbstat' --bogus 2>/dev/null", bd);
	assert_int_equal(WEXITSTATUS(system(cmd)), 1);
}

/* One step, several scalars, one commit: consecutive records with one step
 * and one wall time, new tags interned once each even when a tag repeats
 * within the call, and a bad tag anywhere writes none of them. */
static void test_writer_add_scalars_one_step_all_or_nothing(void **state)
{
	tbw_writer *w = open_w(logdir, NULL);
	char jdir[600], names[16][32];
	tbw_jrec r[16];
	const char *step1[] = { "loss", "acc", "loss", "lr" };
	const double v1[] = { 0.5, 0.75, 0.25, 1e-3 };
	const char *step2[] = { "acc", "grad/norm", "grad/norm" };
	const double v2[] = { 0.8, 3.0, 4.0 };
	const char *bad[] = { "loss", "fine/new", "bad\nnewline" };
	const double vb[] = { 1, 2, 3 };
	(void)state;

	snprintf(jdir, sizeof jdir, "%s", tbw_journal_path(w));
	assert_int_equal(tbw_add_scalars(w, 4, step1, v1, 7, 100.25), TBW_OK);
	assert_int_equal(tbw_add_scalars(w, 3, bad, vb, 8, 0), TBW_EINVAL);
	assert_non_null(strstr(tbw_errmsg(), "add_scalars"));
	/* one scalar takes tbw_add_scalar's path, with its own name in the message */
	assert_int_equal(tbw_add_scalars(w, 1, bad + 2, vb, 8, 0), TBW_EINVAL);
	assert_non_null(strstr(tbw_errmsg(), "add_scalars"));
	assert_int_equal(tbw_add_scalars(w, 3, step2, v2, 9, 0), TBW_OK);
	assert_int_equal(tbw_add_scalars(w, 0, NULL, NULL, 10, 0), TBW_OK);
	assert_int_equal(tbw_add_scalars(w, 1, NULL, v1, 10, 0), TBW_EINVAL);
	assert_int_equal(tbw_add_scalars(NULL, 1, step1, v1, 10, 0), TBW_EINVAL);
	/* single and batched calls share one tag table */
	assert_int_equal(tbw_add_scalar(w, "grad/norm", 5.0, 10, 0), TBW_OK);
	assert_int_equal(tbw_close(w), TBW_OK);

	assert_int_equal(read_all(jdir, r, 16, names), 8);
	const char *want[] = { "loss", "acc", "loss", "lr", "acc", "grad/norm", "grad/norm", "grad/norm" };
	const double wantv[] = { 0.5, 0.75, 0.25, 1e-3, 0.8, 3.0, 4.0, 5.0 };
	for (int i = 0; i < 8; i++) {
		assert_string_equal(names[i], want[i]);
		assert_int_equal(bits(r[i].value), bits(wantv[i]));
		assert_int_equal(r[i].seq, (uint64_t)i + 1);
	}
	assert_int_equal(r[0].tag_id, r[2].tag_id);
	assert_int_equal(r[5].tag_id, r[6].tag_id);
	assert_int_equal(r[6].tag_id, r[7].tag_id);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(r[i].step, 7);
		assert_true(r[i].wall_time == 100.25);
	}
	for (int i = 4; i < 7; i++) {
		assert_int_equal(r[i].step, 9);
		assert_true(r[i].wall_time == r[4].wall_time && r[i].wall_time > 1.6e9);
	}
	/* "fine/new" from the failed call was never interned */
	for (int i = 0; i < 8; i++)
		assert_string_not_equal(names[i], "fine/new");
}

/* More scalars in one step than the stack arrays hold. */
static void test_writer_add_scalars_many_tags_in_one_step(void **state)
{
	enum { N = 300 };
	tbw_writer *w = open_w(logdir, NULL);
	char jdir[600], buf[N][32], (*names)[32] = malloc(N * 32);
	const char *tags[N];
	double vals[N];
	tbw_jrec *r = malloc(N * sizeof *r);
	(void)state;

	assert_non_null(names);
	assert_non_null(r);
	for (int i = 0; i < N; i++) {
		snprintf(buf[i], sizeof buf[i], "layer%03d/w", i);
		tags[i] = buf[i];
		vals[i] = i * 0.5;
	}
	snprintf(jdir, sizeof jdir, "%s", tbw_journal_path(w));
	assert_int_equal(tbw_add_scalars(w, N, tags, vals, 3, 0), TBW_OK);
	assert_int_equal(tbw_close(w), TBW_OK);
	assert_int_equal(read_all(jdir, r, N, names), N);
	for (int i = 0; i < N; i++) {
		assert_string_equal(names[i], buf[i]);
		assert_int_equal(bits(r[i].value), bits(i * 0.5));
	}
	free(names);
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_writer_round_trip_all_modes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer_bad_tags_write_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer_bad_options_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer_purge_step_appends_start_marker, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer_fuse_logdir_redirects_journal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer_bindfs_logdir_redirects_journal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer_explicit_journal_dir_on_fuse_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer_same_logdir_twice_shares, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer_second_process_gets_ebusy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer_fork_child_gets_efork, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer_enospc_in_commit_is_an_error_and_poisons, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer_failed_sync_poisons, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer_many_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer_close_does_not_wait_for_intervals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer_map_grows_through_writer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer_tbstat_reports_tags_and_lag, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer_add_scalars_one_step_all_or_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer_add_scalars_many_tags_in_one_step, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
