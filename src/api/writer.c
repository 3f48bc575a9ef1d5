/* writer.c -- the public API of include/tbwal.h: one writer per run, the
 * journal underneath, and the background threads (durability sync,
 * compactor, syncer).
 *
 * DESIGN
 * A tbw_writer handle points at a shared `wcore`: opening the same journal
 * twice in one process returns a second handle on the same core (one
 * compactor, one syncer, one set of threads), reference counted.
 *
 * THE SHARED-OPEN RULE (core_adopt): a second open's options either take
 * effect on the shared core or fail with TBW_EINVAL naming the option;
 * none is ignored.
 *  - durability: the strongest applies (ALWAYS > INTERVAL > NEVER); the
 *    shortest durability_interval_ms, compact_interval_ms (0 counts as the
 *    longest: export only on flush) and sync_interval_ms apply.
 *  - sync_dir: a core without one starts shipping to it, everything not
 *    yet shipped included (records the compactor already pruned are put
 *    back from the event files first, src/export/backfill.c); a different one is
 *    refused. run_name must match the shipping core's.
 *  - purge_step: appends its SessionLog START marker, as a first open does.
 *  - scalar_format, filename_suffix: must match (files already written).
 * A core being closed is waited for, then opened anew.
 *
 * CLOSING: a handle counts the calls in flight on it; tbw_shutdown() marks
 * it closed, waits for them, then drops the core reference. Calls racing
 * it return 0 (and are flushed) or TBW_ECLOSED.
 *
 * tbw_add_scalar() is the hot path: no lock of ours, no system call beyond
 * what LMDB makes for the commit (wall time comes from the vDSO, fork
 * detection from a counter bumped by pthread_atfork()).
 *
 * Threads sleep on one condition variable (CLOCK_MONOTONIC) so tbw_close()
 * wakes them at once; passes of the compactor (and of the syncer) are
 * serialised by a mutex each, since tbw_flush() runs them too.
 */
#include "config.h"
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "base/alloc.h"
#include "export/compactor.h"
#include "format/crc32c.h"
#include "base/error.h"
#include "format/event.h"
#include "journal/journal.h"
#include "base/os.h"
#include "api/api.h"
#include "export/backfill.h"
#include "journal/location.h"
#include "sync/syncer.h"
#include "base/tagname.h"
#include "api/writer.h"

typedef struct wcore {
	struct wcore *next;
	int refs;
	int closing;             /* last handle gone; being torn down (cores_mu) */
	pid_t closing_pid;       /* by this process (a forked child never waits for it) */
	tbw_journal *j;
	tbw_journal *j_always;   /* a synced-commit handle when a later open asked for ALWAYS */
	char *logdir;
	char *jdir;
	tbw_options opts;        /* strings below are owned copies */
	char *sync_dir, *suffix, *run_name;
	tbw_compactor *comp;
	tbw_syncer *syncer;

	pthread_mutex_t mu;      /* stop flag, cv */
	pthread_cond_t cv;
	int stopping;
	pthread_t t_dur, t_comp, t_sync;
	int has_dur, has_comp, has_sync;
	pthread_mutex_t comp_mu; /* one compactor pass at a time */
	atomic_uint_fast64_t kick_at; /* an append reaching this seq wakes the compactor */
	int comp_kicked;         /* under mu: the compactor's wait ends early */
	pthread_mutex_t sync_mu; /* one syncer pass at a time */
} wcore;

struct tbw_writer {
	wcore *c;
	atomic_int closed;       /* tbw_shutdown() began */
	atomic_int inflight;     /* calls running on this handle */
};

static pthread_mutex_t cores_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cores_cv = PTHREAD_COND_INITIALIZER;  /* a closing core went away */
static wcore *cores;

static const size_t options_sizes[] = {
	0, TBW__FIELD_END(tbw_options, run_name), TBW__FIELD_END(tbw_options, max_record_bytes),
};
/* A field appended to the struct bumps its version: add that version's size
 * above (TBW__FIELD_END of the new last field), or this fails to compile. */
_Static_assert(sizeof options_sizes / sizeof options_sizes[0] == TBW_OPTIONS_VERSION + 1, "options_sizes lacks a size for the current version");

/* ---- validation ---- */

