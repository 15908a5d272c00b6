/* cmds.h - the subcommands of `bramble`, one cmd_<name>.c each.
 *
 * Each gets argv[0] = its own name and returns the process exit status:
 * 0 success, 1 failure (server unreachable, call refused), 2 usage error. */
#ifndef BR_CMDS_H
#define BR_CMDS_H

int cmd_ping(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_envcp(int argc, char **argv);
int cmd_cache(int argc, char **argv);
int cmd_stage(int argc, char **argv);
int cmd_record(int argc, char **argv);

#endif
