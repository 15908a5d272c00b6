/* main.c - bramblefs: options, connecting, the FUSE session.
 *
 * `bramblefs HOST:/[SUBDIR] MOUNTPOINT [-f] [-o opt,...]`; mount.fuse3
 * calls it the same way from fstab.  Exit status: 0 after a clean
 * unmount, 1 when the mount fails, 2 for a usage error. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bfs.h"
#include "log.h"
#include "wb.h"
#include "xalloc.h"

#define EXIT_USAGE 2

/* libfuse's messages go through the same sink as ours. */
static void fuse_log_sink(enum fuse_log_level level, const char *fmt, va_list ap)
{
	enum log_level l = level <= FUSE_LOG_ERR ? LOG_LVL_ERR :
			   level <= FUSE_LOG_WARNING ? LOG_LVL_WARN :
			   level <= FUSE_LOG_INFO ? LOG_LVL_INFO : LOG_LVL_DEBUG;
	struct buf b = BUF_INIT;

	if (l > log_level_cur)
		return;
	buf_vaddf(&b, fmt, ap);
	while (b.len && b.data[b.len - 1] == '\n')
		buf_setlen(&b, b.len - 1);
	log_msg(l, "%s", b.data);
	buf_release(&b);
}

static int connect_server(struct bfs *fs)
{
	struct bramble_opts bo;
	int64_t deadline;
	int64_t backoff = 100;
	int rc;

	bramble_opts_init(&bo);
	bo.host = fs->opts.host;
	bo.port = (int)fs->opts.port;
	bo.timeout_ms = (unsigned int)(fs->opts.timeout * 1000);
	bo.client_name = "bramblefs " PACKAGE_VERSION;
	if (bo.timeout_ms == 0)
		bo.timeout_ms = 1;
	deadline = now_ns() + (int64_t)bo.timeout_ms * 1000000;
	/* A node booting with the server still down: keep trying for the
	 * call timeout, as any later call would. */
	for (;;) {
		rc = bramble_new(&bo, &fs->cl);
		if (rc == 0 || rc == -EINVAL || rc == -EACCES || rc == -EPROTO ||
		    now_ns() + backoff * 1000000 > deadline)
			return rc;
		usleep((useconds_t)backoff * 1000);
		backoff = BR_MIN(backoff * 2, 2000);
	}
}

/* Connect and MOUNT: root handle, max_data.  Logs the reason on failure. */
static int mount_export(struct bfs *fs)
{
	struct bramble_mount_res mr;
	const char *sub = fs->opts.subdir;
	int rc = connect_server(fs);

	if (rc < 0) {
		log_err("cannot connect to %s port %u: %s", fs->opts.host,
			fs->opts.port, strerror(-rc));
		return rc;
	}
	while (*sub == '/')
		sub++;
	rc = bramble_mount(fs->cl, sub, &mr);
	if (rc < 0) {
		log_err("cannot mount %s: %s%s", fs->opts.source,
			rc == -ETIMEDOUT ? "server did not answer" : strerror(-rc),
			rc == -EACCES && geteuid() != 0 ?
			" (the server accepts only reserved ports: run as root, "
			"or start brambled with --insecure)" : "");
		return rc;
	}
	if (!S_ISDIR(mr.attr.st_mode)) {
		log_err("cannot mount %s: %s", fs->opts.source, strerror(ENOTDIR));
		return -ENOTDIR;
	}
	fs->root_fh = mr.root;
	fs->max_data = mr.max_data ? BR_MIN(mr.max_data, (uint32_t)BRAMBLE_DATA_MAX)
				   : BRAMBLE_DATA_MAX;
	fs->read_only = mr.read_only;
	return 0;
}

static void add_default_opts(struct fuse_args *args, const struct bfs_opts *o)
{
	struct buf b = BUF_INIT;

	/* `mount` and /proc/mounts show "HOST:/SUBDIR on /mnt type
	 * fuse.bramblefs".  Options given later by the user win. */
	buf_addf(&b, "-osubtype=bramblefs,fsname=");
	for (const char *p = o->source; *p; p++) {
		if (*p == ',' || *p == '\\')
			buf_add(&b, "\\", 1);
		buf_add(&b, p, 1);
	}
	fuse_opt_insert_arg(args, 1, b.data);
	buf_release(&b);
}

