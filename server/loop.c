/* loop.c - listener, signals and timers around the connection set. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "exports.h"
#include "fdcache.h"
#include "lock.h"
#include "log.h"
#include "loop.h"
#include "netaddr.h"
#include "proto.h"
#include "stats.h"
#include "xalloc.h"

#define LOOP_EXPIRE_SEC 1.0       /* fd cache sweep */
#define LOOP_ACCEPT_PAUSE 0.5     /* after EMFILE */

struct loop {
	struct loop_opts o;
	struct ev_loop *ev;
	int lfd;
	char addr[80];
	int port;
	ev_io accept_w;
	ev_timer accept_pause_w;
	ev_timer expire_w;
	ev_signal term_w, int_w, hup_w;
	struct conn_set conns;
};

int loop_listen(const struct loop_opts *o, struct loop **out)
{
	struct loop *lp = xcalloc(1, sizeof(*lp));
	struct sockaddr_storage ss;
	socklen_t sslen;
	char *host = NULL;
	int port, one = 1, rc;

	lp->o = *o;
	lp->lfd = -1;
	rc = netaddr_split(o->listen, BR_DEFAULT_PORT, &host, &port);
	if (rc == 0)
		rc = netaddr_resolve(host, port, &ss, &sslen);
	free(host);
	if (rc < 0) {
		rc = -EINVAL;
		goto fail;
	}
	lp->lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lp->lfd < 0) {
		rc = -errno;
		goto fail;
	}
	setsockopt(lp->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lp->lfd, (struct sockaddr *)&ss, sslen) < 0 ||
	    listen(lp->lfd, 128) < 0) {
		rc = -errno;
		goto fail;
	}
	sslen = sizeof(ss);
	if (getsockname(lp->lfd, (struct sockaddr *)&ss, &sslen) < 0) {
		rc = -errno;
		goto fail;
	}
	netaddr_format((struct sockaddr *)&ss, lp->addr, sizeof(lp->addr));
	lp->port = netaddr_port((struct sockaddr *)&ss);
	*out = lp;
	return 0;
fail:
	loop_free(lp);
	return rc;
}

const char *loop_address(const struct loop *lp)
{
	return lp->addr;
}

int loop_port(const struct loop *lp)
{
	return lp->port;
}

static void accept_cb(struct ev_loop *ev, ev_io *w, int revents)
{
	struct loop *lp = container_of(w, struct loop, accept_w);

	(void)revents;
	for (int i = 0; i < 64; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		char peer[80];
		int fd = accept4(lp->lfd, (struct sockaddr *)&ss, &len,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE) {
				/* Out of fds: stop accepting for a moment
				 * rather than spin on a ready listener. */
				log_warn_rl("accept: %s; pausing", strerror(errno));
				ev_io_stop(ev, &lp->accept_w);
				ev_timer_start(ev, &lp->accept_pause_w);
			} else if (errno != EAGAIN && errno != EWOULDBLOCK &&
				   errno != EINTR && errno != ECONNABORTED) {
				log_warn_rl("accept: %s", strerror(errno));
			}
			return;
		}
		/* Any export's networks: each call is checked against its own
		 * export's (dispatch.c, route()). */
		if (!exports_accepts(lp->o.svc->exports, (struct sockaddr *)&ss)) {
			netaddr_format((struct sockaddr *)&ss, peer, sizeof(peer));
			log_warn_rl("refused connection from %s: not in any "
				    "export's networks (--allow, allow=)", peer);
			close(fd);
			stats_conn_refused(lp->o.svc->stats);
			continue;
		}
		if (lp->o.max_conns && lp->conns.count >= lp->o.max_conns) {
			/* Accept and close rather than leave it in the backlog:
			 * the client learns at once, and the listener does
			 * not stay ready for nothing. */
			netaddr_format((struct sockaddr *)&ss, peer, sizeof(peer));
			log_warn_rl("refused connection from %s: %u connections "
				    "already (--max-conns)", peer, lp->conns.count);
			close(fd);
			stats_conn_refused(lp->o.svc->stats);
			continue;
		}
		conn_new(&lp->conns, fd, (struct sockaddr *)&ss);
	}
}

static void accept_pause_cb(struct ev_loop *ev, ev_timer *w, int revents)
{
	struct loop *lp = container_of(w, struct loop, accept_pause_w);

	(void)revents;
	ev_io_start(ev, &lp->accept_w);
}

static void expire_cb(struct ev_loop *ev, ev_timer *w, int revents)
{
	struct loop *lp = container_of(w, struct loop, expire_w);

	(void)ev;
	(void)revents;
	fdcache_expire(lp->o.svc->fc);
}

static void stop_cb(struct ev_loop *ev, ev_signal *w, int revents)
{
	(void)revents;
	log_info("signal %d: shutting down", w->signum);
	ev_break(ev, EVBREAK_ALL);
}

