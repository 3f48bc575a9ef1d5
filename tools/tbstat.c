/* tbstat.c -- inspect a tbwal journal: run id, path, record count, per-tag
 * counts, first/last step and last value, cursors, and how far export and
 * shipping lag behind the newest commit. Read-only; safe beside a live
 * writer (LMDB readers never block it).
 *
 *   tbstat LOGDIR [--json] [--journal DIR]
 *
 * Exit codes: 0 ok; 1 usage; 2 no journal found; 3 the journal cannot be
 * read (damaged, newer format, I/O error).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tbwal.h"

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: tbstat LOGDIR [--json] [--journal DIR]\n"
	        "Print what a tbwal journal holds: run id, journal path, record count, each tag\n"
	        "with its count, first and last step and last value, the export and ship\n"
	        "cursors, and how far export and shipping lag behind the newest commit.\n"
	        "\n"
	        "  --json         one JSON object on stdout\n"
	        "  --journal DIR  read the journal in DIR (default: LOGDIR/.tbwal, or the\n"
	        "                 path recorded in LOGDIR/.tbwal-journal)\n"
	        "  --help         this text\n"
	        "\n"
	        "Exit status: 0 ok, 1 usage error, 2 no journal found, 3 the journal cannot\n"
	        "be read (damaged, newer format, I/O error).\n");
}

static void json_str(const char *s, size_t n)
{
	putchar('"');
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void json_num(double v)
{
	if (isnan(v) || isinf(v))
		printf("\"%s\"", isnan(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity");
	else
		printf("%.17g", v);
}

int main(int argc, char **argv)
{
	const char *logdir = NULL, *jarg = NULL;
	int json = 0, rc;
	tbw_stat_options o = TBW_STAT_OPTIONS_INIT;
	tbw_stat *st = NULL;
	const tbw_stat_info *in;
	size_t ntags;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(argv[i], "--json")) {
			json = 1;
		} else if (!strcmp(argv[i], "--journal") && i + 1 < argc) {
			jarg = argv[++i];
		} else if (argv[i][0] == '-' || logdir) {
			usage(stderr);
			return 1;
		} else {
			logdir = argv[i];
		}
	}
	if (!logdir && !jarg) {
		usage(stderr);
		return 1;
	}
	o.journal_dir = jarg;
	rc = tbw_stat_read(&st, logdir, &o);
	if (rc) {
		fprintf(stderr, "tbstat: %s\n", tbw_errmsg());
		return rc == TBW_ENOTFOUND ? 2 : 3;
	}
	in = tbw_stat_get_info(st);
	ntags = tbw_stat_ntags(st);
	if (json) {
		printf("{\"run_id\":\"%s\",\"journal\":", in->run_id);
		json_str(in->journal_dir, strlen(in->journal_dir));
		printf(",\"logdir\":");
		json_str(in->logdir, strlen(in->logdir));
		printf(",\"host\":");
		json_str(in->host, strlen(in->host));
		printf(",\"created\":");
		json_num(in->created);
		printf(",\"format\":%u,\"records\":%llu,\"first_seq\":%llu,\"last_seq\":%llu,"
		       "\"corrupt\":%llu,\"start_markers\":%llu,\"tags\":[",
		       in->format, (unsigned long long)in->records, (unsigned long long)in->first_seq,
		       (unsigned long long)in->last_seq, (unsigned long long)in->corrupt,
		       (unsigned long long)in->start_markers);
		for (size_t i = 0; i < ntags; i++) {
			const tbw_stat_tag *t = tbw_stat_get_tag(st, i);
			printf("%s{\"tag\":", i ? "," : "");
			json_str(t->tag, t->tag_len);
			printf(",\"count\":%llu,\"first_step\":%lld,\"last_step\":%lld,\"last_value\":",
			       (unsigned long long)t->count, (long long)t->first_step, (long long)t->last_step);
			json_num(t->last_value);
			printf("}");
		}
		printf("],\"export\":{\"seq\":%llu,\"file\":", (unsigned long long)in->export_seq);
		json_str(in->export_file, strlen(in->export_file));
		printf(",\"offset\":%llu,\"file_no\":%u,\"lag_records\":%llu,\"lag_seconds\":%.3f}",
		       (unsigned long long)in->export_offset, in->export_file_no,
		       (unsigned long long)in->export_lag_records, in->export_lag_seconds);
		if (in->ship_present)
			printf(",\"ship\":{\"seq\":%llu,\"lag_records\":%llu,\"lag_seconds\":%.3f}}\n",
			       (unsigned long long)in->ship_seq, (unsigned long long)in->ship_lag_records,
			       in->ship_lag_seconds);
		else
			printf(",\"ship\":null}\n");
	} else {
		printf("run id:    %s\n", in->run_id);
		printf("journal:   %s\n", in->journal_dir);
		printf("logdir:    %s\n", in->logdir);
		printf("host:      %s\n", in->host);
		printf("format:    %u\n", in->format);
		printf("records:   %llu stored (seq %llu..%llu), last seq %llu",
		       (unsigned long long)in->records, (unsigned long long)in->first_seq,
		       (unsigned long long)(in->records ? in->last_seq : 0), (unsigned long long)in->last_seq);
		if (in->corrupt)
			printf(", %llu DAMAGED", (unsigned long long)in->corrupt);
		if (in->start_markers)
			printf(", %llu START markers", (unsigned long long)in->start_markers);
		printf("\n\n%-32s %10s %14s %14s %14s\n", "tag", "count", "first step", "last step", "last value");
		for (size_t i = 0; i < ntags; i++) {
			const tbw_stat_tag *t = tbw_stat_get_tag(st, i);
			printf("%-32.*s %10llu %14lld %14lld %14.7g\n", (int)t->tag_len, t->tag,
			       (unsigned long long)t->count, (long long)t->first_step,
			       (long long)t->last_step, t->last_value);
		}
		printf("\nexport:    seq %llu, file %s, offset %llu (file no %u)\n",
		       (unsigned long long)in->export_seq, in->export_file[0] ? in->export_file : "(none yet)",
		       (unsigned long long)in->export_offset, in->export_file_no);
		printf("           lag %llu records, %.3f s behind the newest commit\n",
		       (unsigned long long)in->export_lag_records, in->export_lag_seconds);
		if (in->ship_present)
			printf("ship:      seq %llu, lag %llu records, %.3f s\n", (unsigned long long)in->ship_seq,
			       (unsigned long long)in->ship_lag_records, in->ship_lag_seconds);
		else
			printf("ship:      no syncer attached\n");
	}
	tbw_stat_free(st);
	return 0;
}
