/* tbsync.c -- ship a tbwal journal to a sync folder (a mounted Google Drive)
 * as immutable segments, once or continuously. A thin CLI over
 * src/syncer.h; see tools/tbsync.1 for usage and exit codes.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tbwal.h"

enum {
	EXIT_OK = 0,
	EXIT_ERR = 1,      /* I/O error, damaged journal, ... */
	EXIT_USAGE = 2,
	EXIT_BUSY = 3,     /* another syncer (a writer's thread or tbsync) holds the role */
	EXIT_NOJOURNAL = 4 /* no journal where we looked */
};

static tbw_stop_flag stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void usage(FILE *f)
{
	fputs("usage: tbsync LOGDIR SYNC_DIR [--once | --follow] [--interval S]\n"
	      "              [--journal DIR] [--run-name NAME] [--wait] [--json] [--quiet]\n"
	      "\n"
	      "Ship the tbwal journal of LOGDIR to SYNC_DIR/<run name>-<run id>/ as\n"
	      "immutable, checksummed segment files (written to a temporary name,\n"
	      "fsynced, renamed into place). Safe beside a live writer.\n"
	      "\n"
	      "  --once          ship everything committed so far, then exit (default)\n"
	      "  --follow        keep shipping every --interval seconds until SIGINT/SIGTERM,\n"
	      "                  then ship what is left and exit\n"
	      "  --interval S    seconds between passes with --follow (default 5, may be fractional)\n"
	      "  --journal DIR   the journal directory (default LOGDIR/.tbwal, or the path\n"
	      "                  recorded in LOGDIR/.tbwal-journal)\n"
	      "  --run-name NAME name of the run folder (default: basename of the logdir)\n"
	      "  --wait          if another syncer runs, wait for it instead of exiting 3\n"
	      "  --json          print a JSON summary on stdout at exit\n"
	      "  --quiet         print nothing but errors\n"
	      "  --help          this text\n"
	      "\n"
	      "exit codes: 0 done, 1 error, 2 usage, 3 another syncer is running,\n"
	      "            4 no journal found\n", f);
}

static void json_escape(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

typedef struct ui {
	int quiet, json;
} ui;

static void on_notify(void *ctx, tbw_sync_event ev, uint64_t n, const tbw_sync_result *r, const char *msg)
{
	const ui *u = ctx;

	switch (ev) {
	case TBW_SYNC_UNSHIPPABLE:
		fprintf(stderr, "tbsync: warning: records 1..%llu were exported and pruned before any syncer was "
		        "attached to %s; they are in the event files but cannot be shipped (give the writer "
		        "sync_dir from the start to ship everything)\n", (unsigned long long)r->unshippable,
		        r->journal_dir);
		break;
	case TBW_SYNC_PASS_FAILED:
		fprintf(stderr, "tbsync: %s\n", msg);
		break;
	case TBW_SYNC_SHIPPED:
		if (u->quiet)
			break;
		fprintf(u->json ? stderr : stdout, "tbsync: shipped %llu records to %s (up to seq %llu, %u files)\n",
		        (unsigned long long)n, r->run_dir, (unsigned long long)r->ship_seq, (unsigned)r->files);
		fflush(u->json ? stderr : stdout);
		break;
	}
}

int main(int argc, char **argv)
{
	const char *logdir = NULL, *sync_dir = NULL, *jdir_opt = NULL, *run_name = NULL;
	int follow = 0, wait_lock = 0, json = 0, quiet = 0, rc, code = EXIT_OK;
	double interval = 5.0;
	tbw_sync_options o = TBW_SYNC_OPTIONS_INIT;
	tbw_sync_result st;
	ui u;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return EXIT_OK;
		} else if (!strcmp(a, "--once")) {
			follow = 0;
		} else if (!strcmp(a, "--follow")) {
			follow = 1;
		} else if (!strcmp(a, "--wait")) {
			wait_lock = 1;
		} else if (!strcmp(a, "--json")) {
			json = 1;
		} else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) {
			quiet = 1;
		} else if (!strcmp(a, "--interval") || !strcmp(a, "--journal") ||
		           !strcmp(a, "--run-name")) {
			if (i + 1 >= argc) {
				fprintf(stderr, "tbsync: %s needs a value\n", a);
				usage(stderr);
				return EXIT_USAGE;
			}
			const char *v = argv[++i];
			if (!strcmp(a, "--interval")) {
				char *end;
				errno = 0;
				interval = strtod(v, &end);
				if (errno || *end || !(interval >= 0) || interval > 86400) {
					fprintf(stderr, "tbsync: bad --interval '%s' (seconds, 0..86400)\n", v);
					return EXIT_USAGE;
				}
			} else if (!strcmp(a, "--journal")) {
				jdir_opt = v;
			} else {
				run_name = v;
			}
		} else if (a[0] == '-' && a[1]) {
			fprintf(stderr, "tbsync: unknown option '%s'\n", a);
			usage(stderr);
			return EXIT_USAGE;
		} else if (!logdir) {
			logdir = a;
		} else if (!sync_dir) {
			sync_dir = a;
		} else {
			fprintf(stderr, "tbsync: unexpected argument '%s'\n", a);
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (!logdir || !sync_dir) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (follow) {
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = on_signal;
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
	}
	memset(&st, 0, sizeof st);
	st.version = TBW_SYNC_RESULT_VERSION;
	u.quiet = quiet;
	u.json = json;
	o.journal_dir = jdir_opt;
	o.run_name = run_name;
	o.wait = wait_lock;
	o.follow = follow;
	/* seconds (fractional) to milliseconds; the library sleeps in ms */
	o.interval_ms = (unsigned int)(interval * 1000.0 + 0.5);
	o.stop = &stop;
	o.notify = on_notify;
	o.notify_ctx = &u;
	rc = tbw_sync(logdir, sync_dir, &o, &st);
	if (rc == TBW_ENOTFOUND && !st.run_dir[0]) {
		fprintf(stderr, "tbsync: %s\n", tbw_errmsg());
		fprintf(stderr, "tbsync: no journal in %s (use --journal DIR if the writer put it elsewhere)\n",
		        st.journal_dir);
		return EXIT_NOJOURNAL;
	}
	if (rc == TBW_EBUSY && !st.run_dir[0]) {
		fprintf(stderr, "tbsync: %s\n", tbw_errmsg());
		fprintf(stderr, "tbsync: another syncer is shipping this journal (a writer with sync_dir, or "
		        "another tbsync); nothing to do. Use --wait to wait for it.\n");
		return EXIT_BUSY;
	}
	if (rc && !st.run_dir[0]) {
		fprintf(stderr, "tbsync: %s\n", tbw_errmsg());
		return EXIT_ERR;
	}
	code = rc ? EXIT_ERR : EXIT_OK;
	if (json) {
		printf("{\"run_dir\": ");
		json_escape(stdout, st.run_dir);
		printf(", \"passes\": %llu, \"records_shipped\": %llu, \"ship_seq\": %llu, "
		       "\"segments_written\": %llu, \"merges\": %llu, \"files\": %u, "
		       "\"bytes_written\": %llu, \"ok\": %s}\n",
		       (unsigned long long)st.passes, (unsigned long long)st.records_shipped,
		       (unsigned long long)st.ship_seq, (unsigned long long)st.segments_written,
		       (unsigned long long)st.merges, (unsigned)st.files,
		       (unsigned long long)st.bytes_written, code == EXIT_OK ? "true" : "false");
	}
	return code;
}
