/* cli.c -- the module every tbwal subcommand shares (see cli.h): exit codes,
 * argument parsing, intervals, JSON, progress, hints, runs in a sync root.
 */
#include "config.h"
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>
#include "cli.h"
#include "tbwal.h"

static void tbw_cli_init(tbw_cli *cli, const char *cmd, const char *prog, int legacy)
{
	memset(cli, 0, sizeof *cli);
	cli->cmd = cmd;
	cli->prog = prog;
	cli->legacy = legacy;
	cli->tty_out = isatty(STDOUT_FILENO);
	cli->tty_err = isatty(STDERR_FILENO);
	cli->tty_in = isatty(STDIN_FILENO);
}

/* ---- Exit codes ---- */

static int tbw_cli_code_for(int rc)
{
	switch (rc) {
	case TBW_OK: return TBW_EXIT_OK;
	case TBW_EINVAL: return TBW_EXIT_USAGE;
	case TBW_EBUSY: return TBW_EXIT_BUSY;
	case TBW_ENOTFOUND: return TBW_EXIT_NOTFOUND;
	default: return TBW_EXIT_ERROR;
	}
}

static int tbw_cli_exit(const tbw_cli *cli, int code)
{
	if (!cli->legacy)
		return code;
	/* the old tools' codes (their man pages before tbwal) */
	if (!strcmp(cli->cmd, "recover"))
		return code == TBW_EXIT_OK ? 0 : code == TBW_EXIT_PARTIAL ? 1 : 2;
	if (!strcmp(cli->cmd, "sync"))
		return code == TBW_EXIT_PARTIAL ? 1 : code;
	if (!strcmp(cli->cmd, "compact"))
		return code == TBW_EXIT_NOTFOUND ? 5 : code == TBW_EXIT_PARTIAL ? 4 : code;
	if (!strcmp(cli->cmd, "stat"))
		return code == TBW_EXIT_OK ? 0 : code == TBW_EXIT_USAGE ? 1 : code == TBW_EXIT_NOTFOUND ? 2 : 3;
	return code;
}

static void tbw_cli_print_version(FILE *f)
{
	fprintf(f, "tbwal %s\n", TBW_VERSION_STRING);
}

static void tbw_cli_err(const tbw_cli *cli, const char *fmt, ...)
{
	va_list ap;

	if (!fmt[0])
		return;
	fprintf(stderr, "%s: ", cli->prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int tbw_cli_usage_error(const tbw_cli *cli, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", cli->prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n%s: see '%s --help'\n", cli->prog, cli->prog);
	return TBW_EXIT_USAGE;
}

static void tbw_cli_json_error(const tbw_cli *cli, int code, const char *message)
{
	if (!cli->json)
		return;
	printf("{\"schema\":\"tbwal.error/1\",\"command\":");
	tbw_cli_json_str(stdout, cli->cmd, (size_t)-1);
	printf(",\"exit_code\":%d,\"error\":", tbw_cli_exit(cli, code));
	tbw_cli_json_str(stdout, message, (size_t)-1);
	printf("}\n");
	fflush(stdout);
}

/* ---- Arguments ---- */

static const tbw_cli_opt common_opts[] = {
	{ "help", 'h', 0, TBW_OPT_HELP },
	{ "version", 'V', 0, TBW_OPT_VERSION },
	{ "json", 0, 0, TBW_OPT_JSON },
	{ "quiet", 'q', 0, TBW_OPT_QUIET },
	{ NULL, 0, 0, 0 },
};

static const tbw_cli_opt *find_long(const tbw_cli_opt *opts, const char *name, size_t n)
{
	for (int pass = 0; pass < 2; pass++) {
		const tbw_cli_opt *o = pass ? common_opts : opts;
		for (; o && o->name; o++)
			if (strlen(o->name) == n && !strncmp(o->name, name, n))
				return o;
	}
	return NULL;
}

static const tbw_cli_opt *find_short(const tbw_cli_opt *opts, char c)
{
	for (int pass = 0; pass < 2; pass++) {
		const tbw_cli_opt *o = pass ? common_opts : opts;
		for (; o && o->name; o++)
			if (o->shortname && o->shortname == c)
				return o;
	}
	return NULL;
}

static int tbw_cli_parse(tbw_cli *cli, int argc, char **argv, const tbw_cli_opt *opts,
                  tbw_cli_on_opt on, void *ctx, void (*help)(const tbw_cli *, FILE *),
                  const char **pos, size_t maxpos, size_t *npos)
{
	int only_pos = 0;

	*npos = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = NULL;
		const tbw_cli_opt *o = NULL;

		if (only_pos || a[0] != '-' || !a[1]) {
			if (*npos >= maxpos)
				return tbw_cli_usage_error(cli, "unexpected argument '%s'", a);
			pos[(*npos)++] = a;
			continue;
		}
		if (!strcmp(a, "--")) {
			only_pos = 1;
			continue;
		}
		if (a[1] == '-') {
			const char *eq = strchr(a + 2, '=');
			size_t n = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
			o = find_long(opts, a + 2, n);
			if (!o)
				return tbw_cli_usage_error(cli, "unknown option '%.*s'", (int)(n + 2), a);
			if (eq) {
				if (!o->has_arg)
					return tbw_cli_usage_error(cli, "option '--%s' takes no value", o->name);
				val = eq + 1;
			}
		} else {
			if (a[2])
				return tbw_cli_usage_error(cli, "unknown option '%s'", a);
			o = find_short(opts, a[1]);
			if (!o)
				return tbw_cli_usage_error(cli, "unknown option '%s'", a);
		}
		if (o->has_arg && !val) {
			if (i + 1 >= argc)
				return tbw_cli_usage_error(cli, "option '--%s' needs a value", o->name);
			val = argv[++i];
		}
		switch (o->id) {
		case TBW_OPT_HELP:
			help(cli, stdout);
			return TBW_EXIT_OK;
		case TBW_OPT_VERSION:
			tbw_cli_print_version(stdout);
			return TBW_EXIT_OK;
		case TBW_OPT_JSON:
			cli->json = 1;
			break;
		case TBW_OPT_QUIET:
			cli->quiet = 1;
			break;
		default: {
			int rc = on(cli, ctx, o->id, val);
			if (rc)
				return rc;
		}
		}
	}
	return -1;
}

