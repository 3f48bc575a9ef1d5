/* cli_all.h -- the whole tbwal command line, compiled into the program that
 * includes it: every tool (tbwal and the old names) is one translation unit
 * of its own tools/<name>.c plus this, and everything here is static. So
 * the tools share one copy of the source (tools/cli.c, tools/cmd_*.c,
 * tools/tbwal_main.c) without a library of their own, and
 * the Python wheel, which compiles each tool's sources from mk/ fragments with
 * main renamed into one extension, links them side by side without clashes.
 */
#ifndef TBW_CLI_ALL_H
#define TBW_CLI_ALL_H

#include "cli.h"
#include "cmds.h"
#include "cli.c"
#include "cmd_recover.c"
#include "cmd_sync.c"
#include "cmd_compact.c"
#include "cmd_stat.c"
#include "cmd_watch.c"
#include "tbwal_main.c"

#endif
