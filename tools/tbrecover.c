/* tbrecover.c -- one command after a crash or a lost runtime: gather what
 * survived (journal, sync folders, event files), restore, export, report.
 *
 *   tbrecover [--from SYNC_RUN_DIR]... [--journal DIR] [--dry-run] [--json]
 *             [--purge-step N] [--tensor] [--delete-replaced] LOGDIR
 *
 * Exit codes: 0 everything recovered; 1 recovered with losses; 2 nothing
 * recoverable, usage error, or refused (a writer is running).
 * The library does the work (tbw_recover() in tbwal.h); this file parses
 * arguments and prints the report (text, or --json).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "tbwal.h"

static void usage(FILE *f)
{
	fputs("usage: tbrecover [options] LOGDIR\n"
	      "Rebuild LOGDIR's event files from whatever survived a crash or a lost\n"
	      "runtime: the local journal (LOGDIR/.tbwal, or the local path a writer\n"
	      "recorded), sync folders of segments, and event files already there.\n"
	      "Every scalar it can vouch for ends up in the event files exactly once.\n"
	      "\n"
	      "  --from DIR         a run's folder in a sync folder (SYNC_DIR/<run>-<id>);\n"
	      "                     give it more than once for more sources\n"
	      "  --journal DIR      the journal directory, if not the default\n"
	      "  --dry-run          read and report only; change nothing\n"
	      "  --json             print the report as JSON\n"
	      "  --purge-step N     make TensorBoard hide steps >= N of the lost attempt\n"
	      "                     (resuming from a checkpoint at step N)\n"
	      "  --tensor           export scalars as rank-0 DT_FLOAT tensors\n"
	      "  --delete-replaced  delete replaced event files instead of moving them\n"
	      "                     aside into LOGDIR/.tbwal-recovered/\n"
	      "  -h, --help         this help\n"
	      "\n"
	      "Exit status: 0 everything found was recovered; 1 recovered with losses\n"
	      "(the report says where and how much); 2 nothing recoverable, a usage\n"
	      "error, or refused because a writer is running on the journal.\n", f);
}

/* ---- Progress on a terminal ---- */

static int show_progress;
static uint64_t last_progress_ns;

static void on_progress(void *ctx, const char *phase, uint64_t done, uint64_t total)
{
	struct timespec ts;
	uint64_t now;

	(void)ctx;
	if (!show_progress)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	if (now - last_progress_ns < 200000000ull && (total == 0 || done < total))
		return;
	last_progress_ns = now;
	if (total)
		fprintf(stderr, "\r\033[K%s: %" PRIu64 "/%" PRIu64, phase, done, total);
	else
		fprintf(stderr, "\r\033[K%s: %" PRIu64, phase, done);
	fflush(stderr);
}

/* ---- JSON output ---- */

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"':  fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\n': fputs("\\n", f); break;
		case '\r': fputs("\\r", f); break;
		case '\t': fputs("\\t", f); break;
		default:
			if (*p < 0x20)
				fprintf(f, "\\u%04x", *p);
			else
				fputc(*p, f);
		}
	}
	fputc('"', f);
}

static void json_num(FILE *f, double v)
{
	if (isnan(v))
		fputs("\"NaN\"", f);
	else if (isinf(v))
		fputs(v > 0 ? "\"Infinity\"" : "\"-Infinity\"", f);
	else
		fprintf(f, "%.17g", v);
}

