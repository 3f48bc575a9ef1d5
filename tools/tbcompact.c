/* tbcompact.c -- the old name of `tbwal compact`: the same command (tools/cmd_compact.c)
 * with tbcompact's exit codes (tools/tbcompact.1).
 */
#include "config.h"
#include "cli_all.h"   /* the whole CLI, static, in this program (see the file) */

int main(int argc, char **argv)
{
	return tbw_cli_run_cmd("compact", "tbcompact", argc, argv);
}
