/* main.c - bramblefs: options, connecting, the FUSE session.
 *
 * `bramblefs HOST:/[SUBDIR] MOUNTPOINT [-f] [-o opt,...]`; mount.fuse3
 * calls it the same way from fstab.  Exit status: 0 after a clean
 * unmount, 1 when the mount fails, 2 for a usage error. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bfs.h"
#include "bramble_ctl.h"
#include "chunkfs.h"
#include "intr.h"
#include "lease.h"
#include "log.h"
#include "mountinfo.h"
#include "ops.h"
#include "record.h"
#include "stagereq.h"
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

/* Errors that may go away by themselves: the server is not up yet, the
 * network or the name service is not there yet (a node booting). */
static bool transient(int rc)
{
	return rc == -ECONNREFUSED || rc == -ETIMEDOUT || rc == -EHOSTUNREACH ||
	       rc == -ENETUNREACH || rc == -EHOSTDOWN || rc == -ENETDOWN ||
	       rc == -ECONNRESET || rc == -EPIPE || rc == -EAGAIN;
}

/* The first connect waits up to `timeout' seconds, or for ever with -o
 * hard (the mount itself is then as patient as its calls). */
static int64_t connect_deadline(const struct bfs *fs)
{
	return fs->opts.hard ? INT64_MAX
			     : now_ns() + (int64_t)(fs->opts.timeout * 1e9);
}

/* Said once, as soon as the first attempt fails for a reason that may go
 * away: without it a mount made while the server is down is silent for
 * the whole timeout. */
static void say_retrying(const struct bfs *fs, int rc, int64_t deadline_ns)
{
	if (deadline_ns == INT64_MAX)
		log_warn("server %s:%u not reachable (%s), retrying until it answers",
			 fs->opts.host, fs->opts.port, strerror(-rc));
	else
		log_warn("server %s:%u not reachable (%s), retrying for %.0f s",
			 fs->opts.host, fs->opts.port, strerror(-rc),
			 (double)(deadline_ns - now_ns()) / 1e9);
}

/* Connect, trying again (100 ms -> 2 s apart) until deadline_ns, until
 * the session is told to exit, or until the thread's cancel token fires
 * (-EINTR).  announce: say so when the first attempt fails. */
static int connect_server(struct bfs *fs, int64_t deadline_ns, bool announce)
{
	struct bramble_opts bo;
	int64_t deadline = deadline_ns;
	int64_t backoff = 100;
	int rc;

	bramble_opts_init(&bo);
	bo.host = fs->opts.host;
	bo.port = (int)fs->opts.port;
	bo.timeout_ms = (unsigned int)(fs->opts.timeout * 1000);
	bo.client_name = "bramblefs " PACKAGE_VERSION;
	bo.auth = fs->opts.auth;
	bo.munge_socket = fs->opts.munge_socket;
	bo.hard = fs->opts.hard;
	if (!fs->opts.compress)
		bo.caps &= ~(uint64_t)BRAMBLE_CAP_CHUNK_ZSTD;
	if (lease_enabled(fs->leases))
		bo.caps |= BRAMBLE_CAP_CALLBACKS | BRAMBLE_CAP_CB_ATTRS;
	if (bo.timeout_ms == 0)
		bo.timeout_ms = 1;
	/* A node booting with the server still down: keep trying for the
	 * call timeout, as any later call would. */
	for (;;) {
		rc = bramble_new(&bo, &fs->cl);
		if (rc == 0 && lease_enabled(fs->leases))
			bramble_set_callback_hook(fs->cl, lease_on_callback, fs);
		if (rc == 0 || rc == -EINVAL || rc == -EACCES || rc == -EPROTO ||
		    rc == -EPROTONOSUPPORT || now_ns() + backoff * 1000000 > deadline)
			return rc;
		if (bramble_cancelled() || (fs->se && fuse_session_exited(fs->se)))
			return -EINTR;
		if (announce)
			say_retrying(fs, rc, deadline);
		announce = false;
		usleep((useconds_t)backoff * 1000);
		backoff = BR_MIN(backoff * 2, 2000);
	}
}

/* What a MOUNT refusal most likely means, for the log. */
static const char *mount_hint(int rc)
{
	if (rc == -EACCES && geteuid() != 0)
		return " (the server accepts only reserved ports: run as root, "
		       "or start brambled with --insecure)";
	if (rc == -EACCES)
		return " (is this node in the export's allowed networks?)";
	if (rc == -ENOENT)
		return " (no such export or directory: `bramble info HOST' "
		       "lists the exports)";
	return "";
}

