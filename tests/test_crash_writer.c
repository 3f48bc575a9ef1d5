/* test_crash_writer.c -- SIGKILL a logging process at random moments and
 * check that every scalar whose tbw_add_scalar() returned 0 is in the
 * journal, bit for bit, exactly once, in order.
 *
 * The program re-executes itself as the child ("child LOGDIR NTHREADS
 * MODE"): each thread logs tag "t<k>" at steps 0, 1, 2, ... with a value
 * derived from (k, step) (NaN payloads included) -- odd threads through
 * tbw_add_scalars() with two more tags per step, "t<k>b" and "t<k>c" (one
 * step record each call: all three or none) -- and after each success
 * writes a 16-byte acknowledgement to stdout (after a first "open" one) (a pipe; writes <= PIPE_BUF
 * are atomic). The parent kills it after a random delay, reads every
 * acknowledgement, then opens the journal and checks, per tag, that the
 * records are steps 0..m-1 in commit order with the right bits, where m is
 * the number acknowledged or one more (killed between commit and ack).
 *
 * Cycles: 100, or 1000 with TBW_SLOW_TESTS=1, or TBW_CRASH_CYCLES=N. On a
 * failure it prints the seed, the cycle, the mode, the thread count, the
 * delay and the last records found, so a rare failure can be analysed.
 *
 * A random kill rarely lands on the one instruction that matters, so a
 * second case kills the writer, in effect, at every instruction: a child
 * ("stepchild LOGDIR MODE") logs a few scalars, stops, and is then
 * single-stepped with ptrace through two more tbw_add_scalar() calls. After
 * each instruction that changed a meta page of data.mdb (and every few
 * hundred others) the parent copies data.mdb as it stands -- what a SIGKILL
 * there would leave -- and checks the copy like a crash cycle: every
 * acknowledged scalar present, and a writer can open it and log again.
 * This is how a torn meta page (LMDB with MDB_WRITEMAP, see want_writemap()
 * in src/journal/journal.c) was caught.
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
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include "test_util.h"
#include "journal/journal.h"
#include "base/os.h"
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
	char tb[16], tc[16];
	const char *tags[3] = { tag, tb, tc };
	snprintf(tb, sizeof tb, "t%ub", k);
	snprintf(tc, sizeof tc, "t%uc", k);
	for (uint64_t i = 0;; i++) {
		uint64_t b = value_bits(k, i);
		double v;
		unsigned char msg[16];
		memcpy(&v, &b, 8);
		if (k % 2 == 1) {
			/* odd threads: one step of three scalars (a step record),
			 * t<k>b and t<k>c carrying the bits ^ 1 and ^ 2 */
			double vs[3];
			for (uint64_t x = 0; x < 3; x++) {
				uint64_t bx = b ^ x;
				memcpy(&vs[x], &bx, 8);
			}
			if (tbw_add_scalars(child_w, 3, tags, vs, (int64_t)i, 1.0 + (double)i) != 0) {
				fprintf(stderr, "child: add_scalars: %s\n", tbw_errmsg());
				_exit(3);
			}
		} else if (tbw_add_scalar(child_w, tag, v, (int64_t)i, 1.0 + (double)i) != 0) {
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

/* What a cycle was, printed with any failure. */
typedef struct cycle_ctx {
	unsigned seed;
	int cycle, nthreads, mode, waited_open;
	unsigned delay_us;
} cycle_ctx;

static const char *mode_name(int mode)
{
	return mode == TBW_DURABILITY_INTERVAL ? "INTERVAL" :
	       mode == TBW_DURABILITY_ALWAYS ? "ALWAYS" : "NEVER";
}

static void print_ctx(const cycle_ctx *x, const uint64_t acked[MAXT], const uint64_t found[MAXT])
{
	fprintf(stderr, "crash writer failure: seed %u (TBW_CRASH_SEED=%u), cycle %d, mode %s, %d thread(s), "
	        "kill %u us after %s\n", x->seed, x->seed, x->cycle, mode_name(x->mode), x->nthreads,
	        x->delay_us, x->waited_open ? "the writer was open" : "the start");
	for (int k = 0; k < x->nthreads; k++)
		fprintf(stderr, "  thread %d: %llu acknowledged, %llu in the journal\n", k,
		        (unsigned long long)acked[k], (unsigned long long)found[k]);
}

#define TAIL 12

/* Read the journal in DIR (the .tbwal directory) and check it against the
 * acknowledgements: per tag t<k>, steps 0..m-1 with the right bits, in
 * commit order, acked[k] <= m <= acked[k] + 1. 0 if it holds; otherwise
 * writes why into why[] (with the last records read) and returns -1.
 * *absent: the journal does not exist (then nothing may be acknowledged). */
static int check_journal(const char *jdir, const uint64_t acked[MAXT], int nthreads,
                         uint64_t found[MAXT], int *absent, char *why, size_t whylen)
{
	tbw_journal *j = NULL;
	tbw_jopen cfg = TBW_JOPEN_INIT;
	tbw_jrec buf[512], tail[TAIL];
	tbw_jread inf;
	uint64_t after = 0, nread = 0, found_sub[MAXT][3];
	int rc, bad = 0, sub;
	size_t off = 0;

#define WHY(...) (bad = 1, off += (size_t)snprintf(why + off, off < whylen ? whylen - off : 0, __VA_ARGS__))
	memset(found_sub, 0, sizeof found_sub);
	for (int k = 0; k < MAXT; k++)
		found[k] = 0;
	*absent = 0;
	why[0] = 0;
	rc = tbw__journal_open(&j, jdir, &cfg);
	if (rc == TBW_ENOTFOUND) {
		*absent = 1;
		for (int k = 0; k < nthreads; k++)
			if (acked[k])
				WHY("no journal, but thread %d had %llu acknowledged", k, (unsigned long long)acked[k]);
		return bad ? -1 : 0;
	}
	if (rc) {
		WHY("reopen %s: %s", jdir, tbw_errmsg());
		return -1;
	}
	while (!bad) {
		rc = tbw__journal_read(j, after, buf, 512, &inf);
		if (rc) {
			WHY("read after seq %llu: %s", (unsigned long long)after, tbw_errmsg());
			break;
		}
		if (inf.ncorrupt)
			WHY("%zu corrupt records, the first at seq %llu", inf.ncorrupt,
			    (unsigned long long)inf.first_corrupt_seq);
		for (size_t i = 0; i < inf.n && !bad; i++) {
			const char *name;
			size_t len;
			uint32_t k;
			uint64_t b;
			tail[nread++ % TAIL] = buf[i];
			if (tbw__journal_tag_name(j, buf[i].tag_id, &name, &len) != TBW_OK || len < 2 ||
			    name[0] != 't' || (k = (uint32_t)atoi(name + 1)) >= (uint32_t)nthreads) {
				WHY("seq %llu: unexpected tag id %u", (unsigned long long)buf[i].seq, buf[i].tag_id);
				break;
			}
			memcpy(&b, &buf[i].value, 8);
			sub = name[len - 1] == 'b' ? 1 : name[len - 1] == 'c' ? 2 : 0;
			if (sub) {
				/* t<k>b, t<k>c: right after t<k> of the same step (one
				 * step record, all or nothing) */
				if (k % 2 != 1 ||
				    (uint64_t)buf[i].step + 1 != found[k] || found_sub[k][sub] + 1 != found[k] ||
				    b != (value_bits(k, (uint64_t)buf[i].step) ^ (uint64_t)sub))
					WHY("seq %llu: tag %.*s step %lld out of place (thread %u at step %llu)",
					    (unsigned long long)buf[i].seq, (int)len, name, (long long)buf[i].step, k,
					    (unsigned long long)found[k]);
				else
					found_sub[k][sub]++;
				continue;
			}
			if (k % 2 == 1 && found[k] && (found_sub[k][1] != found[k] || found_sub[k][2] != found[k]))
				WHY("seq %llu: thread %u step %llu before all of step %llu's scalars",
				    (unsigned long long)buf[i].seq, k, (unsigned long long)found[k],
				    (unsigned long long)found[k] - 1);
			/* exactly once and in commit order, bit for bit */
			else if ((uint64_t)buf[i].step != found[k] || b != value_bits(k, found[k]) ||
			    !(buf[i].wall_time == 1.0 + (double)found[k]))
				WHY("seq %llu: thread %u step %lld (value bits %016llx) where step %llu was due",
				    (unsigned long long)buf[i].seq, k, (long long)buf[i].step,
				    (unsigned long long)b, (unsigned long long)found[k]);
			else
				found[k]++;
		}
		if (inf.end)
			break;
		after = inf.next_after;
	}
	for (int k = 0; k < nthreads && !bad; k++) {
		if (found[k] < acked[k])
			WHY("thread %d: %llu scalars acknowledged, only %llu in the journal", k,
			    (unsigned long long)acked[k], (unsigned long long)found[k]);
		else if (found[k] > acked[k] + 1)
			WHY("thread %d: %llu in the journal, more than %llu acknowledged + 1", k,
			    (unsigned long long)found[k], (unsigned long long)acked[k]);
		else if (k % 2 == 1 && (found_sub[k][1] != found[k] || found_sub[k][2] != found[k]))
			WHY("thread %d: step %llu's record holds %llu of its 3 scalars", k,
			    (unsigned long long)found[k] - 1,
			    (unsigned long long)(1 + (found_sub[k][1] == found[k]) + (found_sub[k][2] == found[k])));
	}
	if (bad) {
		uint64_t last = 0;
		WHY("\n  journal: %llu records read", (unsigned long long)nread);
		if (tbw__journal_last_seq(j, &last) == TBW_OK)
			WHY(", last seq %llu", (unsigned long long)last);
		WHY("; the last ones:");
		for (uint64_t i = nread > TAIL ? nread - TAIL : 0; i < nread; i++) {
			const tbw_jrec *r = &tail[i % TAIL];
			const char *name = "?";
			size_t len = 1;
			tbw__journal_tag_name(j, r->tag_id, &name, &len);
			WHY("\n    seq %llu tag %.*s step %lld", (unsigned long long)r->seq, (int)len, name,
			    (long long)r->step);
		}
	}
#undef WHY
	tbw__journal_close(j);
	return bad ? -1 : 0;
}

static void check_cycle(const char *logdir, uint64_t acked[MAXT], const cycle_ctx *x, int *journal_missing)
{
	char jdir[4200], why[4096];
	uint64_t found[MAXT];
	int absent;

	snprintf(jdir, sizeof jdir, "%s/.tbwal", logdir);
	if (check_journal(jdir, acked, x->nthreads, found, &absent, why, sizeof why) != 0) {
		print_ctx(x, acked, found);
		fail_msg("%s", why);
	}
	if (absent)
		(*journal_missing)++; /* killed before the journal was created */
}

static void test_crash_writer_sigkill_loses_nothing(void **state)
{
	char root[200];
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
	fflush(stdout);
	srand(seed);
	assert_int_equal(tbw_test_mkdtemp(root, sizeof root, "crash_writer"), 0);
	for (int c = 0; c < cycles; c++) {
		char logdir[300], nt[8], md[8];
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
					fail_msg("seed %u, cycle %d: child died before opening", seed, c);
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
				/* acks come in order per thread */
				if (t >= MAXT || i != acked[t])
					fail_msg("seed %u, cycle %d: bad acknowledgement (thread %u, step %llu)",
					         seed, c, t, (unsigned long long)i);
				acked[t]++;
				total_acked++;
			}
		}
		close(p[0]);
		assert_int_equal(waitpid(pid, &st, 0), pid);
		if (!(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL))
			fail_msg("seed %u, cycle %d: child did not die by SIGKILL (status %d)", seed, c, st);
		{
			cycle_ctx x = { seed, c, nthreads, mode, c % 2 == 0, delay_us };
			check_cycle(logdir, acked, &x, &missing);
		}
		assert_int_equal(tbw_test_rmtree(logdir), 0);
	}
	printf("crash writer: %llu acknowledged scalars checked; %d kills came before the journal existed\n",
	       (unsigned long long)total_acked, missing);
	assert_true(total_acked > 0);
	assert_int_equal(tbw_test_rmtree(root), 0);
}

