/* tbwal_main.c -- the `tbwal` dispatcher (git style: `tbwal <subcommand>`)
 * and the entry the old names share. The subcommands live in
 * tools/cmd_*.c; their common parts in tools/cli.c.
 */
#include "config.h"
#include <stdio.h>
#include <string.h>
#include "cli.h"
#include "cmds.h"
#include "tbwal.h"

typedef struct subcmd {
	const char *name;
	int (*fn)(tbw_cli *, int, char **);
	const char *what;
} subcmd;

static const subcmd subcmds[] = {
	{ "recover", tbw_cmd_recover, "rebuild a logdir from what survived (journal, sync folder, event files)" },
	{ "sync",    tbw_cmd_sync,    "ship a journal to a sync folder as segments, once or --follow" },
	{ "compact", tbw_cmd_compact, "export a journal to TensorBoard event files, once or --follow" },
	{ "stat",    tbw_cmd_stat,    "what a run logged (per tag, whole history), cursors and lags" },
	{ "watch",   tbw_cmd_watch,   "a live view of a run while it trains" },
	{ NULL, NULL, NULL },
};

static const subcmd *find(const char *name)
{
	for (const subcmd *s = subcmds; s->name; s++)
		if (!strcmp(s->name, name))
			return s;
	return NULL;
}

static int tbw_cli_run_cmd(const char *cmd, const char *legacy_prog, int argc, char **argv)
{
	const subcmd *s = find(cmd);
	char prog[64];
	tbw_cli cli;

	if (!s)
		return TBW_EXIT_USAGE;
	if (legacy_prog)
		snprintf(prog, sizeof prog, "%s", legacy_prog);
	else
		snprintf(prog, sizeof prog, "tbwal %s", cmd);
	tbw_cli_init(&cli, s->name, prog, legacy_prog != NULL);
	return s->fn(&cli, argc, argv);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: tbwal [--version] [--help] <command> [<args>]\n\n"
	        "tbwal %s: a crash-resilient write-ahead logger for TensorBoard.\n\n"
	        "commands:\n", TBW_VERSION_STRING);
	for (const subcmd *s = subcmds; s->name; s++)
		fprintf(f, "  %-9s %s\n", s->name, s->what);
	fputs("\n'tbwal <command> --help' (or 'tbwal help <command>', 'man tbwal-<command>')\n"
	      "describes one. Every command takes --json, --quiet and --version.\n"
	      "Intervals are seconds: \"1.5\", or with a unit: \"500ms\", \"2s\", \"1m\".\n"
	      "\n"
	      "exit status (every command):\n"
	      "  0 done               3 busy: another process holds the role (a writer runs)\n"
	      "  1 error              4 not found: no such path, no journal, nothing to recover\n"
	      "  2 usage              5 done with losses or damage (the report says where)\n"
	      "The old names tbrecover, tbsync, tbcompact and tbstat run the same commands\n"
	      "with their old exit codes (see their man pages).\n", f);
}

static int tbw_cli_tbwal_main(int argc, char **argv)
{
	const subcmd *s;

	if (argc < 2) {
		usage(stderr);
		return TBW_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return TBW_EXIT_OK;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V") || !strcmp(argv[1], "version")) {
		tbw_cli_print_version(stdout);
		return TBW_EXIT_OK;
	}
	if (!strcmp(argv[1], "help")) {
		char *hargv[3];
		if (argc < 3) {
			usage(stdout);
			return TBW_EXIT_OK;
		}
		if (!find(argv[2])) {
			fprintf(stderr, "tbwal: '%s' is not a tbwal command (see 'tbwal --help')\n", argv[2]);
			return TBW_EXIT_USAGE;
		}
		hargv[0] = argv[2];
		hargv[1] = (char *)"--help";
		hargv[2] = NULL;
		return tbw_cli_run_cmd(argv[2], NULL, 2, hargv);
	}
	s = find(argv[1]);
	if (!s) {
		fprintf(stderr, "tbwal: '%s' is not a tbwal command (see 'tbwal --help')\n", argv[1]);
		/* the old names as subcommands: a common slip */
		if (!strncmp(argv[1], "tb", 2) && find(argv[1] + 2))
			fprintf(stderr, "hint: did you mean 'tbwal %s'?\n", argv[1] + 2);
		return TBW_EXIT_USAGE;
	}
	return tbw_cli_run_cmd(s->name, NULL, argc - 1, argv + 1);
}
