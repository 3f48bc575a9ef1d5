/* tbwal.c -- the `tbwal` command: `tbwal <subcommand> [args]` (recover, sync,
 * compact, stat, watch); see tools/tbwal.1 and tools/tbwal_main.c.
 */
#include "config.h"
#include "cli_all.h"   /* the whole CLI, static, in this program (see the file) */

int main(int argc, char **argv)
{
	return tbw_cli_tbwal_main(argc, argv);
}
