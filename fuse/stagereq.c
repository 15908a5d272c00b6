/* stagereq.c - the mount's stage socket (stagereq.h): ordinary users'
 * `bramble stage`, run by bramblefs with their credentials.
 *
 * One thread accepts; each connection gets a detached thread that reads
 * the request, decides the owner and the limit from the caller's uid
 * (SO_PEERCRED) alone, spawns `bramble stage` (root, --user UID) with
 * the caller's stdout and stderr, and waits for it -- watching the
 * connection, so that a caller who leaves (Ctrl-C) stops its staging.
 * The staging itself runs in that child process, not here: a failure of
 * it never takes the mount down, and the FUSE threads never wait on it. */
#define _GNU_SOURCE 1
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bfs.h"
#include "bramble_cache.h"
#include "log.h"
#include "stagereq.h"
#include "util.h"
#include "xalloc.h"

#define SOCK_DIR "/run/bramble"
#define MAGIC "BRSTAGE1"
#define MAGIC_LEN 8
#define REQ_MAX (16u << 20)
#define CONNS_MAX 32
#define CONNS_PER_USER 2
#define RECV_TIMEOUT_S 30
#define KILL_AFTER_S 10

extern char **environ;

struct user_slot {
	uid_t uid;
	unsigned int conns;        /* connections of uid (0: free slot) */
	bool running;              /* one of them is staging */
};

struct stagereq {
	struct bfs *fs;
	int lfd;
	char *path;
	char *tool;                /* the bramble command */
	pthread_t thr;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned int conns;        /* protected by lock */
	int conn_fd[CONNS_MAX];    /* their sockets, -1: none; protected by lock */
	struct user_slot users[CONNS_MAX];   /* protected by lock */
	bool stopping;             /* protected by lock */
};

struct conn {
	struct stagereq *sr;
	int fd;
	size_t idx;                /* in sr->conn_fd */
	struct ucred peer;
	int out[2];                /* the caller's stdout, stderr; -1: none */
	struct buf req;
};

/* ---- the bramble command: beside bramblefs (installed), in the build
 * tree (tools/), else where configure installs it */

static char *find_tool(void)
{
	char exe[PATH_MAX], *slash, *p;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	static const char *const rel[] = { "/bramble", "/../tools/bramble" };

	if (n > 0) {
		exe[n] = '\0';
		slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			for (size_t i = 0; i < ARRAY_SIZE(rel); i++) {
				p = xmalloc(strlen(exe) + strlen(rel[i]) + 1);
				sprintf(p, "%s%s", exe, rel[i]);
				if (access(p, X_OK) == 0)
					return p;
				free(p);
			}
		}
	}
	return xstrdup(BR_BINDIR "/bramble");
}

/* ---- per-user admission */

static struct user_slot *slot_of(struct stagereq *sr, uid_t uid)
{
	struct user_slot *free_slot = NULL;

	for (size_t i = 0; i < CONNS_MAX; i++) {
		if (sr->users[i].conns && sr->users[i].uid == uid)
			return &sr->users[i];
		if (!sr->users[i].conns && !free_slot)
			free_slot = &sr->users[i];
	}
	if (free_slot) {
		free_slot->uid = uid;
		free_slot->running = false;
	}
	return free_slot;
}

/* ---- the request */

static void say(struct conn *c, const char *fmt, ...) BR_PRINTF(2, 3);
static void say(struct conn *c, const char *fmt, ...)
{
	struct buf m = BUF_INIT;
	va_list ap;

	buf_adds(&m, "bramble stage: ");
	va_start(ap, fmt);
	buf_vaddf(&m, fmt, ap);
	va_end(ap);
	buf_add(&m, "\n", 1);
	if (c->out[1] >= 0)
		(void)write_all(c->out[1], m.data, m.len);
	buf_release(&m);
}

/* Exactly len bytes (read_full()'s, an early end of the stream being a
 * broken request). */
static int recv_full(int fd, void *buf, size_t len)
{
	ssize_t n = read_full(fd, buf, len);

	if (n < 0)
		return (int)n;
	return (size_t)n < len ? -EPROTO : 0;
}

