/* bramble.c - the `bramble` command: one table of subcommands, as git.c
 * has, each implemented in its own cmd_<name>.c. */
#include <stdio.h>
#include <string.h>

#include "bramble.h"
#include "cmds.h"
#include "log.h"
#include "util.h"

static const struct cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
} commands[] = {
	{ "ping", cmd_ping, "NULL round trips to a server: min/median/max latency" },
	{ "info", cmd_info, "server version, export, uptime, protocol version" },
	{ "stats", cmd_stats, "server counters: calls, errors, bytes, latency, disk" },
	{ "bench", cmd_bench, "measure each layer (network, disks, mount) and name the bottleneck" },
	{ "envcp", cmd_envcp, "copy an environment prefix, rewriting its embedded paths" },
	{ "cache", cmd_cache, "the node chunk cache: ls, pin, unpin, evict, verify, gc, stats" },
	{ "stage", cmd_stage, "fetch files of a mount into the node cache, pinned for a job" },
	{ "record", cmd_record, "name the set of files a job opened (bramblefs -o record=DIR)" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: bramble COMMAND [OPTIONS] TARGET\n\n"
		   "TARGET is HOST[:PORT] (port %d by default) or a path in a "
		   "bramblefs mount.\n\nCommands:\n", BRAMBLE_DEFAULT_PORT);
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\n'bramble COMMAND --help' shows a command's options.\n");
}

int main(int argc, char **argv)
{
	const char *name;

	log_init("bramble", LOG_LVL_WARN, false);
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	name = argv[1];
	if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
		if (argc > 2 && strcmp(name, "help") == 0) {
			char *hargv[] = { argv[2], (char *)"--help", NULL };

			for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
				if (!strcmp(argv[2], commands[i].name))
					return commands[i].fn(2, hargv);
		}
		usage(stdout);
		return 0;
	}
	if (!strcmp(name, "--version")) {
		printf("bramble %s\n", PACKAGE_VERSION);
		return 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (!strcmp(name, commands[i].name))
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "bramble: '%s' is not a bramble command.\n", name);
	usage(stderr);
	return 2;
}