/* ---- kill at every instruction: single-step a writer with ptrace ---- */

#define STEP_PRE 24   /* scalars logged before the stepped ones */
#define STEP_N 2      /* scalars logged one instruction at a time */
#define STEP_STRIDE 512

static void ack(uint32_t k, uint64_t i)
{
	unsigned char msg[16];
	memcpy(msg, &k, 4);
	memset(msg + 4, 0, 4);
	memcpy(msg + 8, &i, 8);
	if (write(1, msg, 16) != 16)
		_exit(4);
}

static int stepchild_main(const char *logdir, int mode)
{
	tbw_options o = TBW_OPTIONS_INIT;
	tbw_writer *w;

	if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) != 0) {
		fprintf(stderr, "stepchild: ptrace(PTRACE_TRACEME): %s\n", strerror(errno));
		return errno == EPERM ? 77 : 2;
	}
	o.durability = (tbw_durability)mode;
	o.compact_interval_ms = 0;
	if (tbw_open(&w, logdir, &o) != 0) {
		fprintf(stderr, "stepchild: open: %s\n", tbw_errmsg());
		return 2;
	}
	for (uint64_t i = 0; i < STEP_PRE + STEP_N; i++) {
		uint64_t b = value_bits(0, i);
		double v;
		if (i == STEP_PRE)
			raise(SIGSTOP); /* the parent single-steps from here */
		memcpy(&v, &b, 8);
		if (tbw_add_scalar(w, "t0", v, (int64_t)i, 1.0 + (double)i) != 0) {
			fprintf(stderr, "stepchild: add_scalar: %s\n", tbw_errmsg());
			_exit(3);
		}
		ack(0, i);
	}
	_exit(0); /* no close: what a SIGKILL right after the last ack leaves */
}

