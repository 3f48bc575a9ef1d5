/* stathist.c -- read a journal's figures for tbw_stat_read (tbwal stat and watch; see
 * stathist.h). History = the per-tag figures the compactor merged with the
 * export cursor (records <= export seq) + records stored after the cursor
 * + records stored from before the journal kept history.
 */
#include "config.h"
#include <string.h>
#include "base/alloc.h"
#include "base/error.h"
#include "api/stathist.h"

static tbw_stathist_tag *slot(tbw_stathist *st, uint32_t id)
{
	if (id >= (1u << 24))
		return NULL;
	if (id >= st->ntags) {
		uint32_t nn = st->ntags ? st->ntags : 16;
		tbw_stathist_tag *t2;
		while (nn <= id)
			nn *= 2;
		t2 = tbw__realloc(st->tags, nn * sizeof *t2);
		if (!t2)
			return NULL;
		memset(t2 + st->ntags, 0, (nn - st->ntags) * sizeof *t2);
		st->tags = t2;
		st->ntags = nn;
	}
	return &st->tags[id];
}

/* Per tag: records stored from before history was kept (pre), the
 * history figures (hist), records stored after the export cursor (post). */
typedef struct acc3 { tbw_jtagstat pre, hist, post; } acc3;

static acc3 *acc_slot(acc3 **a, uint32_t *n, uint32_t id)
{
	if (id >= (1u << 24))
		return NULL;
	if (id >= *n) {
		uint32_t nn = *n ? *n : 16;
		acc3 *a2;
		while (nn <= id)
			nn *= 2;
		a2 = tbw__realloc(*a, nn * sizeof *a2);
		if (!a2)
			return NULL;
		memset(a2 + *n, 0, (nn - *n) * sizeof *a2);
		*a = a2;
		*n = nn;
	}
	return &(*a)[id];
}

