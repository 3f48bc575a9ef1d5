/* cmd_compact.c -- `tbwal compact` (and the old name tbcompact): export a
 * tbwal journal to TensorBoard event files, once or continuously, from a
 * process of its own (beside a live writer or after it died). A thin CLI
 * over the compactor (src/export/compactor.h); protocol: doc/compactor.md.
 */
#include "config.h"
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"
#include "cmds.h"
#include "tbwal.h"

static tbw_stop_flag compact_stop;

static void compact_on_signal(int sig)
{
	(void)sig;
	compact_stop = 1;
}

static void compact_usage(const tbw_cli *cli, FILE *f)
{
	fprintf(f,
	"Usage: %s LOGDIR [--once|--follow] [--interval T] [--journal DIR]\n"
	"       [--purge-step N] [--tensor] [--wait] [--rotate BYTES] [--json] [--quiet]\n"
	"Export the scalars committed to a tbwal journal into TensorBoard event files\n"
	"(LOGDIR/events.out.tfevents.*), exactly once, and prune what is exported.\n"
	"\n"
	"  --once           export what is committed now, then exit (default)\n"
	"  --follow         keep exporting every --interval until SIGINT/SIGTERM\n", cli->prog);
	if (cli->legacy)
		fputs("  --interval MS    period of --follow in milliseconds (default 1000; tbcompact\n"
		      "                   keeps its unit; \"2s\" and \"500ms\" are accepted too)\n", f);
	else
		fputs("  --interval T     period of --follow: seconds (\"1.5\") or with a unit\n"
		      "                   (\"500ms\", \"2s\", \"1m\"); default 1\n", f);
	fprintf(f,
	"  --journal DIR    the journal directory (default LOGDIR/.tbwal, or the path\n"
	"                   recorded in LOGDIR/.tbwal-journal)\n"
	"  --purge-step N   first append a SessionLog START at step N, so TensorBoard\n"
	"                   hides steps >= N logged by an earlier attempt (needs the\n"
	"                   writer role: refused while a writer has the journal open)\n"
	"  --tensor         write scalars as rank-0 DT_FLOAT tensors, not simple_value\n"
	"  --wait           wait for another compactor to finish instead of refusing\n"
	"  --rotate BYTES   start a new event file past this size (default 16 MiB)\n"
	"  --json           print a JSON summary on stdout at exit (doc/cli-json.md)\n"
	"  -q, --quiet      print nothing but errors\n"
	"  -V, --version    print the version\n"
	"  -h, --help       this text\n"
	"\n");
	if (cli->legacy)
		fputs("Exit status (tbcompact keeps its codes): 0 done; 1 error; 2 usage; 3 journal\n"
		      "busy (another compactor, or a writer for --purge-step); 4 exported, but damage\n"
		      "was found (see stderr); 5 no journal found. 'tbwal compact' uses tbwal(1)'s table.\n", f);
	else
		fputs("Exit status: 0 done; 1 error; 2 usage; 3 journal busy (another compactor,\n"
		      "or a writer for --purge-step); 4 no journal found; 5 exported, but damage\n"
		      "was found (see stderr).\n", f);
}

enum { COMPACT_O_ONCE = 1, COMPACT_O_FOLLOW, COMPACT_O_INTERVAL, COMPACT_O_JOURNAL, COMPACT_O_PURGE, COMPACT_O_TENSOR, COMPACT_O_WAIT, COMPACT_O_ROTATE };

static const tbw_cli_opt compact_opts[] = {
	{ "once", 0, 0, COMPACT_O_ONCE },
	{ "follow", 'f', 0, COMPACT_O_FOLLOW },
	{ "interval", 0, 1, COMPACT_O_INTERVAL },
	{ "journal", 0, 1, COMPACT_O_JOURNAL },
	{ "purge-step", 0, 1, COMPACT_O_PURGE },
	{ "tensor", 0, 0, COMPACT_O_TENSOR },
	{ "wait", 0, 0, COMPACT_O_WAIT },
	{ "rotate", 0, 1, COMPACT_O_ROTATE },
	{ NULL, 0, 0, 0 },
};

