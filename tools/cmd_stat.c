/* cmd_stat.c -- `tbwal stat` (and the old name tbstat): what a run's journal
 * holds and held: run id, path, each tag's whole history (count, first and
 * last step, last value) after close() too, the export and ship cursors and
 * how far they lag behind the newest commit, and whether a writer runs.
 * Read-only; safe beside a live writer (LMDB readers never block it).
 */
#include "config.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "cmds.h"
#include "tbwal.h"

static void stat_usage(const tbw_cli *cli, FILE *f)
{
	fprintf(f, "usage: %s LOGDIR [--json] [--journal DIR]\n", cli->prog);
	fputs("Print what a tbwal journal holds and held: run id, journal path, each tag's\n"
	      "whole history (count, first and last step, last value; kept by the exporter,\n"
	      "so it survives pruning and close()), how many records are still stored, the\n"
	      "export and ship cursors, and how far export and shipping lag behind the\n"
	      "newest commit.\n"
	      "\n"
	      "  --json         one JSON object on stdout (doc/cli-json.md)\n"
	      "  --journal DIR  read the journal in DIR (default: LOGDIR/.tbwal, or the\n"
	      "                 path recorded in LOGDIR/.tbwal-journal)\n"
	      "  -q, --quiet    no hints\n"
	      "  -V, --version  print the version\n"
	      "  -h, --help     this text\n"
	      "\n", f);
	if (cli->legacy)
		fputs("Exit status (tbstat keeps its codes): 0 ok, 1 usage error, 2 no journal\n"
		      "found, 3 the journal cannot be read (damaged, newer format, I/O error).\n", f);
	else
		fputs("Exit status: 0 ok, 1 the journal cannot be read (damaged, newer format,\n"
		      "I/O error), 2 usage error, 4 no journal found.\n", f);
}

enum { STAT_O_JOURNAL = 1 };

static const tbw_cli_opt stat_opts[] = {
	{ "journal", 0, 1, STAT_O_JOURNAL },
	{ NULL, 0, 0, 0 },
};

static int stat_on_opt(tbw_cli *cli, void *vctx, int id, const char *arg)
{
	(void)cli;
	if (id == STAT_O_JOURNAL)
		*(const char **)vctx = arg;
	return 0;
}


static void stat_print_json(const tbw_stat *st, long pid)
{
	const tbw_stat_info *s = tbw_stat_get_info(st);
	FILE *f = stdout;

	printf("{\"schema\":\"tbwal.stat/1\",\"run_id\":\"%s\",\"journal\":", s->run_id);
	tbw_cli_json_str(f, s->journal_dir, (size_t)-1);
	printf(",\"logdir\":");
	tbw_cli_json_str(f, s->logdir, (size_t)-1);
	printf(",\"host\":");
	tbw_cli_json_str(f, s->host, (size_t)-1);
	printf(",\"created\":");
	tbw_cli_json_num(f, s->created);
	printf(",\"format\":%u,\"records\":%" PRIu64 ",\"first_seq\":%" PRIu64 ",\"last_seq\":%" PRIu64
	       ",\"corrupt\":%" PRIu64 ",\"start_markers\":%" PRIu64 ",\"tags\":[",
	       s->format, s->records, s->first_seq, s->last_seq, s->corrupt, s->start_markers);
	for (size_t i = 0; i < tbw_stat_ntags(st); i++) {
		const tbw_stat_tag *t = tbw_stat_get_tag(st, i);
		printf("%s{\"tag\":", i ? "," : "");
		tbw_cli_json_str(f, t->tag, t->tag_len);
		printf(",\"count\":%" PRIu64 ",\"first_step\":%" PRId64 ",\"last_step\":%" PRId64 ",\"last_value\":",
		       t->count, t->first_step, t->last_step);
		tbw_cli_json_num(f, t->last_value);
		printf(",\"min_step\":%" PRId64 ",\"max_step\":%" PRId64 ",\"last_wall_time\":", t->min_step, t->max_step);
		tbw_cli_json_num(f, t->last_wall_time);
		printf(",\"stored\":%" PRIu64 "}", t->stored);
	}
	printf("],\"history\":{\"kept\":%s,\"complete\":%s,\"from_seq\":%" PRIu64 ",\"records\":%" PRIu64 "}",
	       s->history_kept ? "true" : "false", s->history_complete ? "true" : "false", s->history_from_seq,
	       s->history_records);
	printf(",\"export\":{\"seq\":%" PRIu64 ",\"file\":", s->export_seq);
	tbw_cli_json_str(f, s->export_file, (size_t)-1);
	printf(",\"offset\":%" PRIu64 ",\"file_no\":%u,\"lag_records\":%" PRIu64 ",\"lag_seconds\":%.3f}",
	       s->export_offset, s->export_file_no, s->export_lag_records, s->export_lag_seconds);
	if (s->ship_present)
		printf(",\"ship\":{\"seq\":%" PRIu64 ",\"lag_records\":%" PRIu64 ",\"lag_seconds\":%.3f}",
		       s->ship_seq, s->ship_lag_records, s->ship_lag_seconds);
	else
		printf(",\"ship\":null");
	if (pid)
		printf(",\"writer\":{\"running\":true,\"pid\":%ld}}\n", pid);
	else
		printf(",\"writer\":{\"running\":false,\"pid\":null}}\n");
}

