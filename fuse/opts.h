/* opts.h - bramblefs command line: `bramblefs HOST:/[SUBDIR] MOUNTPOINT
 * [-f] [-o opt,...]`, parsed with one fuse_opt table.
 *
 * bramble's own -o options are consumed; the usual FUSE options
 * (allow_other, default_permissions, ro, nosuid, fsname=, ...) and the
 * command-line flags libfuse understands (-f, -d, -s) are kept in
 * out_args for fuse_parse_cmdline()/fuse_session_new(); generic options
 * that fstab passes through mount.fuse3 (_netdev, auto, defaults,
 * x-systemd.*, comment=*, ...) are dropped quietly.  Anything else is
 * refused, naming it. */
#ifndef BR_FUSE_OPTS_H
#define BR_FUSE_OPTS_H

#include <fuse_opt.h>
#include <stdbool.h>
#include <stdint.h>

#define BFS_STAGE_USER_MAX_DEFAULT "25%"

struct bfs_opts {
	char *source;              /* "HOST:/SUBDIR" as given */
	char *host;                /* HOST */
	char *subdir;              /* "/SUBDIR", "/" for the root */
	char *export_name;         /* -o export=NAME[/SUB]: becomes subdir */
	unsigned int port;
	char *auth_name;           /* auth=sys|munge|auto, as given */
	int auth;                  /* ... parsed: BRAMBLE_AUTH_* */
	char *munge_socket;        /* munge_socket=PATH; NULL: libmunge's */
	double attr_timeout, entry_timeout, negative_timeout;
	double timeout;            /* seconds a call waits for the server */
	double lease;              /* -o lease=S: trust called-back data (lease.h); 0: off */
	int hard;                  /* calls never time out (interruptible) */
	int bg;                    /* server down at mount time: mount anyway */
	int trace;
	int compress;              /* -o compress=on|off: accept zstd chunks */
	int nolock;                /* -o nolock: node-local locks (the kernel's) */
	int nopeers;               /* -o nopeers: never fetch from or serve other nodes */
	/* -o server_permissions: no default_permissions (see add_default_opts) */
	int server_permissions;
	char *cache_name;          /* cache=disk|ram|off, as given */
	int cache_mode;            /* ... parsed: BRAMBLE_CACHE_* */
	char *cache_dir;           /* cache_dir=PATH; NULL: BRAMBLE_CACHE_DIR */
	char *cache_size_text;     /* cache_size=SIZE, as given */
	uint64_t cache_size;       /* ... in bytes; 0: the cache's default */
	char *record_dir;          /* -o record=DIR: learned sets (record.h) */
	/* -o stage_user_max=SIZE|N%: what one ordinary user may pin through
	 * the stage socket (stagereq.h); "0": users may not stage */
	char *stage_user_max;
	int show_help, show_version;
	int nsource;               /* non-options seen */
	char *mountpoint;          /* borrowed from argv (also in out_args) */
	char err[256];             /* message when parsing failed */
};

/* Parse argv into *o (defaults first) and out_args (fuse_opt_free_args()
 * it).  Returns 0, or -EINVAL with o->err set (the caller prints it and
 * exits 2).  With --help/--version only those flags are set. */
int bfs_opts_parse(int argc, char **argv, struct bfs_opts *o,
		   struct fuse_args *out_args);
void bfs_opts_release(struct bfs_opts *o);
/* Split "HOST:/SUBDIR" ("[V6]:/SUBDIR" too).  0 or -EINVAL. */
int bfs_parse_source(const char *src, char **host, char **subdir);
void bfs_usage(const char *prog);

#endif