static int check_name(const char *s, const char *what, int allow_slash)
{
	if (!s)
		return TBW_OK;
	if (strlen(s) > 200)
		return tbw__error_set(TBW_EINVAL, "open", NULL, "option %s is longer than 200 bytes", what);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f || (!allow_slash && *p == '/'))
			return tbw__error_set(TBW_EINVAL, "open", NULL,
			                      "option %s holds a %s", what, *p == '/' ? "'/'" : "control character");
	return TBW_OK;
}

static int check_options(const tbw_options *o)
{
	if (o->max_record_bytes > TBW_RECORD_MAX_LIMIT)
		return tbw__error_set(TBW_EINVAL, "open", NULL, "max_record_bytes %zu is above the limit %zu",
		                      o->max_record_bytes, (size_t)TBW_RECORD_MAX_LIMIT);
	if ((unsigned)o->durability > TBW_DURABILITY_NEVER)
		return tbw__error_set(TBW_EINVAL, "open", NULL, "durability %d is not a TBW_DURABILITY_* value",
		                      (int)o->durability);
	if ((unsigned)o->scalar_format > TBW_SCALAR_TENSOR)
		return tbw__error_set(TBW_EINVAL, "open", NULL, "scalar_format %d is not a TBW_SCALAR_* value",
		                      (int)o->scalar_format);
	if (o->durability == TBW_DURABILITY_INTERVAL && o->durability_interval_ms == 0)
		return tbw__error_set(TBW_EINVAL, "open", NULL,
		                      "durability_interval_ms is 0: use TBW_DURABILITY_ALWAYS for a sync per call");
	if (o->journal_dir && !*o->journal_dir)
		return tbw__error_set(TBW_EINVAL, "open", NULL, "journal_dir is empty (NULL means the default)");
	if (o->sync_dir && !*o->sync_dir)
		return tbw__error_set(TBW_EINVAL, "open", NULL, "sync_dir is empty (NULL means no sync)");
	if (o->sync_dir && tbw__sync_check_dir(o->sync_dir) != TBW_OK)
		return TBW_ENOTFOUND;    /* on Drive's path, Drive not mounted: before anything is made */
	if (check_name(o->filename_suffix, "filename_suffix", 0) || check_name(o->run_name, "run_name", 0))
		return TBW_EINVAL;
	if (o->run_name && (!*o->run_name || !strcmp(o->run_name, ".") || !strcmp(o->run_name, "..")))
		return tbw__error_set(TBW_EINVAL, "open", NULL, "run_name \"%s\" is not a usable name", o->run_name);
	return TBW_OK;
}

/* ---- threads ---- */

/* Wait up to ms on the core's cv; 1 if stopping. With kick, also end
 * early (returning 0) once *kick is set, and clear it. */
static int wait_ms_kick(wcore *c, unsigned ms, int *kick)
{
	struct timespec ts;
	int stop;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&c->mu);
	while (!c->stopping && !(kick && *kick)) {
		if (pthread_cond_timedwait(&c->cv, &c->mu, &ts) == ETIMEDOUT)
			break;
	}
	if (kick)
		*kick = 0;
	stop = c->stopping;
	pthread_mutex_unlock(&c->mu);
	return stop;
}

static int wait_ms(wcore *c, unsigned ms)
{
	return wait_ms_kick(c, ms, NULL);
}

/* A bounded journal (issue 18): the journal's disk use is set by the most
 * records it ever held (LMDB files do not shrink; pruned pages are reused).
 * Waiting a whole compact_interval_ms with a fast writer lets a second of
 * appends pile up (1.6 M records, ~150 MB of pages at 0.6 us a call);
 * so every KICK_RECORDS appends wake the background compactor early. At
 * the default interval and a slow writer nothing changes. */
#define KICK_RECORDS 131072u

