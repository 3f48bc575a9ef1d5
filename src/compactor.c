/* compactor.c -- PLACEHOLDER until issue 4 lands the real compactor.
 * It exports nothing; it exists so the writer links while the compactor is
 * being built. Do not ship: tests of export fail against it by design. */
#include "config.h"
#include "alloc.h"
#include "error.h"
#include "compactor.h"

struct tbw_compactor { tbw_journal *j; };

int tbw__compactor_open(tbw_compactor **out, tbw_journal *j, const tbw_compact_cfg *cfg)
{
	(void)cfg;
	*out = tbw__calloc(1, sizeof **out);
	if (!*out)
		return tbw__error_set(TBW_ENOMEM, "compactor open", NULL, "out of memory");
	(*out)->j = j;
	return TBW_OK;
}

int tbw__compactor_pass(tbw_compactor *c, uint64_t *nexported)
{
	(void)c;
	if (nexported)
		*nexported = 0;
	return TBW_OK;
}

void tbw__compactor_close(tbw_compactor *c)
{
	tbw__free(c);
}