/* ---- Intervals ---- */

static int tbw_cli_parse_interval(const char *s, double bare_unit, double *secs)
{
	char *end;
	double v, unit = bare_unit;

	if (!s || !*s || *s == '-' || *s == '+' || (*s != '.' && (*s < '0' || *s > '9')))
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || !isfinite(v))
		return -1;
	if (*end) {
		if (!strcmp(end, "ms"))
			unit = 0.001;
		else if (!strcmp(end, "s"))
			unit = 1;
		else if (!strcmp(end, "m") || !strcmp(end, "min"))
			unit = 60;
		else if (!strcmp(end, "h"))
			unit = 3600;
		else
			return -1;
	}
	v *= unit;
	if (!(v >= 0) || v > 86400)
		return -1;
	*secs = v;
	return 0;
}

static uint64_t tbw_cli_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}


/* ---- JSON ---- */

static void tbw_cli_json_str(FILE *f, const char *s, size_t n)
{
	if (n == (size_t)-1)
		n = s ? strlen(s) : 0;
	fputc('"', f);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		switch (c) {
		case '"':  fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\n': fputs("\\n", f); break;
		case '\r': fputs("\\r", f); break;
		case '\t': fputs("\\t", f); break;
		default:
			if (c < 0x20 || c == 0x7f)
				fprintf(f, "\\u%04x", c);
			else
				fputc(c, f);
		}
	}
	fputc('"', f);
}

static void tbw_cli_json_num(FILE *f, double v)
{
	if (isnan(v))
		fputs("\"NaN\"", f);
	else if (isinf(v))
		fputs(v > 0 ? "\"Infinity\"" : "\"-Infinity\"", f);
	else
		fprintf(f, "%.17g", v);
}

/* ---- Progress ---- */

static void tbw_cli_progress(tbw_cli *cli, const char *phase, uint64_t done, uint64_t total)
{
	uint64_t now;
	char eta[48] = "";

	if (cli->quiet || !cli->tty_err)
		return;
	now = tbw_cli_now_ns();
	if (strncmp(cli->prog_phase, phase, sizeof cli->prog_phase - 1) != 0) {
		snprintf(cli->prog_phase, sizeof cli->prog_phase, "%s", phase);
		cli->prog_start_ns = now;
		cli->prog_last_ns = 0;
	}
	if (cli->prog_last_ns && now - cli->prog_last_ns < 200000000ull && (total == 0 || done < total))
		return;
	cli->prog_last_ns = now;
	cli->prog_shown = 1;
	if (total) {
		double el = (double)(now - cli->prog_start_ns) / 1e9;
		double pct = done >= total ? 100.0 : 100.0 * (double)done / (double)total;
		if (done > 0 && done < total && el > 0.2) {
			double left = el * (double)(total - done) / (double)done;
			snprintf(eta, sizeof eta, ", ETA %d:%02d", (int)(left / 60), (int)fmod(left, 60));
		}
		fprintf(stderr, "\r\033[K%s: %" PRIu64 "/%" PRIu64 " (%.0f%%)%s", phase, done, total, pct, eta);
	} else {
		fprintf(stderr, "\r\033[K%s: %" PRIu64, phase, done);
	}
	fflush(stderr);
}

