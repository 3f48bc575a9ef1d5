/* syncer.c -- PLACEHOLDER until issue 5 lands the real syncer. Ships
 * nothing; it exists so the writer links while the syncer is being built. */
#include "config.h"
#include "alloc.h"
#include "error.h"
#include "syncer.h"

struct tbw_syncer { tbw_journal *j; };

int tbw__syncer_open(tbw_syncer **out, tbw_journal *j, const char *sync_dir,
                     const char *run_name, int wait_lock)
{
	(void)sync_dir; (void)run_name; (void)wait_lock;
	*out = tbw__calloc(1, sizeof **out);
	if (!*out)
		return tbw__error_set(TBW_ENOMEM, "syncer open", sync_dir, "out of memory");
	(*out)->j = j;
	return TBW_OK;
}

int tbw__syncer_pass(tbw_syncer *s, uint64_t *nshipped)
{
	(void)s;
	if (nshipped)
		*nshipped = 0;
	return TBW_OK;
}

const char *tbw__syncer_run_dir(const tbw_syncer *s)
{
	(void)s;
	return "";
}

void tbw__syncer_close(tbw_syncer *s)
{
	tbw__free(s);
}
