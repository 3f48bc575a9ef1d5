/* tbstat.c -- the old name of `tbwal stat`: the same command (tools/cmd_stat.c)
 * with tbstat's exit codes (tools/tbstat.1).
 */
#include "config.h"
#include "cli_all.h"   /* the whole CLI, static, in this program (see the file) */

int main(int argc, char **argv)
{
	return tbw_cli_run_cmd("stat", "tbstat", argc, argv);
}
