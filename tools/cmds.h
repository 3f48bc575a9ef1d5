/* cmds.h -- the tbwal subcommands (tools/cmd_*.c) and the entry point the
 * tbwal dispatcher and the old names share (tools/tbwal_main.c).
 * Each takes argv with argv[0] = the subcommand's name, and returns the
 * process's exit status.
 */
#ifndef TBW_CMDS_H
#define TBW_CMDS_H

#include "cli.h"

static int tbw_cmd_recover(tbw_cli *cli, int argc, char **argv);
static int tbw_cmd_sync(tbw_cli *cli, int argc, char **argv);
static int tbw_cmd_compact(tbw_cli *cli, int argc, char **argv);
static int tbw_cmd_stat(tbw_cli *cli, int argc, char **argv);
static int tbw_cmd_watch(tbw_cli *cli, int argc, char **argv);

/* Run subcommand cmd ("recover", ...). legacy_prog: the old tool's name
 * (old exit codes), or NULL for `tbwal cmd`. */
static int tbw_cli_run_cmd(const char *cmd, const char *legacy_prog, int argc, char **argv);

/* `tbwal ARGS...`: the dispatcher. */
__attribute__((unused)) static int tbw_cli_tbwal_main(int argc, char **argv);

#endif
