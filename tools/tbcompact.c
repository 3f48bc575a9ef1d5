/* tbcompact.c -- export a tbwal journal to TensorBoard event files, once or
 * continuously, from a process of its own (beside a live writer or after it
 * died). A thin CLI over the compactor (src/compactor.h); man page:
 * tools/tbcompact.1, protocol: doc/compactor.md.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tbwal.h"

/* Default rotation size of the library (tbw_compact_options.rotate_bytes 0). */
#define ROTATE_DEFAULT (16u << 20)

/* Exit codes (documented in tbcompact.1). */
enum {
	EX_DONE = 0,      /* everything committed was exported */
	EX_FAIL = 1,      /* an error stopped the export */
	EX_USAGE = 2,     /* bad command line */
	EX_BUSY = 3,      /* another compactor (or, for --purge-step, a writer) holds the journal */
	EX_PROBLEMS = 4,  /* exported, but damage was found and reported on stderr */
	EX_NOJOURNAL = 5  /* no journal where one was expected */
};

static tbw_stop_flag stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
	"Usage: tbcompact LOGDIR [--once|--follow] [--interval MS] [--journal DIR]\n"
	"                 [--purge-step N] [--tensor] [--wait] [--rotate BYTES] [--quiet]\n"
	"Export the scalars committed to a tbwal journal into TensorBoard event files\n"
	"(LOGDIR/events.out.tfevents.*), exactly once, and prune what is exported.\n"
	"\n"
	"  --once           export what is committed now, then exit (default)\n"
	"  --follow         keep exporting every --interval until SIGINT/SIGTERM\n"
	"  --interval MS    period of --follow in milliseconds (default 1000)\n"
	"  --journal DIR    the journal directory (default LOGDIR/.tbwal, or the path\n"
	"                   recorded in LOGDIR/.tbwal-journal)\n"
	"  --purge-step N   first append a SessionLog START at step N, so TensorBoard\n"
	"                   hides steps >= N logged by an earlier attempt (needs the\n"
	"                   writer role: refused while a writer has the journal open)\n"
	"  --tensor         write scalars as rank-0 DT_FLOAT tensors, not simple_value\n"
	"  --wait           wait for another compactor to finish instead of refusing\n"
	"  --rotate BYTES   start a new event file past this size (default %u)\n"
	"  --quiet          print nothing but errors\n"
	"  --help           this text\n"
	"\n"
	"Exit status: 0 done; 1 error; 2 usage; 3 journal busy (another compactor,\n"
	"or a writer for --purge-step); 4 exported, but damage was found (see stderr);\n"
	"5 no journal found.\n", ROTATE_DEFAULT);
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || *s == '-')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

