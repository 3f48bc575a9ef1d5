/* test_crash_writer.c -- SIGKILL a logging process at random moments and
 * check that every scalar whose tbw_add_scalar() returned 0 is in the
 * journal, bit for bit, exactly once, in order.
 *
 * The program re-executes itself as the child ("child LOGDIR NTHREADS
 * MODE"): each thread logs tag "t<k>" at steps 0, 1, 2, ... with a value
 * derived from (k, step) (NaN payloads included), and after each success
 * writes a 16-byte acknowledgement to stdout (after a first "open" one) (a pipe; writes <= PIPE_BUF
 * are atomic). The parent kills it after a random delay, reads every
 * acknowledgement, then opens the journal and checks, per tag, that the
 * records are steps 0..m-1 in commit order with the right bits, where m is
 * the number acknowledged or one more (killed between commit and ack).
 *
 * Cycles: 100, or 1000 with TBW_SLOW_TESTS=1, or TBW_CRASH_CYCLES=N.
 */
#include "config.h"
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include "journal.h"
#include "os.h"
#include "tbwal.h"

#define MAXT 8

static uint64_t value_bits(uint32_t k, uint64_t i)
{
	uint64_t x = (i + 1) * 0x9e3779b97f4a7c15ULL ^ ((uint64_t)k << 56);
	if (i % 7 == 3)
		return 0x7ff0000000000000ULL | (x & 0x000fffffffffffffULL) | 1; /* NaN payload */
	return x;
}

static tbw_writer *child_w;
static int child_nthreads;

static void *child_thread(void *p)
{
	uint32_t k = (uint32_t)(uintptr_t)p;
	char tag[16];
	snprintf(tag, sizeof tag, "t%u", k);
	for (uint64_t i = 0;; i++) {
		uint64_t b = value_bits(k, i);
		double v;
		unsigned char msg[16];
		memcpy(&v, &b, 8);
		if (tbw_add_scalar(child_w, tag, v, (int64_t)i, 1.0 + (double)i) != 0) {
			fprintf(stderr, "child: add_scalar: %s\n", tbw_errmsg());
			_exit(3);
		}
		memcpy(msg, &k, 4);
		memset(msg + 4, 0, 4);
		memcpy(msg + 8, &i, 8);
		if (write(1, msg, 16) != 16)
			_exit(4);
	}
	return NULL;
}

static int child_main(const char *logdir, int nthreads, int mode)
{
	tbw_options o = TBW_OPTIONS_INIT;
	pthread_t t[MAXT];
	o.durability = (tbw_durability)mode;
	o.compact_interval_ms = 0;   /* the journal is what this test checks */
	if (tbw_open(&child_w, logdir, &o) != 0) {
		fprintf(stderr, "child: open: %s\n", tbw_errmsg());
		return 2;
	}
	child_nthreads = nthreads;
	{
		/* "open": lets the parent aim half of its kills at logging */
		unsigned char msg[16];
		uint32_t ready = UINT32_MAX;
		memset(msg, 0, sizeof msg);
		memcpy(msg, &ready, 4);
		if (write(1, msg, 16) != 16)
			return 4;
	}
	for (int k = 0; k < nthreads; k++)
		pthread_create(&t[k], NULL, child_thread, (void *)(uintptr_t)k);
	for (int k = 0; k < nthreads; k++)
		pthread_join(t[k], NULL);
	return 0;
}

static char self_path[4096];

static void check_cycle(const char *logdir, uint64_t acked[MAXT], int nthreads, int *journal_missing)
{
	char jdir[4200];
	tbw_journal *j = NULL;
	tbw_jopen cfg = TBW_JOPEN_INIT;
	tbw_jrec buf[512];
	tbw_jread inf;
	uint64_t next[MAXT] = {0}, after = 0;
	int rc;

	snprintf(jdir, sizeof jdir, "%s/.tbwal", logdir);
	rc = tbw__journal_open(&j, jdir, &cfg);
	if (rc == TBW_ENOTFOUND) {
		/* killed before the journal was created: nothing may be acked */
		for (int k = 0; k < nthreads; k++)
			assert_int_equal(acked[k], 0);
		(*journal_missing)++;
		return;
	}
	if (rc)
		fail_msg("reopen %s: %s", jdir, tbw_errmsg());
	for (;;) {
		assert_int_equal(tbw__journal_read(j, after, buf, 512, &inf), TBW_OK);
		assert_int_equal(inf.ncorrupt, 0);
		for (size_t i = 0; i < inf.n; i++) {
			const char *name;
			size_t len;
			uint32_t k;
			uint64_t b;
			assert_int_equal(tbw__journal_tag_name(j, buf[i].tag_id, &name, &len), TBW_OK);
			k = (uint32_t)atoi(name + 1);
			assert_true(k < (uint32_t)nthreads);
			/* exactly once and in commit order */
			assert_int_equal((uint64_t)buf[i].step, next[k]);
			memcpy(&b, &buf[i].value, 8);
			assert_int_equal(b, value_bits(k, next[k]));
			assert_true(buf[i].wall_time == 1.0 + (double)next[k]);
			next[k]++;
		}
		if (inf.end)
			break;
		after = inf.next_after;
	}
	for (int k = 0; k < nthreads; k++) {
		if (next[k] < acked[k])
			fail_msg("thread %d: %llu scalars acknowledged, only %llu in the journal",
			         k, (unsigned long long)acked[k], (unsigned long long)next[k]);
		assert_true(next[k] <= acked[k] + 1);
	}
	tbw__journal_close(j);
}

