/* tbw_logn.c -- test helper: log N scalars to LOGDIR through the public API.
 *
 *   tbw_logn LOGDIR N [--sync DIR] [--start K] [--die] [--no-export]
 *
 * Scalar i (K <= i < K+N) is tag "t<i%3>", step i/3, value i*0.5.
 * --die: exit without tbw_close (what a SIGKILL leaves); --no-export: no
 * background export (compact_interval_ms = 0). Exit 0 on success.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tbwal.h"

int main(int argc, char **argv)
{
	tbw_options o = TBW_OPTIONS_INIT;
	tbw_writer *w;
	long long n, k = 0;
	int die = 0;
	char tag[8];

	if (argc < 3) {
		fprintf(stderr, "usage: tbw_logn LOGDIR N [--sync DIR] [--start K] [--die] [--no-export]\n");
		return 2;
	}
	n = atoll(argv[2]);
	for (int i = 3; i < argc; i++) {
		if (!strcmp(argv[i], "--sync") && i + 1 < argc)
			o.sync_dir = argv[++i];
		else if (!strcmp(argv[i], "--start") && i + 1 < argc)
			k = atoll(argv[++i]);
		else if (!strcmp(argv[i], "--die"))
			die = 1;
		else if (!strcmp(argv[i], "--no-export"))
			o.compact_interval_ms = 0;
		else
			return 2;
	}
	o.sync_interval_ms = 3600 * 1000;
	o.run_name = "run";
	if (tbw_open(&w, argv[1], &o) != 0) {
		fprintf(stderr, "tbw_logn: %s\n", tbw_errmsg());
		return 1;
	}
	for (long long i = k; i < k + n; i++) {
		snprintf(tag, sizeof tag, "t%lld", i % 3);
		if (tbw_add_scalar(w, tag, (double)i * 0.5, i / 3, 1700000000.0 + (double)i) != 0) {
			fprintf(stderr, "tbw_logn: %s\n", tbw_errmsg());
			return 1;
		}
	}
	if (die)
		_exit(0);
	if (tbw_close(w) != 0) {
		fprintf(stderr, "tbw_logn: %s\n", tbw_errmsg());
		return 1;
	}
	return 0;
}
