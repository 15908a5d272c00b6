/* main.c - brambled: options, startup, daemonizing, shutdown.
 *
 * Order matters: brambled forks into the background first, before any
 * database connection or thread exists (neither survives a fork intact),
 * but the starting process waits until the daemon is ready and exits with
 * its verdict; until then the daemon's stderr is still the terminal, so
 * everything that can fail for a reason the administrator should see
 * (state directory, exports, listening socket) is shown there. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "allow.h"
#include "auth.h"
#include "chunkcache.h"
#include "chunkzip.h"
#include "chunkidx.h"
#include "chunkscan.h"
#include "config.h"
#include "dispatch.h"
#include "drc.h"
#include "fhandle.h"
#include "exports.h"
#include "fdcache.h"
#include "lock.h"
#include "log.h"
#include "loop.h"
#include "openstate.h"
#include "orphans.h"
#include "peers.h"
#include "proc.h"
#include "state.h"
#include "stats.h"
#include "watch.h"

#define FHCACHE_MAX 8192        /* decoded handles kept open (O_PATH) */
#define FDCACHE_MAX 256
#define FDCACHE_IDLE_SEC 5

/* In the daemon until it is ready: where to send the starting process
 * the status it should exit with (one digit). */
static int starter_fd = -1;

static void tell_starter(char status)
{
	if (starter_fd >= 0 && write(starter_fd, &status, 1) != 1)
		log_warn("cannot tell the starting process: %s", strerror(errno));
}

static void die_usage(const char *msg)
{
	fprintf(stderr, "brambled: %s\nTry 'brambled --help'.\n", msg);
	tell_starter('2');
	exit(2);
}

/* Use every fd the hard limit allows: each client connection and each
 * cached handle holds one. */
static unsigned int raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 1024;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	return rl.rlim_cur > 1u << 20 ? 1u << 20 : (unsigned int)rl.rlim_cur;
}

/* Point the standard fds at /dev/null: all of them, or stdin only. */
static int to_devnull(bool all)
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	dup2(fd, STDIN_FILENO);
	if (all) {
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
	}
	if (fd > STDERR_FILENO)
		close(fd);
	return 0;
}

/* Go to the background now; the starting process stays until
 * daemon_ready() and exits 0 (2 after a usage error), or exits 1 when the
 * daemon dies first.  Returns (in the daemon) the fd tell_starter()
 * writes to. */
static int daemon_start(void)
{
	int p[2];
	pid_t pid;
	char c;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0) {
		ssize_t n;

		close(p[1]);
		do
			n = read(p[0], &c, 1);
		while (n < 0 && errno == EINTR);
		_exit(n == 1 && c >= '0' && c <= '9' ? c - '0' : 1);
	}
	close(p[0]);
	if (setsid() < 0)
		return -errno;
	/* Second fork: the daemon is not a session leader, so it can never
	 * acquire a controlling terminal. */
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0)
		_exit(0);
	if (chdir("/") < 0)
		return -errno;
	int rc = to_devnull(false);

	return rc < 0 ? rc : p[1];
}

/* Started: stop writing to the terminal and let the starter exit 0. */
static void daemon_ready(void)
{
	to_devnull(true);
	tell_starter('0');
	close(starter_fd);
	starter_fd = -1;
}

static int write_pid_file(const char *path)
{
	char tmp[4096], line[24];
	int fd, rc, n;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	n = snprintf(line, sizeof(line), "%ld\n", (long)getpid());
	rc = write_all(fd, line, (size_t)n);
	close(fd);
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	return rc;
}

/* The exports of --export DIR or --exports FILE; the other options are
 * the defaults of every export (exports.h).  Logs why it failed. */
