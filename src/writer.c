/* writer.c -- the public API of include/tbwal.h: one writer per run, the
 * journal underneath, and the background threads (durability sync,
 * compactor, syncer).
 *
 * DESIGN
 * A tbw_writer handle points at a shared `wcore`: opening the same journal
 * twice in one process returns a second handle on the same core (one
 * compactor, one syncer, one set of threads), reference counted. The first
 * opener's options rule the core.
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
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "alloc.h"
#include "compactor.h"
#include "crc32c.h"
#include "error.h"
#include "journal.h"
#include "os.h"
#include "syncer.h"
#include "writer.h"

int (*tbw__writer_fs_is_remote_hook)(const char *path);

typedef struct wcore {
	struct wcore *next;
	int refs;
	tbw_journal *j;
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
	pthread_mutex_t sync_mu; /* one syncer pass at a time */
} wcore;

struct tbw_writer {
	wcore *c;
};

static pthread_mutex_t cores_mu = PTHREAD_MUTEX_INITIALIZER;
static wcore *cores;

/* ---- journal location ---- */

static int is_remote(const char *path)
{
	if (tbw__writer_fs_is_remote_hook)
		return tbw__writer_fs_is_remote_hook(path);
	return tbw__fs_is_remote(path);
}

char *tbw__writer_local_journal_dir(const char *abs_logdir)
{
	const char *base = getenv("TBW_LOCAL_DIR");
	char name[80], *root = NULL, *out;
	size_t n = 0, len = strlen(abs_logdir);
	const char *start = abs_logdir;

	/* the last 48 bytes of the path name it well enough; the hash keeps
	 * two logdirs with the same tail apart */
	if (len > 48)
		start = abs_logdir + len - 48;
	for (const char *p = start; *p && n < 48; p++) {
		char ch = *p;
		int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		         (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_';
		if (n == 0 && (ch == '/' || ch == '.'))
			continue;
		name[n++] = ok ? ch : '_';
	}
	snprintf(name + n, sizeof name - n, "%s%08x", n ? "-" : "",
	         tbw__crc32c_value(abs_logdir, len));
	if (base && *base) {
		root = tbw__strdup(base);
	} else {
		const char *xdg = getenv("XDG_STATE_HOME");
		if (xdg && *xdg) {
			root = tbw__path_join(xdg, "tbwal");
		} else {
			const char *home = getenv("HOME");
			char *st = tbw__path_join(home && *home ? home : "/tmp", ".local/state");
			if (st)
				root = tbw__path_join(st, "tbwal");
			tbw__free(st);
		}
	}
	if (!root)
		return NULL;
	out = tbw__path_join(root, name);
	tbw__free(root);
	return out;
}

char *tbw__writer_find_journal(const char *logdir)
{
	char *ptr = tbw__path_join(logdir, TBW_JOURNAL_POINTER);
	FILE *f;
	char line[PATH_MAX + 2];

	if (!ptr)
		return NULL;
	f = fopen(ptr, "r");
	tbw__free(ptr);
	if (f) {
		if (fgets(line, sizeof line, f)) {
			size_t n = strcspn(line, "\n");
			line[n] = 0;
			if (n > 0 && line[0] == '/') {
				fclose(f);
				return tbw__strdup(line);
			}
		}
		fclose(f);
	}
	return tbw__path_join(logdir, ".tbwal");
}

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
	if (o->version != TBW_OPTIONS_VERSION)
		return tbw__error_set(TBW_EINVAL, "open", NULL,
		                      "options version %u is not %u: start from TBW_OPTIONS_INIT",
		                      o->version, TBW_OPTIONS_VERSION);
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
	if (check_name(o->filename_suffix, "filename_suffix", 0) || check_name(o->run_name, "run_name", 0))
		return TBW_EINVAL;
	if (o->run_name && (!*o->run_name || !strcmp(o->run_name, ".") || !strcmp(o->run_name, "..")))
		return tbw__error_set(TBW_EINVAL, "open", NULL, "run_name \"%s\" is not a usable name", o->run_name);
	return TBW_OK;
}