/* Drain the (non-blocking) ack pipe. */
static void drain_acks(int fd, uint64_t *acked)
{
	unsigned char msg[16];
	for (;;) {
		ssize_t k = read(fd, msg, sizeof msg);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return;
		assert_int_equal(k, 16); /* writes of 16 bytes to a pipe are atomic */
		acked[0]++;
	}
}

/* The two meta pages (8 KiB at most of interest: psize <= 4096 here). */
typedef struct metas {
	unsigned char b[2][160];
	uint32_t psize;
} metas;

static int read_metas(int fd, metas *m)
{
	uint32_t ps;
	if (pread(fd, m->b[0], sizeof m->b[0], 0) != (ssize_t)sizeof m->b[0])
		return -1;
	memcpy(&ps, m->b[0] + 40, 4); /* LMDB keeps its page size in meta 0 */
	if (ps < 512 || ps > 65536 || (ps & (ps - 1)))
		return -1;
	m->psize = ps;
	return pread(fd, m->b[1], sizeof m->b[1], ps) == (ssize_t)sizeof m->b[1] ? 0 : -1;
}

static uint64_t metas_last_pg(const metas *m)
{
	uint64_t a, b;
	memcpy(&a, m->b[0] + 16 + 0x78, 8); /* mm_last_pg */
	memcpy(&b, m->b[1] + 16 + 0x78, 8);
	return a > b ? a : b;
}