static void tbw_cli_progress_end(tbw_cli *cli)
{
	if (cli->prog_shown) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
	}
	cli->prog_shown = 0;
	cli->prog_phase[0] = 0;
}

/* ---- Hints ---- */

static long tbw_cli_lock_holder(const char *path)
{
	struct stat st;
	FILE *f;
	char line[512];
	long pid = 0;

	if (stat(path, &st) != 0 || !(f = fopen("/proc/locks", "r")))
		return 0;
	/* "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF" (major:minor in hex) */
	while (fgets(line, sizeof line, f)) {
		long p;
		unsigned int ma, mi;
		unsigned long long ino;
		char kind[16];
		if (sscanf(line, "%*s %15s %*s %*s %ld %x:%x:%llu", kind, &p, &ma, &mi, &ino) == 5 &&
		    !strcmp(kind, "FLOCK") && ino == (unsigned long long)st.st_ino &&
		    ma == major(st.st_dev) && mi == minor(st.st_dev) && p > 0) {
			pid = p;
			break;
		}
	}
	fclose(f);
	return pid;
}

static int has_event_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)) != NULL)
		if (strstr(e->d_name, "tfevents"))
			n++;
	closedir(d);
	return n;
}

static void tbw_cli_hint_logdir(const tbw_cli *cli, const char *logdir, const char *jdir, int rc)
{
	struct stat st;
	tbw_cli_run *runs = NULL;
	int nr;

	if (rc == TBW_EBUSY && jdir) {
		char p[4200];
		long pid;
		snprintf(p, sizeof p, "%s/writer.lock", jdir);
		pid = tbw_cli_lock_holder(p);
		if (pid)
			fprintf(stderr, "hint: a writer is still running on %s (pid %ld); stop it "
			        "(or let it close) and try again\n", jdir, pid);
		return;
	}
	if (rc != TBW_ENOTFOUND || !logdir)
		return;
	if (stat(logdir, &st) != 0) {
		fprintf(stderr, "hint: %s does not exist (check the path; a logdir is the directory "
		        "given to SummaryWriter / tbw_open)\n", logdir);
		return;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "hint: %s is not a directory\n", logdir);
		return;
	}
	nr = tbw_cli_find_runs(logdir, NULL, &runs);
	if (nr > 0) {
		fprintf(stderr, "hint: %s looks like a sync folder (%d run folder(s), e.g. %s); "
		        "restore from it with '%s%s --from %s LOGDIR'\n", logdir, nr, runs[0].path,
		        cli->legacy ? "tbrecover" : "tbwal recover", "", logdir);
	} else if (has_event_files(logdir)) {
		fprintf(stderr, "hint: %s holds event files but no tbwal journal (%s/.tbwal, or the path "
		        "in %s/.tbwal-journal): it was not written by tbwal, or its journal is "
		        "elsewhere (--journal DIR)\n", logdir, logdir, logdir);
	} else {
		fprintf(stderr, "hint: %s holds no tbwal journal (%s/.tbwal, or the path in "
		        "%s/.tbwal-journal); pass --journal DIR if the writer put it elsewhere\n",
		        logdir, logdir, logdir);
	}
	free(runs);
}

/* ---- Runs in a sync root ---- */

static void tbw_cli_run_name(char *out, size_t cap, const char *logdir)
{
	size_t n = strlen(logdir), b, o = 0;

	/* the syncer's rule (tbw__sync_sanitize_name over the basename, src/sync/folder.c) */
	while (n > 1 && logdir[n - 1] == '/')
		n--;
	b = n;
	while (b > 0 && logdir[b - 1] != '/')
		b--;
	for (size_t i = b; i < n && o + 1 < cap && o < 100; i++) {
		unsigned char c = (unsigned char)logdir[i];
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		         c == '.' || c == '_' || c == '-' || c == '+' || c == '=' || c == '@' || c == ',';
		if (o == 0 && c == '.')
			continue;
		out[o++] = ok ? (char)c : '_';
	}
	out[o] = '\0';
	if (o == 0)
		snprintf(out, cap, "run");
}

