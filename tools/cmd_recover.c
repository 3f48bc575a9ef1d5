/* cmd_recover.c -- `tbwal recover` (and the old name tbrecover): gather what
 * survived a crash or a lost runtime (journal, sync folders, event files),
 * restore, export, report. The library does the work (src/recover/recover.c); this
 * file parses arguments, finds runs in a sync root (--from ROOT), shows
 * progress and prints the report (text, or --json: doc/cli-json.md).
 */
#include "config.h"
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "cli.h"
#include "cmds.h"
#include "tbwal.h"

static void recover_usage(const tbw_cli *cli, FILE *f)
{
	fprintf(f, "usage: %s [options] LOGDIR\n", cli->prog);
	fputs("Rebuild LOGDIR's event files from whatever survived a crash or a lost\n"
	      "runtime: the local journal (LOGDIR/.tbwal, or the local path a writer\n"
	      "recorded), sync folders of segments, and event files already there.\n"
	      "Every scalar it can vouch for ends up in the event files exactly once.\n"
	      "\n"
	      "  --from DIR         the sync folder given to the writer (SYNC_DIR: the run\n"
	      "                     named after LOGDIR is found in it, newest first), or one\n"
	      "                     run's folder (SYNC_DIR/<run>-<id>); may be repeated\n"
	      "  --run-id ID        with --from SYNC_DIR: which run (a prefix of its id)\n"
	      "  --run-name NAME    with --from SYNC_DIR: the run's name (default: LOGDIR's)\n"
	      "  --journal DIR      the journal directory, if not the default\n"
	      "  --dry-run          read and report only; change nothing\n"
	      "  --json             print the report as JSON (doc/cli-json.md)\n"
	      "  --purge-step N     make TensorBoard hide steps >= N of the lost attempt\n"
	      "                     (resuming from a checkpoint at step N)\n"
	      "  --tensor           export scalars as rank-0 DT_FLOAT tensors\n"
	      "  --delete-replaced  delete replaced event files instead of moving them\n"
	      "                     aside into LOGDIR/.tbwal-recovered/\n"
	      "  -q, --quiet        no progress, no notes; the report and errors only\n"
	      "  -V, --version      print the version\n"
	      "  -h, --help         this help\n"
	      "\n", f);
	if (cli->legacy)
		fputs("Exit status (tbrecover keeps its codes): 0 everything found was recovered;\n"
		      "1 recovered with losses (the report says where and how much); 2 nothing\n"
		      "recoverable, a usage error, or refused because a writer is running.\n"
		      "'tbwal recover' uses the table of tbwal(1).\n", f);
	else
		fputs("Exit status: 0 everything found was recovered; 1 error; 2 usage (or several\n"
		      "runs match --from and none was chosen); 3 refused: a writer is running on\n"
		      "the journal; 4 nothing to recover (no such path, no journal, no segments);\n"
		      "5 recovered with losses (the report says where and how much).\n", f);
}

enum { RECOVER_O_FROM = 1, RECOVER_O_JOURNAL, RECOVER_O_DRY, RECOVER_O_PURGE, RECOVER_O_TENSOR, RECOVER_O_DELETE, RECOVER_O_RUNID, RECOVER_O_RUNNAME };

static const tbw_cli_opt recover_opts[] = {
	{ "from", 0, 1, RECOVER_O_FROM },
	{ "journal", 0, 1, RECOVER_O_JOURNAL },
	{ "dry-run", 'n', 0, RECOVER_O_DRY },
	{ "purge-step", 0, 1, RECOVER_O_PURGE },
	{ "tensor", 0, 0, RECOVER_O_TENSOR },
	{ "delete-replaced", 0, 0, RECOVER_O_DELETE },
	{ "run-id", 0, 1, RECOVER_O_RUNID },
	{ "run-name", 0, 1, RECOVER_O_RUNNAME },
	{ NULL, 0, 0, 0 },
};

typedef struct rctx {
	tbw_recover_options cfg;
	const char **from;
	size_t nfrom;
	const char *run_id, *run_name;
} rctx;

