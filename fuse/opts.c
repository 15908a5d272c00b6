/* opts.c - bramblefs option parsing (see opts.h). */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bramble.h"
#include "bramble_cache.h"
#include "util.h"
#include "opts.h"
#include "xalloc.h"

enum { KEY_HELP, KEY_VERSION };

#define OPT(t, f, v) { t, offsetof(struct bfs_opts, f), v }

/* bramble's own options: the one table. */
static const struct fuse_opt bfs_opt_table[] = {
	OPT("port=%u", port, 0),
	OPT("auth=%s", auth_name, 0),
	OPT("munge_socket=%s", munge_socket, 0),
	OPT("export=%s", export_name, 0),
	OPT("attr_timeout=%lf", attr_timeout, 0),
	OPT("entry_timeout=%lf", entry_timeout, 0),
	OPT("negative_timeout=%lf", negative_timeout, 0),
	OPT("timeout=%lf", timeout, 0),
	OPT("lease=%lf", lease, 0),
	OPT("hard", hard, 1),
	OPT("soft", hard, 0),
	OPT("bg", bg, 1),
	OPT("fg", bg, 0),
	OPT("trace", trace, 1),
	OPT("compress=on", compress, 1),
	OPT("compress=off", compress, 0),
	OPT("nolock", nolock, 1),
	OPT("nopeers", nopeers, 1),
	OPT("server_permissions", server_permissions, 1),
	OPT("cache=%s", cache_name, 0),
	OPT("cache_dir=%s", cache_dir, 0),
	OPT("cache_size=%s", cache_size_text, 0),
	OPT("record=%s", record_dir, 0),
	OPT("stage_user_max=%s", stage_user_max, 0),
	FUSE_OPT_KEY("-h", KEY_HELP),
	FUSE_OPT_KEY("--help", KEY_HELP),
	FUSE_OPT_KEY("-V", KEY_VERSION),
	FUSE_OPT_KEY("--version", KEY_VERSION),
	FUSE_OPT_END
};

/* Options handed on to libfuse (mount, session and command line). */
static const char *const fuse_keep[] = {
	"allow_other", "allow_root", "default_permissions", "auto_unmount",
	"blkdev", "debug", "clone_fd", "ro", "rw", "suid", "nosuid", "dev",
	"nodev", "exec", "noexec", "async", "sync", "dirsync", "atime",
	"noatime", "nodiratime", "relatime", "norelatime", "strictatime",
	"nostrictatime", "-f", "-d", "-s", "--debug", NULL
};
static const char *const fuse_keep_prefix[] = {
	"fsname=", "subtype=", "max_read=", "blksize=", "max_idle_threads=",
	"context=", "fscontext=", "defcontext=", "rootcontext=", NULL
};
/* fstab/mount(8) options with no meaning here: dropped quietly. */
static const char *const generic_drop[] = {
	"auto", "noauto", "user", "nouser", "users", "owner", "group",
	"_netdev", "defaults", "nofail", "nonempty", "loop", NULL
};
static const char *const generic_drop_prefix[] = {
	"x-", "comment=", "uid=", "gid=", "helper=", NULL
};

static bool in_list(const char *arg, const char *const *list, bool prefix)
{
	for (; *list; list++) {
		if (prefix ? !strncmp(arg, *list, strlen(*list)) : !strcmp(arg, *list))
			return true;
	}
	return false;
}

int bfs_parse_source(const char *src, char **host, char **subdir)
{
	const char *colon;
	const char *h = src, *hend;

	if (src[0] == '[') {
		hend = strchr(src, ']');
		if (!hend || hend[1] != ':')
			return -EINVAL;
		h = src + 1;
		colon = hend + 1;
	} else {
		colon = strchr(src, ':');
		if (!colon)
			return -EINVAL;
		hend = colon;
	}
	if (hend == h || (colon[1] && colon[1] != '/'))
		return -EINVAL;
	*host = xstrndup(h, (size_t)(hend - h));
	*subdir = xstrdup(colon[1] ? colon + 1 : "/");
	return 0;
}

