/* faults_child.c -- a training program for the fault tests
 * (tests/test_faults_lmdb.c): it logs scalars through the public writer
 * until a call fails, and says on stdout what happened, one line each:
 *   ACK i                  tbw_add_scalar(i) returned 0
 *   FAIL i rc message      tbw_add_scalar(i) failed
 *   FLUSHFAIL i rc message tbw_flush() after scalar i failed
 *   OPENFAIL rc message    tbw_open() failed
 *   NEXT rc_add rc_flush message   the calls made after the first failure
 *   CLOSE rc               tbw_close()
 *   DONE                   every scalar logged
 * Scalar i is fu_scalar(i) (tests/faults_util.h).
 *
 * Mode always-mt: four threads log at once through one writer (ALWAYS:
 * their calls share commits, src/journal.c "group commit"); thread t logs
 * tag "mt<t>" at steps 0, 1, ... (value: the step) until a call fails:
 *   TACK t step            returned 0
 *   TFAIL t step rc msg    failed (the thread stops)
 *   CLOSE rc
 *
 * usage: faults_child LOGDIR always|always-mt|interval COUNT FLUSH_EVERY
 */
#include "config.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tbwal.h"
#include "faults_util.h"

static int log_one(tbw_writer *w, uint64_t i)
{
	const char *tag;
	double v, wt;
	int64_t st;

	fu_scalar(i, &tag, &v, &st, &wt);
	return tbw_add_scalar(w, tag, v, st, wt);
}

typedef struct mt_arg {
	tbw_writer *w;
	int t;
	uint64_t count;
} mt_arg;

static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;

static void *mt_main(void *p)
{
	mt_arg *a = p;
	char tag[16];
	snprintf(tag, sizeof tag, "mt%d", a->t);
	for (uint64_t i = 0; i < a->count; i++) {
		int rc = tbw_add_scalar(a->w, tag, (double)i, (int64_t)i, 1.0 + (double)i);
		pthread_mutex_lock(&out_mu);
		if (rc == TBW_OK)
			printf("TACK %d %llu\n", a->t, (unsigned long long)i);
		else
			printf("TFAIL %d %llu %d %s\n", a->t, (unsigned long long)i, rc, tbw_errmsg());
		pthread_mutex_unlock(&out_mu);
		if (rc != TBW_OK)
			break;
	}
	return NULL;
}

static int main_mt(const char *logdir, uint64_t count)
{
	tbw_options o = TBW_OPTIONS_INIT;
	tbw_writer *w = NULL;
	pthread_t th[4];
	mt_arg a[4];
	int rc;

	o.durability = TBW_DURABILITY_ALWAYS;
	o.compact_interval_ms = 0;
	rc = tbw_open(&w, logdir, &o);
	if (rc != TBW_OK) {
		printf("OPENFAIL %d %s\n", rc, tbw_errmsg());
		return 0;
	}
	for (int t = 0; t < 4; t++) {
		a[t].w = w;
		a[t].t = t;
		a[t].count = count / 4;
		pthread_create(&th[t], NULL, mt_main, &a[t]);
	}
	for (int t = 0; t < 4; t++)
		pthread_join(th[t], NULL);
	printf("CLOSE %d\n", tbw_close(w));
	return 0;
}

int main(int argc, char **argv)
{
	tbw_options o = TBW_OPTIONS_INIT;
	tbw_writer *w = NULL;
	uint64_t count, every;
	int rc;

	if (argc != 5) {
		fprintf(stderr, "usage: faults_child LOGDIR always|interval COUNT FLUSH_EVERY\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (strcmp(argv[2], "always-mt") == 0)
		return main_mt(argv[1], strtoull(argv[3], NULL, 10));
	o.durability = strcmp(argv[2], "always") == 0 ? TBW_DURABILITY_ALWAYS : TBW_DURABILITY_INTERVAL;
	o.durability_interval_ms = 3600 * 1000;   /* journal syncs only in tbw_flush */
	o.compact_interval_ms = 0;                /* export only in flush and close */
	count = strtoull(argv[3], NULL, 10);
	every = strtoull(argv[4], NULL, 10);
	rc = tbw_open(&w, argv[1], &o);
	if (rc != TBW_OK) {
		printf("OPENFAIL %d %s\n", rc, tbw_errmsg());
		return 0;
	}
	for (uint64_t i = 0; i < count; i++) {
		rc = log_one(w, i);
		if (rc != TBW_OK) {
			printf("FAIL %llu %d %s\n", (unsigned long long)i, rc, tbw_errmsg());
			goto failed;
		}
		printf("ACK %llu\n", (unsigned long long)i);
		if (every && (i + 1) % every == 0 && (rc = tbw_flush(w)) != TBW_OK) {
			printf("FLUSHFAIL %llu %d %s\n", (unsigned long long)i, rc, tbw_errmsg());
			goto failed;
		}
	}
	printf("DONE\n");
	printf("CLOSE %d\n", tbw_close(w));
	return 0;
failed:
	{
		/* The next calls: a poisoned handle refuses them. Their scalar
		 * index is past every acknowledged one. */
		int ra = log_one(w, count + 1);
		int rf = tbw_flush(w);
		printf("NEXT %d %d %s\n", ra, rf, tbw_errmsg());
	}
	printf("CLOSE %d\n", tbw_close(w));
	return 0;
}