static int recover_on_opt(tbw_cli *cli, void *vctx, int id, const char *arg)
{
	rctx *x = vctx;

	switch (id) {
	case RECOVER_O_FROM: {
		const char **nf = realloc(x->from, (x->nfrom + 1) * sizeof *nf);
		if (!nf) {
			tbw_cli_err(cli, "out of memory");
			return TBW_EXIT_ERROR;
		}
		x->from = nf;
		x->from[x->nfrom++] = arg;
		return 0;
	}
	case RECOVER_O_JOURNAL: x->cfg.journal_dir = arg; return 0;
	case RECOVER_O_DRY: x->cfg.dry_run = 1; return 0;
	case RECOVER_O_PURGE: {
		char *end;
		long long v;
		errno = 0;
		v = strtoll(arg, &end, 10);
		if (errno || end == arg || *end || v == INT64_MIN)
			return tbw_cli_usage_error(cli, "--purge-step: not an integer step: %s", arg);
		x->cfg.purge_step = v;
		return 0;
	}
	case RECOVER_O_TENSOR: x->cfg.scalar_format = TBW_SCALAR_TENSOR; return 0;
	case RECOVER_O_DELETE: x->cfg.delete_replaced = 1; return 0;
	case RECOVER_O_RUNID: x->run_id = arg; return 0;
	case RECOVER_O_RUNNAME: x->run_name = arg; return 0;
	}
	return TBW_EXIT_USAGE;
}

static void recover_on_progress(void *ctx, const char *phase, uint64_t done, uint64_t total)
{
	tbw_cli_progress(ctx, phase, done, total);
}

static void recover_print_json(FILE *f, const tbw_recovery *rep, int code, const char *status,
                               const char *message, int dry_run)
{
	const tbw_recovery_info *r = tbw_recovery_get_info(rep);
	size_t ns = tbw_recovery_nsources(rep), nd = tbw_recovery_ndamage(rep), nt = tbw_recovery_ntags(rep);

	fputs("{\n  \"schema\": \"tbwal.recover/1\",\n  \"status\": ", f);
	tbw_cli_json_str(f, status, (size_t)-1);
	fprintf(f, ",\n  \"exit_code\": %d,\n  \"dry_run\": %s,\n  \"message\": ", code, dry_run ? "true" : "false");
	tbw_cli_json_str(f, message, (size_t)-1);
	fputs(",\n  \"run_id\": ", f); tbw_cli_json_str(f, r->run_id, (size_t)-1);
	fputs(",\n  \"journal\": ", f); tbw_cli_json_str(f, r->journal_dir, (size_t)-1);
	fprintf(f, ",\n  \"journal_created\": %s,\n  \"journal_salvaged\": %s",
	        r->journal_created ? "true" : "false", r->journal_salvaged ? "true" : "false");
	fputs(",\n  \"moved_aside\": ", f); tbw_cli_json_str(f, r->moved_aside, (size_t)-1);
	fprintf(f, ",\n  \"total_scalars\": %" PRIu64 ",\n  \"exported\": %" PRIu64
	        ",\n  \"last_seq\": %" PRIu64 ",\n  \"lost\": %" PRIu64
	        ",\n  \"event_files\": %" PRIu64 ",\n  \"files_replaced\": %" PRIu64,
	        r->total_scalars, r->exported, r->last_seq, r->lost, r->event_files, r->files_replaced);
	fputs(",\n  \"newest_shipped_wall_time\": ", f); tbw_cli_json_num(f, r->newest_shipped_wall_time);
	fputs(",\n  \"sources\": [", f);
	for (size_t i = 0; i < ns; i++) {
		const tbw_recovery_source *x = tbw_recovery_get_source(rep, i);
		fputs(i ? ",\n    {" : "\n    {", f);
		fputs("\"kind\": ", f); tbw_cli_json_str(f, x->kind, (size_t)-1);
		fputs(", \"path\": ", f); tbw_cli_json_str(f, x->path, (size_t)-1);
		fprintf(f, ", \"used\": %s, \"records\": %" PRIu64 ", \"added\": %" PRIu64
		        ", \"damaged\": %" PRIu64 ", \"note\": ", x->used ? "true" : "false",
		        x->records, x->added, x->damaged);
		tbw_cli_json_str(f, x->note, (size_t)-1);
		fputc('}', f);
	}
	fputs(ns ? "\n  ],\n  \"damage\": [" : "],\n  \"damage\": [", f);
	for (size_t i = 0; i < nd; i++) {
		const tbw_recovery_damage *d = tbw_recovery_get_damage(rep, i);
		fputs(i ? ",\n    {" : "\n    {", f);
		fputs("\"path\": ", f); tbw_cli_json_str(f, d->path, (size_t)-1);
		fprintf(f, ", \"offset\": %" PRIu64 ", \"lost\": %" PRIu64 ", \"what\": ", d->offset, d->lost);
		tbw_cli_json_str(f, d->what, (size_t)-1);
		fputc('}', f);
	}
	fputs(nd ? "\n  ],\n  \"tags\": [" : "],\n  \"tags\": [", f);
	for (size_t i = 0; i < nt; i++) {
		const tbw_recovery_tag *t = tbw_recovery_get_tag(rep, i);
		fputs(i ? ",\n    {" : "\n    {", f);
		fputs("\"tag\": ", f); tbw_cli_json_str(f, t->tag, (size_t)-1);
		fprintf(f, ", \"count\": %" PRIu64 ", \"first_step\": %" PRId64 ", \"last_step\": %" PRId64
		        ", \"min_step\": %" PRId64 ", \"max_step\": %" PRId64 ", \"last_value\": ",
		        t->count, t->first_step, t->last_step, t->min_step, t->max_step);
		tbw_cli_json_num(f, t->last_value);
		fputs(", \"last_wall_time\": ", f);
		tbw_cli_json_num(f, t->last_wall_time);
		fputc('}', f);
	}
	fputs(nt ? "\n  ]\n}\n" : "]\n}\n", f);
}

