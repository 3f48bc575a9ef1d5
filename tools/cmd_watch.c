/* cmd_watch.c -- `tbwal watch LOGDIR`: a live view of a run while it trains.
 * Every interval: commits per second, export and ship lag, and per tag its
 * count, last step, last value and a sparkline of the last values seen.
 * On a terminal it redraws in place (ANSI), exits on q or Ctrl-C and
 * restores the terminal; otherwise it prints one JSON line per interval
 * (doc/cli-json.md, schema tbwal.watch/1).
 */
#include "config.h"
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include "cli.h"
#include "cmds.h"
#include "tbwal.h"

#define watch_SPARK 32

static volatile sig_atomic_t watch_stop;

static void watch_on_signal(int sig)
{
	(void)sig;
	watch_stop = 1;
}

static void watch_usage(const tbw_cli *cli, FILE *f)
{
	fprintf(f, "usage: %s LOGDIR [--interval T] [--count N] [--journal DIR] [--json]\n", cli->prog);
	fputs("A live view of a run while it trains: commits per second, export and ship\n"
	      "lag, and per tag its count, last step, last value and a sparkline.\n"
	      "On a terminal it redraws every interval; q or Ctrl-C quits. When stdout\n"
	      "is not a terminal (or with --json) it prints one JSON line per interval.\n"
	      "\n"
	      "  --interval T   time between refreshes: seconds (\"1.5\") or with a unit\n"
	      "                 (\"500ms\", \"2s\"); default 1\n"
	      "  --count N      stop after N refreshes (default: until q, Ctrl-C or SIGTERM)\n"
	      "  --journal DIR  the journal directory (default: LOGDIR/.tbwal, or the\n"
	      "                 path recorded in LOGDIR/.tbwal-journal)\n"
	      "  --json         JSON lines even on a terminal\n"
	      "  -q, --quiet    no hints\n"
	      "  -V, --version  print the version\n"
	      "  -h, --help     this text\n"
	      "\n"
	      "Exit status: 0 stopped by q, Ctrl-C, SIGTERM or --count; 1 the journal\n"
	      "cannot be read; 2 usage error; 4 no journal found.\n", f);
}

enum { WATCH_O_INTERVAL = 1, WATCH_O_COUNT, WATCH_O_JOURNAL };

static const tbw_cli_opt watch_opts[] = {
	{ "interval", 'n', 1, WATCH_O_INTERVAL },
	{ "count", 'c', 1, WATCH_O_COUNT },
	{ "journal", 0, 1, WATCH_O_JOURNAL },
	{ NULL, 0, 0, 0 },
};

typedef struct wctx {
	double interval;
	long long count;
	const char *jdir;
} wctx;

static int watch_on_opt(tbw_cli *cli, void *vctx, int id, const char *arg)
{
	wctx *x = vctx;
	char *end;

	switch (id) {
	case WATCH_O_INTERVAL:
		if (tbw_cli_parse_interval(arg, 1.0, &x->interval) || x->interval < 0.01)
			return tbw_cli_usage_error(cli, "bad --interval '%s' (seconds >= 0.01; or 500ms, 2s)", arg);
		return 0;
	case WATCH_O_COUNT:
		x->count = strtoll(arg, &end, 10);
		if (!*arg || *end || x->count < 1)
			return tbw_cli_usage_error(cli, "bad --count '%s' (a positive integer)", arg);
		return 0;
	case WATCH_O_JOURNAL:
		x->jdir = arg;
		return 0;
	}
	return TBW_EXIT_USAGE;
}

typedef struct watch_spark {
	double v[watch_SPARK];
	int n;
	uint64_t last_count;
} watch_spark;

static void watch_spark_push(watch_spark *s, double v)
{
	if (s->n == watch_SPARK) {
		memmove(s->v, s->v + 1, (watch_SPARK - 1) * sizeof s->v[0]);
		s->n--;
	}
	s->v[s->n++] = v;
}

static void watch_spark_draw(FILE *f, const watch_spark *s)
{
	static const char *bars[8] = { "\xe2\x96\x81", "\xe2\x96\x82", "\xe2\x96\x83", "\xe2\x96\x84",
	                               "\xe2\x96\x85", "\xe2\x96\x86", "\xe2\x96\x87", "\xe2\x96\x88" };
	double lo = INFINITY, hi = -INFINITY;

	for (int i = 0; i < s->n; i++)
		if (isfinite(s->v[i])) {
			if (s->v[i] < lo)
				lo = s->v[i];
			if (s->v[i] > hi)
				hi = s->v[i];
		}
	for (int i = 0; i < s->n; i++) {
		int k = 0;
		if (!isfinite(s->v[i])) {
			fputc('!', f);
			continue;
		}
		if (hi > lo)
			k = (int)((s->v[i] - lo) / (hi - lo) * 7.0 + 0.5);
		fputs(bars[k < 0 ? 0 : k > 7 ? 7 : k], f);
	}
}

