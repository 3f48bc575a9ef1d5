/* log_scalars.c -- the smallest complete program over tbwal's public C API
 * (include/tbwal.h only): open a writer on a logdir, log a few tags per step,
 * close it (which exports everything to event files), and say where things are.
 *
 *   log_scalars LOGDIR [STEPS] [SYNC_DIR]
 *
 * Build against an installed libtbwal:
 *   cc -o log_scalars log_scalars.c $(pkg-config --cflags --libs libtbwal)
 * Exit status 0 on success, 1 on any error (the library's message on stderr).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <tbwal.h>

static int fail(const char *what, int rc)
{
	/* tbw_strerror names the code; tbw_errmsg says which operation on which path. */
	fprintf(stderr, "log_scalars: %s: %s (%s)\n", what, tbw_errmsg(), tbw_strerror(rc));
	return 1;
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 4) {
		fprintf(stderr, "usage: log_scalars LOGDIR [STEPS] [SYNC_DIR]\n");
		return 2;
	}
	const char *logdir = argv[1];
	long steps = argc > 2 ? strtol(argv[2], NULL, 10) : 100;

	tbw_options opts = TBW_OPTIONS_INIT;   /* durability=interval, export every 1 s */
	if (argc > 3)
		opts.sync_dir = argv[3];       /* e.g. /content/drive/MyDrive/tbwal */

	tbw_writer *w = NULL;
	int rc = tbw_open(&w, logdir, &opts);
	if (rc != 0)
		return fail("open", rc);

	for (long step = 0; step < steps; step++) {
		double loss = 2.0 * exp(-step / 50.0) + 0.05;
		/* Each call returns once the scalar is committed to the journal. */
		if ((rc = tbw_add_scalar(w, "train/loss", loss, step, 0)) != 0 ||
		    (rc = tbw_add_scalar(w, "train/accuracy", 1.0 - loss / 2.1, step, 0)) != 0 ||
		    (rc = tbw_add_scalar(w, "train/lr", 1e-3, step, 0)) != 0) {
			fail("add_scalar", rc);
			tbw_close(w);
			return 1;
		}
	}
	printf("logged %ld steps x 3 tags; journal in %s\n", steps, tbw_journal_path(w));

	/* close = flush (sync, export, ship) + stop the background threads. */
	if ((rc = tbw_close(w)) != 0)
		return fail("close", rc);
	printf("event files in %s: tensorboard --logdir %s\n", logdir, logdir);
	return 0;
}
