/* api_read.c -- tbw_read_journal() (include/tbwal.h): the scalars a journal
 * still stores, read-only, for tbwal.read_scalars() (the records after the
 * export cursor are those the event files do not hold yet).
 */
#include "config.h"
#include <string.h>
#include "base/alloc.h"
#include "base/error.h"
#include "journal/journal.h"
#include "journal/location.h"

int tbw_read_journal(const char *logdir, const char *journal_dir, uint64_t after_seq,
                     tbw_scalar_fn fn, void *ctx, uint64_t *export_seq)
{
	tbw_jopen jo = TBW_JOPEN_INIT;
	tbw_journal *j = NULL;
	tbw_jexport ex;
	tbw_jrec *buf = NULL;
	tbw_jread inf;
	char *jdir;
	uint64_t after = after_seq;
	int rc;

	if (export_seq)
		*export_seq = 0;
	if ((!logdir || !*logdir) && !journal_dir)
		return tbw__error_set(TBW_EINVAL, "read journal", NULL, "neither logdir nor journal_dir given");
	if (!fn)
		return tbw__error_set(TBW_EINVAL, "read journal", logdir, "fn is NULL");
	jdir = journal_dir ? tbw__strdup(journal_dir) : tbw__location_find(logdir);
	if (!jdir)
		return tbw__error_set(TBW_ENOMEM, "read journal", logdir, "out of memory");
	jo.read_only = 1;
	if ((rc = tbw__journal_open(&j, jdir, &jo)) != 0)
		goto out;
	if ((rc = tbw__journal_get_export(j, &ex)) != 0)
		goto out;
	if (export_seq)
		*export_seq = ex.seq;
	if (!(buf = tbw__malloc(1024 * sizeof *buf))) {
		rc = tbw__error_set(TBW_ENOMEM, "read journal", jdir, "out of memory");
		goto out;
	}
	for (;;) {
		if ((rc = tbw__journal_read(j, after, buf, 1024, &inf)) != 0)
			goto out;
		for (size_t i = 0; i < inf.n; i++) {
			tbw_scalar_rec r;
			if (buf[i].tag_id == TBW_JTAG_SESSION_START || buf[i].body_len /* an event record */ ||
			    tbw__journal_tag_name(j, buf[i].tag_id, &r.tag, &r.tag_len) != 0)
				continue;
			r.seq = buf[i].seq;
			r.step = buf[i].step;
			r.value = buf[i].value;
			r.wall_time = buf[i].wall_time;
			if (fn(ctx, &r))
				goto out;
		}
		if (inf.end || inf.next_after == after)
			break;
		after = inf.next_after;
	}
out:
	tbw__free(buf);
	tbw__journal_close(j);
	tbw__free(jdir);
	return rc;
}
