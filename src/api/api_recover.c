/* api_recover.c -- tbw_recover() and its report (include/tbwal.h): a thin
 * layer over tbw__recover_run() (src/recover/recover.c), which does the work.
 *
 * The internal report is kept inside the public one; the public structs
 * point into it, so changes to recover.c's report flow through as long as
 * the fields read here exist. "Recovered with losses" is a result here
 * (outcome), not an error code.
 */
#include "config.h"
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include "base/alloc.h"
#include "api/api.h"
#include "base/error.h"
#include "recover/recover.h"

struct tbw_recovery {
	tbw_recover_report rep;        /* recover.c's report (owns the strings) */
	char *logdir;
	char message[600];
	tbw_recovery_info info;
	tbw_recovery_source *sources;
	tbw_recovery_damage *damage;
	tbw_recovery_tag *tags;
};

static const size_t recover_opt_sizes[] = {
	0, TBW__FIELD_END(tbw_recover_options, progress_ctx),
};
/* A field appended to the struct bumps its version: add that version's size
 * above (TBW__FIELD_END of the new last field), or this fails to compile. */
_Static_assert(sizeof recover_opt_sizes / sizeof recover_opt_sizes[0] == TBW_RECOVER_OPTIONS_VERSION + 1, "recover_opt_sizes lacks a size for the current version");

void tbw_recovery_free(tbw_recovery *r)
{
	if (!r)
		return;
	tbw__recover_report_free(&r->rep);
	tbw__free(r->logdir);
	tbw__free(r->sources);
	tbw__free(r->damage);
	tbw__free(r->tags);
	tbw__free(r);
}

/* Build the public views; 0 or TBW_ENOMEM. */
static int fill_views(tbw_recovery *r)
{
	const tbw_recover_report *p = &r->rep;

	if ((p->nsources && !(r->sources = tbw__calloc(p->nsources, sizeof *r->sources))) ||
	    (p->ndamage && !(r->damage = tbw__calloc(p->ndamage, sizeof *r->damage))) ||
	    (p->ntags && !(r->tags = tbw__calloc(p->ntags, sizeof *r->tags))))
		return TBW_ENOMEM;
	for (size_t i = 0; i < p->nsources; i++) {
		const tbw_recover_source *s = &p->sources[i];
		r->sources[i] = (tbw_recovery_source){ s->kind, s->path, s->used, s->records, s->added,
		                                       s->damaged, s->note };
	}
	for (size_t i = 0; i < p->ndamage; i++) {
		const tbw_recover_damage *d = &p->damage[i];
		r->damage[i] = (tbw_recovery_damage){ d->path, d->offset, d->lost, d->what };
	}
	for (size_t i = 0; i < p->ntags; i++) {
		const tbw_recover_tag *t = &p->tags[i];
		r->tags[i] = (tbw_recovery_tag){ t->tag, t->count, t->first_step, t->last_step,
		                                 t->min_step, t->max_step, t->last_value, t->last_wall_time };
	}
	r->info.logdir = r->logdir;
	r->info.journal_dir = p->journal_dir;
	r->info.run_id = p->run_id;
	r->info.journal_created = p->journal_created;
	r->info.journal_salvaged = p->journal_salvaged;
	r->info.moved_aside = p->moved_aside;
	r->info.exported = p->exported;
	r->info.total_scalars = p->total_scalars;
	r->info.last_seq = p->last_seq;
	r->info.lost = p->lost;
	r->info.newest_shipped_wall_time = p->newest_shipped_wall_time;
	r->info.event_files = p->event_files;
	r->info.files_replaced = p->files_replaced;
	r->info.message = r->message;
	return TBW_OK;
}

int tbw_recover(tbw_recovery **out, const char *logdir, const tbw_recover_options *opts)
{
	tbw_recover_options o = TBW_RECOVER_OPTIONS_INIT;
	tbw_recover_cfg cfg = TBW_RECOVER_CFG_INIT;
	tbw_recovery *r;
	tbw__errsave saved;
	int rc;

	if (!out)
		return tbw__error_set(TBW_EINVAL, "recover", logdir, "out is NULL");
	*out = NULL;
	if (!logdir || !*logdir)
		return tbw__error_set(TBW_EINVAL, "recover", NULL, "logdir is NULL or empty");
	if ((rc = TBW__OPTS_COPY(&o, opts, recover_opt_sizes, "recover", "tbw_recover_options")) != 0)
		return rc;
	if (!(r = tbw__calloc(1, sizeof *r)) || !(r->logdir = tbw__strdup(logdir))) {
		tbw__free(r);
		return tbw__error_set(TBW_ENOMEM, "recover", logdir, "out of memory");
	}
	cfg.logdir = logdir;
	cfg.journal_dir = o.journal_dir;
	cfg.from = o.from;
	cfg.nfrom = o.nfrom;
	cfg.dry_run = o.dry_run;
	cfg.purge_step = o.purge_step;
	cfg.scalar_format = o.scalar_format;
	cfg.delete_replaced = o.delete_replaced;
	cfg.progress = o.progress;
	cfg.progress_ctx = o.progress_ctx;
	rc = tbw__recover_run(&cfg, &r->rep);
	tbw__error_save(&saved);
	if (rc == TBW_OK) {
		r->info.outcome = TBW_RECOVERED;
	} else if (rc == TBW_ECORRUPT) {
		/* recover.c's "recovered with losses": a result, said in the report */
		r->info.outcome = TBW_RECOVERED_WITH_LOSSES;
		snprintf(r->message, sizeof r->message, "%s", saved.msg);
		rc = TBW_OK;
	} else {
		r->info.outcome = TBW_RECOVER_FAILED;
		snprintf(r->message, sizeof r->message, "%s", saved.msg);
	}
	if (fill_views(r) != TBW_OK) {
		tbw_recovery_free(r);
		return tbw__error_set(TBW_ENOMEM, "recover", logdir, "out of memory");
	}
	tbw__error_restore(&saved);
	*out = r;
	return rc;
}

const tbw_recovery_info *tbw_recovery_get_info(const tbw_recovery *r)
{
	return r ? &r->info : NULL;
}

size_t tbw_recovery_nsources(const tbw_recovery *r)
{
	return r ? r->rep.nsources : 0;
}

const tbw_recovery_source *tbw_recovery_get_source(const tbw_recovery *r, size_t i)
{
	return r && i < r->rep.nsources ? &r->sources[i] : NULL;
}

size_t tbw_recovery_ndamage(const tbw_recovery *r)
{
	return r ? r->rep.ndamage : 0;
}

const tbw_recovery_damage *tbw_recovery_get_damage(const tbw_recovery *r, size_t i)
{
	return r && i < r->rep.ndamage ? &r->damage[i] : NULL;
}

size_t tbw_recovery_ntags(const tbw_recovery *r)
{
	return r ? r->rep.ntags : 0;
}

const tbw_recovery_tag *tbw_recovery_get_tag(const tbw_recovery *r, size_t i)
{
	return r && i < r->rep.ntags ? &r->tags[i] : NULL;
}
