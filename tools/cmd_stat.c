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
#include "alloc.h"
#include "cli.h"
#include "cmds.h"
#include "error.h"
#include "journal.h"
#include "os.h"
#include "statinfo.h"
#include "writer.h"

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

static long stat_writer_pid(const char *jdir)
{
	char p[4200];
	snprintf(p, sizeof p, "%s/writer.lock", jdir);
	return tbw_cli_lock_holder(p);
}

static void stat_print_json(const tbw_statinfo *s, const char *jdir, long pid)
{
	FILE *f = stdout;
	int firstt = 1;

	printf("{\"schema\":\"tbwal.stat/1\",\"run_id\":\"%s\",\"journal\":", s->info.run_id_hex);
	tbw_cli_json_str(f, jdir, (size_t)-1);
	printf(",\"logdir\":");
	tbw_cli_json_str(f, s->info.logdir, (size_t)-1);
	printf(",\"host\":");
	tbw_cli_json_str(f, s->info.host, (size_t)-1);
	printf(",\"created\":");
	tbw_cli_json_num(f, s->info.created);
	printf(",\"format\":%u,\"records\":%" PRIu64 ",\"first_seq\":%" PRIu64 ",\"last_seq\":%" PRIu64
	       ",\"corrupt\":%" PRIu64 ",\"start_markers\":%" PRIu64 ",\"tags\":[",
	       s->info.format, s->stored, s->first_seq, s->last_seq, s->ncorrupt, s->nstart);
	for (uint32_t id = 0; id < s->ntags; id++) {
		const tbw_tagsum *t = &s->tags[id];
		if (!t->seen || !t->tag)
			continue;
		printf("%s{\"tag\":", firstt ? "" : ",");
		firstt = 0;
		tbw_cli_json_str(f, t->tag, t->tag_len);
		printf(",\"count\":%" PRIu64 ",\"first_step\":%" PRId64 ",\"last_step\":%" PRId64 ",\"last_value\":",
		       t->count, t->first_step, t->last_step);
		tbw_cli_json_num(f, t->last_value);
		printf(",\"min_step\":%" PRId64 ",\"max_step\":%" PRId64 ",\"last_wall_time\":", t->min_step, t->max_step);
		tbw_cli_json_num(f, t->last_wall);
		printf(",\"stored\":%" PRIu64 "}", t->stored);
	}
	printf("],\"history\":{\"kept\":%s,\"complete\":%s,\"from_seq\":%" PRIu64 ",\"records\":%" PRIu64 "}",
	       s->hist_kept ? "true" : "false", s->hist_complete ? "true" : "false", s->hist_from, s->total);
	printf(",\"export\":{\"seq\":%" PRIu64 ",\"file\":", s->ex.seq);
	tbw_cli_json_str(f, s->ex.file, (size_t)-1);
	printf(",\"offset\":%" PRIu64 ",\"file_no\":%u,\"lag_records\":%" PRIu64 ",\"lag_seconds\":%.3f}",
	       s->ex.offset, s->ex.file_no, s->exp_lag, s->exp_secs);
	if (s->ship_present)
		printf(",\"ship\":{\"seq\":%" PRIu64 ",\"lag_records\":%" PRIu64 ",\"lag_seconds\":%.3f}",
		       s->ship, s->ship_lag, s->ship_secs);
	else
		printf(",\"ship\":null");
	if (pid)
		printf(",\"writer\":{\"running\":true,\"pid\":%ld}}\n", pid);
	else
		printf(",\"writer\":{\"running\":false,\"pid\":null}}\n");
}