static int read_once(tbw_journal *j, tbw_stathist *st)
{
	tbw_jtagstat *hs = NULL;
	size_t nhs = 0;
	acc3 *acc = NULL;
	uint32_t nacc = 0;
	tbw_jexport ex2;
	tbw_jrec buf[1024];
	tbw_jread inf;
	uint64_t after = 0;
	double export_wall = 0, ship_wall = 0;
	int rc;

	if ((rc = tbw__journal_info(j, &st->info)) != 0 || (rc = tbw__journal_get_export(j, &st->ex)) != 0 ||
	    (rc = tbw__journal_get_ship(j, &st->ship, &st->ship_present)) != 0 ||
	    (rc = tbw__journal_get_tagstats(j, &hs, &nhs, &st->hist_from, &st->hist_kept)) != 0)
		return rc;
	if ((rc = tbw__journal_get_export(j, &ex2)) != 0)
		goto out;
	if (ex2.seq != st->ex.seq) {
		rc = 1;   /* the compactor moved between the reads: again */
		goto out;
	}
	if ((rc = tbw__journal_count(j, &st->stored)) != 0 || (rc = tbw__journal_first_seq(j, &st->first_seq)) != 0 ||
	    (rc = tbw__journal_last_seq(j, &st->last_seq)) != 0)
		goto out;
	for (size_t i = 0; i < nhs; i++) {
		acc3 *t = acc_slot(&acc, &nacc, hs[i].tag_id);
		if (!t) {
			rc = tbw__error_set(TBW_ENOMEM, "stat", tbw__journal_dir(j), "out of memory");
			goto out;
		}
		t->hist = hs[i];
	}
	for (;;) {
		if ((rc = tbw__journal_read(j, after, buf, 1024, &inf)) != 0)
			goto out;
		st->ncorrupt += inf.ncorrupt;
		for (size_t i = 0; i < inf.n; i++) {
			const tbw_jrec *r = &buf[i];
			acc3 *t;
			if (r->wall_time > st->newest_wall)
				st->newest_wall = r->wall_time;
			if (r->seq == st->ex.seq)
				export_wall = r->wall_time;
			if (st->ship_present && r->seq == st->ship)
				ship_wall = r->wall_time;
			if (r->tag_id == TBW_JTAG_SESSION_START) {
				st->nstart++;
				continue;
			}
			if (r->body_len)
				continue;   /* an event record (tbw_add_event): not a scalar of its tag */
			if (!(t = acc_slot(&acc, &nacc, r->tag_id)) || !slot(st, r->tag_id)) {
				rc = tbw__error_set(TBW_ENOMEM, "stat", tbw__journal_dir(j), "out of memory");
				goto out;
			}
			st->tags[r->tag_id].stored++;
			if (!st->hist_kept || r->seq > st->ex.seq)
				tbw__jtagstat_add(&t->post, r->step, r->value, r->wall_time);
			else if (r->seq <= st->hist_from)
				tbw__jtagstat_add(&t->pre, r->step, r->value, r->wall_time);
			/* else: exported after history was kept, already in hist */
		}
		if (inf.end || inf.next_after == after)
			break;
		after = inf.next_after;
	}
	for (uint32_t id = 0; id < nacc; id++) {
		tbw_jtagstat m = acc[id].pre;
		tbw_stathist_tag *t;
		tbw__jtagstat_merge(&m, &acc[id].hist);
		tbw__jtagstat_merge(&m, &acc[id].post);
		if (m.count == 0)
			continue;
		if (!(t = slot(st, id))) {
			rc = tbw__error_set(TBW_ENOMEM, "stat", tbw__journal_dir(j), "out of memory");
			goto out;
		}
		t->seen = 1;
		t->count = m.count;
		t->first_step = m.first_step;
		t->last_step = m.last_step;
		t->min_step = m.min_step;
		t->max_step = m.max_step;
		t->last_value = m.last_value;
		t->last_wall = m.last_wall;
		st->total += m.count;
	}
	st->exp_lag = st->last_seq > st->ex.seq ? st->last_seq - st->ex.seq : 0;
	st->ship_lag = st->ship_present && st->last_seq > st->ship ? st->last_seq - st->ship : 0;
	/* seconds behind: newest commit's wall time minus that of the last
	 * exported (shipped) record still stored; when that record was
	 * pruned, the oldest stored record after it bounds it */
	if (st->exp_lag) {
		double w = export_wall;
		if (w == 0) {
			tbw_jrec r1;
			if (tbw__journal_read(j, st->ex.seq, &r1, 1, &inf) == 0 && inf.n)
				w = r1.wall_time;
		}
		st->exp_secs = w > 0 && st->newest_wall > w ? st->newest_wall - w : 0;
	}
	if (st->ship_lag) {
		double w = ship_wall;
		if (w == 0) {
			tbw_jrec r1;
			if (tbw__journal_read(j, st->ship, &r1, 1, &inf) == 0 && inf.n)
				w = r1.wall_time;
		}
		st->ship_secs = w > 0 && st->newest_wall > w ? st->newest_wall - w : 0;
	}
	/* complete: nothing was pruned before the figures were kept */
	{
		uint64_t oldest = st->stored ? st->first_seq : st->last_seq + 1;
		st->hist_complete = st->hist_kept ? (st->hist_from == 0 || oldest <= 1)
		                                  : oldest <= 1;
	}
	for (uint32_t id = 0; id < st->ntags; id++) {
		if (!st->tags[id].seen)
			continue;
		st->tags[id].id = id;
		if (tbw__journal_tag_name(j, id, &st->tags[id].tag, &st->tags[id].tag_len) != 0) {
			st->tags[id].tag = NULL;
			st->tags[id].tag_len = 0;
		}
	}
	rc = 0;
out:
	tbw__free(hs);
	tbw__free(acc);
	return rc;
}

int tbw__stathist_read(tbw_journal *j, tbw_stathist *st)
{
	int rc = 1;

	for (int tries = 0; tries < 8 && rc == 1; tries++) {
		if (tries)
			tbw__stathist_free(st);
		memset(st, 0, sizeof *st);
		rc = read_once(j, st);
	}
	if (rc == 1)
		rc = tbw__error_set(TBW_EBUSY, "stat", tbw__journal_dir(j), "the export cursor kept moving");
	return rc;
}

void tbw__stathist_free(tbw_stathist *st)
{
	if (!st)
		return;
	tbw__free(st->tags);
	st->tags = NULL;
	st->ntags = 0;
}
