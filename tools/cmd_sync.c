/* cmd_sync.c -- `tbwal sync` (and the old name tbsync): ship a tbwal journal
 * to a sync folder (a mounted Google Drive) as immutable segments, once or
 * continuously. A thin CLI over src/sync/syncer.h; man page tools/tbwal-sync.1.
 */
#include "config.h"
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"
#include "cmds.h"
#include "tbwal.h"

static tbw_stop_flag sync_stop;

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
	      "  --backfill      also ship records pruned before any syncer attached, read\n"
	      "                  back from the event files (values as exported: float32)\n"
	      "  --json          print a JSON summary on stdout at exit (doc/cli-json.md)\n"
	      "  -q, --quiet     print nothing but errors\n"
	      "  -V, --version   print the version\n"
	      "  -h, --help      this text\n"
	      "\n"
	      "exit codes: 0 done, 1 error, 2 usage, 3 another syncer is running,\n"
	      "            4 no journal found", f);
	fputs(cli->legacy ? " (tbsync's codes are tbwal(1)'s table)\n" : "\n", f);
}

enum { SYNC_O_ONCE = 1, SYNC_O_FOLLOW, SYNC_O_INTERVAL, SYNC_O_JOURNAL, SYNC_O_RUNNAME, SYNC_O_WAIT, SYNC_O_BACKFILL };

static const tbw_cli_opt sync_opts[] = {
	{ "once", 0, 0, SYNC_O_ONCE },
	{ "follow", 'f', 0, SYNC_O_FOLLOW },
	{ "interval", 0, 1, SYNC_O_INTERVAL },
	{ "journal", 0, 1, SYNC_O_JOURNAL },
	{ "run-name", 0, 1, SYNC_O_RUNNAME },
	{ "wait", 0, 0, SYNC_O_WAIT },
	{ "backfill", 0, 0, SYNC_O_BACKFILL },
	{ NULL, 0, 0, 0 },
};

typedef struct sctx {
	int follow, wait_lock, backfill;
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
	case SYNC_O_BACKFILL: x->backfill = 1; return 0;
	case SYNC_O_JOURNAL: x->jdir = arg; return 0;
	case SYNC_O_RUNNAME: x->run_name = arg; return 0;
	case SYNC_O_INTERVAL:
		if (tbw_cli_parse_interval(arg, 1.0, &x->interval))
			return tbw_cli_usage_error(cli, "bad --interval '%s' (seconds, 0..86400; or 500ms, 2s, 1m)", arg);
		return 0;
	}
	return TBW_EXIT_USAGE;
}

static void sync_on_notify(void *ctx, tbw_sync_event ev, uint64_t n, const tbw_sync_result *r, const char *msg)
{
	tbw_cli *cli = ctx;

	switch (ev) {
	case TBW_SYNC_UNSHIPPABLE:
		tbw_cli_err(cli, "warning: records 1..%llu were exported and pruned before any syncer was "
		            "attached to %s; they are in the event files but cannot be shipped (give the writer "
		            "sync_dir from the start to ship everything)", (unsigned long long)r->unshippable,
		            r->journal_dir);
		break;
	case TBW_SYNC_PASS_FAILED:
		tbw_cli_err(cli, "%s", msg ? msg : "a pass failed");
		break;
	case TBW_SYNC_SHIPPED:
		if (cli->quiet)
			break;
		fprintf(cli->json ? stderr : stdout, "%s: shipped %llu records to %s (up to seq %llu, %u files)\n",
		        cli->prog, (unsigned long long)n, r->run_dir, (unsigned long long)r->ship_seq, (unsigned)r->files);
		fflush(cli->json ? stderr : stdout);
		break;
	}
}

static int tbw_cmd_sync(tbw_cli *cli, int argc, char **argv)
{
	sctx x = { 0, 0, 0, 5.0, NULL, NULL };
	const char *pos[2];
	size_t npos;
	tbw_sync_options o = TBW_SYNC_OPTIONS_INIT;
	tbw_sync_result st;
	struct sigaction sa, old_int, old_term;
	int rc, code, have_sig = 0;

	sync_stop = 0;
	code = tbw_cli_parse(cli, argc, argv, sync_opts, sync_on_opt, &x, sync_usage, pos, 2, &npos);
	if (code < 0 && npos != 2) {
		sync_usage(cli, stderr);
		code = TBW_EXIT_USAGE;
	}
	if (code >= 0)
		return tbw_cli_exit(cli, code);
	if (x.follow) {
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = sync_on_signal;
		sigaction(SIGINT, &sa, &old_int);
		sigaction(SIGTERM, &sa, &old_term);
		have_sig = 1;
	}
	memset(&st, 0, sizeof st);
	st.version = TBW_SYNC_RESULT_VERSION;
	o.journal_dir = x.jdir;
	o.run_name = x.run_name;
	o.wait = x.wait_lock;
	o.backfill = x.backfill;
	o.follow = x.follow;
	o.interval_ms = (unsigned int)(x.interval * 1000 + 0.5);
	o.stop = &sync_stop;
	o.notify = sync_on_notify;
	o.notify_ctx = cli;
	rc = tbw_sync(pos[0], pos[1], &o, &st);
	if (have_sig) {
		sigaction(SIGINT, &old_int, NULL);
		sigaction(SIGTERM, &old_term, NULL);
	}
	code = tbw_cli_code_for(rc);
	if (code == TBW_EXIT_USAGE)
		code = TBW_EXIT_ERROR;
	if (rc != TBW_OK) {
		tbw_cli_err(cli, "%s", tbw_errmsg());
		if (rc == TBW_EBUSY)
			tbw_cli_err(cli, "another syncer is shipping this journal (a writer with sync_dir, or "
			            "another tbsync); nothing to do. Use --wait to wait for it.");
		else if (rc == TBW_ENOTFOUND)
			tbw_cli_err(cli, "no journal in %s (use --journal DIR if the writer put it elsewhere)",
			            st.journal_dir[0] ? st.journal_dir : pos[0]);
		if (!cli->quiet)
			tbw_cli_hint_logdir(cli, x.jdir ? NULL : pos[0], st.journal_dir[0] ? st.journal_dir : NULL, rc);
		if (!st.run_dir[0] || rc == TBW_EBUSY || rc == TBW_ENOTFOUND) {
			tbw_cli_json_error(cli, code, tbw_errmsg());
			return tbw_cli_exit(cli, code);
		}
	}
	if (cli->json) {
		printf("{\"schema\": \"tbwal.sync/1\", \"run_dir\": ");
		tbw_cli_json_str(stdout, st.run_dir, (size_t)-1);
		printf(", \"passes\": %llu, \"records_shipped\": %llu, \"ship_seq\": %llu, "
		       "\"segments_written\": %llu, \"merges\": %llu, \"files\": %u, "
		       "\"bytes_written\": %llu, \"unshippable\": %llu, \"exit_code\": %d, \"ok\": %s}\n",
		       (unsigned long long)st.passes, (unsigned long long)st.records_shipped,
		       (unsigned long long)st.ship_seq, (unsigned long long)st.segments_written,
		       (unsigned long long)st.merges, (unsigned)st.files,
		       (unsigned long long)st.bytes_written, (unsigned long long)st.unshippable,
		       tbw_cli_exit(cli, code), code == TBW_EXIT_OK ? "true" : "false");
	}
	return tbw_cli_exit(cli, code);
}
