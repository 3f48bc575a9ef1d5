/* tbsync.c -- ship a tbwal journal to a sync folder (a mounted Google Drive)
 * as immutable segments, once or continuously. A thin CLI over
 * src/syncer.h; see tools/tbsync.1 for usage and exit codes.
 */
#include "config.h"
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "alloc.h"
#include "error.h"
#include "journal.h"
#include "os.h"
#include "syncer.h"
#include "tbwal.h"

enum {
	EXIT_OK = 0,
	EXIT_ERR = 1,      /* I/O error, damaged journal, ... */
	EXIT_USAGE = 2,
	EXIT_BUSY = 3,     /* another syncer (a writer's thread or tbsync) holds the role */
	EXIT_NOJOURNAL = 4 /* no journal where we looked */
};

static volatile sig_atomic_t stop;

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
	      "  --journal DIR   the journal directory (default LOGDIR/.tbwal)\n"
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

static void sleep_interruptible(double secs)
{
	uint64_t end = tbw__now_ns() + (uint64_t)(secs * 1e9);
	while (!stop) {
		uint64_t now = tbw__now_ns();
		if (now >= end)
			break;
		uint64_t left = end - now;
		if (left > 100000000ull)
			left = 100000000ull;
		struct timespec ts = { (time_t)(left / 1000000000ull), (long)(left % 1000000000ull) };
		nanosleep(&ts, NULL);
	}
}

int main(int argc, char **argv)
{
	const char *logdir = NULL, *sync_dir = NULL, *jdir_opt = NULL, *run_name = NULL;
	int follow = 0, wait_lock = 0, json = 0, quiet = 0, rc, code = EXIT_OK;
	double interval = 5.0;
	char *jdir = NULL;
	tbw_journal *j = NULL;
	tbw_syncer *s = NULL;
	tbw_jopen cfg = TBW_JOPEN_INIT;
	tbw_sync_stats st;

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
	jdir = jdir_opt ? tbw__strdup(jdir_opt) : tbw__path_join(logdir, ".tbwal");
	if (!jdir) {
		fprintf(stderr, "tbsync: out of memory\n");
		return EXIT_ERR;
	}
	cfg.create = 0;
	rc = tbw__journal_open(&j, jdir, &cfg);
	if (rc) {
		fprintf(stderr, "tbsync: %s\n", tbw_errmsg());
		if (rc == TBW_ENOTFOUND)
			fprintf(stderr, "tbsync: no journal in %s (use --journal DIR if the writer put it elsewhere)\n", jdir);
		tbw__free(jdir);
		return rc == TBW_ENOTFOUND ? EXIT_NOJOURNAL : EXIT_ERR;
	}
	rc = tbw__syncer_open(&s, j, sync_dir, run_name, wait_lock);
	if (rc == TBW_EBUSY) {
		fprintf(stderr, "tbsync: %s\n", tbw_errmsg());
		fprintf(stderr, "tbsync: another syncer is shipping this journal (a writer with sync_dir, or "
		        "another tbsync); nothing to do. Use --wait to wait for it.\n");
		code = EXIT_BUSY;
		goto out;
	}
	if (rc) {
		fprintf(stderr, "tbsync: %s\n", tbw_errmsg());
		code = EXIT_ERR;
		goto out;
	}
	tbw__syncer_stats(s, &st);
	if (st.unshippable)
		fprintf(stderr, "tbsync: warning: records 1..%llu were exported and pruned before any syncer was "
		        "attached to %s; they are in the event files but cannot be shipped (give the writer "
		        "sync_dir from the start to ship everything)\n", (unsigned long long)st.unshippable, jdir);
	if (follow) {
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = on_signal;
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
	}
	for (;;) {
		uint64_t n = 0;
		int last = !follow || stop;
		rc = tbw__syncer_pass(s, &n);
		if (rc) {
			fprintf(stderr, "tbsync: %s\n", tbw_errmsg());
			code = EXIT_ERR;
			if (!follow)
				break;
		} else if (n && !quiet) {
			tbw__syncer_stats(s, &st);
			fprintf(json ? stderr : stdout, "tbsync: shipped %llu records to %s (up to seq %llu, %u files)\n",
			        (unsigned long long)n, tbw__syncer_run_dir(s),
			        (unsigned long long)st.ship_seq, (unsigned)st.files);
			fflush(json ? stderr : stdout);
		}
		if (last)
			break;
		if (rc == TBW_OK)
			code = EXIT_OK;
		sleep_interruptible(interval);
	}
	tbw__syncer_stats(s, &st);
	if (json) {
		printf("{\"run_dir\": ");
		json_escape(stdout, tbw__syncer_run_dir(s));
		printf(", \"passes\": %llu, \"records_shipped\": %llu, \"ship_seq\": %llu, "
		       "\"segments_written\": %llu, \"merges\": %llu, \"files\": %u, "
		       "\"bytes_written\": %llu, \"ok\": %s}\n",
		       (unsigned long long)st.passes, (unsigned long long)st.records_shipped,
		       (unsigned long long)st.ship_seq, (unsigned long long)st.segments_written,
		       (unsigned long long)st.merges, (unsigned)st.files,
		       (unsigned long long)st.bytes_written, code == EXIT_OK ? "true" : "false");
	}
out:
	tbw__syncer_close(s);
	tbw__journal_close(j);
	tbw__free(jdir);
	return code;
}