static int open_exports(const struct config *cfg, const unsigned char *key,
			unsigned int cache_max, struct exports **out)
{
	struct exports_defaults d = {
		.allow = cfg->allow,
		.read_only = cfg->read_only,
		.root_squash = !cfg->no_root_squash,
		.auth = !strcmp(cfg->auth, "munge") ? EXPORT_AUTH_MUNGE
						     : EXPORT_AUTH_SYS,
		.handles = !strcmp(cfg->handles, "table") ? EXPORT_HANDLES_TABLE :
			   !strcmp(cfg->handles, "kernel") ? EXPORT_HANDLES_KERNEL
							   : EXPORT_HANDLES_AUTO,
	};
	struct buf err = BUF_INIT;
	char db[4200];
	int rc;

	snprintf(db, sizeof(db), "%s/bramble.db", cfg->state_dir);
	d.db_path = db;

	if (cfg->exports_file)
		rc = exports_new_file(cfg->exports_file, &d, key, cache_max, out, &err);
	else
		rc = exports_new_dir(cfg->export_dir, &d, key, cache_max, out, &err);
	if (rc < 0) {
		if (err.len && err.data[err.len - 1] == '\n')
			buf_setlen(&err, err.len - 1);
		log_err("%s", err.data);
	}
	buf_release(&err);
	return rc;
}

/* A client's lease ran out: the files it held open go with its locks. */
static void client_gone(void *arg, uint64_t client)
{
	struct service *svc = arg;

	openstate_client_gone(svc->opens, client);
	orphans_client_gone(svc->orphans, client);
}

static void expect_client(void *arg, uint64_t client)
{
	struct service *svc = arg;

	lockmgr_client_expect(svc->locks, client);
}

/* Orphans a previous run kept (orphans.h): their clients get a lease to
 * come back and close them. */
static void load_orphans_of(void *arg, const struct exports_entry *e)
{
	struct service *svc = arg;
	int rc = orphans_load(svc->orphans, e->path, expect_client, svc);

	if (rc < 0)
		log_warn("cannot read the orphans of export '%s': %s", e->name,
			 strerror(-rc));
}

/* The lock manager, with its list of clients in bramble.db: a restart
 * after clients held locks starts in grace (lock.h). */
static int start_locks(const struct config *cfg, struct service *svc,
		       char *err, size_t errlen)
{
	struct lock_opts o = {
		.lease_sec = cfg->lock_lease,
		.grace_sec = cfg->lock_grace_set ? cfg->lock_grace : cfg->lock_lease,
	};
	char path[4096];
	int rc;

	snprintf(path, sizeof(path), "%s/bramble.db", cfg->state_dir);
	o.db_path = path;
	o.client_gone = client_gone;
	o.client_gone_arg = svc;
	rc = lockmgr_new(&o, proc_lock_reply, &svc->locks, err, errlen);
	if (rc == 0)
		svc->caps |= BR_CAP_LOCKS;
	return rc;
}

/* The duplicate-request cache as --drc says; with "disk" it is kept in
 * bramble.db and what the previous run stored is loaded (drc.h). */
static int start_drc(const struct config *cfg, struct service *svc,
		     char *err, size_t errlen)
{
	char path[4096];
	int rc;

	if (!strcmp(cfg->drc, "off"))
		return 0;
	svc->drc = drc_new(DRC_MAX, DRC_TTL_NS);
	if (strcmp(cfg->drc, "disk"))
		return 0;
	snprintf(path, sizeof(path), "%s/bramble.db", cfg->state_dir);
	rc = drc_persist(svc->drc, path, now_ns(), err, errlen);
	if (rc > 0)
		log_info("duplicate-request cache: %d replies kept from the "
			 "previous run", rc);
	return rc < 0 ? rc : 0;
}

static uint64_t phys_ram(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);

	return pages > 0 && psize > 0 ? (uint64_t)pages * (uint64_t)psize : UINT64_MAX;
}

/* Compressed chunks (chunkzip.h), as --compress says; READ_CHUNK2 is
 * served (and announced) either way: "off" answers raw. */
static void start_compress(const struct config *cfg, struct service *svc)
{
	enum chunkzip_mode mode = CHUNKZIP_AUTO;

	(void)chunkzip_mode_parse(cfg->compress, &mode);  /* checked by config_parse */
	svc->czip = chunkzip_new(mode);
	log_info("compressed chunks: %s", cfg->compress);
}

/* The chunk index in bramble.db (chunkidx.h): CHUNKMAP and READ_CHUNK;
 * and the hot-chunk cache in RAM (chunkcache.h), --cache-mem bytes. */