/* "<name>-<32 lowercase hex>": 1 and the parts. */
static int split_run_dir(const char *base, char *name, size_t ncap, char id[33])
{
	size_t n = strlen(base), l;

	if (n < 34 || base[n - 33] != '-')
		return 0;
	for (size_t i = n - 32; i < n; i++)
		if (!((base[i] >= '0' && base[i] <= '9') || (base[i] >= 'a' && base[i] <= 'f')))
			return 0;
	memcpy(id, base + n - 32, 33);
	l = n - 33;
	if (l >= ncap)
		l = ncap - 1;
	memcpy(name, base, l);
	name[l] = 0;
	return 1;
}

static void scan_run(tbw_cli_run *r)
{
	DIR *d = opendir(r->path);
	struct dirent *e;
	struct stat st;

	if (stat(r->path, &st) == 0)
		r->mtime = (double)st.st_mtim.tv_sec + st.st_mtim.tv_nsec / 1e9;
	if (!d)
		return;
	while ((e = readdir(d)) != NULL) {
		char p[4400];
		if (strncmp(e->d_name, "seg-", 4) != 0)
			continue;
		r->segments++;
		snprintf(p, sizeof p, "%s/%s", r->path, e->d_name);
		if (stat(p, &st) == 0) {
			double t = (double)st.st_mtim.tv_sec + st.st_mtim.tv_nsec / 1e9;
			if (t > r->mtime)
				r->mtime = t;
		}
	}
	closedir(d);
}

static int run_cmp(const void *a, const void *b)
{
	const tbw_cli_run *x = a, *y = b;
	if (x->mtime != y->mtime)
		return x->mtime > y->mtime ? -1 : 1;
	return strcmp(x->path, y->path);
}

static int tbw_cli_find_runs(const char *dir, const char *name, tbw_cli_run **out)
{
	DIR *d;
	struct dirent *e;
	tbw_cli_run *runs = NULL;
	size_t n = 0, cap = 0, dl = strlen(dir);
	const char *base;
	char nm[128], id[33];

	*out = NULL;
	while (dl > 1 && dir[dl - 1] == '/')
		dl--;
	base = dir + dl;
	while (base > dir && base[-1] != '/')
		base--;
	{
		char b[512];
		size_t bl = (size_t)(dir + dl - base);
		if (bl < sizeof b) {
			memcpy(b, base, bl);
			b[bl] = 0;
			if (split_run_dir(b, nm, sizeof nm, id)) {
				runs = calloc(1, sizeof *runs);
				if (!runs)
					return -1;
				snprintf(runs->path, sizeof runs->path, "%.*s", (int)dl, dir);
				snprintf(runs->name, sizeof runs->name, "%s", nm);
				memcpy(runs->id, id, 33);
				scan_run(runs);
				*out = runs;
				return 1;
			}
		}
	}
	if (!(d = opendir(dir)))
		return -1;
	while ((e = readdir(d)) != NULL) {
		struct stat st;
		char p[4400];
		if (!split_run_dir(e->d_name, nm, sizeof nm, id) || (name && strcmp(nm, name) != 0))
			continue;
		if ((size_t)snprintf(p, sizeof p, "%.*s/%s", (int)dl, dir, e->d_name) >= sizeof runs[0].path)
			continue;
		if (stat(p, &st) != 0 || !S_ISDIR(st.st_mode))
			continue;
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 8;
			tbw_cli_run *nr = realloc(runs, nc * sizeof *nr);
			if (!nr) {
				free(runs);
				closedir(d);
				return -1;
			}
			runs = nr;
			cap = nc;
		}
		memset(&runs[n], 0, sizeof runs[n]);
		memcpy(runs[n].path, p, strlen(p) + 1);
		snprintf(runs[n].name, sizeof runs[n].name, "%s", nm);
		memcpy(runs[n].id, id, 33);
		scan_run(&runs[n]);
		n++;
	}
	closedir(d);
	if (n > 1)
		qsort(runs, n, sizeof *runs, run_cmp);
	*out = runs;
	return (int)n;
}