static void recover_fmt_time(char *buf, size_t n, double t)
{
	time_t s = (time_t)t;
	struct tm tm;

	if (t <= 0 || !isfinite(t)) {
		snprintf(buf, n, "-");
		return;
	}
	gmtime_r(&s, &tm);
	strftime(buf, n, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

static void recover_print_text(FILE *f, const tbw_recovery *rep, const char *status,
                               const char *message, const char *logdir, int dry_run, const char *prog)
{
	const tbw_recovery_info *r = tbw_recovery_get_info(rep);
	size_t ns = tbw_recovery_nsources(rep), nd = tbw_recovery_ndamage(rep), nt = tbw_recovery_ntags(rep);
	char tbuf[64];

	fprintf(f, "%s %s: %s%s\n", prog, logdir, status, dry_run ? " (dry run: nothing changed)" : "");
	if (message[0])
		fprintf(f, "  %s\n", message);
	fprintf(f, "run %s, journal %s%s%s\n", r->run_id[0] ? r->run_id : "(unknown)", r->journal_dir,
	        r->journal_created ? " (rebuilt)" : "", r->journal_salvaged ? " (damaged one moved aside)" : "");
	fputs("sources:\n", f);
	for (size_t i = 0; i < ns; i++) {
		const tbw_recovery_source *x = tbw_recovery_get_source(rep, i);
		fprintf(f, "  %-8s %s: %s, %" PRIu64 " records read, %" PRIu64 " new, %" PRIu64 " damaged%s%s\n",
		        x->kind, x->path, x->used ? "used" : "not used", x->records, x->added, x->damaged,
		        x->note[0] ? "; " : "", x->note);
	}
	if (nd) {
		fputs("damage found:\n", f);
		for (size_t i = 0; i < nd; i++) {
			const tbw_recovery_damage *d = tbw_recovery_get_damage(rep, i);
			fprintf(f, "  %s @%" PRIu64 ": %s", d->path, d->offset, d->what);
			if (d->lost)
				fprintf(f, " (%" PRIu64 " lost)", d->lost);
			fputc('\n', f);
		}
	}
	if (nt) {
		size_t w = 3;
		for (size_t i = 0; i < nt; i++)
			if (strlen(tbw_recovery_get_tag(rep, i)->tag) > w)
				w = strlen(tbw_recovery_get_tag(rep, i)->tag);
		if (w > 48)
			w = 48;
		fprintf(f, "%-*s %10s %23s %14s\n", (int)w, "tag", "count", "steps", "last value");
		for (size_t i = 0; i < nt; i++) {
			const tbw_recovery_tag *t = tbw_recovery_get_tag(rep, i);
			char steps[48];
			snprintf(steps, sizeof steps, "%" PRId64 "..%" PRId64, t->min_step, t->max_step);
			fprintf(f, "%-*s %10" PRIu64 " %23s %14.7g\n", (int)w, t->tag, t->count, steps, t->last_value);
		}
	}
	recover_fmt_time(tbuf, sizeof tbuf, r->newest_shipped_wall_time);
	fprintf(f, "total: %" PRIu64 " scalars in %" PRIu64 " event file(s), %" PRIu64 " exported now, "
	        "%" PRIu64 " known lost; newest sequence %" PRIu64 "; newest shipped record %s\n",
	        r->total_scalars, r->event_files, r->exported, r->lost, r->last_seq, tbuf);
	if (r->files_replaced)
		fprintf(f, "%" PRIu64 " event file(s) %s%s\n", r->files_replaced,
		        dry_run ? "would be replaced" : "replaced; moved aside into ",
		        dry_run ? "" : (r->moved_aside[0] ? r->moved_aside : "(deleted)"));
}

static int tbw_cmd_recover(tbw_cli *cli, int argc, char **argv)
{
	rctx x;
	tbw_recovery *rep = NULL;
	const char *logdir;
	const char *pos[1];
	size_t npos = 0, nres = 0;
	char **resolved = NULL;
	int rc, code;
	const char *status;
	char message[600];

	memset(&x, 0, sizeof x);
	x.cfg = (tbw_recover_options)TBW_RECOVER_OPTIONS_INIT;
	code = tbw_cli_parse(cli, argc, argv, recover_opts, recover_on_opt, &x, recover_usage, pos, 1, &npos);
	if (code < 0 && npos != 1)
		code = tbw_cli_usage_error(cli, "expected exactly one LOGDIR");
	if (code >= 0) {
		free(x.from);
		return tbw_cli_exit(cli, code);
	}
	logdir = pos[0];
	/* --from: a sync root is searched for the run named after LOGDIR */
	for (size_t i = 0; i < x.nfrom; i++) {
		code = tbw_cli_resolve_from(cli, x.from[i], x.run_name ? x.run_name : logdir,
		                            x.run_id, &resolved, &nres);
		if (code) {
			tbw_cli_json_error(cli, code, "--from: no single run chosen");
			goto out;
		}
	}
	x.cfg.from = (const char *const *)resolved;
	x.cfg.nfrom = nres;
	x.cfg.progress = recover_on_progress;
	x.cfg.progress_ctx = cli;

	rc = tbw_recover(&rep, logdir, &x.cfg);
	tbw_cli_progress_end(cli);
	if (!rep) {
		code = tbw_cli_code_for(rc);
		tbw_cli_err(cli, "%s", tbw_errmsg());
		tbw_cli_json_error(cli, code, tbw_errmsg());
		goto out;
	}
	message[0] = '\0';
	switch (tbw_recovery_get_info(rep)->outcome) {
	case TBW_RECOVERED:
		code = TBW_EXIT_OK;
		status = "recovered";
		break;
	case TBW_RECOVERED_WITH_LOSSES:
		code = TBW_EXIT_PARTIAL;
		status = "recovered with losses";
		snprintf(message, sizeof message, "%s", tbw_recovery_get_info(rep)->message);
		break;
	default:
		code = rc == TBW_EBUSY ? TBW_EXIT_BUSY : rc == TBW_ENOTFOUND ? TBW_EXIT_NOTFOUND : TBW_EXIT_ERROR;
		status = rc == TBW_EBUSY ? "refused" : "nothing recovered";
		snprintf(message, sizeof message, "%s", tbw_recovery_get_info(rep)->message);
		break;
	}
	if (cli->json)
		recover_print_json(stdout, rep, tbw_cli_exit(cli, code), status, message, x.cfg.dry_run);
	else
		recover_print_text(stdout, rep, status, message, logdir, x.cfg.dry_run, cli->prog);
	if (code != TBW_EXIT_OK && code != TBW_EXIT_PARTIAL) {
		const char *jd = tbw_recovery_get_info(rep)->journal_dir;
		if (!cli->json)
			tbw_cli_err(cli, "%s", message);
		if (!cli->quiet)
			tbw_cli_hint_logdir(cli, x.nfrom ? NULL : logdir, jd && jd[0] ? jd : NULL, rc);
	}
	tbw_recovery_free(rep);
out:
	for (size_t i = 0; i < nres; i++)
		free(resolved[i]);
	free(resolved);
	free(x.from);
	return tbw_cli_exit(cli, code);
}