static void print_json(FILE *f, const tbw_recovery *rr, int code, const char *status,
                       const char *message, int dry_run)
{
	const tbw_recovery_info *r = tbw_recovery_get_info(rr);
	size_t nsources = tbw_recovery_nsources(rr), ndamage = tbw_recovery_ndamage(rr);
	size_t ntags = tbw_recovery_ntags(rr);

	fputs("{\n  \"status\": ", f); json_str(f, status);
	fprintf(f, ",\n  \"exit_code\": %d,\n  \"dry_run\": %s,\n  \"message\": ", code, dry_run ? "true" : "false");
	json_str(f, message);
	fputs(",\n  \"run_id\": ", f); json_str(f, r->run_id);
	fputs(",\n  \"journal\": ", f); json_str(f, r->journal_dir);
	fprintf(f, ",\n  \"journal_created\": %s,\n  \"journal_salvaged\": %s",
	        r->journal_created ? "true" : "false", r->journal_salvaged ? "true" : "false");
	fputs(",\n  \"moved_aside\": ", f); json_str(f, r->moved_aside);
	fprintf(f, ",\n  \"total_scalars\": %" PRIu64 ",\n  \"exported\": %" PRIu64
	        ",\n  \"last_seq\": %" PRIu64 ",\n  \"lost\": %" PRIu64
	        ",\n  \"event_files\": %" PRIu64 ",\n  \"files_replaced\": %" PRIu64,
	        r->total_scalars, r->exported, r->last_seq, r->lost, r->event_files, r->files_replaced);
	fputs(",\n  \"newest_shipped_wall_time\": ", f); json_num(f, r->newest_shipped_wall_time);
	fputs(",\n  \"sources\": [", f);
	for (size_t i = 0; i < nsources; i++) {
		const tbw_recovery_source *s = tbw_recovery_get_source(rr, i);
		fputs(i ? ",\n    {" : "\n    {", f);
		fputs("\"kind\": ", f); json_str(f, s->kind);
		fputs(", \"path\": ", f); json_str(f, s->path);
		fprintf(f, ", \"used\": %s, \"records\": %" PRIu64 ", \"added\": %" PRIu64
		        ", \"damaged\": %" PRIu64 ", \"note\": ", s->used ? "true" : "false",
		        s->records, s->added, s->damaged);
		json_str(f, s->note);
		fputc('}', f);
	}
	fputs(nsources ? "\n  ],\n  \"damage\": [" : "],\n  \"damage\": [", f);
	for (size_t i = 0; i < ndamage; i++) {
		const tbw_recovery_damage *d = tbw_recovery_get_damage(rr, i);
		fputs(i ? ",\n    {" : "\n    {", f);
		fputs("\"path\": ", f); json_str(f, d->path);
		fprintf(f, ", \"offset\": %" PRIu64 ", \"lost\": %" PRIu64 ", \"what\": ", d->offset, d->lost);
		json_str(f, d->what);
		fputc('}', f);
	}
	fputs(ndamage ? "\n  ],\n  \"tags\": [" : "],\n  \"tags\": [", f);
	for (size_t i = 0; i < ntags; i++) {
		const tbw_recovery_tag *t = tbw_recovery_get_tag(rr, i);
		fputs(i ? ",\n    {" : "\n    {", f);
		fputs("\"tag\": ", f); json_str(f, t->tag);
		fprintf(f, ", \"count\": %" PRIu64 ", \"first_step\": %" PRId64 ", \"last_step\": %" PRId64
		        ", \"min_step\": %" PRId64 ", \"max_step\": %" PRId64 ", \"last_value\": ",
		        t->count, t->first_step, t->last_step, t->min_step, t->max_step);
		json_num(f, t->last_value);
		fputs(", \"last_wall_time\": ", f);
		json_num(f, t->last_wall_time);
		fputc('}', f);
	}
	fputs(ntags ? "\n  ]\n}\n" : "]\n}\n", f);
}

/* ---- Human output ---- */

static void fmt_time(char *buf, size_t n, double t)
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

