/* tbcompact.c -- export a tbwal journal to TensorBoard event files, once or
 * continuously, from a process of its own (beside a live writer or after it
 * died). A thin CLI over the compactor (src/compactor.h); man page:
 * tools/tbcompact.1, protocol: doc/compactor.md.
 */
#include "config.h"
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "alloc.h"
#include "compactor.h"
#include "error.h"
#include "journal.h"
#include "os.h"

/* Exit codes (documented in tbcompact.1). */
enum {
	EX_DONE = 0,      /* everything committed was exported */
	EX_FAIL = 1,      /* an error stopped the export */
	EX_USAGE = 2,     /* bad command line */
	EX_BUSY = 3,      /* another compactor (or, for --purge-step, a writer) holds the journal */
	EX_PROBLEMS = 4,  /* exported, but damage was found and reported on stderr */
	EX_NOJOURNAL = 5  /* no journal where one was expected */
};

static volatile sig_atomic_t stop_flag;

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
	"  --journal DIR    the journal directory (default LOGDIR/.tbwal)\n"
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
	"5 no journal found.\n", TBW_COMPACT_ROTATE_DEFAULT);
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

static void sleep_ms(uint64_t ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);   /* a signal cuts it short, which is what we want */
}

/* Append the purge marker. Appending is the writer's job, so take the
 * writer role for the moment of the append: if a writer is live, refuse
 * (it should be given purge_step itself) rather than interleave. */
static int append_purge(tbw_journal *j, int64_t step, int quiet)
{
	uint64_t seq = 0;
	int rc = tbw__journal_lock(j, TBW_JROLE_WRITER, 0);

	if (rc == TBW_EBUSY) {
		fprintf(stderr, "tbcompact: --purge-step: a writer has journal %s open; pass purge_step "
		        "to the writer (tbw_open) instead\n", tbw__journal_dir(j));
		return rc;
	}
	if (rc != TBW_OK) {
		fprintf(stderr, "tbcompact: %s\n", tbw_errmsg());
		return rc;
	}
	rc = tbw__journal_append_start(j, step, tbw__wall_time(), &seq);
	if (rc == TBW_OK)
		rc = tbw__journal_sync(j);
	tbw__journal_unlock(j, TBW_JROLE_WRITER);
	if (rc != TBW_OK)
		fprintf(stderr, "tbcompact: %s\n", tbw_errmsg());
	else if (!quiet)
		fprintf(stderr, "tbcompact: appended SessionLog START at step %" PRId64 " (journal seq %" PRIu64 ")\n",
		        step, seq);
	return rc;
}

int main(int argc, char **argv)
{
	const char *logdir = NULL, *jdir_arg = NULL;
	char *jdir = NULL;
	int follow = 0, tensor = 0, wait = 0, quiet = 0, have_purge = 0;
	uint64_t interval = 1000, rotate = 0, total = 0;
	int64_t purge = 0;
	tbw_jopen jo = TBW_JOPEN_INIT;
	tbw_compact_cfg cfg = TBW_COMPACT_CFG_INIT;
	tbw_journal *j = NULL;
	tbw_compactor *c = NULL;
	tbw_compact_stats st;
	char last_problem[512] = "";
	int rc, ex = EX_DONE, problems = 0;

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
	jdir = jdir_arg ? tbw__strdup(jdir_arg) : tbw__path_join(logdir, ".tbwal");
	if (!jdir) {
		fprintf(stderr, "tbcompact: out of memory\n");
		return EX_FAIL;
	}
	rc = tbw__journal_open(&j, jdir, &jo);
	if (rc != TBW_OK) {
		if (rc == TBW_ENOTFOUND)
			fprintf(stderr, "tbcompact: no tbwal journal in %s%s (%s)\n", jdir,
			        jdir_arg ? "" : "; if the writer put it elsewhere, pass --journal DIR", tbw_errmsg());
		else
			fprintf(stderr, "tbcompact: %s\n", tbw_errmsg());
		tbw__free(jdir);
		return exit_for(rc);
	}
	if (have_purge && (rc = append_purge(j, purge, quiet)) != TBW_OK) {
		tbw__journal_close(j);
		tbw__free(jdir);
		return exit_for(rc);
	}
	cfg.logdir = logdir;
	cfg.scalar_format = tensor ? TBW_SCALAR_TENSOR : TBW_SCALAR_SIMPLE;
	cfg.rotate_bytes = rotate;
	cfg.wait_lock = wait;
	if (wait && !quiet && tbw__journal_role_busy(jdir, TBW_JROLE_COMPACTOR) == 1)
		fprintf(stderr, "tbcompact: another compactor is exporting %s; waiting for it to finish\n", jdir);
	rc = tbw__compactor_open(&c, j, &cfg);
	if (rc != TBW_OK) {
		fprintf(stderr, "tbcompact: %s\n", tbw_errmsg());
		if (rc == TBW_EBUSY)
			fprintf(stderr, "tbcompact: refusing to export twice; stop the other exporter or pass --wait\n");
		tbw__journal_close(j);
		tbw__free(jdir);
		return exit_for(rc);
	}
	if (follow) {
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = on_signal;
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
	}
	for (;;) {
		uint64_t n = 0;
		rc = tbw__compactor_pass(c, &n);
		total += n;
		tbw__compactor_stats(c, &st);
		if (st.problem[0] && strcmp(st.problem, last_problem) != 0) {
			fprintf(stderr, "tbcompact: %s\n", st.problem);
			snprintf(last_problem, sizeof last_problem, "%s", st.problem);
			problems = 1;
		}
		if (rc != TBW_OK) {
			fprintf(stderr, "tbcompact: %s\n", tbw_errmsg());
			ex = exit_for(rc);
			break;
		}
		if (follow && n && !quiet && isatty(STDERR_FILENO))
			fprintf(stderr, "\rtbcompact: %" PRIu64 " records exported, cursor at seq %" PRIu64 "   ",
			        total, st.cursor.seq);
		if (!follow || stop_flag)
			break;
		sleep_ms(interval);
		if (stop_flag) {
			follow = 0;    /* one last pass, then out */
		}
	}
	/* The cursor and pruning were committed without fsync (the journal's
	 * default); make them durable before saying we are done. */
	if (tbw__journal_sync(j) != TBW_OK && ex == EX_DONE) {
		fprintf(stderr, "tbcompact: %s\n", tbw_errmsg());
		ex = EX_FAIL;
	}
	tbw__compactor_stats(c, &st);
	if (!quiet && ex == EX_DONE)
		fprintf(stderr, "%stbcompact: exported %" PRIu64 " records to %s (file %s, cursor seq %" PRIu64
		        ", %" PRIu64 " pruned)\n", follow && isatty(STDERR_FILENO) ? "\n" : "",
		        total, logdir, st.cursor.file[0] ? st.cursor.file : "none", st.cursor.seq, st.pruned);
	tbw__compactor_close(c);
	tbw__journal_close(j);
	tbw__free(jdir);
	if (ex == EX_DONE && problems)
		ex = EX_PROBLEMS;
	return ex;
}
