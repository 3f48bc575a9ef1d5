/* tbsync.c -- the old name of `tbwal sync`: the same command (tools/cmd_sync.c)
 * with tbsync's exit codes (tools/tbsync.1).
 */
#include "config.h"
#include "cli_all.h"   /* the whole CLI, static, in this program (see the file) */

int main(int argc, char **argv)
{
	return tbw_cli_run_cmd("sync", "tbsync", argc, argv);
}