static void watch_fmt_lag(char *b, size_t n, uint64_t recs, double secs)
{
	snprintf(b, n, "%" PRIu64 " records, %.1f s", recs, secs);
}

static uint64_t watch_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void watch_draw(const char *logdir, const tbw_stat *st, double rate,
                       long pid, const watch_spark *sp, size_t nsp, double interval)
{
	const tbw_stat_info *s = tbw_stat_get_info(st);
	struct winsize ws;
	int cols = 80, rows = 24, line;
	char b1[64], b2[64];
	time_t now = time(NULL);
	struct tm tm;
	char ts[32];

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20) {
		cols = ws.ws_col;
		rows = ws.ws_row;
	}
	localtime_r(&now, &tm);
	strftime(ts, sizeof ts, "%H:%M:%S", &tm);
	fputs("\033[H", stdout);
	printf("\033[1mtbwal watch\033[0m %s  run %.8s  %s  every %.3gs  (q quits)\033[K\n", logdir,
	       s->run_id, ts, interval);
	printf("writer %s", pid ? "\033[32mrunning\033[0m" : "not running");
	if (pid)
		printf(" (pid %ld)", pid);
	printf("   commits/s %.1f   last seq %" PRIu64 "   logged %" PRIu64 "   stored %" PRIu64 "\033[K\n",
	       rate, s->last_seq, s->history_records, s->records);
	watch_fmt_lag(b1, sizeof b1, s->export_lag_records, s->export_lag_seconds);
	if (s->ship_present)
		watch_fmt_lag(b2, sizeof b2, s->ship_lag_records, s->ship_lag_seconds);
	else
		snprintf(b2, sizeof b2, "no syncer");
	printf("export lag %s   ship lag %s\033[K\n\033[K\n", b1, b2);
	printf("\033[1m%-28s %10s %12s %14s  %s\033[0m\033[K\n", "tag", "count", "last step", "last value", "trend");
	line = 5;
	for (size_t i = 0; i < tbw_stat_ntags(st) && line < rows - 1; i++) {
		const tbw_stat_tag *t = tbw_stat_get_tag(st, i);
		int tw = (int)t->tag_len;
		if (tw > 28)
			tw = 28;
		printf("%-28.*s %10" PRIu64 " %12" PRId64 " %14.6g  ", tw, t->tag, t->count, t->last_step, t->last_value);
		if (i < nsp && cols > 72)
			watch_spark_draw(stdout, &sp[i]);
		fputs("\033[K\n", stdout);
		line++;
	}
	fputs("\033[J", stdout);
	fflush(stdout);
}

static void watch_json_line(const tbw_stat *st, double rate, long pid)
{
	const tbw_stat_info *s = tbw_stat_get_info(st);
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	printf("{\"schema\":\"tbwal.watch/1\",\"time\":%.3f,\"run_id\":\"%s\",\"last_seq\":%" PRIu64
	       ",\"records\":%" PRIu64 ",\"stored\":%" PRIu64 ",\"commits_per_second\":%.3f,"
	       "\"export\":{\"seq\":%" PRIu64 ",\"lag_records\":%" PRIu64 ",\"lag_seconds\":%.3f},\"ship\":",
	       (double)now.tv_sec + now.tv_nsec / 1e9, s->run_id, s->last_seq, s->history_records, s->records,
	       rate, s->export_seq, s->export_lag_records, s->export_lag_seconds);
	if (s->ship_present)
		printf("{\"seq\":%" PRIu64 ",\"lag_records\":%" PRIu64 ",\"lag_seconds\":%.3f}", s->ship_seq,
		       s->ship_lag_records, s->ship_lag_seconds);
	else
		printf("null");
	printf(",\"writer\":{\"running\":%s,\"pid\":", pid ? "true" : "false");
	if (pid)
		printf("%ld}", pid);
	else
		printf("null}");
	printf(",\"tags\":[");
	for (size_t i = 0; i < tbw_stat_ntags(st); i++) {
		const tbw_stat_tag *t = tbw_stat_get_tag(st, i);
		printf("%s{\"tag\":", i ? "," : "");
		tbw_cli_json_str(stdout, t->tag, t->tag_len);
		printf(",\"count\":%" PRIu64 ",\"last_step\":%" PRId64 ",\"last_value\":", t->count, t->last_step);
		tbw_cli_json_num(stdout, t->last_value);
		printf("}");
	}
	printf("]}\n");
	fflush(stdout);
}