static void print_text(FILE *f, const tbw_recovery *rr, const char *status,
                       const char *message, const char *logdir, int dry_run)
{
	const tbw_recovery_info *r = tbw_recovery_get_info(rr);
	size_t nsources = tbw_recovery_nsources(rr), ndamage = tbw_recovery_ndamage(rr);
	size_t ntags = tbw_recovery_ntags(rr);
	char tbuf[64];

	fprintf(f, "tbrecover %s: %s%s\n", logdir, status, dry_run ? " (dry run: nothing changed)" : "");
	if (message[0])
		fprintf(f, "  %s\n", message);
	fprintf(f, "run %s, journal %s%s%s\n", r->run_id[0] ? r->run_id : "(unknown)", r->journal_dir,
	        r->journal_created ? " (rebuilt)" : "", r->journal_salvaged ? " (damaged one moved aside)" : "");
	fputs("sources:\n", f);
	for (size_t i = 0; i < nsources; i++) {
		const tbw_recovery_source *s = tbw_recovery_get_source(rr, i);
		fprintf(f, "  %-8s %s: %s, %" PRIu64 " records read, %" PRIu64 " new, %" PRIu64 " damaged%s%s\n",
		        s->kind, s->path, s->used ? "used" : "not used", s->records, s->added, s->damaged,
		        s->note[0] ? "; " : "", s->note);
	}
	if (ndamage) {
		fputs("damage found:\n", f);
		for (size_t i = 0; i < ndamage; i++) {
			const tbw_recovery_damage *d = tbw_recovery_get_damage(rr, i);
			fprintf(f, "  %s @%" PRIu64 ": %s", d->path, d->offset, d->what);
			if (d->lost)
				fprintf(f, " (%" PRIu64 " lost)", d->lost);
			fputc('\n', f);
		}
	}
	if (ntags) {
		size_t w = 3;
		for (size_t i = 0; i < ntags; i++)
			if (strlen(tbw_recovery_get_tag(rr, i)->tag) > w)
				w = strlen(tbw_recovery_get_tag(rr, i)->tag);
		if (w > 48)
			w = 48;
		fprintf(f, "%-*s %10s %23s %14s\n", (int)w, "tag", "count", "steps", "last value");
		for (size_t i = 0; i < ntags; i++) {
			const tbw_recovery_tag *t = tbw_recovery_get_tag(rr, i);
			char steps[48];
			snprintf(steps, sizeof steps, "%" PRId64 "..%" PRId64, t->min_step, t->max_step);
			fprintf(f, "%-*s %10" PRIu64 " %23s %14.7g\n", (int)w, t->tag, t->count, steps, t->last_value);
		}
	}
	fmt_time(tbuf, sizeof tbuf, r->newest_shipped_wall_time);
	fprintf(f, "total: %" PRIu64 " scalars in %" PRIu64 " event file(s), %" PRIu64 " exported now, "
	        "%" PRIu64 " known lost; newest sequence %" PRIu64 "; newest shipped record %s\n",
	        r->total_scalars, r->event_files, r->exported, r->lost, r->last_seq, tbuf);
	if (r->files_replaced)
		fprintf(f, "%" PRIu64 " event file(s) %s%s\n", r->files_replaced,
		        dry_run ? "would be replaced" : "replaced; moved aside into ",
		        dry_run ? "" : (r->moved_aside[0] ? r->moved_aside : "(deleted)"));
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "from", required_argument, NULL, 'f' },
		{ "journal", required_argument, NULL, 'j' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'J' },
		{ "purge-step", required_argument, NULL, 'p' },
		{ "tensor", no_argument, NULL, 't' },
		{ "delete-replaced", no_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	tbw_recover_options cfg = TBW_RECOVER_OPTIONS_INIT;
	tbw_recovery *rep = NULL;
	const char *logdir;
	const char **from = NULL;
	size_t nfrom = 0;
	int json = 0, opt, rc, code;
	const char *status;
	char message[600];

	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'f': {
			const char **nf = realloc(from, (nfrom + 1) * sizeof *nf);
			if (!nf) {
				fprintf(stderr, "tbrecover: out of memory\n");
				return 2;
			}
			from = nf;
			from[nfrom++] = optarg;
			break;
		}
		case 'j': cfg.journal_dir = optarg; break;
		case 'n': cfg.dry_run = 1; break;
		case 'J': json = 1; break;
		case 'p': {
			char *end;
			long long v;
			errno = 0;
			v = strtoll(optarg, &end, 10);
			if (errno || end == optarg || *end || v == INT64_MIN) {
				fprintf(stderr, "tbrecover: --purge-step: not an integer step: %s\n", optarg);
				return 2;
			}
			cfg.purge_step = v;
			break;
		}
		case 't': cfg.scalar_format = TBW_SCALAR_TENSOR; break;
		case 'D': cfg.delete_replaced = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "tbrecover: expected exactly one LOGDIR\n");
		usage(stderr);
		free(from);
		return 2;
	}
	logdir = argv[optind];
	cfg.from = from;
	cfg.nfrom = nfrom;
	show_progress = isatty(STDOUT_FILENO) && isatty(STDERR_FILENO) && !json;
	cfg.progress = on_progress;

	rc = tbw_recover(&rep, logdir, &cfg);
	if (show_progress && last_progress_ns)
		fputs("\r\033[K", stderr);
	if (!rep) {
		fprintf(stderr, "tbrecover: %s\n", tbw_errmsg());
		free(from);
		return 2;
	}
	message[0] = '\0';
	switch (tbw_recovery_get_info(rep)->outcome) {
	case TBW_RECOVERED:
		code = 0;
		status = "recovered";
		break;
	case TBW_RECOVERED_WITH_LOSSES:
		code = 1;
		status = "recovered with losses";
		snprintf(message, sizeof message, "%s", tbw_recovery_get_info(rep)->message);
		break;
	default:
		code = 2;
		status = rc == TBW_EBUSY ? "refused" : "nothing recovered";
		snprintf(message, sizeof message, "%s", tbw_recovery_get_info(rep)->message);
		break;
	}
	if (json)
		print_json(stdout, rep, code, status, message, cfg.dry_run);
	else
		print_text(stdout, rep, status, message, logdir, cfg.dry_run);
	if (code == 2 && !json)
		fprintf(stderr, "tbrecover: %s\n", message);
	tbw_recovery_free(rep);
	free(from);
	return code;
}