/* Connect (until deadline_ns) and MOUNT: root handle, max_data.  Logs
 * the reason on failure; *retry (may be NULL) tells a failure that may
 * go away (the server is not up yet) from one that will not. */
static int mount_export(struct bfs *fs, int64_t deadline_ns, bool *retry)
{
	struct bramble_mount_res mr;
	const char *sub = fs->opts.subdir;
	int rc = fs->cl ? 0 : connect_server(fs, deadline_ns, !fs->se);

	if (retry)
		*retry = transient(rc);
	if (rc < 0) {
		log_err("cannot connect to %s port %u: %s", fs->opts.host, fs->opts.port,
			rc == -EPROTONOSUPPORT ? "not a bramble server" : strerror(-rc));
		return rc;
	}
	while (*sub == '/')
		sub++;
	rc = bramble_mount(fs->cl, sub, &mr);
	if (retry)
		*retry = rc == -ETIMEDOUT;
	if (rc < 0) {
		log_err("cannot mount %s: %s%s", fs->opts.source,
			rc == -ETIMEDOUT ? "server did not answer" : strerror(-rc),
			mount_hint(rc));
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

/* -o bg, server down at mount time: this thread connects and MOUNTs
 * while the session already runs, then opens the gate (intr.h).  A
 * failure that will not go away (no such export) ends the mount. */
struct bg_connect {
	struct bfs *fs;
	const char *mountpoint;
	struct bramble_cancel *cancel;  /* fired at shutdown */
	pthread_t thr;
};

static void *bg_connect_main(void *arg)
{
	struct bg_connect *bg = arg;
	struct bfs *fs = bg->fs;
	bool retry = true;
	int rc = -EAGAIN;

	bramble_cancel_bind(bg->cancel);
	while (rc < 0 && retry && !bramble_cancelled() &&
	       !fuse_session_exited(fs->se)) {
		rc = mount_export(fs, INT64_MAX, &retry);
		if (rc < 0 && retry)
			usleep(500 * 1000);
	}
	if (rc < 0) {
		if (!bramble_cancelled() && !fuse_session_exited(fs->se)) {
			log_err("giving up on %s: unmounting", fs->opts.source);
			kill(getpid(), SIGTERM);  /* libfuse's handler ends the loop */
		}
		return NULL;
	}
	inode_table_new(&fs->root_fh, &fs->inodes);
	if (!fs->opts.nolock && (rc = locks_start(fs)) < 0) {
		log_err("cannot start the lock thread: %s; unmounting", strerror(-rc));
		kill(getpid(), SIGTERM);
		return NULL;
	}
	chunkfs_peers_start(fs->chunks);
	ctl_render(fs, bg->mountpoint);
	log_info("connected to %s: %s ready", fs->opts.host, bg->mountpoint);
	intr_set_ready();
	return NULL;
}

/* The mount point as /proc/self/mountinfo spells it (absolute, no
 * symlinks), found without touching the point itself: a stat of a bramble
 * mount whose server is down, or of an -o bg mount not yet connected,
 * would wait.  Only its directory is resolved.  Caller frees; NULL when
 * that fails (libfuse will say why). */
static char *mountpoint_path(const char *arg)
{
	char *copy = xstrdup(arg), *slash, *dir, *out = NULL;
	const char *base;
	struct buf b = BUF_INIT;
	size_t n = strlen(copy);

	while (n > 1 && copy[n - 1] == '/')
		copy[--n] = '\0';
	slash = strrchr(copy, '/');
	base = slash ? slash + 1 : copy;
	if (!strcmp(base, ".") || !strcmp(base, "..") || !strcmp(copy, "/")) {
		out = realpath(copy, NULL);     /* rare: the point is touched */
	} else {
		if (slash)
			*slash = '\0';
		dir = realpath(!slash ? "." : slash == copy ? "/" : copy, NULL);
		if (dir) {
			buf_addf(&b, "%s/%s", strcmp(dir, "/") ? dir : "", base);
			out = buf_detach(&b, NULL);
		}
		free(dir);
	}
	free(copy);
	return out;
}

/* A second bramblefs over a bramble mount would hide the first (and
 * double its cache and locks) without a word: refuse.  Only the topmost
 * mount at the point counts, so mounting over another filesystem (a
 * tmpfs), or over a bramble mount that something else now covers, is
 * fine.  0 or -EBUSY (logged). */
/* The topmost of the mounts v[0 .. n) at mp, or NULL. */
static const struct mountinfo *mount_at(const struct mountinfo *v, size_t n,
					const char *mp)
{
	const struct mountinfo *top = NULL;

	for (size_t i = 0; mp && i < n; i++)
		if (!strcmp(v[i].dir, mp))
			top = &v[i];    /* listed after what it covers */
	return top;
}

static int check_not_mounted(const char *arg)
{
	char *mp = mountpoint_path(arg);
	const struct mountinfo *top;
	struct mountinfo *v = NULL;
	size_t n = 0;
	bool ours;

	if (mp)
		mountinfo_read(&v, &n);
	top = mount_at(v, n, mp);
	ours = top && !strcmp(top->type, BRAMBLE_MOUNT_TYPE);
	if (ours)
		log_err("%s is already a bramble mount of %s; unmount it first "
			"(fusermount3 -u %s)", mp, top->source, mp);
	mountinfo_free(v, n);
	free(mp);
	return ours ? -EBUSY : 0;
}

/* The kernel caps a FUSE mount's read-ahead at its default (128 KiB)
 * whatever INIT asks for (bfs_init asks BRAMBLE_DATA_MAX), so a cold
 * sequential read went in 128 KiB READs, a round trip each with one or
 * two in flight.  Raise this mount's window (its bdi, named by st_dev)
 * to what INIT asks, as NFS sizes its own from rsize; the INIT reply then
 * keeps it.  Best effort: root only, and the admin may change it later
 * in /sys/class/bdi. */
static void raise_readahead(const char *arg)
{
	char *mp = mountpoint_path(arg), path[64];
	const struct mountinfo *top;
	struct mountinfo *v = NULL;
	size_t n = 0;
	FILE *f = NULL;

	if (mp)
		mountinfo_read(&v, &n);
	top = mount_at(v, n, mp);
	if (top && !strcmp(top->type, BRAMBLE_MOUNT_TYPE)) {
		snprintf(path, sizeof(path), "/sys/class/bdi/%u:%u/read_ahead_kb",
			 top->major, top->minor);
		f = fopen(path, "we");
	}
	if (f) {
		fprintf(f, "%u\n", (unsigned int)BRAMBLE_DATA_MAX / 1024);
		if (fclose(f) != 0)
			log_debug("cannot set %s: %s", path, strerror(errno));
	}
	mountinfo_free(v, n);
	free(mp);
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
	/* The kernel checks permissions too, with the attributes it has:
	 * without it, a path walk through a cached entry never checks
	 * search permission (after `chmod 0700 dir` another user could
	 * still reach dir/f for entry_timeout).  The server checks every
	 * call as the caller all the same. */
	if (!o->server_permissions)
		buf_addf(&b, ",default_permissions");
	fuse_opt_insert_arg(args, 1, b.data);
	buf_release(&b);
}

int main(int argc, char **argv)
{
	struct bfs fs;
	struct fuse_args args;
	struct fuse_cmdline_opts cmd = { 0 };
	struct fuse_loop_config *lc = NULL;
	struct fuse_lowlevel_ops ops;
	struct bg_connect bg = { .fs = &fs };
	bool ready, retry = false, bg_started = false;
	char errbuf[512];
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
	/* Before libfuse resolves the mount point, which stats it. */
	if (fs.opts.mountpoint && check_not_mounted(fs.opts.mountpoint) < 0)
		goto out_args;
	add_default_opts(&args, &fs.opts);
	if (fuse_parse_cmdline(&args, &cmd) != 0) {
		ret = EXIT_USAGE;
		goto out_args;
	}
	fs.trace = fs.opts.trace;
	fs.leases = lease_new(&fs, fs.opts.lease);      /* before connecting */
	if (cmd.debug)
		log_set_level(LOG_LVL_DEBUG);

	/* Connect before daemonizing, so a wrong host or path is reported
	 * on the terminal and in the exit status.  With -o bg one attempt:
	 * if the server is not there yet, mount now and connect later. */
	ready = mount_export(&fs, fs.opts.bg ? now_ns() : connect_deadline(&fs),
			     &retry) == 0;
	if (!ready && !(fs.opts.bg && retry))
		goto out_cmd;
	if (chunkfs_check(&fs, errbuf, sizeof(errbuf)) < 0) {
		log_err("%s", errbuf);
		goto out_cmd;
	}
	if (fs.opts.record_dir &&
	    record_new(fs.opts.record_dir, &fs.rec, errbuf, sizeof(errbuf)) < 0) {
		log_err("%s", errbuf);
		goto out_cmd;
	}
	/* A read-only export is a read-only mount: writes fail with EROFS
	 * in the kernel, before default_permissions could say EACCES.  (One
	 * made read-only later, by a reload, answers EROFS from the server.) */
	if (ready && fs.read_only)
		fuse_opt_add_arg(&args, "-oro");
	if (ready)
		inode_table_new(&fs.root_fh, &fs.inodes);
	else
		log_info("%s not reachable yet: mounting now and connecting in the "
			 "background", fs.opts.host);
	cred_cache_new(&fs.creds);

	/* Every operation interruptible (and gated until ready). */
	intr_wrap_ops(&bfs_ops, &ops, ready);
	fs.se = fuse_session_new(&args, &ops, sizeof(ops), &fs);
	if (!fs.se)
		goto out_fs;
	if (fuse_set_signal_handlers(fs.se) != 0)
		goto out_session;
	if (fuse_session_mount(fs.se, cmd.mountpoint) != 0)
		goto out_signals;
	raise_readahead(cmd.mountpoint);
	/* The client's reader thread would not survive the fork: close it
	 * and connect again in the daemon. */
	if (!cmd.foreground) {
		bramble_free(fs.cl);
		fs.cl = NULL;
		log_init("bramblefs", log_level_cur, true);
	}
	if (fuse_daemonize(cmd.foreground) != 0)
		goto out_unmount;
	if (ready && !fs.cl && connect_server(&fs, connect_deadline(&fs), false) < 0) {
		log_err("cannot reconnect to %s after daemonizing", fs.opts.host);
		goto out_unmount;
	}
	/* After the fork, like the client's thread. */
	rc = wb_new(&fs, WB_THREADS, WB_MAX_BYTES, WB_MAX_FILE_BYTES, &fs.wb);
	if (rc < 0) {
		log_err("cannot start write-behind threads: %s", strerror(-rc));
		goto out_unmount;
	}
	if ((rc = lease_start(fs.leases)) < 0) {
		log_err("cannot start the lease thread: %s", strerror(-rc));
		goto out_unmount;
	}
	if ((rc = record_start(&fs)) < 0) {
		log_err("cannot start the record thread: %s", strerror(-rc));
		goto out_unmount;
	}
	if (chunkfs_new(&fs, &fs.chunks, errbuf, sizeof(errbuf)) < 0) {
		log_err("%s", errbuf);
		goto out_wb;
	}
	/* (-o bg before the server answered: bg_connect_main starts them.) */
	if (ready && !fs.opts.nolock && (rc = locks_start(&fs)) < 0) {
		log_err("cannot start the lock thread: %s", strerror(-rc));
		goto out_unmount;
	}
	if (ready) {
		chunkfs_peers_start(fs.chunks);
		ctl_render(&fs, cmd.mountpoint);
	} else {
		bg.mountpoint = cmd.mountpoint;
		bg.cancel = bramble_cancel_new();
		rc = -pthread_create(&bg.thr, NULL, bg_connect_main, &bg);
		if (rc < 0) {
			log_err("cannot start the connecting thread: %s", strerror(-rc));
			goto out_wb;
		}
		bg_started = true;
	}
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
	if (bg_started) {
		bramble_cancel(bg.cancel);
		pthread_join(bg.thr, NULL);
	}
	stagereq_stop(fs.stagereq);  /* opened by ctl_render */
out_wb:
	bramble_cancel_free(bg.cancel);
	wb_free(fs.wb);  /* every acknowledged write reaches the server */
	fs.wb = NULL;
out_unmount:
	lease_stop(fs.leases);  /* its thread tells fs.se */
	fuse_session_unmount(fs.se);
out_signals:
	fuse_remove_signal_handlers(fs.se);
out_session:
	fuse_session_destroy(fs.se);
out_fs:
	record_free(fs.rec);  /* writes the sets; its thread reads fs.inodes */
	inode_table_free(fs.inodes);
	cred_cache_free(fs.creds);
out_cmd:
	chunkfs_free(fs.chunks);  /* its fetchers call through the client */
	locks_stop(&fs);  /* before the client it calls through */
	bramble_free(fs.cl);
	lease_free(fs.leases);  /* after the client whose hook uses it */
	free(cmd.mountpoint);
out_args:
	fuse_opt_free_args(&args);
	bfs_opts_release(&fs.opts);
	buf_release(&fs.ctl);
	return ret;
}