static int start_chunks(const struct config *cfg, struct service *svc,
			char *err, size_t errlen)
{
	struct chunkidx_opts o = { .chunk_size = cfg->chunk_size, .racy_ns = -1 };
	char path[4096];
	int rc;

	svc->ccache = chunkcache_new(cfg->cache_mem_bytes);
	log_info("hot-chunk cache: %.1f MiB%s", (double)cfg->cache_mem_bytes / (1 << 20),
		 cfg->cache_mem_bytes ? "" : " (off)");
	/* Not refused (the admin may know better), but a cache that fills
	 * past RAM ends in swapping or the OOM killer. */
	if (cfg->cache_mem_bytes > phys_ram() / 2)
		log_warn("--cache-mem %s is more than half of this machine's "
			 "RAM (%.0f MiB)", cfg->cache_mem, (double)phys_ram() / (1 << 20));
	o.cache = svc->ccache;
	o.stats = svc->stats;

	snprintf(path, sizeof(path), "%s/bramble.db", cfg->state_dir);
	o.db_path = path;
	rc = chunkidx_open(&o, &svc->chunks, err, errlen);
	if (rc == 0)
		svc->caps |= BR_CAP_CHUNKS | BR_CAP_CHUNKMAP_KNOWN | BR_CAP_CHUNK_ZSTD;
	if (rc == 0)
		start_compress(cfg, svc);
	if (rc == 0)
		svc->scan = chunkscan_new(svc->chunks);
	if (rc == 0 && !cfg->no_peers) {
		svc->peers = peers_new();
		svc->caps |= BR_CAP_PEERS;
	}
	return rc;
}

