/* target.c - resolve a command's target to a server address. */
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bramble_ctl.h"
#include "buf.h"
#include "log.h"
#include "mountinfo.h"
#include "netaddr.h"
#include "target.h"
#include "util.h"
#include "xalloc.h"

/* Walk up from path until a directory with a control file. */
static int find_mount(const char *path, struct target *t)
{
	char *dir = realpath(path, NULL);
	struct buf ctl = BUF_INIT;
	struct stat st;

	if (!dir)
		return -errno;
	if (stat(dir, &st) == 0 && !S_ISDIR(st.st_mode)) {
		char *slash = strrchr(dir, '/');

		if (slash)
			*(slash == dir ? slash + 1 : slash) = '\0';
	}
	for (;;) {
		if (bramble_ctl_read(dir, &ctl) == 0 && ctl.len) {
			t->mount = dir;
			t->ctl = buf_detach(&ctl, NULL);
			return 0;
		}
		buf_reset(&ctl);
		char *slash = strrchr(dir, '/');

		if (!slash || !strcmp(dir, "/"))
			break;
		*(slash == dir ? slash + 1 : slash) = '\0';
	}
	buf_release(&ctl);
	free(dir);
	return -ENOENT;
}

/* t->mount and t->ctl set: the server and port of the control file. */
static int ctl_server(struct target *t)
{
	unsigned long long p;
	char *port;
	int rc;

	t->host = bramble_ctl_value(t->ctl, BRAMBLE_CTL_KEY_SERVER);
	port = bramble_ctl_value(t->ctl, BRAMBLE_CTL_KEY_PORT);
	rc = !t->host || !port || parse_uint(port, 1, 65535, &p) < 0 ? -EPROTO : 0;
	free(port);
	if (rc < 0) {
		target_release(t);
		return rc;
	}
	t->port = (int)p;
	return 0;
}

int target_mount(const char *path, struct target *t)
{
	int rc;

	memset(t, 0, sizeof(*t));
	rc = find_mount(path, t);
	return rc < 0 ? rc : ctl_server(t);
}

int target_mount_root(const char *root, struct target *t)
{
	struct buf ctl = BUF_INIT;
	int rc;

	memset(t, 0, sizeof(*t));
	rc = bramble_ctl_read(root, &ctl);
	if (rc == 0 && !ctl.len)
		rc = -ENOENT;
	if (rc < 0) {
		buf_release(&ctl);
		return rc;
	}
	t->mount = xstrdup(root);
	t->ctl = buf_detach(&ctl, NULL);
	return ctl_server(t);
}

/* mnt is abs or a directory above it. */
static bool path_under(const char *abs, const char *mnt)
{
	size_t n = strlen(mnt);

	return !strncmp(abs, mnt, n) &&
	       (abs[n] == '/' || abs[n] == '\0' || (n == 1 && mnt[0] == '/'));
}

char *target_mount_point(const char *path)
{
	char *abs = path_abs_lexical(path), *best = NULL;
	struct mountinfo *v;
	size_t n, best_len = 0;

	mountinfo_read(&v, &n);
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(v[i].dir);

		/* The longest mount point above the path decides; of equal
		 * ones the last listed, which is mounted over the others. */
		if (!path_under(abs, v[i].dir) || len < best_len)
			continue;
		best_len = len;
		free(best);
		best = !strcmp(v[i].type, BRAMBLE_MOUNT_TYPE) ? xstrdup(v[i].dir) : NULL;
	}
	mountinfo_free(v, n);
	free(abs);
	return best;
}

/* spec lies in the bramblefs mount root: only its .bramble is read. */
static int parse_in_mount(const char *spec, const char *root, struct target *t)
{
	int rc = target_mount_root(root, t);

	if (rc == -EPROTO)
		fprintf(stderr, "bramble: %s/.bramble does not name a server\n", root);
	else if (rc < 0)
		fprintf(stderr, "bramble: %s is in the bramble mount %s, but its "
				".bramble cannot be read: %s\n", spec, root, strerror(-rc));
	return rc;
}

