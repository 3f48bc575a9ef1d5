/* bench_commit_layer.c -- what tbwal's own layer costs per call over LMDB
 * (issue 18): the same one-record commit made four ways, with the flags
 * INTERVAL uses (MDB_WRITEMAP | MDB_NOSYNC | MDB_NOTLS):
 *   raw      mdb_txn_begin, mdb_put(MDB_APPEND) of an 8-byte key and a
 *            32-byte value, mdb_txn_commit: LMDB alone, nothing encoded,
 *            in an environment with one table;
 *   raw4     the same in an environment holding the journal's four
 *            tables (records, tags, meta, cursors): LMDB walks every open
 *            table in each transaction's begin and commit, and looks up
 *            the written one among the named tables, so this is LMDB's
 *            cost of the journal's schema, before any code of ours;
 *   journal  tbw__journal_append() (mutexes, cache check, ensure_room,
 *            tag lookup, record encoding with its CRC, the same commit);
 *   api      tbw_add_scalar() on a writer (compactor and durability
 *            threads off: the call path only).
 * Wall clock: the variants run in alternating rounds of 2000 calls (this
 * machine is shared and noisy); a round's figure is its mean per call
 * (no clock read between calls, so none is counted in), and the medians
 * of the rounds are compared. Instruction counts (repeatable): run one
 * variant under callgrind with two counts and divide the difference:
 *
 *   for v in raw raw4 journal api; do for n in 20000 120000; do
 *     valgrind --tool=callgrind --callgrind-out-file=/dev/null \
 *       bench/bench_commit_layer --only $v $n DIR 2>&1 | grep "refs:"; done; done
 *
 * (scripts/bench-layer.sh does that and prints instructions per call).
 *
 *   bench_commit_layer [DIR] [ROUNDS]
 *   bench_commit_layer --only raw|raw4|journal|api|many|one N DIR
 * (many, one: tbw_add_scalars of 8 or 1 scalars per call, for callgrind only)
 */
#include "config.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <lmdb.h>
#include "journal/journal.h"
#include "tbwal.h"

#define ROUND 2000

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static const char *tags[] = { "loss", "accuracy/top1", "lr", "grad_norm" };

typedef struct variant {
	MDB_env *env;
	MDB_dbi dbi;
	uint64_t seq;
	tbw_journal *j;
	tbw_writer *w;
} variant;

static void die(const char *what, const char *msg)
{
	fprintf(stderr, "%s: %s\n", what, msg);
	exit(1);
}

static void open_raw_tables(variant *v, const char *dir, int ntables)
{
	static const char *const more[] = { "tags", "meta", "cursors" };
	char d[4200];
	MDB_txn *txn;
	MDB_dbi other;
	snprintf(d, sizeof d, "%s/raw%d", dir, ntables);
	mkdir(d, 0755);
	if (mdb_env_create(&v->env) || mdb_env_set_mapsize(v->env, (size_t)1 << 30) ||
	    mdb_env_set_maxdbs(v->env, 8) ||
	    mdb_env_open(v->env, d, MDB_WRITEMAP | MDB_NOSYNC | MDB_NOTLS, 0644))
		die("raw open", d);
	if (mdb_txn_begin(v->env, NULL, 0, &txn) || mdb_dbi_open(txn, "records", MDB_CREATE, &v->dbi) ||
	    mdb_txn_commit(txn))
		die("raw dbi", d);
	for (int t = 0; t + 1 < ntables; t++)
		if (mdb_txn_begin(v->env, NULL, 0, &txn) || mdb_dbi_open(txn, more[t], MDB_CREATE, &other) ||
		    mdb_txn_commit(txn))
			die("raw dbi", more[t]);
}

static void open_raw(variant *v, const char *dir)
{
	open_raw_tables(v, dir, 1);
}

static void open_raw4(variant *v, const char *dir)
{
	open_raw_tables(v, dir, 4);
}

static void call_raw(variant *v, size_t i)
{
	MDB_txn *txn;
	uint8_t kb[8], vb[32];
	uint64_t s = ++v->seq;
	MDB_val k = { 8, kb }, val = { 32, vb };
	for (int b = 0; b < 8; b++)
		kb[b] = (uint8_t)(s >> (56 - 8 * b));
	memset(vb, (int)(i & 0xff), sizeof vb);
	if (mdb_txn_begin(v->env, NULL, 0, &txn) || mdb_put(txn, v->dbi, &k, &val, MDB_APPEND) ||
	    mdb_txn_commit(txn))
		die("raw", "put/commit failed");
}

static void open_journal(variant *v, const char *dir)
{
	char d[4200];
	tbw_jopen cfg = TBW_JOPEN_INIT;
	snprintf(d, sizeof d, "%s/journal", dir);
	cfg.create = 1;
	setenv("TBW_JOURNAL_MAPSIZE", "1073741824", 1);
	if (tbw__journal_open(&v->j, d, &cfg))
		die("journal open", tbw_errmsg());
	unsetenv("TBW_JOURNAL_MAPSIZE");
}

static void call_journal(variant *v, size_t i)
{
	const char *t = tags[i % 4];
	if (tbw__journal_append(v->j, t, strlen(t), 1.0 / (double)(i + 1), (int64_t)i, 1.7e9, NULL))
		die("journal append", tbw_errmsg());
}