static void stat_print_text(const tbw_stat *st, long pid)
{
	const tbw_stat_info *s = tbw_stat_get_info(st);

	printf("run id:    %s\n", s->run_id);
	printf("journal:   %s\n", s->journal_dir);
	printf("logdir:    %s\n", s->logdir);
	printf("host:      %s\n", s->host);
	printf("format:    %u\n", s->format);
	printf("writer:    %s", pid ? "running" : "not running");
	if (pid)
		printf(" (pid %ld)", pid);
	printf("\nhistory:   %" PRIu64 " records logged (seq 1..%" PRIu64 ")%s\n", s->history_records, s->last_seq,
	       s->history_complete ? "" : s->history_kept ? "; incomplete: the oldest were pruned before the "
	       "journal kept tag history" : "; incomplete: exported records were pruned (an older tbwal "
	       "kept no tag history)");
	printf("records:   %" PRIu64 " stored (seq %" PRIu64 "..%" PRIu64 "), last seq %" PRIu64,
	       s->records, s->first_seq, s->records ? s->last_seq : 0, s->last_seq);
	if (s->corrupt)
		printf(", %" PRIu64 " DAMAGED", s->corrupt);
	if (s->start_markers)
		printf(", %" PRIu64 " START markers", s->start_markers);
	printf("\n\n%-32s %10s %14s %14s %14s\n", "tag", "count", "first step", "last step", "last value");
	for (size_t i = 0; i < tbw_stat_ntags(st); i++) {
		const tbw_stat_tag *t = tbw_stat_get_tag(st, i);
		printf("%-32.*s %10" PRIu64 " %14" PRId64 " %14" PRId64 " %14.7g\n", (int)t->tag_len, t->tag,
		       t->count, t->first_step, t->last_step, t->last_value);
	}
	printf("\nexport:    seq %" PRIu64 ", file %s, offset %" PRIu64 " (file no %u)\n",
	       s->export_seq, s->export_file[0] ? s->export_file : "(none yet)", s->export_offset, s->export_file_no);
	printf("           lag %" PRIu64 " records, %.3f s behind the newest commit\n", s->export_lag_records,
	       s->export_lag_seconds);
	if (s->ship_present)
		printf("ship:      seq %" PRIu64 ", lag %" PRIu64 " records, %.3f s\n", s->ship_seq,
		       s->ship_lag_records, s->ship_lag_seconds);
	else
		printf("ship:      no syncer attached\n");
}

/* pid of the running writer of journal jdir (its writer.lock), or 0. */
static long tbw_cli_writer_pid(const char *jdir)
{
	char p[4200];
	snprintf(p, sizeof p, "%s/writer.lock", jdir);
	return tbw_cli_lock_holder(p);
}

static int tbw_cmd_stat(tbw_cli *cli, int argc, char **argv)
{
	const char *pos[1], *jarg = NULL, *logdir;
	size_t npos;
	tbw_stat_options o = TBW_STAT_OPTIONS_INIT;
	tbw_stat *st = NULL;
	int rc, code;

	code = tbw_cli_parse(cli, argc, argv, stat_opts, stat_on_opt, &jarg, stat_usage, pos, 1, &npos);
	if (code < 0 && npos == 0 && !jarg) {
		stat_usage(cli, stderr);
		code = TBW_EXIT_USAGE;
	}
	if (code >= 0)
		return tbw_cli_exit(cli, code);
	logdir = npos ? pos[0] : NULL;
	o.journal_dir = jarg;
	rc = tbw_stat_read(&st, logdir, &o);
	if (rc) {
		char jdir[4096] = "";
		code = rc == TBW_ENOTFOUND ? TBW_EXIT_NOTFOUND : TBW_EXIT_ERROR;
		tbw_cli_err(cli, "%s", tbw_errmsg());
		tbw_cli_json_error(cli, code, tbw_errmsg());
		if (jarg)
			snprintf(jdir, sizeof jdir, "%s", jarg);
		else if (tbw_journal_locate(jdir, sizeof jdir, logdir) != 0)
			jdir[0] = 0;
		if (!cli->quiet)
			tbw_cli_hint_logdir(cli, jarg ? NULL : logdir, jdir[0] ? jdir : NULL, rc);
		return tbw_cli_exit(cli, code);
	}
	if (cli->json)
		stat_print_json(st, tbw_cli_writer_pid(tbw_stat_get_info(st)->journal_dir));
	else
		stat_print_text(st, tbw_cli_writer_pid(tbw_stat_get_info(st)->journal_dir));
	tbw_stat_free(st);
	return tbw_cli_exit(cli, TBW_EXIT_OK);
}
