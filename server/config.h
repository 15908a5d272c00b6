/* config.h - brambled's options: one table gives the name, type, field,
 * default, bounds and help of each, and serves both parsing and --help.
 *
 * config_parse() returns 0 (run), 1 (--help or --version printed: exit 0)
 * or -EINVAL with a message naming the option in err (exit 2).  Paths are
 * made absolute, because the daemon changes its directory to "/". */
#ifndef BR_CONFIG_H
#define BR_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "log.h"

struct config {
	char *export_dir;
	char *exports_file;             /* --exports FILE (excludes --export) */
	char *listen;
	char *allow;
	char *state_dir;
	char *log_file;
	char *pid_file;
	char *port_file;
	char *log_level_name;
	enum log_level log_level;
	bool read_only;
	bool no_root_squash;
	bool insecure;
	char *auth;                     /* --auth: "sys" or "munge" */
	char *handles;                  /* --handles: "auto", "kernel", "table" */
	char *munge_socket;             /* NULL: libmunge's default */
	bool foreground;
	bool trace;
	bool no_inline;
	bool no_peers;
	char *drc;                      /* "disk", "memory" or "off" */
	unsigned int threads;
	unsigned int max_conns;
	unsigned int idle_timeout;
	unsigned int request_timeout;
	unsigned int lock_lease;        /* seconds without a connection before a
					 * client's locks go */
	unsigned int lock_grace;        /* seconds of reclaim after a restart */
	bool lock_grace_set;            /* --lock-grace given (else = lease) */
	unsigned int chunk_size;        /* --chunk-size: bytes per chunk of the chunk index */
	char *cache_mem;                /* --cache-mem: "auto" or SIZE[K|M|G|T] */
	uint64_t cache_mem_bytes;       /* ... in bytes (auto: resolved by config_parse) */
	char *bench_disk;               /* --bench-disk: "root", "any" or "off" */
	char *compress;                 /* --compress: "auto", "on" or "off" */
};

int config_parse(struct config *cfg, int argc, char **argv, char *err,
		 size_t errlen);
void config_release(struct config *cfg);
void config_usage(FILE *f);

#endif