static void open_api(variant *v, const char *dir)
{
	char d[4200];
	tbw_options o = TBW_OPTIONS_INIT;
	snprintf(d, sizeof d, "%s/api", dir);
	o.compact_interval_ms = 0;                /* export only at close */
	o.durability_interval_ms = 3600 * 1000;   /* no background sync during the run */
	setenv("TBW_JOURNAL_MAPSIZE", "1073741824", 1);
	if (tbw_open(&v->w, d, &o))
		die("open", tbw_errmsg());
	unsetenv("TBW_JOURNAL_MAPSIZE");
}

static void call_api(variant *v, size_t i)
{
	if (tbw_add_scalar(v->w, tags[i % 4], 1.0 / (double)(i + 1), (int64_t)i, 1.7e9))
		die("add_scalar", tbw_errmsg());
}

/* --only many: tbw_add_scalars() of 8 scalars of one step per call (the
 * bench_add_scalar batch), for callgrind's counts of a batch commit. */
static void call_many(variant *v, size_t i)
{
	static const char *step_tags[8] = { "loss", "accuracy/top1", "lr", "grad_norm",
	                                    "val/loss", "val/acc", "throughput", "weight_norm" };
	double vals[8];
	for (int k = 0; k < 8; k++)
		vals[k] = 1.0 / (double)(i * 8 + (size_t)k + 1);
	if (tbw_add_scalars(v->w, 8, step_tags, vals, (int64_t)i, 1.7e9))
		die("add_scalars", tbw_errmsg());
}

/* --only one: tbw_add_scalars() of 1 scalar per call, the tags and values
 * of call_api (its n = 1 target: no slower than tbw_add_scalar). */
static void call_one(variant *v, size_t i)
{
	double val = 1.0 / (double)(i + 1);
	if (tbw_add_scalars(v->w, 1, &tags[i % 4], &val, (int64_t)i, 1.7e9))
		die("add_scalars", tbw_errmsg());
}

typedef void (*call_fn)(variant *, size_t);
typedef void (*open_fn)(variant *, const char *);

#define NV 4

int main(int argc, char **argv)
{
	static const char *names[NV] = { "raw", "raw4", "journal", "api" };
	static const open_fn opens[NV] = { open_raw, open_raw4, open_journal, open_api };
	static const call_fn fns[NV] = { call_raw, call_raw, call_journal, call_api };
	variant v[NV];
	char dir[2048], cmd[4200];
	size_t rounds;

	memset(v, 0, sizeof v);
	if (argc == 5 && strcmp(argv[1], "--only") == 0) {
		size_t n = strtoul(argv[3], NULL, 10);
		int k = NV - 1;   /* api, and many and one, which call through a writer */
		for (int i = 0; i < NV; i++)
			if (strcmp(argv[2], names[i]) == 0)
				k = i;
		call_fn fn = !strcmp(argv[2], "many") ? call_many : !strcmp(argv[2], "one") ? call_one : fns[k];
		snprintf(dir, sizeof dir, "%s/bench_layer_only", argv[4]);
		snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
		if (system(cmd) != 0)
			return 1;
		opens[k](&v[k], dir);
		for (size_t i = 0; i < n; i++)
			fn(&v[k], i);
		return 0;   /* no close: the counts are of the calls (and the open) */
	}
	snprintf(dir, sizeof dir, "%s/bench_layer", argc > 1 ? argv[1] : "/tmp");
	rounds = argc > 2 ? strtoul(argv[2], NULL, 10) : 50;
	snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
	if (system(cmd) != 0)
		return 1;
	for (int k = 0; k < NV; k++)
		opens[k](&v[k], dir);
	{
		uint64_t *med[NV];
		size_t idx = 0;
		for (int k = 0; k < NV; k++) {
			med[k] = calloc(rounds, sizeof *med[k]);
			for (size_t i = 0; i < 256; i++)   /* warm up: tags, first pages */
				fns[k](&v[k], i);
		}
		for (size_t r = 0; r < rounds; r++) {
			for (int k = 0; k < NV; k++) {
				uint64_t t0 = now_ns();
				for (size_t i = 0; i < ROUND; i++)
					fns[k](&v[k], idx + i);
				med[k][r] = (now_ns() - t0) * 10 / ROUND;   /* tenths of ns per call */
			}
			idx += ROUND;
		}
		printf("bench_commit_layer: %zu rounds of %d calls each, variants alternating; dir %s\n",
		       rounds, ROUND, dir);
		printf("  per call: the median over rounds of a round's mean\n");
		printf("  %-8s %10s   %-10s %s\n", "variant", "ns/call", "vs raw", "vs raw4 (the journal's four tables)");
		double m[NV];
		for (int k = 0; k < NV; k++) {
			qsort(med[k], rounds, sizeof med[k][0], cmp_u64);
			m[k] = (double)med[k][rounds / 2] / 10.0;
			free(med[k]);
		}
		for (int k = 0; k < NV; k++) {
			printf("  %-8s %10.1f   %.3fx", names[k], m[k], m[k] / m[0]);
			if (k >= 2)
				printf("     %.3fx  target <= 1.10x: %s", m[k] / m[1], m[k] / m[1] <= 1.10 ? "met" : "MISSED");
			printf("\n");
		}
	}
	tbw_close(v[3].w);
	tbw__journal_close(v[2].j);
	mdb_env_close(v[1].env);
	mdb_env_close(v[0].env);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : 1;
}