int main(int argc, char **argv)
{
	struct config cfg;
	struct allow allow;
	struct state *st = NULL;
	struct exports *exports = NULL;
	struct loop *lp = NULL;
	struct service svc = { 0 };
	struct loop_opts lo;
	struct timespec ts;
	char err[600];
	unsigned int nofile;
	int rc, status = 1;

	rc = config_parse(&cfg, argc, argv, err, sizeof(err));
	if (rc == 1) {
		config_release(&cfg);
		return 0;
	}
	if (rc < 0)
		die_usage(err);
	if (allow_parse(&allow, cfg.allow) < 0) {
		snprintf(err, sizeof(err), "--allow: '%s' is not a list of networks "
			 "(CIDR[,CIDR...], e.g. 10.0.0.0/24)", cfg.allow);
		die_usage(err);
	}
	log_init("brambled", cfg.log_level, false);
	if (cfg.log_file && (rc = log_open_file(cfg.log_file)) < 0) {
		fprintf(stderr, "brambled: cannot open log file '%s': %s\n",
			cfg.log_file, strerror(-rc));
		return 1;
	}
	if (geteuid() != 0) {
		log_err("must run as root: decoding file handles needs "
			"CAP_DAC_READ_SEARCH, and calls run as their callers");
		return 1;
	}
	if (sodium_init() < 0) {
		log_err("cannot initialise libsodium");
		return 1;
	}
	if (!cfg.foreground) {
		starter_fd = daemon_start();
		if (starter_fd < 0) {
			log_err("cannot daemonize: %s", strerror(-starter_fd));
			return 1;
		}
	}
	/* The client applies the caller's umask; modes arrive final. */
	umask(0);
	signal(SIGPIPE, SIG_IGN);
	nofile = raise_nofile();

	rc = state_open(cfg.state_dir, &st, err, sizeof(err));
	if (rc < 0) {
		log_err("%s", err);
		goto out;
	}
	rc = open_exports(&cfg, st->key, BR_MIN(FHCACHE_MAX, nofile / 4), &exports);
	if (rc < 0)
		goto out;

	memset(&svc, 0, sizeof(svc));
	svc.exports = exports;
	svc.fc = fdcache_new(BR_MIN((unsigned int)FDCACHE_MAX, nofile / 4),
			     FDCACHE_IDLE_SEC);
	/* Held open files: bounded by the fds left beside the caches. */
	svc.opens = openstate_new(BR_MIN((unsigned int)OPENSTATE_MAX, nofile / 4));
	svc.orphans = orphans_new();
	svc.caps |= BR_CAP_OPENS;
	if ((rc = start_drc(&cfg, &svc, err, sizeof(err))) < 0) {
		log_err("%s", err);
		goto out_fc;
	}
	svc.trace = cfg.trace;
	svc.inline_ok = !cfg.no_inline;
	clock_gettime(CLOCK_REALTIME, &ts);
	svc.start_time = ts.tv_sec;
	svc.start_ns = now_ns();
	randombytes_buf(&svc.instance, sizeof(svc.instance));
	svc.caps |= BR_CAP_DRC;
	svc.caps |= BR_CAP_EXPORTS;
	svc.caps |= BR_CAP_STATS;
	svc.caps |= BR_CAP_TREE;
	svc.caps |= BR_CAP_BENCH;
	svc.bench_disk = !strcmp(cfg.bench_disk, "any") ? BENCH_ANY :
			 !strcmp(cfg.bench_disk, "off") ? BENCH_OFF : BENCH_ROOT;
	svc.stats = stats_new();
	svc.watch = watch_new(0);
	watch_set_attr(svc.watch, call_attr_of, &svc);
	svc.caps |= BR_CAP_CALLBACKS | BR_CAP_CB_ATTRS;
	auth_mode_parse(cfg.auth, &svc.auth_mode);      /* checked by config */
	svc.munge_socket = cfg.munge_socket;
	if (svc.auth_mode == AUTH_MODE_MUNGE) {
		/* Tells auto-mode clients to use MUNGE from the start. */
		svc.caps |= BR_CAP_MUNGE;
		/* Not fatal: munged may come up later (boot order). */
		if (auth_munge_selftest(cfg.munge_socket, err, sizeof(err)) < 0)
			log_warn("--auth=munge, but %s: every call will be refused "
				 "until it works", err);
	}
	rc = start_locks(&cfg, &svc, err, sizeof(err));
	if (rc < 0) {
		log_err("%s", err);
		goto out_fc;
	}
	rc = start_chunks(&cfg, &svc, err, sizeof(err));
	if (rc < 0) {
		log_err("%s", err);
		goto out_fc;
	}
	exports_each(exports, load_orphans_of, &svc);

	memset(&lo, 0, sizeof(lo));
	lo.listen = cfg.listen;
	lo.insecure = cfg.insecure;
	lo.threads = cfg.threads;
	lo.max_conns = cfg.max_conns;
	lo.idle_timeout = cfg.idle_timeout;
	lo.request_timeout = cfg.request_timeout;
	/* Each connection holds an fd; so do cached handles and open files
	 * (a quarter of the limit each, above). */
	if (cfg.max_conns > nofile / 2)
		log_warn("--max-conns %u: only %u file descriptors (RLIMIT_NOFILE); "
			 "past about %u connections accept() will fail", cfg.max_conns,
			 nofile, nofile / 2);
	lo.port_file = cfg.port_file;
	lo.log_file = cfg.log_file;
	lo.svc = &svc;
	rc = loop_listen(&lo, &lp);
	if (rc == -EINVAL) {
		snprintf(err, sizeof(err), "--listen: cannot parse or resolve '%s'",
			 cfg.listen);
		die_usage(err);
	}
	if (rc < 0) {
		log_err("cannot listen on %s: %s", cfg.listen, strerror(-rc));
		goto out_fc;
	}

	if (starter_fd >= 0) {
		daemon_ready();
		/* stderr is /dev/null now: the log file again, or syslog. */
		if (cfg.log_file)
			log_open_file(cfg.log_file);
		else
			log_init("brambled", cfg.log_level, true);
	}
	if (cfg.pid_file && (rc = write_pid_file(cfg.pid_file)) < 0) {
		log_err("cannot write pid file '%s': %s", cfg.pid_file, strerror(-rc));
		goto out_fc;
	}
	log_info("brambled %s serving %zu export%s", BR_SOFTWARE_VERSION,
		 exports_count(exports), exports_count(exports) == 1 ? "" : "s");
	exports_log(exports);
	rc = loop_run(lp);
	if (rc == 0) {
		log_info("stopped");
		status = 0;
	}
	if (cfg.pid_file)
		unlink(cfg.pid_file);
out_fc:
	fdcache_free(svc.fc);
	openstate_free(svc.opens);
	orphans_free(svc.orphans);
	drc_free(svc.drc);
	lockmgr_free(svc.locks);
	chunkscan_free(svc.scan);
	peers_free(svc.peers);
	chunkidx_close(svc.chunks);
	chunkcache_free(svc.ccache);
	chunkzip_free(svc.czip);
	stats_free(svc.stats);
out:
	loop_free(lp);
	watch_free(svc.watch);          /* after the connections' sets */
	exports_free(exports);
	state_close(st);
	allow_release(&allow);
	config_release(&cfg);
	return status;
}