static void kick_check(wcore *c, uint64_t seq)
{
	uint64_t at = atomic_load_explicit(&c->kick_at, memory_order_relaxed);
	if (seq < at)
		return;
	if (!atomic_compare_exchange_strong(&c->kick_at, &at, seq + KICK_RECORDS))
		return;
	pthread_mutex_lock(&c->mu);
	c->comp_kicked = 1;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

static int comp_pass(wcore *c)
{
	int rc = TBW_OK;
	pthread_mutex_lock(&c->comp_mu);
	if (c->comp)
		rc = tbw__compactor_pass(c->comp, NULL);
	pthread_mutex_unlock(&c->comp_mu);
	return rc;
}

static int sync_pass(wcore *c)
{
	int rc = TBW_OK;
	pthread_mutex_lock(&c->sync_mu);
	if (c->syncer)
		rc = tbw__syncer_pass(c->syncer, NULL);
	pthread_mutex_unlock(&c->sync_mu);
	return rc;
}

/* An interval a later open may shorten (core_adopt), read under mu. */
static unsigned interval_of(wcore *c, const unsigned *field)
{
	unsigned v;
	pthread_mutex_lock(&c->mu);
	v = *field;
	pthread_mutex_unlock(&c->mu);
	return v;
}

static void *dur_main(void *p)
{
	wcore *c = p;
	while (!wait_ms(c, interval_of(c, &c->opts.durability_interval_ms))) {
		/* a failure poisons the journal: later writes say why */
		if (tbw__journal_check_poisoned(c->j) == TBW_OK)
			tbw__journal_sync(c->j);
	}
	return NULL;
}

static void *comp_main(void *p)
{
	wcore *c = p;
	/* first pass at once: export what an earlier writer left */
	do {
		comp_pass(c); /* errors are retried next time; tbw_flush reports them */
	} while (!wait_ms_kick(c, interval_of(c, &c->opts.compact_interval_ms), &c->comp_kicked));
	return NULL;
}

static void *sync_main(void *p)
{
	wcore *c = p;
	do {
		sync_pass(c);
	} while (!wait_ms(c, interval_of(c, &c->opts.sync_interval_ms)));
	return NULL;
}

static void stop_threads(wcore *c)
{
	pthread_mutex_lock(&c->mu);
	c->stopping = 1;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	if (c->has_dur)
		pthread_join(c->t_dur, NULL);
	if (c->has_comp)
		pthread_join(c->t_comp, NULL);
	if (c->has_sync)
		pthread_join(c->t_sync, NULL);
	c->has_dur = c->has_comp = c->has_sync = 0;
}

static int core_flush(wcore *c)
{
	int rc = tbw__journal_check_poisoned(c->j);
	if (rc)
		return rc;
	if ((rc = tbw__journal_sync(c->j)) != 0)
		return rc;
	if ((rc = comp_pass(c)) != 0)
		return rc;
	if ((rc = sync_pass(c)) != 0)
		return rc;
	return TBW_OK;
}

static void core_free(wcore *c)
{
	if (!c)
		return;
	tbw__syncer_close(c->syncer);
	tbw__compactor_close(c->comp);
	tbw__journal_close(c->j_always);
	tbw__journal_close(c->j); /* drops the writer role too */
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->comp_mu);
	pthread_mutex_destroy(&c->sync_mu);
	tbw__free(c->logdir);
	tbw__free(c->jdir);
	tbw__free(c->sync_dir);
	tbw__free(c->suffix);
	tbw__free(c->run_name);
	tbw__free(c);
}

/* Release a closing core's journal and roles, then take it off the list
 * (waking opens waiting for it: they may now take the roles) and free it. */
