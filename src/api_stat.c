/* api_stat.c -- tbw_stat_read() (include/tbwal.h): what a journal holds,
 * read-only and safe beside a live writer (LMDB readers never block it).
 * The library side of tbstat: one pass over the records for the per-tag
 * figures and the wall times at the cursors (lag in seconds).
 */
#include "config.h"
#include <string.h>
#include "alloc.h"
#include "api.h"
#include "error.h"
#include "journal.h"
#include "location.h"

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

static int scan(tbw_stat *s)
{
	tbw_journal *j = s->j;
	tbw_stat_info *in = &s->info;
	uint64_t ship = 0, after = 0, last;
	double newest_wall = 0, export_wall = 0, ship_wall = 0;
	uint8_t *seen = NULL;
	size_t cap = 0;
	tbw_jrec *buf;
	tbw_jread inf;
	int rc;

	if ((rc = tbw__journal_info(j, &s->ji)) != 0 || (rc = tbw__journal_get_export(j, &s->ex)) != 0 ||
	    (rc = tbw__journal_get_ship(j, &ship, &in->ship_present)) != 0 ||
	    (rc = tbw__journal_count(j, &in->records)) != 0 ||
	    (rc = tbw__journal_first_seq(j, &in->first_seq)) != 0 ||
	    (rc = tbw__journal_last_seq(j, &in->last_seq)) != 0)
		return rc;
	last = in->last_seq;
	if (!(buf = tbw__malloc(1024 * sizeof *buf)))
		return tbw__error_set(TBW_ENOMEM, "stat", s->jdir, "out of memory");
	for (;;) {
		if ((rc = tbw__journal_read(j, after, buf, 1024, &inf)) != 0)
			goto out;
		in->corrupt += inf.ncorrupt;
		for (size_t i = 0; i < inf.n; i++) {
			const tbw_jrec *r = &buf[i];
			tbw_stat_tag *t;
			if (r->wall_time > newest_wall)
				newest_wall = r->wall_time;
			if (r->seq == s->ex.seq)
				export_wall = r->wall_time;
			if (in->ship_present && r->seq == ship)
				ship_wall = r->wall_time;
			if (r->tag_id == TBW_JTAG_SESSION_START) {
				in->start_markers++;
				continue;
			}
			if (r->tag_id >= cap) {
				size_t nn = cap ? cap : 16;
				while (nn <= r->tag_id)
					nn *= 2;
				tbw_stat_tag *t2 = tbw__realloc(s->tags, nn * sizeof *t2);
				uint8_t *s2 = t2 ? tbw__realloc(seen, nn) : NULL;
				if (!t2 || !s2) {
					if (t2)
						s->tags = t2;
					rc = tbw__error_set(TBW_ENOMEM, "stat", s->jdir, "out of memory");
					goto out;
				}
				memset(t2 + cap, 0, (nn - cap) * sizeof *t2);
				memset(s2 + cap, 0, nn - cap);
				s->tags = t2;
				seen = s2;
				cap = nn;
			}
			t = &s->tags[r->tag_id];
			if (!seen[r->tag_id])
				t->first_step = r->step;
			seen[r->tag_id] = 1;
			t->count++;
			t->last_step = r->step;
			t->last_value = r->value;
			t->last_wall_time = r->wall_time;
		}
		if (inf.end || inf.next_after == after)
			break;
		after = inf.next_after;
	}
	/* keep the tags seen whose names read, in id order */
	for (size_t id = 0; id < cap; id++) {
		const char *name;
		size_t len;
		if (!seen[id] || tbw__journal_tag_name(j, (uint32_t)id, &name, &len) != 0)
			continue;
		s->tags[s->ntags] = s->tags[id];
		s->tags[s->ntags].tag = name;
		s->tags[s->ntags].tag_len = len;
		s->ntags++;
	}
	in->export_lag_records = last > s->ex.seq ? last - s->ex.seq : 0;
	in->ship_lag_records = in->ship_present && last > ship ? last - ship : 0;
	/* seconds behind: newest commit's wall time minus that of the last
	 * exported (shipped) record still stored; when that record was
	 * pruned, the oldest stored record after it bounds it */
	if (in->export_lag_records) {
		double w = export_wall;
		if (w == 0 && tbw__journal_read(j, s->ex.seq, buf, 1, &inf) == 0 && inf.n)
			w = buf[0].wall_time;
		in->export_lag_seconds = w > 0 && newest_wall > w ? newest_wall - w : 0;
	}
	if (in->ship_lag_records) {
		double w = ship_wall;
		if (w == 0 && tbw__journal_read(j, ship, buf, 1, &inf) == 0 && inf.n)
			w = buf[0].wall_time;
		in->ship_lag_seconds = w > 0 && newest_wall > w ? newest_wall - w : 0;
	}
	in->ship_seq = ship;
	rc = TBW_OK;
out:
	tbw__free(buf);
	tbw__free(seen);
	return rc;
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
