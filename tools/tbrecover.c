/* tbrecover.c -- the old name of `tbwal recover`: the same command (tools/cmd_recover.c)
 * with tbrecover's exit codes (tools/tbrecover.1).
 */
#include "config.h"
#include "cli_all.h"   /* the whole CLI, static, in this program (see the file) */

int main(int argc, char **argv)
{
	return tbw_cli_run_cmd("recover", "tbrecover", argc, argv);
}