/* ---- threads ---- */

/* Wait up to ms on the core's cv; 1 if stopping. */
static int wait_ms(wcore *c, unsigned ms)
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
	while (!c->stopping) {
		if (pthread_cond_timedwait(&c->cv, &c->mu, &ts) == ETIMEDOUT)
			break;
	}
	stop = c->stopping;
	pthread_mutex_unlock(&c->mu);
	return stop;
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

static void *dur_main(void *p)
{
	wcore *c = p;
	while (!wait_ms(c, c->opts.durability_interval_ms)) {
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
	} while (!wait_ms(c, c->opts.compact_interval_ms));
	return NULL;
}

static void *sync_main(void *p)
{
	wcore *c = p;
	do {
		sync_pass(c);
	} while (!wait_ms(c, c->opts.sync_interval_ms));
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

/* ---- open ---- */

static char *abs_path(const char *p)
{
	char *r = realpath(p, NULL); /* libc-allocated */
	char *out;
	if (!r)
		return NULL;
	out = tbw__strdup(r);
	free(r);
	if (!out)
		errno = ENOMEM;   /* callers report errno */
	return out;
}

/* Decide the journal directory; *redirected = 1 if it moved off a remote fs. */
static int choose_jdir(const char *logdir, const tbw_options *o, char **out, int *redirected)
{
	int rc;
	*out = NULL;
	*redirected = 0;
	if (o->journal_dir) {
		if ((rc = tbw__mkdir_p(o->journal_dir, "open: mkdir journal_dir")) != 0)
			return rc;
		rc = is_remote(o->journal_dir);
		if (rc < 0)
			return rc;
		if (rc == 1)
			return tbw__error_set(TBW_EINVAL, "open", o->journal_dir,
			                      "journal_dir is on a FUSE or network filesystem, where LMDB must not live");
		*out = abs_path(o->journal_dir);
		if (!*out)
			return tbw__error_errno(errno, "open: realpath", o->journal_dir);
		return TBW_OK;
	}
	rc = is_remote(logdir);
	if (rc < 0)
		return rc;
	if (rc == 0) {
		*out = tbw__path_join(logdir, ".tbwal");
		return *out ? TBW_OK : tbw__error_set(TBW_ENOMEM, "open", logdir, "out of memory");
	}
	*out = tbw__writer_local_journal_dir(logdir);
	if (!*out)
		return tbw__error_set(TBW_ENOMEM, "open", logdir, "out of memory");
	if ((rc = tbw__mkdir_p(*out, "open: mkdir local journal dir")) != 0) {
		tbw__free(*out);
		*out = NULL;
		return rc;
	}
	rc = is_remote(*out);
	if (rc != 0) {
		if (rc > 0)
			rc = tbw__error_set(TBW_EINVAL, "open", *out,
			                    "the local journal directory is itself remote: set TBW_LOCAL_DIR or journal_dir");
		tbw__free(*out);
		*out = NULL;
		return rc;
	}
	*redirected = 1;
	return TBW_OK;
}

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
	if (redirected) {
		/* tell tbrecover/tbstat where the journal went */
		char *ptr = tbw__path_join(logdir, TBW_JOURNAL_POINTER);
		char line[PATH_MAX + 2];
		int n = snprintf(line, sizeof line, "%s\n", jdir);
		if (!ptr) {
			rc = tbw__error_set(TBW_ENOMEM, "open", logdir, "out of memory");
			goto fail;
		}
		rc = tbw__replace_file(ptr, line, (size_t)n, "open: record journal location");
		tbw__free(ptr);
		if (rc)
			goto fail;
		fprintf(stderr, "tbwal: %s is on a FUSE or network filesystem; its journal is kept "
		        "on local disk at %s (recorded in %s/%s)\n", logdir, jdir, logdir, TBW_JOURNAL_POINTER);
	}
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

int tbw_open(tbw_writer **out, const char *logdir, const tbw_options *opts)
{
	tbw_options defaults = TBW_OPTIONS_INIT;
	const tbw_options *o = opts ? opts : &defaults;
	char *alog = NULL, *jdir = NULL;
	int rc, redirected;
	tbw_writer *w;
	wcore *c;

	if (!out)
		return tbw__error_set(TBW_EINVAL, "open", logdir, "out is NULL");
	*out = NULL;
	if (!logdir || !*logdir)
		return tbw__error_set(TBW_EINVAL, "open", NULL, "logdir is NULL or empty");
	if ((rc = check_options(o)) != 0)
		return rc;
	if ((rc = tbw__mkdir_p(logdir, "open: mkdir logdir")) != 0)
		return rc;
	alog = abs_path(logdir);
	if (!alog)
		return tbw__error_errno(errno, "open: realpath", logdir);
	if ((rc = choose_jdir(alog, o, &jdir, &redirected)) != 0)
		goto out;
	w = tbw__calloc(1, sizeof *w);
	if (!w) {
		rc = tbw__error_set(TBW_ENOMEM, "open", logdir, "out of memory");
		goto out;
	}
	pthread_mutex_lock(&cores_mu);
	/* same journal already open here (and not inherited through fork)? */
	for (c = cores; c; c = c->next) {
		if (!tbw__journal_forked(c->j) && strcmp(c->jdir, jdir) == 0)
			break;
	}
	if (c) {
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

int tbw_add_scalar(tbw_writer *w, const char *tag, double value, int64_t step, double wall_time)
{
	size_t len;
	if (!w)
		return tbw__error_set(TBW_EINVAL, "add_scalar", NULL, "writer is NULL");
	if (!tag)
		return tbw__error_set(TBW_EINVAL, "add_scalar", NULL, "tag is NULL");
	len = strnlen(tag, TBW_TAG_MAX + 1);
	if (!(wall_time > 0)) /* <= 0 or NaN: now */
		wall_time = tbw__wall_time();
	return tbw__journal_append(w->c->j, tag, len, value, step, wall_time, NULL);
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
	if (n > sizeof small / sizeof small[0]) {
		if (n > SIZE_MAX / sizeof *lens ||
		    !(lens = tbw__malloc(n * sizeof *lens)))
			return tbw__error_set(TBW_ENOMEM, "add_scalars", w->c->jdir, "out of memory");
	}
	for (size_t i = 0; i < n; i++)
		lens[i] = tags[i] ? strnlen(tags[i], TBW_TAG_MAX + 1) : 0;
	if (!(wall_time > 0)) /* <= 0 or NaN: now */
		wall_time = tbw__wall_time();
	rc = tbw__journal_append_many(w->c->j, n, tags, lens, values, step, wall_time, NULL);
	if (lens != small)
		tbw__free(lens);
	return rc;
}

int tbw_flush(tbw_writer *w)
{
	if (!w)
		return tbw__error_set(TBW_EINVAL, "flush", NULL, "writer is NULL");
	if (tbw__journal_forked(w->c->j))
		return tbw__error_set(TBW_EFORK, "flush", w->c->jdir,
		                      "writer opened by the parent process used after fork()");
	return core_flush(w->c);
}

int tbw_close(tbw_writer *w)
{
	wcore *c;
	int rc = TBW_OK, last;

	if (!w)
		return TBW_OK;
	c = w->c;
	tbw__free(w);
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
		for (wcore **pp = &cores; *pp; pp = &(*pp)->next)
			if (*pp == c) {
				*pp = c->next;
				break;
			}
	}
	pthread_mutex_unlock(&cores_mu);
	if (last) {
		int frc;
		stop_threads(c);
		frc = core_flush(c);
		if (rc == TBW_OK)
			rc = frc;
		core_free(c);
	}
	return rc;
}

const char *tbw_journal_path(const tbw_writer *w)
{
	return w ? w->c->jdir : "";
}