int main(int argc, char **argv)
{
	struct bfs fs;
	struct fuse_args args;
	struct fuse_cmdline_opts cmd = { 0 };
	struct fuse_loop_config *lc = NULL;
	int rc, ret = 1;

	memset(&fs, 0, sizeof(fs));
	buf_init(&fs.ctl, 0);
	log_init("bramblefs", LOG_LVL_INFO, false);
	fuse_set_log_func(fuse_log_sink);

	if (bfs_opts_parse(argc, argv, &fs.opts, &args) < 0) {
		fprintf(stderr, "bramblefs: %s\n", fs.opts.err);
		fprintf(stderr, "usage: bramblefs HOST:/[SUBDIR] MOUNTPOINT [-f] [-o opt,...] (--help)\n");
		bfs_opts_release(&fs.opts);
		return EXIT_USAGE;
	}
	if (fs.opts.show_help) {
		bfs_usage(argv[0]);
		ret = 0;
		goto out_args;
	}
	if (fs.opts.show_version) {
		printf("bramblefs %s (libfuse %s)\n", PACKAGE_VERSION,
		       fuse_pkgversion());
		ret = 0;
		goto out_args;
	}
	add_default_opts(&args, &fs.opts);
	if (fuse_parse_cmdline(&args, &cmd) != 0) {
		ret = EXIT_USAGE;
		goto out_args;
	}
	fs.trace = fs.opts.trace;
	if (cmd.debug)
		log_set_level(LOG_LVL_DEBUG);

	/* Connect before daemonizing, so a wrong host or path is reported
	 * on the terminal and in the exit status. */
	if (mount_export(&fs) < 0)
		goto out_cmd;
	inode_table_new(&fs.root_fh, &fs.inodes);
	cred_cache_new(&fs.creds);

	fs.se = fuse_session_new(&args, &bfs_ops, sizeof(bfs_ops), &fs);
	if (!fs.se)
		goto out_fs;
	if (fuse_set_signal_handlers(fs.se) != 0)
		goto out_session;
	if (fuse_session_mount(fs.se, cmd.mountpoint) != 0)
		goto out_signals;
	/* The client's reader thread would not survive the fork: close it
	 * and connect again in the daemon. */
	if (!cmd.foreground) {
		bramble_free(fs.cl);
		fs.cl = NULL;
		log_init("bramblefs", log_level_cur, true);
	}
	if (fuse_daemonize(cmd.foreground) != 0)
		goto out_unmount;
	if (!fs.cl && connect_server(&fs) < 0) {
		log_err("cannot reconnect to %s after daemonizing", fs.opts.host);
		goto out_unmount;
	}
	/* After the fork, like the client's thread. */
	rc = wb_new(&fs, WB_THREADS, WB_MAX_BYTES, WB_MAX_FILE_BYTES, &fs.wb);
	if (rc < 0) {
		log_err("cannot start write-behind threads: %s", strerror(-rc));
		goto out_unmount;
	}
	ctl_render(&fs, cmd.mountpoint);
	log_info("mounted %s on %s", fs.opts.source, cmd.mountpoint);

	if (cmd.singlethread) {
		rc = fuse_session_loop(fs.se);
	} else {
		lc = fuse_loop_cfg_create();
		fuse_loop_cfg_set_clone_fd(lc, cmd.clone_fd);
		/* libfuse's default of 10 threads would cap the calls in
		 * flight on the pipelined connection. */
		fuse_loop_cfg_set_max_threads(lc, 64);
		fuse_loop_cfg_set_idle_threads(lc, cmd.max_idle_threads > 0 &&
					       cmd.max_idle_threads != UINT_MAX ?
					       cmd.max_idle_threads : 16);
		rc = fuse_session_loop_mt(fs.se, lc);
		fuse_loop_cfg_destroy(lc);
	}
	ret = rc == 0 ? 0 : 1;
	wb_free(fs.wb);  /* every acknowledged write reaches the server */
	fs.wb = NULL;
out_unmount:
	fuse_session_unmount(fs.se);
out_signals:
	fuse_remove_signal_handlers(fs.se);
out_session:
	fuse_session_destroy(fs.se);
out_fs:
	inode_table_free(fs.inodes);
	cred_cache_free(fs.creds);
out_cmd:
	bramble_free(fs.cl);
	free(cmd.mountpoint);
out_args:
	fuse_opt_free_args(&args);
	bfs_opts_release(&fs.opts);
	buf_release(&fs.ctl);
	return ret;
}