int target_parse(const char *spec, struct target *t)
{
	char *root = target_mount_point(spec);
	struct stat st;
	int rc;

	memset(t, 0, sizeof(*t));
	/* A path in a bramble mount is never stat()ed: with its server
	 * down, that would wait for the mount's own timeout. */
	if (root) {
		rc = parse_in_mount(spec, root, t);
		free(root);
		return rc;
	}
	if (stat(spec, &st) == 0) {
		rc = target_mount(spec, t);
		if (rc == -ENOENT)
			fprintf(stderr, "bramble: %s is not in a bramble mount "
					"(no .bramble control file found)\n", spec);
		else if (rc < 0)
			fprintf(stderr, "bramble: the .bramble control file above %s "
					"does not name a server\n", spec);
		return rc;
	}
	/* Host names hold no '/': such a spec is a path that failed. */
	if (errno != ENOENT || strchr(spec, '/')) {
		rc = -errno;
		fprintf(stderr, "bramble: cannot access %s: %s\n", spec, strerror(-rc));
		return rc;
	}
	rc = netaddr_split(spec, BRAMBLE_DEFAULT_PORT, &t->host, &t->port);
	if (rc < 0 || t->port == 0) {
		fprintf(stderr, "bramble: '%s' is neither a path nor HOST[:PORT]\n", spec);
		target_release(t);
		return -EINVAL;
	}
	return 0;
}

void target_release(struct target *t)
{
	free(t->host);
	free(t->mount);
	free(t->ctl);
	memset(t, 0, sizeof(*t));
}

/* The numeric address of t->host into num, so the resolver's own words
 * reach the user (libbramble would say only EHOSTUNREACH). */
static int resolve(const struct target *t, char *num, size_t len)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM };
	struct addrinfo *ai;
	int rc = getaddrinfo(t->host, NULL, &hints, &ai);

	if (rc != 0) {
		fprintf(stderr, "bramble: cannot resolve '%s': %s\n", t->host,
			rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
		return rc == EAI_NONAME || rc == EAI_FAIL || rc == EAI_NODATA ?
		       -EHOSTUNREACH : -EINVAL;
	}
	rc = getnameinfo(ai->ai_addr, ai->ai_addrlen, num, (socklen_t)len, NULL, 0,
			 NI_NUMERICHOST);
	freeaddrinfo(ai);
	return rc == 0 ? 0 : -EINVAL;
}

/* Why bramble_new failed, in words that name the cause. */
static void say_why(const struct target *t, int rc, unsigned int timeout_ms,
		    const struct bramble_hello *h)
{
	char where[300];

	snprintf(where, sizeof(where), "%s:%d%s%s%s", t->host, t->port,
		 t->mount ? " (the server of " : "", t->mount ? t->mount : "",
		 t->mount ? ")" : "");
	if (rc == -ETIMEDOUT)
		fprintf(stderr, "bramble: no answer from %s within %.1f s: the server "
			"is down, stopped or unreachable\n", where, timeout_ms / 1e3);
	else if (rc == -EPROTONOSUPPORT)
		fprintf(stderr, "bramble: %s is not a bramble server%s%s%s\n", where,
			h->message[0] ? " (" : "", h->message, h->message[0] ? ")" : "");
	else if (rc != -EPROTO)         /* a refusal: libbramble logged it */
		fprintf(stderr, "bramble: cannot connect to %s: %s\n", where,
			strerror(-rc));
}

int target_open(const char *spec, unsigned int timeout_ms, struct target *t,
		struct bramble **b)
{
	struct bramble_opts o;
	struct bramble_hello h = { 0 };
	char num[NI_MAXHOST];
	const char *auth;
	int rc = target_parse(spec, t);

	if (rc == 0)
		rc = resolve(t, num, sizeof(num));
	if (rc < 0)
		goto fail;
	bramble_opts_init(&o);
	o.host = num;
	o.port = t->port;
	o.timeout_ms = timeout_ms;
	/* As bramblefs's -o auth= and munge_socket=. */
	auth = getenv("BRAMBLE_AUTH");
	if (auth && *auth && bramble_auth_parse(auth, &o.auth) < 0) {
		fprintf(stderr, "bramble: BRAMBLE_AUTH=%s: not sys, munge or auto\n", auth);
		rc = -EINVAL;
		goto fail;
	}
	o.munge_socket = getenv("BRAMBLE_MUNGE_SOCKET");
	o.client_name = "bramble " PACKAGE_VERSION;
	rc = bramble_new_hello(&o, b, &h);
	if (rc == 0)
		return 0;
	say_why(t, rc, timeout_ms, &h);
fail:
	target_release(t);
	return rc;
}

int target_reachable(const char *path, unsigned int timeout_ms)
{
	char *root = target_mount_point(path);
	struct bramble *b = NULL;
	struct target t;
	int rc = 0;

	if (root)
		rc = target_open(root, timeout_ms, &t, &b);
	if (root && rc == 0) {
		rc = bramble_null(b);
		if (rc < 0)
			fprintf(stderr, "bramble: the server of %s does not answer: %s\n",
				root, strerror(-rc));
		bramble_free(b);
		target_release(&t);
	}
	free(root);
	return rc;
}
