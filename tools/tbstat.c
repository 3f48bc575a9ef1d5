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
#include "config.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "alloc.h"
#include "error.h"
#include "journal.h"
#include "os.h"
#include "writer.h"

typedef struct tstat {
	uint64_t count;
	int64_t first_step, last_step;
	double last_value, last_wall;
	int seen;
} tstat;

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
	char *jdir;
	int json = 0, rc;
	tbw_journal *j = NULL;
	tbw_jopen cfg = TBW_JOPEN_INIT;
	tbw_jinfo info;
	tbw_jexport ex;
	uint64_t ship = 0, count = 0, first = 0, last = 0, after = 0, ncorrupt = 0;
	int ship_present = 0;
	tstat *ts = NULL;
	uint32_t nts = 0;
	uint64_t nstart = 0;
	double newest_wall = 0, export_wall = 0, ship_wall = 0;
	tbw_jrec buf[1024];
	tbw_jread inf;

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
	jdir = jarg ? tbw__strdup(jarg) : tbw__writer_find_journal(logdir);
	if (!jdir) {
		fprintf(stderr, "tbstat: out of memory\n");
		return 3;
	}
	cfg.read_only = 1;
	rc = tbw__journal_open(&j, jdir, &cfg);
	if (rc) {
		fprintf(stderr, "tbstat: %s\n", tbw_errmsg());
		tbw__free(jdir);
		return rc == TBW_ENOTFOUND ? 2 : 3;
	}
	if ((rc = tbw__journal_info(j, &info)) != 0 || (rc = tbw__journal_get_export(j, &ex)) != 0 ||
	    (rc = tbw__journal_get_ship(j, &ship, &ship_present)) != 0 ||
	    (rc = tbw__journal_count(j, &count)) != 0 || (rc = tbw__journal_first_seq(j, &first)) != 0 ||
	    (rc = tbw__journal_last_seq(j, &last)) != 0)
		goto fail;
	/* one pass over the records: per-tag figures and the wall times at
	 * the cursors (lag in seconds) */
	for (;;) {
		if ((rc = tbw__journal_read(j, after, buf, 1024, &inf)) != 0)
			goto fail;
		ncorrupt += inf.ncorrupt;
		for (size_t i = 0; i < inf.n; i++) {
			const tbw_jrec *r = &buf[i];
			if (r->wall_time > newest_wall)
				newest_wall = r->wall_time;
			if (r->seq == ex.seq)
				export_wall = r->wall_time;
			if (ship_present && r->seq == ship)
				ship_wall = r->wall_time;
			if (r->tag_id == TBW_JTAG_SESSION_START) {
				nstart++;
				continue;
			}
			if (r->tag_id >= nts) {
				uint32_t nn = nts ? nts : 16;
				while (nn <= r->tag_id)
					nn *= 2;
				tstat *t2 = tbw__realloc(ts, nn * sizeof *t2);
				if (!t2) {
					rc = tbw__error_set(TBW_ENOMEM, "tbstat", jdir, "out of memory");
					goto fail;
				}
				memset(t2 + nts, 0, (nn - nts) * sizeof *t2);
				ts = t2;
				nts = nn;
			}
			tstat *t = &ts[r->tag_id];
			if (!t->seen)
				t->first_step = r->step;
			t->seen = 1;
			t->count++;
			t->last_step = r->step;
			t->last_value = r->value;
			t->last_wall = r->wall_time;
		}
		if (inf.end || inf.next_after == after)
			break;
		after = inf.next_after;
	}
	{
		uint64_t exp_lag = last > ex.seq ? last - ex.seq : 0;
		uint64_t ship_lag = ship_present && last > ship ? last - ship : 0;
		/* seconds behind: newest commit's wall time minus that of the last
		 * exported (shipped) record still stored; when that record was
		 * pruned, the oldest stored record after it bounds it */
		double exp_secs = 0, ship_secs = 0;
		if (exp_lag) {
			double w = export_wall;
			if (w == 0) {
				tbw_jrec r1;
				if (tbw__journal_read(j, ex.seq, &r1, 1, &inf) == 0 && inf.n)
					w = r1.wall_time;
			}
			exp_secs = w > 0 && newest_wall > w ? newest_wall - w : 0;
		}
		if (ship_lag) {
			double w = ship_wall;
			if (w == 0) {
				tbw_jrec r1;
				if (tbw__journal_read(j, ship, &r1, 1, &inf) == 0 && inf.n)
					w = r1.wall_time;
			}
			ship_secs = w > 0 && newest_wall > w ? newest_wall - w : 0;
		}
		if (json) {
			int firstt = 1;
			printf("{\"run_id\":\"%s\",\"journal\":", info.run_id_hex);
			json_str(jdir, strlen(jdir));
			printf(",\"logdir\":");
			json_str(info.logdir, strlen(info.logdir));
			printf(",\"host\":");
			json_str(info.host, strlen(info.host));
			printf(",\"created\":");
			json_num(info.created);
			printf(",\"format\":%u,\"records\":%llu,\"first_seq\":%llu,\"last_seq\":%llu,"
			       "\"corrupt\":%llu,\"start_markers\":%llu,\"tags\":[",
			       info.format, (unsigned long long)count, (unsigned long long)first,
			       (unsigned long long)last, (unsigned long long)ncorrupt,
			       (unsigned long long)nstart);
			for (uint32_t id = 0; id < nts; id++) {
				const char *name;
				size_t len;
				if (!ts[id].seen || tbw__journal_tag_name(j, id, &name, &len) != 0)
					continue;
				printf("%s{\"tag\":", firstt ? "" : ",");
				firstt = 0;
				json_str(name, len);
				printf(",\"count\":%llu,\"first_step\":%lld,\"last_step\":%lld,\"last_value\":",
				       (unsigned long long)ts[id].count, (long long)ts[id].first_step,
				       (long long)ts[id].last_step);
				json_num(ts[id].last_value);
				printf("}");
			}
			printf("],\"export\":{\"seq\":%llu,\"file\":", (unsigned long long)ex.seq);
			json_str(ex.file, strlen(ex.file));
			printf(",\"offset\":%llu,\"file_no\":%u,\"lag_records\":%llu,\"lag_seconds\":%.3f}",
			       (unsigned long long)ex.offset, ex.file_no, (unsigned long long)exp_lag, exp_secs);
			if (ship_present)
				printf(",\"ship\":{\"seq\":%llu,\"lag_records\":%llu,\"lag_seconds\":%.3f}}\n",
				       (unsigned long long)ship, (unsigned long long)ship_lag, ship_secs);
			else
				printf(",\"ship\":null}\n");
		} else {
			printf("run id:    %s\n", info.run_id_hex);
			printf("journal:   %s\n", jdir);
			printf("logdir:    %s\n", info.logdir);
			printf("host:      %s\n", info.host);
			printf("format:    %u\n", info.format);
			printf("records:   %llu stored (seq %llu..%llu), last seq %llu",
			       (unsigned long long)count, (unsigned long long)first,
			       (unsigned long long)(count ? last : 0), (unsigned long long)last);
			if (ncorrupt)
				printf(", %llu DAMAGED", (unsigned long long)ncorrupt);
			if (nstart)
				printf(", %llu START markers", (unsigned long long)nstart);
			printf("\n\n%-32s %10s %14s %14s %14s\n", "tag", "count", "first step", "last step", "last value");
			for (uint32_t id = 0; id < nts; id++) {
				const char *name;
				size_t len;
				if (!ts[id].seen || tbw__journal_tag_name(j, id, &name, &len) != 0)
					continue;
				printf("%-32.*s %10llu %14lld %14lld %14.7g\n", (int)len, name,
				       (unsigned long long)ts[id].count, (long long)ts[id].first_step,
				       (long long)ts[id].last_step, ts[id].last_value);
			}
			printf("\nexport:    seq %llu, file %s, offset %llu (file no %u)\n",
			       (unsigned long long)ex.seq, ex.file[0] ? ex.file : "(none yet)",
			       (unsigned long long)ex.offset, ex.file_no);
			printf("           lag %llu records, %.3f s behind the newest commit\n",
			       (unsigned long long)exp_lag, exp_secs);
			if (ship_present)
				printf("ship:      seq %llu, lag %llu records, %.3f s\n", (unsigned long long)ship,
				       (unsigned long long)ship_lag, ship_secs);
			else
				printf("ship:      no syncer attached\n");
		}
	}
	tbw__free(ts);
	tbw__journal_close(j);
	tbw__free(jdir);
	return 0;
fail:
	fprintf(stderr, "tbstat: %s\n", tbw_errmsg());
	tbw__free(ts);
	tbw__journal_close(j);
	tbw__free(jdir);
	return rc == TBW_ENOTFOUND ? 2 : 3;
}