/* The head (with the two descriptors) and the payload. */
static int recv_request(struct conn *c)
{
	unsigned char head[MAGIC_LEN + 4];
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(4 * sizeof(int))];
	} ctl;
	struct iovec iov = { head, sizeof(head) };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = ctl.space, .msg_controllen = sizeof(ctl.space),
	};
	uint32_t len;
	ssize_t n;
	int rc;

	do
		n = recvmsg(c->fd, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return n < 0 ? -errno : -EPROTO;
	for (struct cmsghdr *h = CMSG_FIRSTHDR(&msg); h; h = CMSG_NXTHDR(&msg, h)) {
		size_t k;

		if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
			continue;
		k = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(h) + i * sizeof(int), sizeof(fd));
			if (i < 2 && c->out[i] < 0)
				c->out[i] = fd;
			else
				close(fd);
		}
	}
	if ((size_t)n < sizeof(head) &&
	    (rc = recv_full(c->fd, head + n, sizeof(head) - (size_t)n)) < 0)
		return rc;
	if (memcmp(head, MAGIC, MAGIC_LEN) || c->out[0] < 0 || c->out[1] < 0)
		return -EPROTO;
	len = (uint32_t)head[MAGIC_LEN] << 24 | (uint32_t)head[MAGIC_LEN + 1] << 16 |
	      (uint32_t)head[MAGIC_LEN + 2] << 8 | head[MAGIC_LEN + 3];
	if (len > REQ_MAX)
		return -E2BIG;             /* capped before allocating */
	buf_init(&c->req, len + 1);
	buf_setlen(&c->req, len);
	rc = recv_full(c->fd, c->req.data, len);
	if (rc == 0 && len && c->req.data[len - 1] != '\0')
		rc = -EPROTO;
	return rc;
}