/* Wait up to secs for q (on a terminal) or a signal. 1 if q was pressed. */
static int watch_wait_key(double secs, int keys)
{
	uint64_t end = watch_now_ns() + (uint64_t)(secs * 1e9);

	while (!watch_stop) {
		uint64_t now = watch_now_ns();
		int ms;
		struct pollfd p = { STDIN_FILENO, POLLIN, 0 };
		if (now >= end)
			return 0;
		ms = (int)((end - now) / 1000000ull);
		if (ms > 100)
			ms = 100;
		if (keys) {
			if (poll(&p, 1, ms) == 1 && (p.revents & POLLIN)) {
				char c;
				if (read(STDIN_FILENO, &c, 1) == 1 && (c == 'q' || c == 'Q' || c == 3))
					return 1;
			}
		} else {
			struct timespec ts = { 0, (long)ms * 1000000L };
			nanosleep(&ts, NULL);
		}
	}
	return 0;
}

static int tbw_cmd_watch(tbw_cli *cli, int argc, char **argv)
{
	wctx x = { 1.0, 0, NULL };
	const char *pos[1];
	size_t npos;
	tbw_stat_options so = TBW_STAT_OPTIONS_INIT;
	tbw_stat *st = NULL;
	watch_spark *sp = NULL;
	size_t nsp = 0;
	struct termios old_tio;
	struct sigaction sa, old_int, old_term;
	int rc, code, tty, keys = 0, have_tio = 0;
	uint64_t prev_seq = 0, prev_ns = 0;
	long long n = 0;

	watch_stop = 0;
	code = tbw_cli_parse(cli, argc, argv, watch_opts, watch_on_opt, &x, watch_usage, pos, 1, &npos);
	if (code < 0 && npos != 1) {
		watch_usage(cli, stderr);
		code = TBW_EXIT_USAGE;
	}
	if (code >= 0)
		return tbw_cli_exit(cli, code);
	so.journal_dir = x.jdir;
	rc = tbw_stat_read(&st, pos[0], &so);
	if (rc) {
		char jdir[4096] = "";
		code = rc == TBW_ENOTFOUND ? TBW_EXIT_NOTFOUND : TBW_EXIT_ERROR;
		tbw_cli_err(cli, "%s", tbw_errmsg());
		tbw_cli_json_error(cli, code, tbw_errmsg());
		if (x.jdir)
			snprintf(jdir, sizeof jdir, "%s", x.jdir);
		else if (tbw_journal_locate(jdir, sizeof jdir, pos[0]) != 0)
			jdir[0] = 0;
		if (!cli->quiet)
			tbw_cli_hint_logdir(cli, x.jdir ? NULL : pos[0], jdir[0] ? jdir : NULL, rc);
		return code;
	}
	tty = cli->tty_out && !cli->json;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = watch_on_signal;
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	if (tty) {
		if (cli->tty_in && tcgetattr(STDIN_FILENO, &old_tio) == 0) {
			struct termios t = old_tio;
			t.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
			t.c_cc[VMIN] = 0;
			t.c_cc[VTIME] = 0;
			if (tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0)
				have_tio = keys = 1;
		}
		/* alternate screen, hidden cursor, cleared */
		fputs("\033[?1049h\033[?25l\033[2J", stdout);
		fflush(stdout);
	}
	code = TBW_EXIT_OK;
	while (!watch_stop) {
		uint64_t now_ns = watch_now_ns();
		const tbw_stat_info *in;
		double rate = 0;
		long pid;
		size_t nt;

		if (!st && (rc = tbw_stat_read(&st, pos[0], &so)) != 0) {
			code = TBW_EXIT_ERROR;
			break;
		}
		in = tbw_stat_get_info(st);
		if (prev_ns && now_ns > prev_ns && in->last_seq >= prev_seq)
			rate = (double)(in->last_seq - prev_seq) / ((double)(now_ns - prev_ns) / 1e9);
		prev_seq = in->last_seq;
		prev_ns = now_ns;
		nt = tbw_stat_ntags(st);
		if (nt > nsp) {
			watch_spark *s2 = realloc(sp, nt * sizeof *s2);
			if (s2) {
				memset(s2 + nsp, 0, (nt - nsp) * sizeof *s2);
				sp = s2;
				nsp = nt;
			}
		}
		for (size_t i = 0; i < nt && i < nsp; i++) {
			const tbw_stat_tag *t = tbw_stat_get_tag(st, i);
			if (t->count != sp[i].last_count) {
				watch_spark_push(&sp[i], t->last_value);
				sp[i].last_count = t->count;
			}
		}
		pid = tbw_cli_writer_pid(in->journal_dir);
		if (tty)
			watch_draw(pos[0], st, rate, pid, sp, nsp, x.interval);
		else
			watch_json_line(st, rate, pid);
		tbw_stat_free(st);
		st = NULL;
		if (x.count && ++n >= x.count)
			break;
		if (watch_wait_key(x.interval, keys))
			break;
	}
	if (tty) {
		fputs("\033[?25h\033[?1049l", stdout);
		fflush(stdout);
	}
	if (have_tio)
		tcsetattr(STDIN_FILENO, TCSANOW, &old_tio);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	if (code != TBW_EXIT_OK)
		tbw_cli_err(cli, "%s", tbw_errmsg());
	tbw_stat_free(st);
	free(sp);
	return code;
}