static void stat_print_text(const tbw_statinfo *s, const char *jdir, long pid)
{
	printf("run id:    %s\n", s->info.run_id_hex);
	printf("journal:   %s\n", jdir);
	printf("logdir:    %s\n", s->info.logdir);
	printf("host:      %s\n", s->info.host);
	printf("format:    %u\n", s->info.format);
	printf("writer:    %s", pid ? "running" : "not running");
	if (pid)
		printf(" (pid %ld)", pid);
	printf("\nhistory:   %" PRIu64 " records logged (seq 1..%" PRIu64 ")%s\n", s->total, s->last_seq,
	       s->hist_complete ? "" : s->hist_kept ? "; incomplete: the oldest were pruned before the "
	       "journal kept tag history" : "; incomplete: exported records were pruned (an older tbwal "
	       "kept no tag history)");
	printf("records:   %" PRIu64 " stored (seq %" PRIu64 "..%" PRIu64 "), last seq %" PRIu64,
	       s->stored, s->first_seq, s->stored ? s->last_seq : 0, s->last_seq);
	if (s->ncorrupt)
		printf(", %" PRIu64 " DAMAGED", s->ncorrupt);
	if (s->nstart)
		printf(", %" PRIu64 " START markers", s->nstart);
	printf("\n\n%-32s %10s %14s %14s %14s\n", "tag", "count", "first step", "last step", "last value");
	for (uint32_t id = 0; id < s->ntags; id++) {
		const tbw_tagsum *t = &s->tags[id];
		if (!t->seen || !t->tag)
			continue;
		printf("%-32.*s %10" PRIu64 " %14" PRId64 " %14" PRId64 " %14.7g\n", (int)t->tag_len, t->tag,
		       t->count, t->first_step, t->last_step, t->last_value);
	}
	printf("\nexport:    seq %" PRIu64 ", file %s, offset %" PRIu64 " (file no %u)\n",
	       s->ex.seq, s->ex.file[0] ? s->ex.file : "(none yet)", s->ex.offset, s->ex.file_no);
	printf("           lag %" PRIu64 " records, %.3f s behind the newest commit\n", s->exp_lag, s->exp_secs);
	if (s->ship_present)
		printf("ship:      seq %" PRIu64 ", lag %" PRIu64 " records, %.3f s\n", s->ship, s->ship_lag, s->ship_secs);
	else
		printf("ship:      no syncer attached\n");
}

static int tbw_cmd_stat(tbw_cli *cli, int argc, char **argv)
{
	const char *pos[1], *jarg = NULL, *logdir;
	size_t npos;
	char *jdir;
	tbw_journal *j = NULL;
	tbw_jopen cfg = TBW_JOPEN_INIT;
	tbw_statinfo st;
	int rc, code;

	code = tbw_cli_parse(cli, argc, argv, stat_opts, stat_on_opt, &jarg, stat_usage, pos, 1, &npos);
	if (code < 0 && npos == 0 && !jarg) {
		stat_usage(cli, stderr);
		code = TBW_EXIT_USAGE;
	}
	if (code >= 0)
		return tbw_cli_exit(cli, code);
	logdir = npos ? pos[0] : NULL;
	jdir = jarg ? tbw__strdup(jarg) : tbw__writer_find_journal(logdir);
	if (!jdir) {
		tbw_cli_err(cli, "out of memory");
		return tbw_cli_exit(cli, TBW_EXIT_ERROR);
	}
	cfg.read_only = 1;
	rc = tbw__journal_open(&j, jdir, &cfg);
	if (rc == TBW_OK)
		rc = tbw_statinfo_read(j, &st);
	else
		memset(&st, 0, sizeof st);
	if (rc) {
		code = rc == TBW_ENOTFOUND ? TBW_EXIT_NOTFOUND : TBW_EXIT_ERROR;
		tbw_cli_err(cli, "%s", tbw_errmsg());
		tbw_cli_json_error(cli, code, tbw_errmsg());
		if (!cli->quiet)
			tbw_cli_hint_logdir(cli, jarg ? NULL : logdir, jdir, rc);
	} else {
		long pid = stat_writer_pid(jdir);
		if (cli->json)
			stat_print_json(&st, jdir, pid);
		else
			stat_print_text(&st, jdir, pid);
		code = TBW_EXIT_OK;
	}
	tbw_statinfo_free(&st);
	tbw__journal_close(j);
	tbw__free(jdir);
	return tbw_cli_exit(cli, code);
}