/* Copy data.mdb as it stands into snapdir (sparse, the pages any meta page
 * may reference), as a SIGKILL now would leave it. */
static int snapshot(int fd, const metas *m, const char *snapdir)
{
	char path[4200];
	static unsigned char buf[1 << 16];
	struct stat st;
	uint64_t len = (metas_last_pg(m) + 1) * m->psize, off = 0;
	int out, rc = 0;

	snprintf(path, sizeof path, "%s/lock.mdb", snapdir);
	unlink(path);
	snprintf(path, sizeof path, "%s/data.mdb", snapdir);
	unlink(path);
	if (fstat(fd, &st) != 0 || (out = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0)
		return -1;
	if (ftruncate(out, st.st_size) != 0)
		rc = -1;
	while (rc == 0 && off < len && off < (uint64_t)st.st_size) {
		size_t want = len - off < sizeof buf ? (size_t)(len - off) : sizeof buf;
		ssize_t k = pread(fd, buf, want, (off_t)off);
		if (k <= 0 || pwrite(out, buf, (size_t)k, (off_t)off) != k)
			rc = -1;
		else
			off += (uint64_t)k;
	}
	close(out);
	return rc;
}

/* In a child (LMDB may crash on a damaged environment): a writer opens the
 * copy and logs the next scalar, and every table still walks. */
static int snapshot_takes_writes(const char *snapdir, uint64_t next, char *why, size_t whylen)
{
	pid_t pid = fork();
	int st;

	if (pid < 0) {
		snprintf(why, whylen, "fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		tbw_journal *j;
		tbw_jopen cfg = TBW_JOPEN_INIT;
		uint64_t b = value_bits(0, next), n;
		double v;
		memcpy(&v, &b, 8);
		if (tbw__journal_open(&j, snapdir, &cfg) != 0)
			_exit(10);
		if (tbw__journal_append(j, "t0", 2, v, (int64_t)next, 1.0 + (double)next, NULL) != 0)
			_exit(11);
		if (tbw__journal_verify(j, &n) != 0)
			_exit(12);
		tbw__journal_close(j);
		_exit(0);
	}
	if (waitpid(pid, &st, 0) != pid) {
		snprintf(why, whylen, "waitpid: %s", strerror(errno));
		return -1;
	}
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	if (WIFSIGNALED(st))
		snprintf(why, whylen, "a writer reopening it died of signal %d logging the next scalar",
		         WTERMSIG(st));
	else
		snprintf(why, whylen, "a writer reopening it failed (%s)",
		         WEXITSTATUS(st) == 10 ? "open" : WEXITSTATUS(st) == 11 ? "append" : "verify");
	return -1;
}

static void step_writer(const char *root, int mode)
{
	char logdir[300], snapdir[300], data[400], why[4096];
	uint64_t acked[MAXT] = {0}, found[MAXT];
	unsigned long steps = 0, checks = 0, meta_changes = 0;
	metas prev, cur;
	int p[2], st, fd, sig = 0, absent, failed = 0;
	pid_t pid;

	snprintf(logdir, sizeof logdir, "%s/step%d", root, mode);
	snprintf(snapdir, sizeof snapdir, "%s/snap%d", root, mode);
	snprintf(data, sizeof data, "%s/.tbwal/data.mdb", logdir);
	assert_int_equal(mkdir(snapdir, 0755), 0);
	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char md[8];
		snprintf(md, sizeof md, "%d", mode);
		dup2(p[1], 1);
		close(p[0]);
		close(p[1]);
		execl(self_path, self_path, "stepchild", logdir, md, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	assert_int_equal(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 77) {
		close(p[0]);
		skip(); /* the child printed why: ptrace is not allowed here */
	}
	if (!(WIFSTOPPED(st) && WSTOPSIG(st) == SIGSTOP))
		fail_msg("stepchild (%s) did not stop before logging (status %d)", mode_name(mode), st);
	/* if this process dies, so does the child */
	ptrace(PTRACE_SETOPTIONS, pid, NULL, (void *)(uintptr_t)PTRACE_O_EXITKILL);
	fd = open(data, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read_metas(fd, &prev), 0);
	for (int done = 0; !done && !failed;) {
		int check = 0;
		if (ptrace(PTRACE_SINGLESTEP, pid, NULL, (void *)(uintptr_t)sig) != 0) {
			snprintf(why, sizeof why, "PTRACE_SINGLESTEP: %s", strerror(errno));
			failed = 1;
			break;
		}
		if (waitpid(pid, &st, 0) != pid) {
			snprintf(why, sizeof why, "waitpid: %s", strerror(errno));
			failed = 1;
			break;
		}
		if (WIFEXITED(st) || WIFSIGNALED(st)) {
			if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
				snprintf(why, sizeof why, "stepchild ended with status %d", st);
				failed = 1;
				break;
			}
			done = check = 1;
		} else {
			sig = WSTOPSIG(st) == SIGTRAP ? 0 : WSTOPSIG(st);
			steps++;
		}
		if (read_metas(fd, &cur) != 0) {
			snprintf(why, sizeof why, "cannot read the meta pages of %s", data);
			failed = 1;
			break;
		}
		if (memcmp(&cur, &prev, sizeof cur) != 0) {
			meta_changes++;
			check = 2;
			prev = cur;
		}
		if (!check && steps % STEP_STRIDE)
			continue;
		drain_acks(p[0], acked);
		checks++;
		if (snapshot(fd, &cur, snapdir) != 0) {
			snprintf(why, sizeof why, "cannot copy %s: %s", data, strerror(errno));
			failed = 1;
		} else if (check_journal(snapdir, acked, 1, found, &absent, why, sizeof why) != 0) {
			failed = 1;
		} else if (check && snapshot_takes_writes(snapdir, found[0], why, sizeof why) != 0) {
			failed = 1;
		}
		if (failed) {
			uint64_t t0, t1, r0, r1;
			size_t n = strlen(why);
			memcpy(&t0, cur.b[0] + 16 + 0x80, 8);
			memcpy(&t1, cur.b[1] + 16 + 0x80, 8);
			memcpy(&r0, cur.b[0] + 16 + 0x70, 8);
			memcpy(&r1, cur.b[1] + 16 + 0x70, 8);
			snprintf(why + n, sizeof why - n,
			         "\n  (killed after instruction %lu of the stepped calls, %llu acknowledged; "
			         "meta pages: txn %llu main root %llu, txn %llu main root %llu)",
			         steps, (unsigned long long)acked[0], (unsigned long long)t0,
			         (unsigned long long)r0, (unsigned long long)t1, (unsigned long long)r1);
		}
	}
	close(fd);
	close(p[0]);
	if (failed) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		fail_msg("durability %s, single-stepped writer: %s", mode_name(mode), why);
	}
	printf("crash writer: durability %s: %lu instructions stepped through %d calls, "
	       "%lu meta page changes, %lu copies checked, %llu acknowledged\n",
	       mode_name(mode), steps, STEP_N, meta_changes, checks, (unsigned long long)acked[0]);
	assert_int_equal(acked[0], STEP_PRE + STEP_N);
	assert_true(meta_changes >= STEP_N);
}

static void test_crash_writer_kill_at_every_instruction_of_a_commit(void **state)
{
	char root[200];
	(void)state;

	assert_int_equal(tbw_test_mkdtemp(root, sizeof root, "crash_step"), 0);
	/* INTERVAL opens the journal exactly as NEVER does (it adds a sync
	 * thread, which single-stepping one thread would not see through) */
	step_writer(root, TBW_DURABILITY_NEVER);
	step_writer(root, TBW_DURABILITY_ALWAYS);
	assert_int_equal(tbw_test_rmtree(root), 0);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crash_writer_kill_at_every_instruction_of_a_commit),
		cmocka_unit_test(test_crash_writer_sigkill_loses_nothing),
	};
	if (argc == 5 && strcmp(argv[1], "child") == 0)
		return child_main(argv[2], atoi(argv[3]), atoi(argv[4]));
	if (argc == 4 && strcmp(argv[1], "stepchild") == 0)
		return stepchild_main(argv[2], atoi(argv[3]));
	{
		ssize_t n = readlink("/proc/self/exe", self_path, sizeof self_path - 1);
		if (n <= 0)
			return 1;
		self_path[n] = 0;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