static int parse_i64(const char *s, int64_t *out)
{
	char *end;
	long long v;

	if (!s || !*s)
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

static int exit_for(int rc)
{
	if (rc == TBW_EBUSY)
		return EX_BUSY;
	if (rc == TBW_ENOTFOUND)
		return EX_NOJOURNAL;
	return EX_FAIL;
}

typedef struct ui {
	int quiet, follow;
	const char *logdir;
	int64_t purge;
} ui;

static void on_notify(void *ctx, tbw_compact_event ev, const tbw_compact_result *r, const char *msg)
{
	const ui *u = ctx;

	switch (ev) {
	case TBW_COMPACT_WAITING:
		if (!u->quiet)
			fprintf(stderr, "tbcompact: another compactor is exporting %s; waiting for it to finish\n",
			        r->journal_dir);
		break;
	case TBW_COMPACT_PURGED:
		if (!u->quiet)
			fprintf(stderr, "tbcompact: appended SessionLog START at step %" PRId64 " (journal seq %" PRIu64 ")\n",
			        u->purge, r->purge_seq);
		break;
	case TBW_COMPACT_PROBLEM:
		fprintf(stderr, "tbcompact: %s\n", msg);
		break;
	case TBW_COMPACT_PASS:
		if (!u->quiet && isatty(STDERR_FILENO))
			fprintf(stderr, "\rtbcompact: %" PRIu64 " records exported, cursor at seq %" PRIu64 "   ",
			        r->exported, r->cursor_seq);
		break;
	}
}

int main(int argc, char **argv)
{
	const char *logdir = NULL, *jdir_arg = NULL;
	int follow = 0, tensor = 0, wait = 0, quiet = 0, have_purge = 0;
	uint64_t interval = 1000, rotate = 0;
	int64_t purge = 0;
	tbw_compact_options o = TBW_COMPACT_OPTIONS_INIT;
	tbw_compact_result res;
	ui u;
	int rc, ex = EX_DONE;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return EX_DONE;
		} else if (!strcmp(a, "--once")) {
			follow = 0;
		} else if (!strcmp(a, "--follow")) {
			follow = 1;
		} else if (!strcmp(a, "--tensor")) {
			tensor = 1;
		} else if (!strcmp(a, "--wait")) {
			wait = 1;
		} else if (!strcmp(a, "--quiet")) {
			quiet = 1;
		} else if (!strcmp(a, "--interval") && i + 1 < argc) {
			if (parse_u64(argv[++i], &interval) || interval == 0 || interval > 86400000) {
				fprintf(stderr, "tbcompact: --interval wants milliseconds between 1 and 86400000, not \"%s\"\n", argv[i]);
				return EX_USAGE;
			}
		} else if (!strcmp(a, "--rotate") && i + 1 < argc) {
			if (parse_u64(argv[++i], &rotate) || rotate < 4096) {
				fprintf(stderr, "tbcompact: --rotate wants a byte count of at least 4096, not \"%s\"\n", argv[i]);
				return EX_USAGE;
			}
		} else if (!strcmp(a, "--journal") && i + 1 < argc) {
			jdir_arg = argv[++i];
		} else if (!strcmp(a, "--purge-step") && i + 1 < argc) {
			if (parse_i64(argv[++i], &purge)) {
				fprintf(stderr, "tbcompact: --purge-step wants an integer step, not \"%s\"\n", argv[i]);
				return EX_USAGE;
			}
			have_purge = 1;
		} else if (a[0] == '-' && a[1]) {
			fprintf(stderr, "tbcompact: unknown or incomplete option \"%s\" (see --help)\n", a);
			return EX_USAGE;
		} else if (!logdir) {
			logdir = a;
		} else {
			fprintf(stderr, "tbcompact: one LOGDIR only (got \"%s\" and \"%s\")\n", logdir, a);
			return EX_USAGE;
		}
	}
	if (!logdir) {
		usage(stderr);
		return EX_USAGE;
	}
	if (follow) {
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = on_signal;
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
	}
	memset(&res, 0, sizeof res);
	res.version = TBW_COMPACT_RESULT_VERSION;
	u.quiet = quiet;
	u.follow = follow;
	u.logdir = logdir;
	u.purge = purge;
	o.journal_dir = jdir_arg;
	o.scalar_format = tensor ? TBW_SCALAR_TENSOR : TBW_SCALAR_SIMPLE;
	o.rotate_bytes = rotate;
	o.wait = wait;
	o.follow = follow;
	o.interval_ms = (unsigned int)interval;
	o.purge_step = have_purge ? purge : TBW_NO_PURGE;
	o.stop = &stop_flag;
	o.notify = on_notify;
	o.notify_ctx = &u;
	rc = tbw_compact(logdir, &o, &res);
	if (rc != TBW_OK) {
		const char *stage = res.stage ? res.stage : "";
		if (rc == TBW_ENOTFOUND && !strcmp(stage, "journal"))
			fprintf(stderr, "tbcompact: no tbwal journal in %s%s (%s)\n", res.journal_dir,
			        jdir_arg ? "" : "; if the writer put it elsewhere, pass --journal DIR", tbw_errmsg());
		else if (rc == TBW_EBUSY && !strcmp(stage, "purge"))
			fprintf(stderr, "tbcompact: --purge-step: a writer has journal %s open; pass purge_step "
			        "to the writer (tbw_open) instead\n", res.journal_dir);
		else
			fprintf(stderr, "tbcompact: %s\n", tbw_errmsg());
		if (rc == TBW_EBUSY && !strcmp(stage, "open"))
			fprintf(stderr, "tbcompact: refusing to export twice; stop the other exporter or pass --wait\n");
		return exit_for(rc);
	}
	if (!quiet)
		fprintf(stderr, "%stbcompact: exported %" PRIu64 " records to %s (file %s, cursor seq %" PRIu64
		        ", %" PRIu64 " pruned)\n", follow && isatty(STDERR_FILENO) ? "\n" : "",
		        res.exported, logdir, res.cursor_file[0] ? res.cursor_file : "none", res.cursor_seq,
		        res.pruned);
	if (res.problems)
		ex = EX_PROBLEMS;
	return ex;
}