typedef struct cctx {
	int follow, tensor, wait, have_purge;
	double interval;
	uint64_t rotate;
	int64_t purge;
	const char *jdir;
} cctx;

static int compact_on_opt(tbw_cli *cli, void *vctx, int id, const char *arg)
{
	cctx *x = vctx;
	char *end;

	switch (id) {
	case COMPACT_O_ONCE: x->follow = 0; return 0;
	case COMPACT_O_FOLLOW: x->follow = 1; return 0;
	case COMPACT_O_TENSOR: x->tensor = 1; return 0;
	case COMPACT_O_WAIT: x->wait = 1; return 0;
	case COMPACT_O_JOURNAL: x->jdir = arg; return 0;
	case COMPACT_O_INTERVAL:
		if (tbw_cli_parse_interval(arg, cli->legacy ? 0.001 : 1.0, &x->interval) || x->interval < 0.001)
			return tbw_cli_usage_error(cli, "--interval wants %s between 1 ms and 1 day, not \"%s\"",
			                           cli->legacy ? "milliseconds" : "seconds (or 500ms, 2s)", arg);
		return 0;
	case COMPACT_O_ROTATE: {
		unsigned long long v;
		errno = 0;
		v = strtoull(arg, &end, 10);
		if (!*arg || *arg == '-' || errno || *end || v < 4096)
			return tbw_cli_usage_error(cli, "--rotate wants a byte count of at least 4096, not \"%s\"", arg);
		x->rotate = v;
		return 0;
	}
	case COMPACT_O_PURGE: {
		long long v;
		errno = 0;
		v = strtoll(arg, &end, 10);
		if (!*arg || errno || *end)
			return tbw_cli_usage_error(cli, "--purge-step wants an integer step, not \"%s\"", arg);
		x->purge = v;
		x->have_purge = 1;
		return 0;
	}
	}
	return TBW_EXIT_USAGE;
}

typedef struct compact_ui {
	tbw_cli *cli;
	int tty_line;
} compact_ui;

static void compact_on_notify(void *ctx, tbw_compact_event ev, const tbw_compact_result *r, const char *msg)
{
	compact_ui *u = ctx;
	tbw_cli *cli = u->cli;

	switch (ev) {
	case TBW_COMPACT_WAITING:
		if (!cli->quiet)
			tbw_cli_err(cli, "another compactor is exporting %s; waiting for it to finish", r->journal_dir);
		break;
	case TBW_COMPACT_PROBLEM:
		tbw_cli_err(cli, "%s", msg ? msg : "damage found");
		break;
	case TBW_COMPACT_PURGED:
		if (!cli->quiet)
			tbw_cli_err(cli, "appended SessionLog START (journal seq %" PRIu64 ")", r->purge_seq);
		break;
	case TBW_COMPACT_PASS:
		if (!cli->quiet && cli->tty_err) {
			fprintf(stderr, "\r%s: %" PRIu64 " records exported, cursor at seq %" PRIu64 "   ",
			        cli->prog, r->exported, r->cursor_seq);
			u->tty_line = 1;
		}
		break;
	}
}

static void compact_on_progress(void *ctx, const char *phase, uint64_t done, uint64_t total)
{
	tbw_cli_progress(ctx, phase, done, total);
}

