/* cmd_compact.c -- `tbwal compact` (and the old name tbcompact): export a
 * tbwal journal to TensorBoard event files, once or continuously, from a
 * process of its own (beside a live writer or after it died). A thin CLI
 * over the compactor (src/compactor.h); protocol: doc/compactor.md.
 */
#include "config.h"
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "alloc.h"
#include "cli.h"
#include "cmds.h"
#include "compactor.h"
#include "error.h"
#include "journal.h"
#include "os.h"
#include "writer.h"

/* Records exported per chunk of a big backlog (progress between chunks). */
#define compact_CHUNK 262144

static volatile sig_atomic_t compact_stop;

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
	"  --rotate BYTES   start a new event file past this size (default %u)\n"
	"  --json           print a JSON summary on stdout at exit (doc/cli-json.md)\n"
	"  -q, --quiet      print nothing but errors\n"
	"  -V, --version    print the version\n"
	"  -h, --help       this text\n"
	"\n", TBW_COMPACT_ROTATE_DEFAULT);
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

/* Append the purge marker. Appending is the writer's job, so take the
 * writer role for the moment of the append: if a writer is live, refuse
 * (it should be given purge_step itself) rather than interleave. */
static int compact_append_purge(tbw_cli *cli, tbw_journal *j, int64_t step)
{
	uint64_t seq = 0;
	int rc = tbw__journal_lock(j, TBW_JROLE_WRITER, 0);

	if (rc == TBW_EBUSY) {
		tbw_cli_err(cli, "--purge-step: a writer has journal %s open; pass purge_step "
		            "to the writer (tbw_open) instead", tbw__journal_dir(j));
		tbw_cli_hint_logdir(cli, NULL, tbw__journal_dir(j), rc);
		return rc;
	}
	if (rc != TBW_OK) {
		tbw_cli_err(cli, "%s", tbw_errmsg());
		return rc;
	}
	rc = tbw__journal_append_start(j, step, tbw__wall_time(), &seq);
	if (rc == TBW_OK)
		rc = tbw__journal_sync(j);
	tbw__journal_unlock(j, TBW_JROLE_WRITER);
	if (rc != TBW_OK)
		tbw_cli_err(cli, "%s", tbw_errmsg());
	else if (!cli->quiet)
		tbw_cli_err(cli, "appended SessionLog START at step %" PRId64 " (journal seq %" PRIu64 ")", step, seq);
	return rc;
}

/* One pass: everything committed now, in chunks with progress when the
 * backlog is big. */
static int compact_pass(tbw_cli *cli, tbw_compactor *c, tbw_journal *j, uint64_t *n)
{
	tbw_compact_stats st;
	uint64_t last = 0, from, got, through;
	int rc;

	*n = 0;
	tbw__compactor_stats(c, &st);
	if ((rc = tbw__journal_last_seq(j, &last)) != TBW_OK)
		return rc;
	from = through = st.cursor.seq;
	if (last <= from + compact_CHUNK)
		return tbw__compactor_pass(c, n);
	/* through grows whatever the cursor does (a gap exports nothing) */
	do {
		through = through >= last || last - through <= compact_CHUNK ? UINT64_MAX : through + compact_CHUNK;
		rc = tbw__compactor_pass_through(c, through, &got);
		*n += got;
		tbw__compactor_stats(c, &st);
		tbw_cli_progress(cli, "exporting", st.cursor.seq > from ? st.cursor.seq - from : 0, last - from);
	} while (rc == TBW_OK && !compact_stop && (through != UINT64_MAX || got > 0));
	tbw_cli_progress_end(cli);
	return rc;
}