static int opt_proc(void *data, const char *arg, int key,
		    struct fuse_args *outargs)
{
	struct bfs_opts *o = data;

	(void)outargs;
	switch (key) {
	case KEY_HELP:
		o->show_help = 1;
		return 0;
	case KEY_VERSION:
		o->show_version = 1;
		return 0;
	case FUSE_OPT_KEY_NONOPT:
		if (o->nsource++ == 0) {
			o->source = xstrdup(arg);
			return 0;
		}
		if (o->nsource == 2) {
			o->mountpoint = (char *)arg;
			return 1;  /* fuse_parse_cmdline() takes it */
		}
		snprintf(o->err, sizeof(o->err), "unexpected argument '%s'", arg);
		return -1;
	case FUSE_OPT_KEY_OPT:
		if (in_list(arg, fuse_keep, false) ||
		    in_list(arg, fuse_keep_prefix, true))
			return 1;
		if (in_list(arg, generic_drop, false) ||
		    in_list(arg, generic_drop_prefix, true))
			return 0;
		snprintf(o->err, sizeof(o->err), "unknown option '%s'", arg);
		return -1;
	}
	return 1;
}

/* cache=, cache_dir=, cache_size= into cache_mode/cache_size.  0 or
 * -EINVAL with o->err set. */
static int parse_cache(struct bfs_opts *o)
{
	o->cache_mode = BRAMBLE_CACHE_DISK;
	if (o->cache_name) {
		o->cache_mode = bramble_cache_mode_parse(o->cache_name);
		if (o->cache_mode < 0) {
			snprintf(o->err, sizeof(o->err), "cache=%s: not %s, %s or %s",
				 o->cache_name, bramble_cache_mode_name(BRAMBLE_CACHE_DISK),
				 bramble_cache_mode_name(BRAMBLE_CACHE_RAM),
				 bramble_cache_mode_name(BRAMBLE_CACHE_OFF));
			return -EINVAL;
		}
	}
	if (o->cache_dir && o->cache_dir[0] != '/') {
		snprintf(o->err, sizeof(o->err),
			 "cache_dir=%s: not an absolute path", o->cache_dir);
		return -EINVAL;
	}
	if (o->cache_size_text &&
	    (parse_size(o->cache_size_text, &o->cache_size) < 0 ||
	     o->cache_size == 0)) {
		snprintf(o->err, sizeof(o->err),
			 "cache_size=%s: not a size (e.g. 512M, 20G)",
			 o->cache_size_text);
		return -EINVAL;
	}
	return 0;
}

static bool timeout_ok(double v, double max)
{
	return v >= 0 && v <= max;
}

/* SIZE, N% (1 to 100) or 0 (stagereq.h). */
static bool stage_max_ok(const char *s)
{
	size_t n = strlen(s);
	unsigned long long v;
	uint64_t b;
	char *num;
	bool ok;

	if (n < 2 || s[n - 1] != '%')
		return parse_size(s, &b) == 0;
	num = xstrndup(s, n - 1);
	ok = parse_uint(num, 1, 100, &v) == 0;
	free(num);
	return ok;
}

