/* faults_util.h -- helpers shared by the fault-injection tests
 * (tests/test_faults.c, tests/test_faults_disk.c, tests/faults_child.c):
 * the deterministic scalar of index i, and reading a logdir's event files
 * and a journal back into a bitmap of the indices they hold.
 *
 * The scalar of index i (i >= 0) is the sync tests' record of sequence
 * i + 1 (tu_expected): tag TU_TAGS[i % 4], step i / 4. A (tag, step) pair
 * therefore names its index, so event files can be checked without
 * knowing sequence numbers. Header-only (static).
 */
#ifndef TBW_FAULTS_UTIL_H
#define TBW_FAULTS_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "compactor_util.h"
#include "format/event.h"
#include "journal/journal.h"
#include "sync_testutil.h"

static inline void fu_scalar(uint64_t i, const char **tag, double *value, int64_t *step, double *wall)
{
	tu_expected(i + 1, tag, value, step, wall);
}

/* Index of (tag, step), or -1 if no logged scalar has that tag. */
static inline int64_t fu_index(const char *tag, size_t len, int64_t step)
{
	for (int t = 0; t < TU_NTAGS; t++)
		if (len == strlen(TU_TAGS[t]) && memcmp(tag, TU_TAGS[t], len) == 0)
			return step * TU_NTAGS + t;
	return -1;
}

/* What the event files of a logdir hold. */
typedef struct fu_events {
	uint64_t scalars;     /* scalar events */
	uint64_t dups;        /* scalars whose index is not above the previous one's */
	uint64_t phantoms;    /* scalars that match no logged scalar (tag, step, value) */
	uint64_t torn, corrupt;
	char why[512];
} fu_events;

/* Read every event file of logdir in name order (CRCs checked, events
 * decoded); mark the indices (< max) in seen. */
static inline void fu_read_events(const char *logdir, uint8_t *seen, uint64_t max, fu_events *out)
{
	cu_scan s;
	int64_t prev = -1;

	memset(out, 0, sizeof *out);
	if (cu_scan_logdir(logdir, &s) != 0)
		return;
	out->torn = s.torn;
	out->corrupt = s.corrupt;
	snprintf(out->why, sizeof out->why, "%s", s.why);
	for (size_t k = 0; k < s.n; k++) {
		const cu_ev *e = &s.ev[k];
		const char *tag;
		double v, w;
		int64_t st, idx;

		if (e->kind != TBW_EVENT_SCALAR)
			continue;
		out->scalars++;
		idx = fu_index(e->tag, strlen(e->tag), e->step);
		if (idx < 0 || (uint64_t)idx >= max) {
			out->phantoms++;
			continue;
		}
		fu_scalar((uint64_t)idx, &tag, &v, &st, &w);
		if (e->value != (float)v)
			out->phantoms++;
		if (idx <= prev)
			out->dups++;
		prev = idx;
		seen[idx / 8] |= (uint8_t)(1u << (idx % 8));
	}
	cu_scan_free(&s);
}

/* Mark the indices (seq - 1 < max) of every intact record of the journal in
 * jdir. Returns the number of records whose content is not the expected
 * scalar (0 when all match; 0 too for a journal whose creation was cut
 * short, which holds nothing), or -1 if the journal cannot be read. */
static inline long fu_read_journal(const char *jdir, uint8_t *seen, uint64_t max)
{
	tbw_jopen cfg = TBW_JOPEN_INIT;
	tbw_journal *j = NULL;
	tbw_jrec *recs;
	uint64_t after = 0;
	long bad = 0;

	int rc = tbw__journal_open(&j, jdir, &cfg);

	if (rc == TBW_ENOTFOUND && strstr(tbw_errmsg(), "creation was cut short"))
		return 0;   /* its first open failed before the run id: it holds nothing */
	if (rc != TBW_OK)
		return -1;
	recs = calloc(1024, sizeof *recs);
	for (;;) {
		tbw_jread info;
		memset(&info, 0, sizeof info);
		if (tbw__journal_read(j, after, recs, 1024, &info) != TBW_OK) {
			bad = -1;
			break;
		}
		for (size_t k = 0; k < info.n; k++) {
			const char *tag, *name;
			size_t len;
			double v, w;
			int64_t st;
			uint64_t idx = recs[k].seq - 1;
			if (recs[k].tag_id == TBW_JTAG_SESSION_START)
				continue;
			if (idx >= max || tbw__journal_tag_name(j, recs[k].tag_id, &name, &len) != TBW_OK) {
				bad++;
				continue;
			}
			fu_scalar(idx, &tag, &v, &st, &w);
			if (len != strlen(tag) || memcmp(name, tag, len) || recs[k].step != st ||
			    memcmp(&recs[k].value, &v, 8))
				bad++;
			seen[idx / 8] |= (uint8_t)(1u << (idx % 8));
		}
		if (info.next_after <= after || (info.n == 0 && info.ncorrupt == 0))
			break;
		after = info.next_after;
	}
	free(recs);
	tbw__journal_close(j);
	return bad;
}

static inline int fu_has(const uint8_t *seen, uint64_t i)
{
	return (seen[i / 8] >> (i % 8)) & 1;
}

#endif