static int tbw_cmd_compact(tbw_cli *cli, int argc, char **argv)
{
	cctx x;
	const char *pos[1];
	size_t npos;
	char *jdir = NULL;
	tbw_jopen jo = TBW_JOPEN_INIT;
	tbw_compact_cfg cfg = TBW_COMPACT_CFG_INIT;
	tbw_journal *j = NULL;
	tbw_compactor *c = NULL;
	tbw_compact_stats st;
	char last_problem[512] = "";
	struct sigaction sa, old_int, old_term;
	uint64_t total = 0, passes = 0;
	int rc, ex = TBW_EXIT_OK, problems = 0, have_sig = 0, code;

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
	jdir = x.jdir ? tbw__strdup(x.jdir) : tbw__writer_find_journal(pos[0]);
	if (!jdir) {
		tbw_cli_err(cli, "out of memory");
		return tbw_cli_exit(cli, TBW_EXIT_ERROR);
	}
	rc = tbw__journal_open(&j, jdir, &jo);
	if (rc != TBW_OK) {
		if (rc == TBW_ENOTFOUND)
			tbw_cli_err(cli, "no tbwal journal in %s%s (%s)", jdir,
			            x.jdir ? "" : "; if the writer put it elsewhere, pass --journal DIR", tbw_errmsg());
		else
			tbw_cli_err(cli, "%s", tbw_errmsg());
		tbw_cli_hint_logdir(cli, x.jdir ? NULL : pos[0], jdir, rc);
		ex = tbw_cli_code_for(rc);
		tbw_cli_json_error(cli, ex, tbw_errmsg());
		tbw__free(jdir);
		return tbw_cli_exit(cli, ex);
	}
	if (x.have_purge && (rc = compact_append_purge(cli, j, x.purge)) != TBW_OK) {
		ex = tbw_cli_code_for(rc);
		tbw_cli_json_error(cli, ex, tbw_errmsg());
		goto out;
	}
	cfg.logdir = pos[0];
	cfg.scalar_format = x.tensor ? TBW_SCALAR_TENSOR : TBW_SCALAR_SIMPLE;
	cfg.rotate_bytes = x.rotate;
	cfg.wait_lock = x.wait;
	if (x.wait && !cli->quiet && tbw__journal_role_busy(jdir, TBW_JROLE_COMPACTOR) == 1)
		tbw_cli_err(cli, "another compactor is exporting %s; waiting for it to finish", jdir);
	rc = tbw__compactor_open(&c, j, &cfg);
	if (rc != TBW_OK) {
		tbw_cli_err(cli, "%s", tbw_errmsg());
		if (rc == TBW_EBUSY)
			tbw_cli_err(cli, "refusing to export twice; stop the other exporter or pass --wait");
		ex = tbw_cli_code_for(rc);
		tbw_cli_json_error(cli, ex, tbw_errmsg());
		goto out;
	}
	if (x.follow) {
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = compact_on_signal;
		sigaction(SIGINT, &sa, &old_int);
		sigaction(SIGTERM, &sa, &old_term);
		have_sig = 1;
	}
	for (;;) {
		uint64_t n = 0;
		rc = compact_pass(cli, c, j, &n);
		passes++;
		total += n;
		tbw__compactor_stats(c, &st);
		if (st.problem[0] && strcmp(st.problem, last_problem) != 0) {
			tbw_cli_err(cli, "%s", st.problem);
			snprintf(last_problem, sizeof last_problem, "%s", st.problem);
			problems = 1;
		}
		if (rc != TBW_OK) {
			tbw_cli_err(cli, "%s", tbw_errmsg());
			ex = tbw_cli_code_for(rc);
			if (ex == TBW_EXIT_USAGE)
				ex = TBW_EXIT_ERROR;
			break;
		}
		if (x.follow && n && !cli->quiet && cli->tty_err)
			fprintf(stderr, "\r%s: %" PRIu64 " records exported, cursor at seq %" PRIu64 "   ",
			        cli->prog, total, st.cursor.seq);
		if (!x.follow || compact_stop)
			break;
		tbw_cli_sleep(x.interval, &compact_stop);
		if (compact_stop)
			x.follow = 0;    /* one last pass, then out */
	}
	/* The cursor and pruning were committed without fsync (the journal's
	 * default); make them durable before saying we are done. */
	if (tbw__journal_sync(j) != TBW_OK && ex == TBW_EXIT_OK) {
		tbw_cli_err(cli, "%s", tbw_errmsg());
		ex = TBW_EXIT_ERROR;
	}
	tbw__compactor_stats(c, &st);
	if (!cli->quiet && ex == TBW_EXIT_OK)
		fprintf(stderr, "%s%s: exported %" PRIu64 " records to %s (file %s, cursor seq %" PRIu64
		        ", %" PRIu64 " pruned)\n", have_sig && cli->tty_err ? "\n" : "",
		        cli->prog, total, pos[0], st.cursor.file[0] ? st.cursor.file : "none", st.cursor.seq, st.pruned);
	if (ex == TBW_EXIT_OK && problems)
		ex = TBW_EXIT_PARTIAL;
	if (cli->json) {
		printf("{\"schema\":\"tbwal.compact/1\",\"logdir\":");
		tbw_cli_json_str(stdout, pos[0], (size_t)-1);
		printf(",\"journal\":");
		tbw_cli_json_str(stdout, jdir, (size_t)-1);
		printf(",\"passes\":%" PRIu64 ",\"exported\":%" PRIu64 ",\"skipped_corrupt\":%" PRIu64
		       ",\"pruned\":%" PRIu64 ",\"files_created\":%u,\"cursor\":{\"seq\":%" PRIu64 ",\"file\":",
		       passes, total, st.skipped_corrupt, st.pruned, st.files_created, st.cursor.seq);
		tbw_cli_json_str(stdout, st.cursor.file, (size_t)-1);
		printf(",\"offset\":%" PRIu64 "},\"problem\":", st.cursor.offset);
		tbw_cli_json_str(stdout, last_problem, (size_t)-1);
		printf(",\"exit_code\":%d,\"ok\":%s}\n", tbw_cli_exit(cli, ex), ex == TBW_EXIT_OK ? "true" : "false");
	}
out:
	if (have_sig) {
		sigaction(SIGINT, &old_int, NULL);
		sigaction(SIGTERM, &old_term, NULL);
	}
	tbw__compactor_close(c);
	tbw__journal_close(j);
	tbw__free(jdir);
	return tbw_cli_exit(cli, ex);
}
