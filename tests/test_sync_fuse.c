/* test_sync_fuse.c -- sync into a real FUSE mount (bindfs) and restore from
 * it: the sync folder must work where Google Drive puts it, a FUSE
 * filesystem (no appends, no mmap, no locks, no sparse files needed).
 * Skips (exit 77) only when /dev/fuse or bindfs/fusermount3 is missing. */
#include "config.h"
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include "test_util.h"
#include "base/alloc.h"
#include "base/os.h"
#include "sync_testutil.h"

static char base[256], src[300], mnt[300], jdir[300], jdir2[300];
static int mounted;

static const char *find_tool(const char *name)
{
	static const char *dirs[] = { "/usr/bin", "/bin", "/usr/local/bin", "/usr/sbin" };
	static char path[256];
	for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", dirs[i], name);
		if (access(path, X_OK) == 0)
			return path;
	}
	return NULL;
}

static int run(const char *tool, const char *a1, const char *a2, const char *a3)
{
	pid_t pid = fork();
	int status;
	if (pid == 0) {
		execl(tool, tool, a1, a2, a3, (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int setup(void **state)
{
	char bindfs[256];
	(void)state;
	snprintf(bindfs, sizeof bindfs, "%s", find_tool("bindfs"));
	if (tbw_test_mkdtemp(base, sizeof base, "test_fuse") != 0)
		return -1;
	snprintf(src, sizeof src, "%s/backing", base);
	snprintf(mnt, sizeof mnt, "%s/drive", base);
	snprintf(jdir, sizeof jdir, "%s/journal", base);
	snprintf(jdir2, sizeof jdir2, "%s/restored", base);
	mkdir(src, 0777);
	mkdir(mnt, 0777);
	/* bindfs daemonizes once the mount is up */
	if (run(bindfs, src, mnt, NULL) != 0) {
		fprintf(stderr, "bindfs %s %s failed\n", src, mnt);
		return -1;
	}
	mounted = 1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (mounted) {
		const char *fm = find_tool("fusermount3");
		if (run(fm, "-u", mnt, NULL) != 0)
			fprintf(stderr, "fusermount3 -u %s failed\n", mnt);
		mounted = 0;
	}
	if (tbw_test_rmtree(base) != 0)
		fprintf(stderr, "cannot remove %s\n", base);
	return 0;
}

static void test_sync_fuse_ship_merge_and_restore_on_bindfs(void **state)
{
	tbw_journal *j, *dst = NULL;
	tbw_syncer *s = NULL;
	uint64_t n = 0, total = 0;
	tbw_jopen cfg = TBW_JOPEN_INIT;
	uint8_t rid[16];
	tbw_sync_report rep;
	tbw_sync_restore_opts o = TBW_SYNC_RESTORE_OPTS_INIT;
	tu_check c;
	(void)state;
	/* it really is FUSE */
	assert_int_equal(tbw__fs_is_remote(mnt), 1);
	j = tu_open_journal(jdir, 1);
	assert_non_null(j);
	assert_int_equal(tbw__syncer_open(&s, j, mnt, NULL, 0), TBW_OK);
	/* enough passes for a merge (and its unlinks) on the mount */
	for (int p = 1; p <= TBW_SYNC_MERGE_FANIN + 3; p++) {
		assert_int_equal(tu_fill(j, (uint64_t)p * 500), 0);
		assert_int_equal(tbw__syncer_pass(s, &n), TBW_OK);
		total += n;
	}
	assert_int_equal(total, (TBW_SYNC_MERGE_FANIN + 3) * 500);
	tbw_sync_stats st;
	tbw__syncer_stats(s, &st);
	assert_true(st.merges >= 1);
	char rd[600];
	snprintf(rd, sizeof rd, "%s", tbw__syncer_run_dir(s));
	tbw__syncer_close(s);
	tbw__journal_close(j);
	/* what bindfs wrote is in the backing folder too */
	{
		char brd[700];
		snprintf(brd, sizeof brd, "%s/%s", src, rd + strlen(mnt) + 1);
		assert_int_equal(tu_count_segments(brd, NULL), (int)st.files);
	}
	/* restore from the mount into a fresh journal with the run's id */
	assert_int_equal(tbw__sync_run_id(rd, rid), TBW_OK);
	cfg.create = 1;
	cfg.run_id = rid;
	assert_int_equal(tbw__journal_open(&dst, jdir2, &cfg), TBW_OK);
	memset(&c, 0, sizeof c);
	c.max = total;
	c.seen = calloc(total / 8 + 1, 1);
	o.on_record = tu_on_record;
	o.on_damage = tu_on_damage;
	o.ctx = &c;
	assert_int_equal(tbw__sync_restore(rd, dst, &o, &rep), TBW_OK);
	assert_int_equal(rep.segments_bad, 0);
	assert_int_equal(rep.records_new, total);
	assert_int_equal(rep.missing, 0);
	assert_int_equal(c.bad, 0);
	assert_int_equal(tu_prefix(&c), total);
	uint64_t cnt = 0;
	assert_int_equal(tbw__journal_count(dst, &cnt), TBW_OK);
	assert_int_equal(cnt, total);
	printf("bindfs: shipped %llu records in %u files, restored %llu\n",
	       (unsigned long long)total, (unsigned)st.files, (unsigned long long)rep.records_new);
	tbw__sync_report_free(&rep);
	free(c.seen);
	tbw__journal_close(dst);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sync_fuse_ship_merge_and_restore_on_bindfs,
		                                setup, teardown),
	};
	int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		printf("SKIP: /dev/fuse cannot be opened (%s): no FUSE here\n", strerror(errno));
		return 77;
	}
	close(fd);
	if (!find_tool("bindfs") || !find_tool("fusermount3")) {
		printf("SKIP: bindfs or fusermount3 is not installed (scripts/setup.sh installs them)\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
