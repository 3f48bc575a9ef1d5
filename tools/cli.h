/* cli.h -- what every tbwal subcommand shares: the exit-code table, one
 * argument parser (with --help, --version, --json, --quiet built in),
 * intervals in seconds, JSON output, progress on a terminal, hints for the
 * common mistakes, and finding a run in a sync root (--from ROOT).
 *
 * `tbwal <sub>` and the old names (tbrecover, tbsync, tbcompact, tbstat)
 * run the same code: a tbw_cli says which name was used. The old names keep
 * their old exit codes (scripts depend on them); see tbw_cli_exit().
 * No global state: every call of a subcommand's main starts afresh (the
 * Python wheel calls them in one process, possibly several times).
 */
#ifndef TBW_CLI_H
#define TBW_CLI_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* The exit-code table, the same for every subcommand (README, tbwal(1)). */
enum {
	TBW_EXIT_OK       = 0, /* done */
	TBW_EXIT_ERROR    = 1, /* an error stopped the work (I/O, damaged journal, ...) */
	TBW_EXIT_USAGE    = 2, /* bad command line, or an ambiguous choice (--from ROOT) */
	TBW_EXIT_BUSY     = 3, /* another process holds the role (a running writer, syncer, compactor) */
	TBW_EXIT_NOTFOUND = 4, /* no such path, no journal, nothing to recover */
	TBW_EXIT_PARTIAL  = 5  /* done, but with losses or damage (the report says where) */
};

typedef struct tbw_cli {
	const char *cmd;     /* "recover", "sync", "compact", "stat", "watch" */
	const char *prog;    /* for messages: "tbwal recover" or "tbrecover" */
	int legacy;          /* invoked by an old name: old exit codes, old units */
	int json, quiet;
	int tty_out, tty_err, tty_in;
	/* progress */
	uint64_t prog_start_ns, prog_last_ns;
	char prog_phase[64];
	int prog_shown;
} tbw_cli;

/* Options of a subcommand. has_arg: 0 flag, 1 takes a value. id > 0. */
typedef struct tbw_cli_opt {
	const char *name;    /* long name without "--" */
	char shortname;      /* 0 if none */
	int has_arg;
	int id;
} tbw_cli_opt;

/* Ids of the options every subcommand has (handled by tbw_cli_parse). */
enum { TBW_OPT_HELP = -1, TBW_OPT_VERSION = -2, TBW_OPT_JSON = -3, TBW_OPT_QUIET = -4 };

typedef int (*tbw_cli_on_opt)(tbw_cli *cli, void *ctx, int id, const char *arg);

/* Parse argv[1..]: options from opts (plus --help/-h, --version/-V, --json,
 * --quiet/-q), "--opt VALUE" and "--opt=VALUE", "--" ends options; the rest
 * are positional (at most maxpos, stored in pos). on() is called per option
 * and returns 0 or a TBW_EXIT_* code (it has printed why).
 * Returns -1 to go on, or an exit code: 0 after --help (usage printed with
 * help(stdout)) or --version, TBW_EXIT_USAGE after a bad command line. */
static int tbw_cli_parse(tbw_cli *cli, int argc, char **argv, const tbw_cli_opt *opts,
                  tbw_cli_on_opt on, void *ctx, void (*help)(const tbw_cli *, FILE *),
                  const char **pos, size_t maxpos, size_t *npos);

/* Start a command: fill cli (tty state from the fds). */
static void tbw_cli_init(tbw_cli *cli, const char *cmd, const char *prog, int legacy);

/* The process's exit status for a TBW_EXIT_* code: the code itself for
 * `tbwal <sub>`, the old tool's code for an old name. */
static int tbw_cli_exit(const tbw_cli *cli, int code);

/* TBW_E* library code -> TBW_EXIT_* code. */
static int tbw_cli_code_for(int rc);

/* "tbwal 0.1.0" (TBW_VERSION_STRING) on f. */
static void tbw_cli_print_version(FILE *f);

/* Print "PROG: message" on stderr (unless the message is empty). */
static void tbw_cli_err(const tbw_cli *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print a usage error and return TBW_EXIT_USAGE. */
static int tbw_cli_usage_error(const tbw_cli *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* With --json: the error document {"schema":"tbwal.error/1",...} on stdout. */
static void tbw_cli_json_error(const tbw_cli *cli, int code, const char *message);

/* An interval: "1.5" (bare: bare_unit seconds, 1 for tbwal, 0.001 for the
 * old tbcompact's milliseconds), "500ms", "2s", "1m", "1h". 0 and *secs,
 * or -1. */
static int tbw_cli_parse_interval(const char *s, double bare_unit, double *secs);


/* JSON output: a string (n bytes, or strlen if n == (size_t)-1), a number
 * (NaN and infinities as the strings "NaN", "Infinity", "-Infinity"). */
static void tbw_cli_json_str(FILE *f, const char *s, size_t n);
static void tbw_cli_json_num(FILE *f, double v);

/* Progress of long work on stderr, only on a terminal and without --quiet:
 * "phase: done/total (pct%), ETA m:ss"; rate-limited to 5 a second.
 * total 0: unknown. tbw_cli_progress_end clears the line. */
static void tbw_cli_progress(tbw_cli *cli, const char *phase, uint64_t done, uint64_t total);
static void tbw_cli_progress_end(tbw_cli *cli);

/* Hints for a logdir whose journal could not be opened (code from the
 * open): the path does not exist, it holds no journal (and looks like a
 * sync folder, or holds only event files), a writer is running (its pid). */
static void tbw_cli_hint_logdir(const tbw_cli *cli, const char *logdir, const char *jdir, int rc);

/* pid of the process holding an flock on path (from /proc/locks), or 0. */
static long tbw_cli_lock_holder(const char *path);

/* ---- Runs in a sync root (--from ROOT) ---- */
typedef struct tbw_cli_run {
	char path[4096];
	char name[128];
	char id[33];
	double mtime;        /* newest segment (or the folder) */
	uint64_t segments;
} tbw_cli_run;

/* The run name a writer of logdir uses (its sanitised basename). */
static void tbw_cli_run_name(char *out, size_t cap, const char *logdir);

/* If dir is a run folder (<name>-<32 hex>), 1 run: itself. Else the run
 * folders inside dir named <name>-<id> (any name if name is NULL), newest
 * first. *out: free() it. Returns the count, or -1 if dir cannot be read. */
static int tbw_cli_find_runs(const char *dir, const char *name, tbw_cli_run **out);

/* Resolve one --from argument to run folders: a run folder is itself; a
 * sync root holding several runs named after the logdir is ambiguous unless
 * run_id (a prefix of the id) picks one, or, on a terminal, the user
 * chooses. The choice is appended to *paths (malloc'd strings). Returns 0
 * or a TBW_EXIT_* code (the list printed when ambiguous). */
static int tbw_cli_resolve_from(tbw_cli *cli, const char *from, const char *logdir,
                         const char *run_id, char ***paths, size_t *npaths);

#endif
