/* api_stat.c -- tbw_stat_read() (include/tbwal.h): what a journal holds,
 * read-only and safe beside a live writer (LMDB readers never block it).
 * The library side of tbstat: one pass over the records for the per-tag
 * figures and the wall times at the cursors (lag in seconds).
 */
#include "config.h"
#include <string.h>
#include "base/alloc.h"
#include "api/api.h"
#include "base/error.h"
#include "journal/journal.h"
#include "journal/location.h"
#include "api/stathist.h"

static const size_t stat_opt_sizes[] = {
	0, TBW__FIELD_END(tbw_stat_options, journal_dir),
};
/* A field appended to the struct bumps its version: add that version's size
 * above (TBW__FIELD_END of the new last field), or this fails to compile. */
_Static_assert(sizeof stat_opt_sizes / sizeof stat_opt_sizes[0] == TBW_STAT_OPTIONS_VERSION + 1, "stat_opt_sizes lacks a size for the current version");

struct tbw_stat {
	tbw_stat_info info;
	char *jdir;
	tbw_jinfo ji;
	tbw_jexport ex;
	tbw_stat_tag *tags;      /* by tag id; seen ones are moved to the front */
	size_t ntags;
	tbw_journal *j;          /* kept open: tag names are borrowed from it */
};

void tbw_stat_free(tbw_stat *s)
{
	if (!s)
		return;
	tbw__journal_close(s->j);
	tbw__free(s->tags);
	tbw__free(s->jdir);
	tbw__free(s);
}

/* The figures, tag history included (src/api/stathist.c): each tag's count,
 * steps and last value cover every record logged, also those exported and
 * pruned (the compactor's per-tag figures in the journal's meta). */
static int scan(tbw_stat *s)
{
	tbw_stat_info *in = &s->info;
	tbw_stathist h;
	int rc = tbw__stathist_read(s->j, &h);

	if (rc != TBW_OK) {
		tbw__stathist_free(&h);
		return rc;
	}
	s->ji = h.info;
	s->ex = h.ex;
	in->records = h.stored;
	in->first_seq = h.first_seq;
	in->last_seq = h.last_seq;
	in->corrupt = h.ncorrupt;
	in->start_markers = h.nstart;
	in->export_lag_records = h.exp_lag;
	in->export_lag_seconds = h.exp_secs;
	in->ship_present = h.ship_present;
	in->ship_seq = h.ship;
	in->ship_lag_records = h.ship_lag;
	in->ship_lag_seconds = h.ship_secs;
	in->history_kept = h.hist_kept;
	in->history_complete = h.hist_complete;
	in->history_from_seq = h.hist_from;
	in->history_records = h.total;
	if (h.ntags && !(s->tags = tbw__calloc(h.ntags, sizeof *s->tags))) {
		tbw__stathist_free(&h);
		return tbw__error_set(TBW_ENOMEM, "stat", s->jdir, "out of memory");
	}
	/* the tags seen whose names read, in id order */
	for (uint32_t id = 0; id < h.ntags; id++) {
		const tbw_stathist_tag *t = &h.tags[id];
		tbw_stat_tag *o;
		if (!t->seen || !t->tag)
			continue;
		o = &s->tags[s->ntags++];
		o->tag = t->tag;
		o->tag_len = t->tag_len;
		o->count = t->count;
		o->first_step = t->first_step;
		o->last_step = t->last_step;
		o->last_value = t->last_value;
		o->last_wall_time = t->last_wall;
		o->stored = t->stored;
		o->min_step = t->min_step;
		o->max_step = t->max_step;
	}
	tbw__stathist_free(&h);
	return TBW_OK;
}

int tbw_stat_read(tbw_stat **out, const char *logdir, const tbw_stat_options *opts)
{
	tbw_stat_options o = TBW_STAT_OPTIONS_INIT;
	tbw_jopen jo = TBW_JOPEN_INIT;
	tbw_stat *s;
	int rc;

	if (!out)
		return tbw__error_set(TBW_EINVAL, "stat", logdir, "out is NULL");
	*out = NULL;
	if ((rc = TBW__OPTS_COPY(&o, opts, stat_opt_sizes, "stat", "tbw_stat_options")) != 0)
		return rc;
	if ((!logdir || !*logdir) && !o.journal_dir)
		return tbw__error_set(TBW_EINVAL, "stat", NULL, "neither logdir nor journal_dir given");
	if (!(s = tbw__calloc(1, sizeof *s)))
		return tbw__error_set(TBW_ENOMEM, "stat", logdir, "out of memory");
	s->jdir = o.journal_dir ? tbw__strdup(o.journal_dir) : tbw__location_find(logdir);
	if (!s->jdir) {
		tbw__free(s);
		return tbw__error_set(TBW_ENOMEM, "stat", logdir, "out of memory");
	}
	jo.read_only = 1;
	if ((rc = tbw__journal_open(&s->j, s->jdir, &jo)) != 0 || (rc = scan(s)) != 0) {
		tbw__errsave saved;
		tbw__error_save(&saved);
		tbw_stat_free(s);
		tbw__error_restore(&saved);
		return rc;
	}
	s->info.journal_dir = s->jdir;
	s->info.run_id = s->ji.run_id_hex;
	s->info.logdir = s->ji.logdir;
	s->info.host = s->ji.host;
	s->info.created = s->ji.created;
	s->info.format = s->ji.format;
	s->info.export_seq = s->ex.seq;
	s->info.export_offset = s->ex.offset;
	s->info.export_file_no = s->ex.file_no;
	s->info.export_file = s->ex.file;
	*out = s;
	return TBW_OK;
}

const tbw_stat_info *tbw_stat_get_info(const tbw_stat *s)
{
	return s ? &s->info : NULL;
}

size_t tbw_stat_ntags(const tbw_stat *s)
{
	return s ? s->ntags : 0;
}

const tbw_stat_tag *tbw_stat_get_tag(const tbw_stat *s, size_t i)
{
	return s && i < s->ntags ? &s->tags[i] : NULL;
}
