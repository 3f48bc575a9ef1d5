/* sync_testutil.h -- helpers shared by the sync tests: temp dirs, a journal
 * filled with a deterministic mix, counting segment files, and checking a
 * restored report/records against the journal. Header-only (static). */
#ifndef TBW_SYNC_TESTUTIL_H
#define TBW_SYNC_TESTUTIL_H

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "journal/journal.h"
#include "format/segment.h"
#include "sync/syncer.h"

static const char *const TU_TAGS[] = { "loss", "accuracy", "lr", "grad/norm" };
#define TU_NTAGS 4

/* The record with sequence seq of the deterministic mix (seq >= 1). */
static inline void tu_expected(uint64_t seq, const char **tag, double *value, int64_t *step,
                               double *wall)
{
	uint64_t x = seq * 0x9E3779B97F4A7C15ull;
	x ^= x >> 29;
	*tag = TU_TAGS[(seq - 1) % TU_NTAGS];
	*step = (int64_t)((seq - 1) / TU_NTAGS);
	*value = (double)(x % 1000003) / 1000003.0 - 0.5;
	*wall = 1700000000.0 + (double)seq * 0.0011;
}

/* Append records until the journal's last seq is upto (records go in seq order). */
static inline int tu_fill(tbw_journal *j, uint64_t upto)
{
	uint64_t last = 0;
	if (tbw__journal_last_seq(j, &last))
		return -1;
	for (uint64_t s = last + 1; s <= upto; s++) {
		const char *tag;
		double v, w;
		int64_t st;
		uint64_t got = 0;
		tu_expected(s, &tag, &v, &st, &w);
		if (tbw__journal_append(j, tag, strlen(tag), v, st, w, &got) || got != s)
			return -1;
	}
	return 0;
}

static inline tbw_journal *tu_open_journal(const char *dir, int create)
{
	tbw_jopen cfg = TBW_JOPEN_INIT;
	tbw_journal *j = NULL;
	cfg.create = create;
	cfg.logdir = "/tmp/logs/my-run";
	if (tbw__journal_open(&j, dir, &cfg) != TBW_OK) {
		fprintf(stderr, "journal open %s: %s\n", dir, tbw_errmsg());
		return NULL;
	}
	return j;
}

/* Number of entries in dir whose name parses as a segment (and, with
 * others, of every other entry). */
static inline int tu_count_segments(const char *dir, int *others)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;
	uint64_t a, b;
	uint32_t l;
	if (others)
		*others = 0;
	if (!d)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' && (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
			continue;
		if (tbw__seg_parse_name(de->d_name, &a, &b, &l))
			n++;
		else if (others)
			(*others)++;
	}
	closedir(d);
	return n;
}

/* A record callback that checks every restored record against the mix and
 * marks it in a bitmap of seen sequences. */
typedef struct tu_check {
	uint8_t *seen;       /* bit per seq */
	uint64_t max;        /* bitmap covers 1..max */
	uint64_t bad;        /* records that differ from the mix */
	uint64_t damaged;    /* damage callbacks */
	char     last_damage[256];
} tu_check;

static inline int tu_on_record(void *ctx, const tbw_jrec_named *r)
{
	tu_check *c = ctx;
	const char *tag;
	double v, w;
	int64_t st;
	if (r->seq == 0 || r->seq > c->max) {
		c->bad++;
		return 0;
	}
	tu_expected(r->seq, &tag, &v, &st, &w);
	if (!r->tag || r->tag_len != strlen(tag) || memcmp(r->tag, tag, r->tag_len) ||
	    memcmp(&r->value, &v, 8) || memcmp(&r->wall_time, &w, 8) || r->step != st)
		c->bad++;
	c->seen[(r->seq - 1) / 8] |= (uint8_t)(1u << ((r->seq - 1) % 8));
	return 0;
}

static inline void tu_on_damage(void *ctx, const char *file, uint64_t off, int in_payload,
                                int code, const char *why)
{
	tu_check *c = ctx;
	c->damaged++;
	snprintf(c->last_damage, sizeof c->last_damage, "%s @%llu%s (%d): %s", file,
	         (unsigned long long)off, in_payload ? " payload" : "", code, why);
}

/* Highest n such that 1..n are all seen. */
static inline uint64_t tu_prefix(const tu_check *c)
{
	uint64_t n = 0;
	while (n < c->max && (c->seen[n / 8] & (1u << (n % 8))))
		n++;
	return n;
}

static inline uint64_t tu_count_seen(const tu_check *c)
{
	uint64_t n = 0;
	for (uint64_t i = 0; i < c->max; i++)
		if (c->seen[i / 8] & (1u << (i % 8)))
			n++;
	return n;
}

#endif
