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
 * usage: faults_child LOGDIR always|interval COUNT FLUSH_EVERY
 */
#include "config.h"
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