/* SIGHUP: re-read the exports file.  Parsing and opening the new exports
 * happen here, on the loop thread: a short, rare pause, and the one
 * thread that ever swaps the table (exports.h). */
static void reload_exports(struct loop *lp)
{
	struct exports *xs = lp->o.svc->exports;
	struct buf summary = BUF_INIT, err = BUF_INIT;

	if (!xs->file)
		return;
	if (exports_reload(xs, &summary, &err) < 0) {
		if (err.len && err.data[err.len - 1] == '\n')
			buf_setlen(&err, err.len - 1);
		log_err("exports file '%s' not reloaded, the old exports stay:\n%s",
			xs->file, err.data);
	} else {
		log_info("exports reloaded from '%s': %s", xs->file, summary.data);
	}
	buf_release(&summary);
	buf_release(&err);
}

static void hup_cb(struct ev_loop *ev, ev_signal *w, int revents)
{
	struct loop *lp = container_of(w, struct loop, hup_w);
	int rc;

	(void)ev;
	(void)revents;
	if (lp->o.log_file) {
		rc = log_open_file(lp->o.log_file);
		if (rc < 0)
			log_err("cannot reopen log file '%s': %s", lp->o.log_file,
				strerror(-rc));
		else
			log_info("log file reopened");
	}
	reload_exports(lp);
}

/* tmp + rename: a reader never sees a half-written port. */
static int write_port_file(const char *path, int port)
{
	char tmp[4096], line[16];
	int fd, rc, n;

	n = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	n = snprintf(line, sizeof(line), "%d\n", port);
	rc = write_all(fd, line, (size_t)n);
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc < 0)
		unlink(tmp);
	return rc;
}

int loop_run(struct loop *lp)
{
	int rc;

	lp->ev = ev_default_loop(EVFLAG_AUTO);
	if (!lp->ev)
		return -ENOMEM;
	lp->conns.loop = lp->ev;
	lp->conns.insecure = lp->o.insecure;
	lp->conns.svc = lp->o.svc;
	lp->conns.idle_timeout = lp->o.idle_timeout;
	lp->conns.request_timeout = lp->o.request_timeout;
	conn_set_start(&lp->conns);
	rc = pool_new(lp->ev, lp->o.threads, dispatch_run, conn_job_done,
		      lp->o.svc, &lp->conns.pool);
	if (rc < 0) {
		log_err("cannot start %u worker threads: %s", lp->o.threads, strerror(-rc));
		return rc;
	}
	/* The pool passes its ctx to both callbacks; conn_job_done ignores it. */
	if (lp->o.svc->locks)
		lockmgr_start(lp->o.svc->locks, lp->ev, lp->conns.pool);

	ev_io_init(&lp->accept_w, accept_cb, lp->lfd, EV_READ);
	ev_timer_init(&lp->accept_pause_w, accept_pause_cb, LOOP_ACCEPT_PAUSE, 0.);
	ev_timer_init(&lp->expire_w, expire_cb, LOOP_EXPIRE_SEC, LOOP_EXPIRE_SEC);
	ev_signal_init(&lp->term_w, stop_cb, SIGTERM);
	ev_signal_init(&lp->int_w, stop_cb, SIGINT);
	ev_signal_init(&lp->hup_w, hup_cb, SIGHUP);
	ev_io_start(lp->ev, &lp->accept_w);
	ev_timer_start(lp->ev, &lp->expire_w);
	ev_signal_start(lp->ev, &lp->term_w);
	ev_signal_start(lp->ev, &lp->int_w);
	ev_signal_start(lp->ev, &lp->hup_w);

	if (lp->o.port_file) {
		rc = write_port_file(lp->o.port_file, lp->port);
		if (rc < 0) {
			log_err("cannot write port file '%s': %s", lp->o.port_file,
				strerror(-rc));
			goto out;
		}
	}
	log_info("listening on %s", lp->addr);
	ev_run(lp->ev, 0);
	rc = 0;
out:
	/* Stop accepting, let workers finish what they hold, drop the rest. */
	ev_io_stop(lp->ev, &lp->accept_w);
	close(lp->lfd);
	lp->lfd = -1;
	pool_free(lp->conns.pool);
	lp->conns.pool = NULL;
	lockmgr_stop(lp->o.svc->locks);  /* frees the waits it kept */
	conn_set_release(&lp->conns);
	ev_timer_stop(lp->ev, &lp->accept_pause_w);
	ev_timer_stop(lp->ev, &lp->expire_w);
	ev_signal_stop(lp->ev, &lp->term_w);
	ev_signal_stop(lp->ev, &lp->int_w);
	ev_signal_stop(lp->ev, &lp->hup_w);
	return rc;
}

void loop_free(struct loop *lp)
{
	if (!lp)
		return;
	if (lp->lfd >= 0)
		close(lp->lfd);
	if (lp->ev)
		ev_loop_destroy(lp->ev);
	free(lp);
}