int bfs_opts_parse(int argc, char **argv, struct bfs_opts *o,
		   struct fuse_args *out_args)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);

	memset(o, 0, sizeof(*o));
	o->port = BRAMBLE_DEFAULT_PORT;
	o->attr_timeout = 1.0;
	o->entry_timeout = 1.0;
	o->negative_timeout = 0.0;
	o->lease = 30.0;
	o->compress = 1;
	o->timeout = BRAMBLE_DEFAULT_TIMEOUT_MS / 1000.0;
	*out_args = (struct fuse_args)FUSE_ARGS_INIT(0, NULL);
	if (fuse_opt_parse(&args, o, bfs_opt_table, opt_proc) < 0) {
		if (!o->err[0])
			snprintf(o->err, sizeof(o->err), "invalid options");
		goto fail;
	}
	if (o->show_help || o->show_version) {
		*out_args = args;
		return 0;
	}
	if (!o->source || !o->mountpoint) {
		snprintf(o->err, sizeof(o->err), "%s",
			 !o->source ? "missing HOST:/[SUBDIR]" : "missing MOUNTPOINT");
		goto fail;
	}
	if (bfs_parse_source(o->source, &o->host, &o->subdir) < 0) {
		snprintf(o->err, sizeof(o->err),
			 "'%s' is not HOST:/[SUBDIR]", o->source);
		goto fail;
	}
	if (o->export_name) {
		/* The MOUNT path says which export (exports.h on the server):
		 * "HOST:/NAME/sub" and "HOST:/ -o export=NAME/sub" are one. */
		const char *e = o->export_name;
		size_t n;

		while (*e == '/')
			e++;
		if (strcmp(o->subdir, "/") || !*e) {
			snprintf(o->err, sizeof(o->err), "export=%s: %s", o->export_name,
				 *e ? "give the export in HOST:/NAME or in -o export=, not both"
				    : "empty export name");
			goto fail;
		}
		free(o->subdir);
		o->subdir = xmalloc(strlen(e) + 2);
		sprintf(o->subdir, "/%s", e);
		/* Logs and `mount' show "HOST:/NAME/sub", the same either way. */
		n = strlen(o->source);
		if (o->source[n - 1] == '/')
			o->source[--n] = '\0';
		o->source = xrealloc(o->source, n + strlen(o->subdir) + 1);
		strcpy(o->source + n, o->subdir);
	}
	if (o->auth_name && bramble_auth_parse(o->auth_name, &o->auth) < 0) {
		snprintf(o->err, sizeof(o->err), "auth=%s: not sys, munge or auto",
			 o->auth_name);
		goto fail;
	}
	if (parse_cache(o) < 0)
		goto fail;
	if (o->record_dir && o->record_dir[0] != '/') {
		snprintf(o->err, sizeof(o->err),
			 "record=%s: not an absolute path", o->record_dir);
		goto fail;
	}
	if (o->stage_user_max && !stage_max_ok(o->stage_user_max)) {
		snprintf(o->err, sizeof(o->err), "stage_user_max=%s: not a size (e.g. 4G), "
			 "N%% of the cache's quota, or 0", o->stage_user_max);
		goto fail;
	}
	if (o->port == 0 || o->port > 65535) {
		snprintf(o->err, sizeof(o->err), "port=%u: out of range", o->port);
		goto fail;
	}
	if (!timeout_ok(o->attr_timeout, 86400) || !timeout_ok(o->entry_timeout, 86400) ||
	    !timeout_ok(o->negative_timeout, 86400) || !timeout_ok(o->lease, 86400) ||
	    !(o->timeout > 0) ||
	    o->timeout > 86400) {
		snprintf(o->err, sizeof(o->err), "a timeout is out of range");
		goto fail;
	}
	*out_args = args;
	return 0;
fail:
	fuse_opt_free_args(&args);
	return -EINVAL;
}

void bfs_opts_release(struct bfs_opts *o)
{
	free(o->source);
	free(o->host);
	free(o->subdir);
	free(o->export_name);
	free(o->auth_name);
	free(o->munge_socket);
	free(o->cache_name);
	free(o->cache_dir);
	free(o->cache_size_text);
	free(o->record_dir);
	free(o->stage_user_max);
	o->record_dir = o->stage_user_max = NULL;
	o->auth_name = o->munge_socket = NULL;
	o->cache_name = o->cache_dir = o->cache_size_text = NULL;
	o->source = o->host = o->subdir = o->export_name = NULL;
}