static bool id_ok(const char *s)
{
	size_t n = strlen(s);

	return n >= 1 && n <= 64 && strspn(s, "abcdefghijklmnopqrstuvwxyz"
					   "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

static bool digits_ok(const char *s, unsigned long long max)
{
	unsigned long long v;

	return parse_uint(s, 1, max, &v) == 0;
}

struct plan {
	bool release, json, quiet;
	const char *id, *owner, *threads, *expires;
	struct buf paths;          /* NUL-separated */
};

/* The fields into p; -1 (said to the caller) when one is wrong. */
static int parse_request(struct conn *c, struct plan *p)
{
	const char *op = NULL;

	for (size_t i = 0; i < c->req.len; i += strlen(c->req.data + i) + 1) {
		const char *f = c->req.data + i, *v = strchr(f, '=');

		v = v ? v + 1 : NULL;
		if (!strncmp(f, "op=", 3))
			op = v;
		else if (!strncmp(f, "id=", 3))
			p->id = v;
		else if (!strncmp(f, "owner=", 6))
			p->owner = v;
		else if (!strncmp(f, "threads=", 8))
			p->threads = v;
		else if (!strncmp(f, "expires=", 8))
			p->expires = v;
		else if (!strcmp(f, "json"))
			p->json = true;
		else if (!strcmp(f, "quiet"))
			p->quiet = true;
		else if (!strncmp(f, "path=", 5) && v[0] == '/')
			buf_add(&p->paths, v, strlen(v) + 1);
		else {
			say(c, "bramblefs: bad request field '%.40s'", f);
			return -1;
		}
	}
	if (!op || (strcmp(op, "stage") && strcmp(op, "release"))) {
		say(c, "bramblefs: bad request (op=stage|release)");
		return -1;
	}
	p->release = !strcmp(op, "release");
	if (p->id && !id_ok(p->id)) {
		say(c, "bad ID '%.64s': letters, digits, '.', '_', '-' (64 at most)", p->id);
		return -1;
	}
	if ((p->threads && !digits_ok(p->threads, 64)) ||
	    (p->expires && !digits_ok(p->expires, 100ull * 365 * 86400))) {
		say(c, "bramblefs: bad --threads or --expires");
		return -1;
	}
	return 0;
}

/* ---- running bramble stage */

static void add(char **argv, size_t *n, const char *s)
{
	argv[(*n)++] = (char *)s;
}

/* Run argv with the caller's stdout/stderr and stdin = the paths; wait,
 * stopping it when the caller leaves or the mount stops.  Exit status. */
static int run(struct conn *c, char **argv, const struct buf *in)
{
	struct stagereq *sr = c->sr;
	const struct bfs_opts *o = &sr->fs->opts;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t all, none;
	struct buf e_auth = BUF_INIT, e_munge = BUF_INIT;
	char *envp[4];
	size_t ne = 0;
	int sv[2], status = 0, rc;
	int64_t term_at = 0;
	pid_t pid;

	envp[ne++] = (char *)"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	if (o->auth_name) {
		buf_addf(&e_auth, "BRAMBLE_AUTH=%s", o->auth_name);
		envp[ne++] = e_auth.data;
	}
	if (o->munge_socket) {
		buf_addf(&e_munge, "BRAMBLE_MUNGE_SOCKET=%s", o->munge_socket);
		envp[ne++] = e_munge.data;
	}
	envp[ne] = NULL;
	/* stdin: a socket, so that writing to a child that is gone is
	 * EPIPE (MSG_NOSIGNAL), never SIGPIPE */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		say(c, "bramblefs: socketpair: %s", strerror(errno));
		return 1;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, sv[1], STDIN_FILENO);
	posix_spawn_file_actions_adddup2(&fa, c->out[0], STDOUT_FILENO);
	posix_spawn_file_actions_adddup2(&fa, c->out[1], STDERR_FILENO);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	posix_spawnattr_init(&at);
	sigfillset(&all);
	sigemptyset(&none);
	posix_spawnattr_setsigdefault(&at, &all);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK |
				 POSIX_SPAWN_SETSID);
	rc = posix_spawn(&pid, sr->tool, &fa, &at, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(sv[1]);
	buf_release(&e_auth);
	buf_release(&e_munge);
	if (rc != 0) {
		close(sv[0]);
		say(c, "bramblefs cannot run %s: %s", sr->tool, strerror(rc));
		return 1;
	}
	for (size_t off = 0; off < in->len;) {
		ssize_t n = send(sv[0], in->data + off, in->len - off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;                  /* it is gone: its status says */
		off += (size_t)n;
	}
	close(sv[0]);
	for (;;) {
		struct pollfd pf = { .fd = c->fd, .events = POLLIN };
		pid_t w = waitpid(pid, &status, WNOHANG);
		bool stop;

		if (w == pid || (w < 0 && errno != EINTR))
			break;
		pthread_mutex_lock(&sr->lock);
		stop = sr->stopping;
		pthread_mutex_unlock(&sr->lock);
		/* the caller sends nothing more: readable means it left */
		if (poll(&pf, 1, 200) > 0 || stop) {
			if (!term_at) {
				kill(pid, SIGTERM);
				term_at = now_ns();
			} else if (now_ns() - term_at > KILL_AFTER_S * 1000000000LL) {
				kill(pid, SIGKILL);
			}
			if (pf.revents)
				usleep(100 * 1000);
		}
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (!term_at)
		say(c, "bramblefs: the staging ended by signal %d", WTERMSIG(status));
	return 1;
}

static int serve(struct conn *c, struct user_slot *slot)
{
	struct stagereq *sr = c->sr;
	const char *max = sr->fs->opts.stage_user_max;
	struct plan p = { .paths = BUF_INIT };
	struct passwd pw, *pwp = NULL;
	char pwbuf[4096], name[200], owner[300], uid[32], *argv[24];
	size_t n = 0, nlen;
	int status = 1;

	if (parse_request(c, &p) < 0)
		goto out;
	if (getpwuid_r(c->peer.uid, &pw, pwbuf, sizeof(pwbuf), &pwp) == 0 && pwp)
		snprintf(name, sizeof(name), "%s", pw.pw_name);
	else
		snprintf(name, sizeof(name), "%u", (unsigned)c->peer.uid);
	nlen = strlen(name);
	snprintf(uid, sizeof(uid), "%u", (unsigned)c->peer.uid);
	if (p.release && p.owner) {
		/* user:NAME or user:NAME:ID -- nobody else's */
		if (strncmp(p.owner, "user:", 5) || strncmp(p.owner + 5, name, nlen) ||
		    (p.owner[5 + nlen] != '\0' &&
		     (p.owner[5 + nlen] != ':' || !id_ok(p.owner + 6 + nlen)))) {
			say(c, "not releasing %.200s: you may release only your own pins "
			    "(user:%s, user:%s:ID)", p.owner, name, name);
			goto out;
		}
		snprintf(owner, sizeof(owner), "%s", p.owner);
	} else {
		snprintf(owner, sizeof(owner), "user:%s%s%s", name, p.id ? ":" : "",
			 p.id ? p.id : "");
	}

	/* one request of a user at a time */
	pthread_mutex_lock(&sr->lock);
	while (slot->running && !sr->stopping)
		pthread_cond_wait(&sr->cond, &sr->lock);
	slot->running = !sr->stopping;
	pthread_mutex_unlock(&sr->lock);
	if (!slot->running)
		goto out;

	add(argv, &n, "bramble");
	add(argv, &n, "stage");
	if (p.release) {
		add(argv, &n, "--release");
		add(argv, &n, owner);
	} else {
		add(argv, &n, "--user");
		add(argv, &n, uid);
		add(argv, &n, "--owner");
		add(argv, &n, owner);
		add(argv, &n, "--user-max");
		add(argv, &n, max ? max : BFS_STAGE_USER_MAX_DEFAULT);
		add(argv, &n, "--paths0");
		if (p.threads) {
			add(argv, &n, "--threads");
			add(argv, &n, p.threads);
		}
		if (p.expires) {
			add(argv, &n, "--expires");
			add(argv, &n, p.expires);
		}
	}
	if (p.json)
		add(argv, &n, "--json");
	if (p.quiet)
		add(argv, &n, "-q");
	argv[n] = NULL;
	log_info("stage socket: %s for uid %u (%s), %s", p.release ? "release" : "staging",
		 (unsigned)c->peer.uid, name, owner);
	status = run(c, argv, &p.paths);

	pthread_mutex_lock(&sr->lock);
	slot->running = false;
	pthread_cond_broadcast(&sr->cond);
	pthread_mutex_unlock(&sr->lock);
out:
	buf_release(&p.paths);
	return status;
}

static void *conn_main(void *arg)
{
	struct conn *c = arg;
	struct stagereq *sr = c->sr;
	struct user_slot *slot = NULL;
	struct timeval tv = { RECV_TIMEOUT_S, 0 };
	socklen_t len = sizeof(c->peer);
	unsigned char reply[MAGIC_LEN + 4];
	int rc, status;

	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	rc = getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &c->peer, &len) < 0 ? -errno : 0;
	if (rc == 0) {
		pthread_mutex_lock(&sr->lock);
		slot = slot_of(sr, c->peer.uid);
		if (slot && slot->conns < CONNS_PER_USER)
			slot->conns++;
		else
			slot = NULL;
		pthread_mutex_unlock(&sr->lock);
	}
	if (rc == 0)
		rc = recv_request(c);
	if (rc == 0 && !slot) {
		say(c, "bramblefs: you have %d requests open already", CONNS_PER_USER);
		rc = -EBUSY;
	}
	if (rc < 0 && rc != -EBUSY)
		log_warn_rl("stage socket: a bad request (uid %u): %s", (unsigned)c->peer.uid,
			    strerror(-rc));
	if (rc == 0) {
		status = serve(c, slot);
		memcpy(reply, MAGIC, MAGIC_LEN);
		reply[MAGIC_LEN] = reply[MAGIC_LEN + 1] = reply[MAGIC_LEN + 2] = 0;
		reply[MAGIC_LEN + 3] = (unsigned char)status;
		(void)send(c->fd, reply, sizeof(reply), MSG_NOSIGNAL);
	}
	for (int i = 0; i < 2; i++)
		if (c->out[i] >= 0)
			close(c->out[i]);
	buf_release(&c->req);
	pthread_mutex_lock(&sr->lock);
	if (slot)
		slot->conns--;
	sr->conns--;
	sr->conn_fd[c->idx] = -1;
	pthread_cond_broadcast(&sr->cond);
	pthread_mutex_unlock(&sr->lock);
	close(c->fd);            /* after: stop no longer shuts it down */
	free(c);
	return NULL;
}

static void *accept_main(void *arg)
{
	struct stagereq *sr = arg;

	for (;;) {
		int fd = accept4(sr->lfd, NULL, NULL, SOCK_CLOEXEC);
		struct conn *c;
		size_t idx = 0;
		pthread_t t;
		bool ok;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			pthread_mutex_lock(&sr->lock);
			ok = !sr->stopping;
			pthread_mutex_unlock(&sr->lock);
			if (!ok)
				return NULL;
			log_warn_rl("stage socket %s: accept: %s", sr->path, strerror(errno));
			usleep(100 * 1000);
			continue;
		}
		pthread_mutex_lock(&sr->lock);
		ok = !sr->stopping && sr->conns < CONNS_MAX;
		if (ok) {
			while (sr->conn_fd[idx] >= 0)
				idx++;
			sr->conn_fd[idx] = fd;
			sr->conns++;
		}
		pthread_mutex_unlock(&sr->lock);
		if (!ok) {
			close(fd);          /* the caller says "no answer" */
			continue;
		}
		c = xcalloc(1, sizeof(*c));
		c->sr = sr;
		c->fd = fd;
		c->idx = idx;
		c->out[0] = c->out[1] = -1;
		c->req = (struct buf)BUF_INIT;
		if (pthread_create(&t, NULL, conn_main, c) == 0) {
			pthread_detach(t);
		} else {
			pthread_mutex_lock(&sr->lock);
			sr->conns--;
			sr->conn_fd[idx] = -1;
			pthread_mutex_unlock(&sr->lock);
			close(fd);
			free(c);
		}
	}
}

