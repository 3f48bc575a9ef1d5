/* powerloss_child.c -- the program tests/test_powerloss.c runs under the
 * power-cut shim (tests/inject/powerloss.c): THREADS threads log through
 * one writer, thread t tag "pl<t>" at steps 0 .. COUNT-1 with the step as
 * the value (mode steps: each call is tbw_add_scalars of "pl<t>" and
 * "pl<t>/b", one step record). After each call that returned 0 it counts
 * it in tbw_powerloss_acked[t], which the shim reads at each power cut;
 * before its close it sets tbw_powerloss_stop. Prints "ACKED a0 a1 ..."
 * at the end.
 *
 * usage: powerloss_child LOGDIR always|interval THREADS COUNT [steps]
 * interval: durability_interval_ms 20 (the journal is flushed that often).
 */
#include "config.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tbwal.h"

/* read by the shim through dlsym (the program is linked --export-dynamic);
 * stop: no more power cuts (the close exports the journal to event files,
 * which the shim does not model, and prunes it) */
__attribute__((visibility("default"))) long tbw_powerloss_acked[8];
__attribute__((visibility("default"))) int tbw_powerloss_stop;

typedef struct arg {
	tbw_writer *w;
	int t, steps;
	long count;
} arg;

static void *run(void *p)
{
	arg *a = p;
	char tag[16], tag_b[16];
	const char *tags[2] = { tag, tag_b };

	snprintf(tag, sizeof tag, "pl%d", a->t);
	snprintf(tag_b, sizeof tag_b, "pl%d/b", a->t);
	for (long i = 0; i < a->count; i++) {
		double v[2] = { (double)i, (double)i };
		int rc = a->steps ? tbw_add_scalars(a->w, 2, tags, v, i, 1.0 + (double)i)
		                  : tbw_add_scalar(a->w, tag, (double)i, i, 1.0 + (double)i);
		if (rc != TBW_OK) {
			fprintf(stderr, "powerloss_child: thread %d step %ld: %s\n", a->t, i, tbw_errmsg());
			exit(1);
		}
		__atomic_store_n(&tbw_powerloss_acked[a->t], i + 1, __ATOMIC_RELEASE);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	tbw_options o = TBW_OPTIONS_INIT;
	tbw_writer *w;
	pthread_t th[8];
	arg a[8];
	int n;

	if (argc < 5 || (n = atoi(argv[3])) < 1 || n > 8) {
		fprintf(stderr, "usage: powerloss_child LOGDIR always|interval THREADS COUNT [steps]\n");
		return 2;
	}
	o.durability = strcmp(argv[2], "always") == 0 ? TBW_DURABILITY_ALWAYS : TBW_DURABILITY_INTERVAL;
	o.durability_interval_ms = 20;
	o.compact_interval_ms = 0;     /* the journal alone: no export during the run */
	if (tbw_open(&w, argv[1], &o) != TBW_OK) {
		fprintf(stderr, "powerloss_child: %s\n", tbw_errmsg());
		return 1;
	}
	for (int t = 0; t < n; t++) {
		a[t].w = w;
		a[t].t = t;
		a[t].count = atol(argv[4]);
		a[t].steps = argc > 5 && strcmp(argv[5], "steps") == 0;
		pthread_create(&th[t], NULL, run, &a[t]);
	}
	for (int t = 0; t < n; t++)
		pthread_join(th[t], NULL);
	__atomic_store_n(&tbw_powerloss_stop, 1, __ATOMIC_RELEASE);
	if (tbw_close(w) != TBW_OK) {
		fprintf(stderr, "powerloss_child: close: %s\n", tbw_errmsg());
		return 1;
	}
	printf("ACKED");
	for (int t = 0; t < n; t++)
		printf(" %ld", tbw_powerloss_acked[t]);
	printf("\n");
	return 0;
}