static void test_crash_writer_sigkill_loses_nothing(void **state)
{
	char root[] = "/tmp/tbw_crash_writer.XXXXXX";
	const char *slow = getenv("TBW_SLOW_TESTS"), *cyc = getenv("TBW_CRASH_CYCLES");
	int cycles = slow && *slow == '1' ? 1000 : 100;
	unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
	int missing = 0;
	uint64_t total_acked = 0;
	(void)state;

	if (cyc && atoi(cyc) > 0)
		cycles = atoi(cyc);
	if (getenv("TBW_CRASH_SEED"))
		seed = (unsigned)strtoul(getenv("TBW_CRASH_SEED"), NULL, 0);
	printf("crash writer: %d cycles, seed %u (TBW_CRASH_SEED to repeat)\n", cycles, seed);
	srand(seed);
	assert_non_null(mkdtemp(root));
	for (int c = 0; c < cycles; c++) {
		char logdir[256], nt[8], md[8];
		int p[2], st;
		pid_t pid;
		uint64_t acked[MAXT] = {0};
		int nthreads = 1 + rand() % 4, mode = rand() % 3;
		unsigned delay_us = (unsigned)(rand() % 25000);
		unsigned char msg[16];
		size_t have = 0;

		snprintf(logdir, sizeof logdir, "%s/c%d", root, c);
		snprintf(nt, sizeof nt, "%d", nthreads);
		snprintf(md, sizeof md, "%d", mode);
		assert_int_equal(pipe(p), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			dup2(p[1], 1);
			close(p[0]);
			close(p[1]);
			execl(self_path, self_path, "child", logdir, nt, md, (char *)NULL);
			_exit(127);
		}
		close(p[1]);
		if (c % 2 == 0) {
			/* half the cycles: wait until the writer is open, so the
			 * kill lands while scalars are being logged */
			size_t got = 0;
			while (got < 16) {
				ssize_t k = read(p[0], msg + got, 16 - got);
				if (k < 0 && errno == EINTR)
					continue;
				if (k <= 0)
					fail_msg("cycle %d: child died before opening", c);
				got += (size_t)k;
			}
		}
		usleep(delay_us);
		kill(pid, SIGKILL);
		/* every ack the child wrote is in the pipe */
		for (;;) {
			ssize_t k = read(p[0], msg + have, sizeof msg - have);
			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0)
				break;
			have += (size_t)k;
			if (have == 16) {
				uint32_t t;
				uint64_t i;
				memcpy(&t, msg, 4);
				memcpy(&i, msg + 8, 8);
				have = 0;
				if (t == UINT32_MAX)
					continue; /* the "open" message */
				assert_true(t < MAXT);
				assert_int_equal(i, acked[t]); /* acks come in order per thread */
				acked[t]++;
				total_acked++;
			}
		}
		close(p[0]);
		assert_int_equal(waitpid(pid, &st, 0), pid);
		if (!(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL))
			fail_msg("cycle %d: child did not die by SIGKILL (status %d)", c, st);
		check_cycle(logdir, acked, nthreads, &missing);
		{
			char cmd[300];
			snprintf(cmd, sizeof cmd, "rm -rf '%s'", logdir);
			assert_int_equal(system(cmd), 0);
		}
	}
	printf("crash writer: %llu acknowledged scalars checked; %d kills came before the journal existed\n",
	       (unsigned long long)total_acked, missing);
	assert_true(total_acked > 0);
	{
		char cmd[300];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
		assert_int_equal(system(cmd), 0);
	}
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crash_writer_sigkill_loses_nothing),
	};
	if (argc == 5 && strcmp(argv[1], "child") == 0)
		return child_main(argv[2], atoi(argv[3]), atoi(argv[4]));
	{
		ssize_t n = readlink("/proc/self/exe", self_path, sizeof self_path - 1);
		if (n <= 0)
			return 1;
		self_path[n] = 0;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