/* SOCK_DIR: made if missing; root's and writable by root only, or no
 * socket is made in it (a socket others could replace would lie). */
static int sock_dir(void)
{
	struct stat st;

	if (mkdir(SOCK_DIR, 0755) < 0 && errno != EEXIST)
		return -errno;
	if (lstat(SOCK_DIR, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode) || st.st_uid != 0 || (st.st_mode & 022))
		return -EPERM;
	return 0;
}

int stagereq_start(struct bfs *fs)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *max = fs->opts.stage_user_max;
	struct stagereq *sr;
	int rc;

	fs->stagereq = NULL;
	if (geteuid() != 0 || fs->opts.cache_mode != BRAMBLE_CACHE_DISK ||
	    (max && !strcmp(max, "0")))
		return 0;
	rc = sock_dir();
	if (rc < 0) {
		log_warn("no stage socket for users: %s: %s", SOCK_DIR,
			 rc == -EPERM ? "not root's alone" : strerror(-rc));
		return rc;
	}
	sr = xcalloc(1, sizeof(*sr));
	sr->fs = fs;
	pthread_mutex_init(&sr->lock, NULL);
	pthread_cond_init(&sr->cond, NULL);
	for (size_t i = 0; i < CONNS_MAX; i++)
		sr->conn_fd[i] = -1;
	sr->tool = find_tool();
	snprintf(sa.sun_path, sizeof(sa.sun_path), SOCK_DIR "/bramblefs.%ld.sock",
		 (long)getpid());
	sr->path = xstrdup(sa.sun_path);
	unlink(sr->path);        /* a pid of an earlier boot's bramblefs */
	sr->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	rc = sr->lfd < 0 || bind(sr->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
		chmod(sr->path, 0666) < 0 || listen(sr->lfd, 16) < 0 ? -errno : 0;
	if (rc == 0)
		rc = -pthread_create(&sr->thr, NULL, accept_main, sr);
	if (rc < 0) {
		log_warn("no stage socket for users: %s: %s", sr->path, strerror(-rc));
		if (sr->lfd >= 0)
			close(sr->lfd);
		unlink(sr->path);
		free(sr->path);
		free(sr->tool);
		free(sr);
		return rc;
	}
	fs->stagereq = sr;
	return 0;
}

const char *stagereq_path(const struct stagereq *sr)
{
	return sr->path;
}

void stagereq_stop(struct stagereq *sr)
{
	if (!sr)
		return;
	pthread_mutex_lock(&sr->lock);
	sr->stopping = true;
	pthread_cond_broadcast(&sr->cond);
	pthread_mutex_unlock(&sr->lock);
	shutdown(sr->lfd, SHUT_RDWR);          /* wakes accept() */
	pthread_join(sr->thr, NULL);
	close(sr->lfd);
	unlink(sr->path);
	/* the connections end their stagings (SIGTERM) and leave; one still
	 * reading its request reads its end */
	pthread_mutex_lock(&sr->lock);
	for (size_t i = 0; i < CONNS_MAX; i++)
		if (sr->conn_fd[i] >= 0)
			shutdown(sr->conn_fd[i], SHUT_RD);
	while (sr->conns)
		pthread_cond_wait(&sr->cond, &sr->lock);
	pthread_mutex_unlock(&sr->lock);
	pthread_mutex_destroy(&sr->lock);
	pthread_cond_destroy(&sr->cond);
	free(sr->path);
	free(sr->tool);
	free(sr);
}