void bfs_usage(const char *prog)
{
	printf("usage: %s HOST:/[EXPORT/][SUBDIR] MOUNTPOINT [-f] [-d] [-o opt,...]\n"
	       "\n"
	       "bramble options:\n"
	       "    -o port=N              server port (default %d)\n"
	       "    -o export=NAME[/SUB]   the server's export NAME (same as HOST:/NAME/SUB)\n"
	       "    -o auth=MODE           sys, munge, or auto: AUTH_SYS until the server\n"
	       "                           requires MUNGE (default auto)\n"
	       "    -o munge_socket=PATH   munged's socket (default libmunge's)\n"
	       "    -o attr_timeout=S      attribute cache timeout (default 1.0)\n"
	       "    -o entry_timeout=S     name cache timeout (default 1.0)\n"
	       "    -o negative_timeout=S  cache of missing names (default 0)\n"
	       "    -o lease=S             trust attributes, names and opens the server\n"
	       "                           calls back on change for S seconds (default 30;\n"
	       "                           0: off); changes made on the server's disk\n"
	       "                           behind brambled are seen after S seconds\n"
	       "    -o timeout=S           wait for an unreachable server, then EIO\n"
	       "                           (default 60)\n"
	       "    -o hard                calls (and the mount itself) wait for the server\n"
	       "                           for ever, interruptibly (EINTR); -o soft: the\n"
	       "                           default, EIO after timeout\n"
	       "    -o bg                  server unreachable at mount time: mount at once\n"
	       "                           and connect in the background; calls wait as any\n"
	       "                           call would (-o fg, the default: the mount fails\n"
	       "                           after timeout, or waits for ever with hard)\n"
	       "    -o compress=off        ask for chunks uncompressed (default on: the\n"
	       "                           server sends them zstd-compressed when it pays)\n"
	       "    -o trace               log one line per operation\n"
	       "    -o nolock              fcntl/flock locks are local to this node\n"
	       "                           (default: cluster-wide, held by the server)\n"
	       "    -o nopeers             chunks only from the server (default: nodes\n"
	       "                           reading the same chunks pass them on to each\n"
	       "                           other, when the server allows it)\n"
	       "    -o server_permissions  leave every permission check to the server\n"
	       "                           (default: the kernel checks too, with\n"
	       "                           default_permissions; see bramblefs(8))\n"
	       "    -o cache=MODE          node chunk cache: disk (default; shared by every\n"
	       "                           mount and tool on the node), ram (this mount,\n"
	       "                           bounded), off (plain reads, no chunks)\n"
	       "    -o cache_dir=PATH      disk cache directory (default " BRAMBLE_CACHE_DIR ")\n"
	       "    -o cache_size=SIZE     cache quota, e.g. 2G (default: the last one set\n"
	       "                           for the directory, else 10%% of its filesystem;\n"
	       "                           ram: 1/8 of RAM, at most 1G)\n"
	       "    -o record=DIR          record the files each Slurm job opens (its\n"
	       "                           SLURM_JOB_ID or job_ID cgroup) in\n"
	       "                           DIR/job-ID.set, for bramble stage --learned\n"
	       "    -o stage_user_max=SIZE what one ordinary user may pin in the node cache\n"
	       "                           through this mount (bramble stage as a user):\n"
	       "                           SIZE, or N%% of the cache's quota (default\n"
	       "                           25%%); 0: users may not stage\n"
	       "    -f                     stay in the foreground\n"
	       "    -d, -o debug           libfuse debug output (implies -f)\n"
	       "    -h, --help             this help\n"
	       "    -V, --version          print the version\n"
	       "\n"
	       "FUSE options: allow_other, default_permissions, ro, nosuid, nodev,\n"
	       "noexec, fsname=, max_read=, auto_unmount, ...\n"
	       "fstab options (_netdev, auto, noauto, user, defaults, x-systemd.*,\n"
	       "comment=) are accepted and ignored.\n",
	       prog, BRAMBLE_DEFAULT_PORT);
}