static int tbw_cmd_compact(tbw_cli *cli, int argc, char **argv)
{
	cctx x;
	const char *pos[1];
	size_t npos;
	tbw_compact_options o = TBW_COMPACT_OPTIONS_INIT;
	tbw_compact_result res;
	compact_ui u = { cli, 0 };
	struct sigaction sa, old_int, old_term;
	int rc, ex, have_sig = 0, code;

	memset(&x, 0, sizeof x);
	x.interval = 1.0;
	compact_stop = 0;
	code = tbw_cli_parse(cli, argc, argv, compact_opts, compact_on_opt, &x, compact_usage, pos, 1, &npos);
	if (code < 0 && npos != 1) {
		compact_usage(cli, stderr);
		code = TBW_EXIT_USAGE;
	}
	if (code >= 0)
		return tbw_cli_exit(cli, code);
	o.journal_dir = x.jdir;
	o.scalar_format = x.tensor ? TBW_SCALAR_TENSOR : TBW_SCALAR_SIMPLE;
	o.rotate_bytes = x.rotate;
	o.wait = x.wait;
	o.follow = x.follow;
	o.interval_ms = (unsigned int)(x.interval * 1000 + 0.5);
	if (o.interval_ms == 0)
		o.interval_ms = 1;
	o.purge_step = x.have_purge ? x.purge : TBW_NO_PURGE;
	o.stop = &compact_stop;
	o.notify = compact_on_notify;
	o.notify_ctx = &u;
	o.progress = compact_on_progress;
	o.progress_ctx = cli;
	memset(&res, 0, sizeof res);
	res.version = TBW_COMPACT_RESULT_VERSION;
	if (x.follow) {
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = compact_on_signal;
		sigaction(SIGINT, &sa, &old_int);
		sigaction(SIGTERM, &sa, &old_term);
		have_sig = 1;
	}
	rc = tbw_compact(pos[0], &o, &res);
	tbw_cli_progress_end(cli);
	if (have_sig) {
		sigaction(SIGINT, &old_int, NULL);
		sigaction(SIGTERM, &old_term, NULL);
	}
	if (u.tty_line)
		fputc('\n', stderr);
	ex = tbw_cli_code_for(rc);
	if (ex == TBW_EXIT_USAGE)
		ex = TBW_EXIT_ERROR;
	if (rc != TBW_OK) {
		const char *stage = res.stage ? res.stage : "";
		if (rc == TBW_ENOTFOUND && !strcmp(stage, "journal"))
			tbw_cli_err(cli, "no tbwal journal in %s%s (%s)", res.journal_dir,
			            x.jdir ? "" : "; if the writer put it elsewhere, pass --journal DIR", tbw_errmsg());
		else
			tbw_cli_err(cli, "%s", tbw_errmsg());
		if (rc == TBW_EBUSY && !strcmp(stage, "open"))
			tbw_cli_err(cli, "refusing to export twice; stop the other exporter or pass --wait");
		if (!cli->quiet)
			tbw_cli_hint_logdir(cli, x.jdir ? NULL : pos[0], res.journal_dir[0] ? res.journal_dir : NULL, rc);
		tbw_cli_json_error(cli, ex, tbw_errmsg());
		return tbw_cli_exit(cli, ex);
	}
	if (!cli->quiet)
		tbw_cli_err(cli, "exported %" PRIu64 " records to %s (file %s, cursor seq %" PRIu64 ", %" PRIu64 " pruned)",
		            res.exported, pos[0], res.cursor_file[0] ? res.cursor_file : "none", res.cursor_seq, res.pruned);
	if (res.problems)
		ex = TBW_EXIT_PARTIAL;
	if (cli->json) {
		printf("{\"schema\":\"tbwal.compact/1\",\"logdir\":");
		tbw_cli_json_str(stdout, pos[0], (size_t)-1);
		printf(",\"journal\":");
		tbw_cli_json_str(stdout, res.journal_dir, (size_t)-1);
		printf(",\"exported\":%" PRIu64 ",\"pruned\":%" PRIu64 ",\"cursor\":{\"seq\":%" PRIu64 ",\"file\":",
		       res.exported, res.pruned, res.cursor_seq);
		tbw_cli_json_str(stdout, res.cursor_file, (size_t)-1);
		printf("},\"purge_seq\":%" PRIu64 ",\"problems\":%s,\"exit_code\":%d,\"ok\":%s}\n", res.purge_seq,
		       res.problems ? "true" : "false", tbw_cli_exit(cli, ex), ex == TBW_EXIT_OK ? "true" : "false");
	}
	return tbw_cli_exit(cli, ex);
}