static void core_free_listed(wcore *c)
{
	tbw__syncer_close(c->syncer);
	c->syncer = NULL;
	tbw__compactor_close(c->comp);
	c->comp = NULL;
	tbw__journal_close(c->j_always);
	c->j_always = NULL;
	tbw__journal_close(c->j);
	c->j = NULL;
	pthread_mutex_lock(&cores_mu);
	for (wcore **pp = &cores; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	pthread_cond_broadcast(&cores_cv);
	pthread_mutex_unlock(&cores_mu);
	core_free(c);
}

/* ---- open ---- */

static int core_open(wcore **out, const char *logdir, const char *jdir, int redirected,
                     const tbw_options *o)
{
	wcore *c = tbw__calloc(1, sizeof *c);
	tbw_jopen jc = TBW_JOPEN_INIT;
	tbw_compact_cfg cc = TBW_COMPACT_CFG_INIT;
	pthread_condattr_t ca;
	int rc;

	*out = NULL;
	if (!c)
		return tbw__error_set(TBW_ENOMEM, "open", logdir, "out of memory");
	pthread_mutex_init(&c->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&c->comp_mu, NULL);
	pthread_mutex_init(&c->sync_mu, NULL);
	c->opts = *o;
	c->logdir = tbw__strdup(logdir);
	c->jdir = tbw__strdup(jdir);
	c->sync_dir = o->sync_dir ? tbw__strdup(o->sync_dir) : NULL;
	c->suffix = o->filename_suffix ? tbw__strdup(o->filename_suffix) : NULL;
	c->run_name = o->run_name ? tbw__strdup(o->run_name) : NULL;
	if (!c->logdir || !c->jdir || (o->sync_dir && !c->sync_dir) ||
	    (o->filename_suffix && !c->suffix) || (o->run_name && !c->run_name)) {
		core_free(c);
		return tbw__error_set(TBW_ENOMEM, "open", logdir, "out of memory");
	}
	c->opts.journal_dir = c->jdir;
	c->opts.sync_dir = c->sync_dir;
	c->opts.filename_suffix = c->suffix;
	c->opts.run_name = c->run_name;

	jc.create = 1;
	jc.sync = o->durability == TBW_DURABILITY_ALWAYS ? TBW_JSYNC_COMMIT : TBW_JSYNC_NONE;
	jc.logdir = logdir;
	if ((rc = tbw__journal_open(&c->j, jdir, &jc)) != 0)
		goto fail;
	if ((rc = tbw__journal_lock(c->j, TBW_JROLE_WRITER, 0)) != 0)
		goto fail;
	/* tell tbrecover, tbstat, tbcompact and tbsync where the journal went */
	if (redirected && (rc = tbw__location_record(logdir, jdir)) != 0)
		goto fail;
	if (o->purge_step != TBW_NO_PURGE &&
	    (rc = tbw__journal_append_start(c->j, o->purge_step, tbw__wall_time(), NULL)) != 0)
		goto fail;
	cc.logdir = logdir;
	cc.scalar_format = o->scalar_format;
	cc.filename_suffix = c->suffix;
	if ((rc = tbw__compactor_open(&c->comp, c->j, &cc)) != 0)
		goto fail;
	if (c->sync_dir &&
	    (rc = tbw__syncer_open(&c->syncer, c->j, c->sync_dir, c->run_name, 0)) != 0)
		goto fail;
	if (o->compact_interval_ms == 0 && (rc = comp_pass(c)) != 0)
		goto fail;
	if (o->durability == TBW_DURABILITY_INTERVAL) {
		if (pthread_create(&c->t_dur, NULL, dur_main, c) != 0) {
			rc = tbw__error_set(TBW_ENOMEM, "open", logdir, "cannot start the durability thread");
			goto fail;
		}
		c->has_dur = 1;
	}
	if (o->compact_interval_ms > 0) {
		if (pthread_create(&c->t_comp, NULL, comp_main, c) != 0) {
			rc = tbw__error_set(TBW_ENOMEM, "open", logdir, "cannot start the compactor thread");
			goto fail;
		}
		c->has_comp = 1;
	}
	if (c->syncer && o->sync_interval_ms > 0) {
		if (pthread_create(&c->t_sync, NULL, sync_main, c) != 0) {
			rc = tbw__error_set(TBW_ENOMEM, "open", logdir, "cannot start the syncer thread");
			goto fail;
		}
		c->has_sync = 1;
	}
	c->refs = 1;
	*out = c;
	return TBW_OK;
fail:
	stop_threads(c);
	core_free(c);
	return rc;
}

/* ---- the shared-open rule ---- */

static int strdiff(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") != 0;
}

static const char *durability_name(tbw_durability d)
{
	return d == TBW_DURABILITY_ALWAYS ? "always" : d == TBW_DURABILITY_NEVER ? "never" : "interval";
}

/* How strong a durability mode is: NEVER < INTERVAL < ALWAYS. */
static int strength(tbw_durability d)
{
	return d == TBW_DURABILITY_ALWAYS ? 2 : d == TBW_DURABILITY_INTERVAL ? 1 : 0;
}

static int conflict(const char *logdir, const char *opt, const char *now, const char *asked)
{
	return tbw__error_set(TBW_EINVAL, "open", logdir,
	                      "option %s: this process already has the logdir open with %s=\"%s\", and a second "
	                      "writer cannot change it (asked for \"%s\"); close the first writer or ask for the same",
	                      opt, opt, now, asked);
}

/* Start shipping on a core that had no sync folder: everything not shipped
 * yet, the records the compactor pruned before included (put back from the
 * event files once the ship cursor holds them). Under cores_mu. */
static int core_start_sync(wcore *c, const tbw_options *o)
{
	char *sd = tbw__strdup(o->sync_dir);
	char *rn = o->run_name ? tbw__strdup(o->run_name) : NULL;
	tbw_syncer *sy = NULL;
	tbw_sync_stats st;
	int rc;

	if (!sd || (o->run_name && !rn)) {
		tbw__free(sd);
		tbw__free(rn);
		return tbw__error_set(TBW_ENOMEM, "open", c->logdir, "out of memory");
	}
	/* no compactor pass between attaching the ship cursor and the backfill */
	pthread_mutex_lock(&c->comp_mu);
	rc = tbw__syncer_open(&sy, c->j, sd, rn, 0);
	if (rc == TBW_OK) {
		tbw__syncer_stats(sy, &st);
		if (st.unshippable)
			rc = tbw__backfill_from_events(c->j, c->logdir, st.unshippable, NULL);
	}
	pthread_mutex_unlock(&c->comp_mu);
	if (rc != TBW_OK) {
		tbw__errsave saved;
		tbw__error_save(&saved);
		tbw__syncer_close(sy);
		tbw__error_restore(&saved);
		tbw__free(sd);
		tbw__free(rn);
		return rc;
	}
	pthread_mutex_lock(&c->sync_mu);
	c->syncer = sy;
	pthread_mutex_unlock(&c->sync_mu);
	tbw__free(c->run_name);
	c->sync_dir = sd;
	c->run_name = rn;
	c->opts.sync_dir = c->sync_dir;
	c->opts.run_name = c->run_name;
	c->opts.sync_interval_ms = o->sync_interval_ms;
	if (o->sync_interval_ms > 0) {
		if (pthread_create(&c->t_sync, NULL, sync_main, c) != 0)
			return tbw__error_set(TBW_ENOMEM, "open", c->logdir, "cannot start the syncer thread");
		c->has_sync = 1;
	}
	return TBW_OK;
}

/* A second open of c's journal in this process, with options o: make them
 * take effect, or refuse naming the option (nothing changed then, except
 * for a failure while starting shipping). Under cores_mu. */
static int core_adopt(wcore *c, const tbw_options *o)
{
	char buf[32];
	int rc;

	if (o->scalar_format != c->opts.scalar_format)
		return conflict(c->logdir, "scalar_format", c->opts.scalar_format == TBW_SCALAR_TENSOR ? "tensor" : "simple",
		                o->scalar_format == TBW_SCALAR_TENSOR ? "tensor" : "simple");
	if (strdiff(o->filename_suffix, c->suffix))
		return conflict(c->logdir, "filename_suffix", c->suffix ? c->suffix : "",
		                o->filename_suffix ? o->filename_suffix : "");
	if (o->sync_dir && c->sync_dir && strcmp(o->sync_dir, c->sync_dir) != 0) {
		char *a = realpath(o->sync_dir, NULL), *b = realpath(c->sync_dir, NULL);
		int same = a && b && strcmp(a, b) == 0;
		free(a);
		free(b);
		if (!same)
			return conflict(c->logdir, "sync_dir", c->sync_dir, o->sync_dir);
	}
	if (o->sync_dir && c->sync_dir && o->run_name && strdiff(o->run_name, c->run_name))
		return conflict(c->logdir, "run_name", c->run_name ? c->run_name : "(the logdir's name)", o->run_name);
	/* durability: the strongest applies */
	if (strength(o->durability) > strength(c->opts.durability)) {
		if (o->durability == TBW_DURABILITY_ALWAYS) {
			tbw_jopen jc = TBW_JOPEN_INIT;
			jc.sync = TBW_JSYNC_COMMIT;   /* every commit on the shared env is now synced */
			if ((rc = tbw__journal_open(&c->j_always, c->jdir, &jc)) != 0)
				return rc;
			if ((rc = tbw__journal_sync(c->j)) != 0)   /* what came before, too */
				return rc;
		} else if (!c->has_dur) {
			c->opts.durability_interval_ms = o->durability_interval_ms;
			if (pthread_create(&c->t_dur, NULL, dur_main, c) != 0)
				return tbw__error_set(TBW_ENOMEM, "open", c->logdir, "cannot start the durability thread");
			c->has_dur = 1;
		}
		c->opts.durability = o->durability;
	}
	pthread_mutex_lock(&c->mu);
	if (o->durability == TBW_DURABILITY_INTERVAL && o->durability_interval_ms < c->opts.durability_interval_ms)
		c->opts.durability_interval_ms = o->durability_interval_ms;
	if (o->compact_interval_ms > 0 &&
	    (c->opts.compact_interval_ms == 0 || o->compact_interval_ms < c->opts.compact_interval_ms))
		c->opts.compact_interval_ms = o->compact_interval_ms;
	if (c->syncer && o->sync_dir && o->sync_interval_ms > 0 &&
	    (c->opts.sync_interval_ms == 0 || o->sync_interval_ms < c->opts.sync_interval_ms))
		c->opts.sync_interval_ms = o->sync_interval_ms;
	pthread_cond_broadcast(&c->cv);   /* threads pick the new periods up now */
	pthread_mutex_unlock(&c->mu);
	if (c->opts.compact_interval_ms > 0 && !c->has_comp) {
		if (pthread_create(&c->t_comp, NULL, comp_main, c) != 0)
			return tbw__error_set(TBW_ENOMEM, "open", c->logdir, "cannot start the compactor thread");
		c->has_comp = 1;
	}
	if (o->sync_dir && !c->syncer && (rc = core_start_sync(c, o)) != 0)
		return rc;
	if (o->purge_step != TBW_NO_PURGE &&
	    (rc = tbw__journal_append_start(c->j, o->purge_step, tbw__wall_time(), NULL)) != 0)
		return rc;
	(void)buf;
	(void)durability_name;
	return TBW_OK;
}

int tbw_open(tbw_writer **out, const char *logdir, const tbw_options *opts)
{
	tbw_options oc = TBW_OPTIONS_INIT;
	const tbw_options *o = &oc;
	char *alog = NULL, *jdir = NULL;
	int rc, redirected;
	tbw_writer *w;
	wcore *c;

	if (!out)
		return tbw__error_set(TBW_EINVAL, "open", logdir, "out is NULL");
	*out = NULL;
	if (!logdir || !*logdir)
		return tbw__error_set(TBW_EINVAL, "open", NULL, "logdir is NULL or empty");
	/* libgit2's rule: any version up to ours; missing fields keep defaults */
	if ((rc = TBW__OPTS_COPY(&oc, opts, options_sizes, "open", "tbw_options")) != 0)
		return rc;
	if ((rc = check_options(o)) != 0)
		return rc;
	if ((rc = tbw__mkdir_p(logdir, "open: mkdir logdir")) != 0)
		return rc;
	alog = tbw__realpath(logdir);
	if (!alog)
		return tbw__error_errno(errno, "open: realpath", logdir);
	if ((rc = tbw__location_for_writer(alog, o->journal_dir, &jdir, &redirected)) != 0)
		goto out;
	w = tbw__calloc(1, sizeof *w);
	if (!w) {
		rc = tbw__error_set(TBW_ENOMEM, "open", logdir, "out of memory");
		goto out;
	}
	atomic_init(&w->closed, 0);
	atomic_init(&w->inflight, 0);
	pthread_mutex_lock(&cores_mu);
	/* same journal already open here (and not inherited through fork)? */
	for (;;) {
		for (c = cores; c; c = c->next) {
			if (strcmp(c->jdir, jdir) != 0)
				continue;
			if (c->closing ? c->closing_pid == getpid() : !tbw__journal_forked(c->j))
				break;
		}
		if (!c || !c->closing)
			break;
		/* its last handle is closing: wait, then open anew (its
		 * compactor and syncer still hold their roles) */
		pthread_cond_wait(&cores_cv, &cores_mu);
	}
	if (c) {
		rc = core_adopt(c, o);
		if (rc == 0)
			c->refs++;
	} else {
		rc = core_open(&c, alog, jdir, redirected, o);
		if (rc == 0) {
			c->next = cores;
			cores = c;
		}
	}
	pthread_mutex_unlock(&cores_mu);
	if (rc) {
		tbw__free(w);
		goto out;
	}
	w->c = c;
	*out = w;
out:
	tbw__free(alog);
	tbw__free(jdir);
	return rc;
}

/* ---- logging ---- */

/* Enter a call on w: 0, or TBW_ECLOSED (message set) when it is shut. */
static inline int enter(tbw_writer *w, const char *op)
{
	atomic_fetch_add(&w->inflight, 1);
	if (atomic_load(&w->closed)) {
		atomic_fetch_sub(&w->inflight, 1);
		return tbw__error_set(TBW_ECLOSED, op, NULL, "the writer is closed");
	}
	return TBW_OK;
}

static inline void leave(tbw_writer *w)
{
	atomic_fetch_sub(&w->inflight, 1);
}

int tbw_add_scalar(tbw_writer *w, const char *tag, double value, int64_t step, double wall_time)
{
	size_t len;
	int rc;
	if (!w)
		return tbw__error_set(TBW_EINVAL, "add_scalar", NULL, "writer is NULL");
	if (!tag)
		return tbw__error_set(TBW_EINVAL, "add_scalar", NULL, "tag is NULL");
	if ((rc = enter(w, "add_scalar")) != TBW_OK)
		return rc;
	len = strnlen(tag, TBW_TAG_MAX + 1);
	if (!(wall_time > 0)) /* <= 0 or NaN: now */
		wall_time = tbw__wall_time();
	uint64_t seq = 0;
	rc = tbw__journal_append(w->c->j, tag, len, value, step, wall_time, &seq);
	if (rc == TBW_OK)
		kick_check(w->c, seq);
	leave(w);
	return rc;
}

int tbw_add_event(tbw_writer *w, const char *tag, int64_t step, double wall_time,
                  const void *body, size_t len)
{
	char why[256];
	size_t tag_len = 0, cap;

	if (!w)
		return tbw__error_set(TBW_EINVAL, "add_event", NULL, "writer is NULL");
	cap = w->c->opts.max_record_bytes ? w->c->opts.max_record_bytes : TBW_RECORD_MAX_DEFAULT;
	if (!body || len == 0)
		return tbw__error_set(TBW_EINVAL, "add_event", w->c->jdir, "the event body is empty");
	if (len > cap)
		return tbw__error_set(TBW_EINVAL, "add_event", w->c->jdir,
		                      "event record of %zu bytes is larger than max_record_bytes (%zu); nothing written",
		                      len, cap);
	if (tbw__event_check_body(body, len, why, sizeof why) != 0)
		return tbw__error_set(TBW_EINVAL, "add_event", w->c->jdir,
		                      "body is not a valid Event without wall_time and step: %s", why);
	if (tag) {
		tag_len = strnlen(tag, TBW_TAG_MAX + 1);
		if (tbw__journal_check_tag(tag, tag_len, "add_event") != 0)
			return TBW_EINVAL;
	} else if (tbw__event_body_tag(body, len, &tag, &tag_len) != 0 ||
	           tbw__tagname_check(tag, tag_len, why, sizeof why) != 0) {
		tag = NULL;   /* a body without a usable tag: the record names none */
		tag_len = 0;
	}
	if (!(wall_time > 0))
		wall_time = tbw__wall_time();
	return tbw__journal_append_event(w->c->j, tag, tag_len, step, wall_time, body, len, NULL);
}

int tbw_add_scalars(tbw_writer *w, size_t n, const char *const *tags,
                    const double *values, int64_t step, double wall_time)
{
	size_t small[32], *lens = small;
	int rc;
	if (!w)
		return tbw__error_set(TBW_EINVAL, "add_scalars", NULL, "writer is NULL");
	if (n == 0)
		return TBW_OK;
	if (!tags || !values)
		return tbw__error_set(TBW_EINVAL, "add_scalars", NULL, "tags or values is NULL");
	if ((rc = enter(w, "add_scalars")) != TBW_OK)
		return rc;
	if (n == 1) {   /* tbw_add_scalar's work, no length array */
		size_t len = tags[0] ? strnlen(tags[0], TBW_TAG_MAX + 1) : 0;
		uint64_t seq = 0;
		if (!(wall_time > 0))
			wall_time = tbw__wall_time();
		rc = tbw__journal_append_many(w->c->j, 1, tags, &len, values, step, wall_time, &seq);
		if (rc == TBW_OK)
			kick_check(w->c, seq);
		leave(w);
		return rc;
	}
	if (n > sizeof small / sizeof small[0]) {
		if (n > SIZE_MAX / sizeof *lens ||
		    !(lens = tbw__malloc(n * sizeof *lens))) {
			rc = tbw__error_set(TBW_ENOMEM, "add_scalars", w->c->jdir, "out of memory");
			leave(w);
			return rc;
		}
	}
	for (size_t i = 0; i < n; i++)
		lens[i] = tags[i] ? strnlen(tags[i], TBW_TAG_MAX + 1) : 0;
	if (!(wall_time > 0)) /* <= 0 or NaN: now */
		wall_time = tbw__wall_time();
	uint64_t seq = 0;
	rc = tbw__journal_append_many(w->c->j, n, tags, lens, values, step, wall_time, &seq);
	if (rc == TBW_OK)
		kick_check(w->c, seq + n - 1);
	leave(w);
	if (lens != small)
		tbw__free(lens);
	return rc;
}

int tbw_flush(tbw_writer *w)
{
	int rc;
	if (!w)
		return tbw__error_set(TBW_EINVAL, "flush", NULL, "writer is NULL");
	if ((rc = enter(w, "flush")) != TBW_OK)
		return rc;
	if (tbw__journal_forked(w->c->j))
		rc = tbw__error_set(TBW_EFORK, "flush", w->c->jdir,
		                    "writer opened by the parent process used after fork()");
	else
		rc = core_flush(w->c);
	leave(w);
	return rc;
}

int tbw_shutdown(tbw_writer *w)
{
	wcore *c;
	int rc = TBW_OK, last;

	if (!w)
		return tbw__error_set(TBW_EINVAL, "shutdown", NULL, "writer is NULL");
	if (atomic_exchange(&w->closed, 1))
		return tbw__error_set(TBW_ECLOSED, "shutdown", NULL, "the writer is already closed");
	/* calls that entered before the flag was up finish first: what they
	 * logged is flushed below */
	while (atomic_load(&w->inflight) > 0)
		sched_yield();
	c = w->c;
	if (tbw__journal_forked(c->j)) {
		/* the parent's threads do not exist here and its LMDB environment
		 * must not be touched: leave the core alone */
		return tbw__error_set(TBW_EFORK, "close", c->jdir,
		                      "writer opened by the parent process closed after fork(); nothing done");
	}
	/* Another handle shares the core: flush what this one logged while
	 * our reference still keeps the core alive. */
	pthread_mutex_lock(&cores_mu);
	last = c->refs == 1;
	pthread_mutex_unlock(&cores_mu);
	if (!last)
		rc = core_flush(c);
	pthread_mutex_lock(&cores_mu);
	last = --c->refs == 0;
	if (last) {
		c->closing = 1;   /* stays listed, so a new open waits for it */
		c->closing_pid = getpid();
	}
	pthread_mutex_unlock(&cores_mu);
	if (last) {
		int frc;
		stop_threads(c);
		frc = core_flush(c);
		if (rc == TBW_OK)
			rc = frc;
		if (rc != TBW_OK) {
			tbw__errsave saved;
			tbw__error_save(&saved);
			core_free_listed(c);
			tbw__error_restore(&saved);
		} else {
			core_free_listed(c);
		}
	}
	return rc;
}

int tbw_close(tbw_writer *w)
{
	int rc;

	if (!w)
		return TBW_OK;
	rc = atomic_load(&w->closed) ? TBW_OK : tbw_shutdown(w);
	tbw__free(w);
	return rc;
}

void tbw__writer_effective(const tbw_writer *w, tbw_options *out)
{
	wcore *c = w->c;
	pthread_mutex_lock(&c->mu);
	*out = c->opts;
	pthread_mutex_unlock(&c->mu);
}

const char *tbw_journal_path(const tbw_writer *w)
{
	return w && !atomic_load(&((tbw_writer *)w)->closed) ? w->c->jdir : "";
}
