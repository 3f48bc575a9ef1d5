/* cmd_sync.c -- `tbwal sync` (and the old name tbsync): ship a tbwal journal
 * to a sync folder (a mounted Google Drive) as immutable segments, once or
 * continuously. A thin CLI over src/syncer.h; man page tools/tbwal-sync.1.
 */
#include "config.h"
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "alloc.h"
#include "cli.h"
#include "cmds.h"
#include "error.h"
#include "journal.h"
#include "os.h"
#include "syncer.h"
#include "tbwal.h"
#include "writer.h"

static volatile sig_atomic_t sync_stop;

static void sync_on_signal(int sig)
{
	(void)sig;
	sync_stop = 1;
}

static void sync_usage(const tbw_cli *cli, FILE *f)
{
	fprintf(f, "usage: %s LOGDIR SYNC_DIR [--once | --follow] [--interval T]\n"
	        "       [--journal DIR] [--run-name NAME] [--wait] [--json] [--quiet]\n", cli->prog);
	fputs("\n"
	      "Ship the tbwal journal of LOGDIR to SYNC_DIR/<run name>-<run id>/ as\n"
	      "immutable, checksummed segment files (written to a temporary name,\n"
	      "fsynced, renamed into place). Safe beside a live writer.\n"
	      "\n"
	      "  --once          ship everything committed so far, then exit (default)\n"
	      "  --follow        keep shipping every --interval until SIGINT/SIGTERM,\n"
	      "                  then ship what is left and exit\n"
	      "  --interval T    time between passes with --follow: seconds (\"1.5\"), or\n"
	      "                  with a unit (\"500ms\", \"2s\", \"1m\"); default 5\n"
	      "  --journal DIR   the journal directory (default LOGDIR/.tbwal, or the\n"
	      "                  path recorded in LOGDIR/.tbwal-journal)\n"
	      "  --run-name NAME name of the run folder (default: basename of the logdir)\n"
	      "  --wait          if another syncer runs, wait for it instead of exiting 3\n"
	      "  --json          print a JSON summary on stdout at exit (doc/cli-json.md)\n"
	      "  -q, --quiet     print nothing but errors\n"
	      "  -V, --version   print the version\n"
	      "  -h, --help      this text\n"
	      "\n"
	      "exit codes: 0 done, 1 error, 2 usage, 3 another syncer is running,\n"
	      "            4 no journal found", f);
	fputs(cli->legacy ? " (tbsync's codes are tbwal(1)'s table)\n" : "\n", f);
}

enum { SYNC_O_ONCE = 1, SYNC_O_FOLLOW, SYNC_O_INTERVAL, SYNC_O_JOURNAL, SYNC_O_RUNNAME, SYNC_O_WAIT };

static const tbw_cli_opt sync_opts[] = {
	{ "once", 0, 0, SYNC_O_ONCE },
	{ "follow", 'f', 0, SYNC_O_FOLLOW },
	{ "interval", 0, 1, SYNC_O_INTERVAL },
	{ "journal", 0, 1, SYNC_O_JOURNAL },
	{ "run-name", 0, 1, SYNC_O_RUNNAME },
	{ "wait", 0, 0, SYNC_O_WAIT },
	{ NULL, 0, 0, 0 },
};

typedef struct sctx {
	int follow, wait_lock;
	double interval;
	const char *jdir, *run_name;
} sctx;

static int sync_on_opt(tbw_cli *cli, void *vctx, int id, const char *arg)
{
	sctx *x = vctx;

	switch (id) {
	case SYNC_O_ONCE: x->follow = 0; return 0;
	case SYNC_O_FOLLOW: x->follow = 1; return 0;
	case SYNC_O_WAIT: x->wait_lock = 1; return 0;
	case SYNC_O_JOURNAL: x->jdir = arg; return 0;
	case SYNC_O_RUNNAME: x->run_name = arg; return 0;
	case SYNC_O_INTERVAL:
		if (tbw_cli_parse_interval(arg, 1.0, &x->interval))
			return tbw_cli_usage_error(cli, "bad --interval '%s' (seconds, 0..86400; or 500ms, 2s, 1m)", arg);
		return 0;
	}
	return TBW_EXIT_USAGE;
}

