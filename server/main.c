/* main.c - brambled: options, startup, daemonizing, shutdown.
 *
 * Order matters: everything that can fail for a reason the administrator
 * should see (options, state directory, export, listening socket) happens
 * before daemonizing, while stderr is still the terminal; threads and the
 * event loop start only after the fork. */
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
#include "config.h"
#include "dispatch.h"
#include "drc.h"
#include "export.h"
#include "fdcache.h"
#include "log.h"
#include "loop.h"
#include "state.h"

#define FHCACHE_MAX 8192        /* decoded handles kept open (O_PATH) */
#define FDCACHE_MAX 256
#define FDCACHE_IDLE_SEC 5

static void die_usage(const char *msg)
{
	fprintf(stderr, "brambled: %s\nTry 'brambled --help'.\n", msg);
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

static int daemonize(void)
{
	pid_t pid = fork();
	int fd;

	if (pid < 0)
		return -errno;
	if (pid > 0)
		_exit(0);
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
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	dup2(fd, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	dup2(fd, STDERR_FILENO);
	if (fd > STDERR_FILENO)
		close(fd);
	return 0;
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

int main(int argc, char **argv)
{
	struct config cfg;
	struct allow allow;
	struct state *st = NULL;
	struct export *ex = NULL;
	struct loop *lp = NULL;
	struct service svc;
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
	/* The client applies the caller's umask; modes arrive final. */
	umask(0);
	signal(SIGPIPE, SIG_IGN);
	nofile = raise_nofile();

	rc = state_open(cfg.state_dir, &st, err, sizeof(err));
	if (rc < 0) {
		log_err("%s", err);
		goto out;
	}
	rc = export_open(cfg.export_dir, st->key, BR_MIN(FHCACHE_MAX, nofile / 4), &ex);
	if (rc < 0) {
		log_err("cannot export '%s': %s", cfg.export_dir,
			rc == -EOPNOTSUPP ? "its filesystem does not support file handles"
					  : strerror(-rc));
		goto out;
	}

	memset(&svc, 0, sizeof(svc));
	svc.ex = ex;
	svc.fc = fdcache_new(BR_MIN((unsigned int)FDCACHE_MAX, nofile / 4),
			     FDCACHE_IDLE_SEC);
	/* In memory only: a restart forgets it (see drc.h). */
	svc.drc = drc_new(DRC_MAX, DRC_TTL_NS);
	svc.export_dir = cfg.export_dir;
	svc.read_only = cfg.read_only;
	svc.root_squash = !cfg.no_root_squash;
	svc.trace = cfg.trace;
	svc.inline_ok = !cfg.no_inline && export_is_local(ex);
	if (!cfg.no_inline && !svc.inline_ok)
		log_info("'%s' is not on a known local filesystem: every call "
			 "goes to the workers", cfg.export_dir);
	clock_gettime(CLOCK_REALTIME, &ts);
	svc.start_time = ts.tv_sec;
	svc.start_ns = now_ns();
	randombytes_buf(&svc.instance, sizeof(svc.instance));
	svc.caps |= BR_CAP_DRC;

	memset(&lo, 0, sizeof(lo));
	lo.listen = cfg.listen;
	lo.allow = &allow;
	lo.insecure = cfg.insecure;
	lo.threads = cfg.threads;
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

	if (!cfg.foreground) {
		rc = daemonize();
		if (rc < 0) {
			log_err("cannot daemonize: %s", strerror(-rc));
			goto out_fc;
		}
		if (cfg.log_file)
			log_open_file(cfg.log_file);
		else
			log_init("brambled", cfg.log_level, true);
	}
	if (cfg.pid_file && (rc = write_pid_file(cfg.pid_file)) < 0) {
		log_err("cannot write pid file '%s': %s", cfg.pid_file, strerror(-rc));
		goto out_fc;
	}
	log_info("brambled %s exporting %s%s%s", BR_SOFTWARE_VERSION, cfg.export_dir,
		 cfg.read_only ? " read-only" : "",
		 cfg.no_root_squash ? ", root not squashed" : "");
	rc = loop_run(lp);
	if (rc == 0) {
		log_info("stopped");
		status = 0;
	}
	if (cfg.pid_file)
		unlink(cfg.pid_file);
out_fc:
	fdcache_free(svc.fc);
	drc_free(svc.drc);
out:
	loop_free(lp);
	export_close(ex);
	state_close(st);
	allow_release(&allow);
	config_release(&cfg);
	return status;
}