static void fmt_local(char *buf, size_t n, double t)
{
	time_t s = (time_t)t;
	struct tm tm;
	if (t <= 0) {
		snprintf(buf, n, "-");
		return;
	}
	localtime_r(&s, &tm);
	strftime(buf, n, "%Y-%m-%d %H:%M:%S", &tm);
}

static int push_path(char ***paths, size_t *npaths, const char *p)
{
	char **np = realloc(*paths, (*npaths + 1) * sizeof *np);
	if (!np)
		return TBW_EXIT_ERROR;
	*paths = np;
	if (!(np[*npaths] = strdup(p)))
		return TBW_EXIT_ERROR;
	(*npaths)++;
	return 0;
}

static int tbw_cli_resolve_from(tbw_cli *cli, const char *from, const char *logdir,
                         const char *run_id, char ***paths, size_t *npaths)
{
	char name[128];
	tbw_cli_run *runs = NULL, *pick = NULL;
	int n, rc;
	struct stat st;

	if (stat(from, &st) != 0) {
		tbw_cli_err(cli, "--from %s: %s", from, strerror(errno));
		fprintf(stderr, "hint: %s does not exist; --from takes the sync folder given to the "
		        "writer (sync_dir) or one run folder inside it\n", from);
		return TBW_EXIT_NOTFOUND;
	}
	tbw_cli_run_name(name, sizeof name, logdir);
	n = tbw_cli_find_runs(from, name, &runs);
	if (n == 1 && strcmp(runs[0].path, from) == 0 && run_id == NULL) {
		rc = push_path(paths, npaths, from);   /* a run folder itself */
		free(runs);
		return rc;
	}
	if (n == 0) {
		/* no run named after the logdir: is it a run folder anyway, or
		 * are there runs of other names? */
		tbw_cli_run *any = NULL;
		int na;
		free(runs);
		na = tbw_cli_find_runs(from, NULL, &any);
		if (na <= 0) {
			free(any);
			return push_path(paths, npaths, from);   /* let recovery say what it holds */
		}
		if (na == 1 && strcmp(any[0].path, from) == 0) {
			free(any);
			return push_path(paths, npaths, from);
		}
		tbw_cli_err(cli, "--from %s: no run named '%s' there", from, name);
		fprintf(stderr, "hint: it holds %d run(s) of other names:", na);
		for (int i = 0; i < na && i < 10; i++)
			fprintf(stderr, " %s-%s", any[i].name, any[i].id);
		fprintf(stderr, "\nhint: give one of them as --from DIR (or --run-name NAME)\n");
		free(any);
		return TBW_EXIT_NOTFOUND;
	}
	if (n < 0)
		return push_path(paths, npaths, from);
	if (run_id) {
		size_t l = strlen(run_id);
		int matches = 0;
		for (int i = 0; i < n; i++)
			if (l && !strncmp(runs[i].id, run_id, l)) {
				pick = &runs[i];
				matches++;
			}
		if (matches != 1) {
			tbw_cli_err(cli, "--run-id %s: %s among the %d run(s) named '%s' in %s", run_id,
			            matches ? "ambiguous" : "no such run", n, name, from);
			pick = NULL;
		}
	} else if (n == 1) {
		pick = &runs[0];
	}
	if (!pick) {
		char t[64];
		if (!run_id) {
			fprintf(stderr, "%s: %d runs named '%s' in %s (newest first):\n", cli->prog, n, name, from);
		}
		for (int i = 0; i < n; i++) {
			fmt_local(t, sizeof t, runs[i].mtime);
			fprintf(stderr, "  [%d] %s  id %s  last write %s  %" PRIu64 " segment(s)\n", i + 1,
			        runs[i].path, runs[i].id, t, runs[i].segments);
		}
		if (!run_id && cli->tty_in && cli->tty_err) {
			char line[64];
			long k;
			fprintf(stderr, "choose one [1-%d]: ", n);
			fflush(stderr);
			if (fgets(line, sizeof line, stdin) && (k = strtol(line, NULL, 10)) >= 1 && k <= n)
				pick = &runs[k - 1];
		}
		if (!pick) {
			fprintf(stderr, "hint: choose one with --run-id ID (a prefix is enough), or give "
			        "its folder as --from DIR\n");
			free(runs);
			return TBW_EXIT_USAGE;
		}
	}
	if (!cli->quiet && strcmp(pick->path, from) != 0)
		fprintf(stderr, "%s: using %s\n", cli->prog, pick->path);
	rc = push_path(paths, npaths, pick->path);
	free(runs);
	return rc;
}