static int tbw_cmd_sync(tbw_cli *cli, int argc, char **argv)
{
	sctx x = { 0, 0, 5.0, NULL, NULL };
	const char *pos[2];
	size_t npos;
	char *jdir = NULL;
	tbw_journal *j = NULL;
	tbw_syncer *s = NULL;
	tbw_jopen cfg = TBW_JOPEN_INIT;
	tbw_sync_stats st;
	struct sigaction sa, old_int, old_term;
	int rc, code = TBW_EXIT_OK, have_sig = 0;
	uint64_t last = 0;

	sync_stop = 0;
	code = tbw_cli_parse(cli, argc, argv, sync_opts, sync_on_opt, &x, sync_usage, pos, 2, &npos);
	if (code < 0 && npos != 2) {
		sync_usage(cli, stderr);
		code = TBW_EXIT_USAGE;
	}
	if (code >= 0)
		return tbw_cli_exit(cli, code);
	code = TBW_EXIT_OK;
	jdir = x.jdir ? tbw__strdup(x.jdir) : tbw__writer_find_journal(pos[0]);
	if (!jdir) {
		tbw_cli_err(cli, "out of memory");
		return tbw_cli_exit(cli, TBW_EXIT_ERROR);
	}
	cfg.create = 0;
	rc = tbw__journal_open(&j, jdir, &cfg);
	if (rc) {
		code = rc == TBW_ENOTFOUND ? TBW_EXIT_NOTFOUND : TBW_EXIT_ERROR;
		tbw_cli_err(cli, "%s", tbw_errmsg());
		tbw_cli_json_error(cli, code, tbw_errmsg());
		if (rc == TBW_ENOTFOUND)
			tbw_cli_err(cli, "no journal in %s (use --journal DIR if the writer put it elsewhere)", jdir);
		tbw_cli_hint_logdir(cli, x.jdir ? NULL : pos[0], jdir, rc);
		tbw__free(jdir);
		return tbw_cli_exit(cli, code);
	}
	rc = tbw__syncer_open(&s, j, pos[1], x.run_name, x.wait_lock);
	if (rc == TBW_EBUSY) {
		tbw_cli_err(cli, "%s", tbw_errmsg());
		tbw_cli_err(cli, "another syncer is shipping this journal (a writer with sync_dir, or "
		            "another tbsync); nothing to do. Use --wait to wait for it.");
		code = TBW_EXIT_BUSY;
		tbw_cli_json_error(cli, code, "another syncer is shipping this journal");
		goto out;
	}
	if (rc) {
		tbw_cli_err(cli, "%s", tbw_errmsg());
		code = TBW_EXIT_ERROR;
		tbw_cli_json_error(cli, code, tbw_errmsg());
		goto out;
	}
	tbw__syncer_stats(s, &st);
	if (st.unshippable)
		tbw_cli_err(cli, "warning: records 1..%llu were exported and pruned before any syncer was "
		            "attached to %s; they are in the event files but cannot be shipped (give the writer "
		            "sync_dir from the start to ship everything)", (unsigned long long)st.unshippable, jdir);
	if (x.follow) {
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = sync_on_signal;
		sigaction(SIGINT, &sa, &old_int);
		sigaction(SIGTERM, &sa, &old_term);
		have_sig = 1;
	}
	for (;;) {
		uint64_t n = 0;
		int final = !x.follow || sync_stop;
		/* the backlog, for progress on a terminal */
		if (tbw__journal_last_seq(j, &last) == 0 && last > st.ship_seq + 10000)
			tbw_cli_progress(cli, "shipping", 0, last - st.ship_seq);
		rc = tbw__syncer_pass(s, &n);
		tbw_cli_progress_end(cli);
		if (rc) {
			tbw_cli_err(cli, "%s", tbw_errmsg());
			code = TBW_EXIT_ERROR;
			if (!x.follow)
				break;
		} else if (n && !cli->quiet) {
			tbw__syncer_stats(s, &st);
			fprintf(cli->json ? stderr : stdout, "%s: shipped %llu records to %s (up to seq %llu, %u files)\n",
			        cli->prog, (unsigned long long)n, tbw__syncer_run_dir(s),
			        (unsigned long long)st.ship_seq, (unsigned)st.files);
			fflush(cli->json ? stderr : stdout);
		}
		tbw__syncer_stats(s, &st);
		if (final)
			break;
		if (rc == TBW_OK)
			code = TBW_EXIT_OK;
		tbw_cli_sleep(x.interval, &sync_stop);
	}
	tbw__syncer_stats(s, &st);
	if (cli->json) {
		printf("{\"schema\": \"tbwal.sync/1\", \"run_dir\": ");
		tbw_cli_json_str(stdout, tbw__syncer_run_dir(s), (size_t)-1);
		printf(", \"passes\": %llu, \"records_shipped\": %llu, \"ship_seq\": %llu, "
		       "\"last_seq\": %llu, \"segments_written\": %llu, \"merges\": %llu, \"files\": %u, "
		       "\"bytes_written\": %llu, \"unshippable\": %llu, \"exit_code\": %d, \"ok\": %s}\n",
		       (unsigned long long)st.passes, (unsigned long long)st.records_shipped,
		       (unsigned long long)st.ship_seq, (unsigned long long)last,
		       (unsigned long long)st.segments_written,
		       (unsigned long long)st.merges, (unsigned)st.files,
		       (unsigned long long)st.bytes_written, (unsigned long long)st.unshippable,
		       tbw_cli_exit(cli, code), code == TBW_EXIT_OK ? "true" : "false");
	}
out:
	if (have_sig) {
		sigaction(SIGINT, &old_int, NULL);
		sigaction(SIGTERM, &old_term, NULL);
	}
	tbw__syncer_close(s);
	tbw__journal_close(j);
	tbw__free(jdir);
	return tbw_cli_exit(cli, code);
}
