/* target.c - resolve a command's target to a server address. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "cmds.h"
#include "log.h"
#include "netaddr.h"
#include "target.h"
#include "util.h"
#include "xalloc.h"

int target_read_ctl(const char *dir, struct buf *ctl)
{
	struct buf path = BUF_INIT;
	char chunk[4096];
	ssize_t n;
	int fd, rc = 0;

	buf_addf(&path, "%s/.bramble", dir);
	fd = open(path.data, O_RDONLY | O_CLOEXEC);
	buf_release(&path);
	if (fd < 0)
		return -errno;
	while ((n = read(fd, chunk, sizeof(chunk))) > 0 && ctl->len < 65536)
		buf_add(ctl, chunk, (size_t)n);
	if (n < 0)
		rc = -errno;
	close(fd);
	return rc;
}

/* Walk up from path until a directory with a .bramble control file. */
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
		if (target_read_ctl(dir, &ctl) == 0 && ctl.len) {
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

char *target_ctl_get(const struct target *t, const char *key)
{
	size_t klen = strlen(key);

	for (char *p = t->ctl; p && *p;) {
		if (!strncmp(p, key, klen) && p[klen] == '=')
			return p + klen + 1;
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return NULL;
}

static char *ctl_dup(const struct target *t, const char *key)
{
	char *v = target_ctl_get(t, key);

	return v ? xstrndup(v, strcspn(v, "\n")) : NULL;
}

/* t->mount and t->ctl set: the server and port of the control file. */
static int ctl_server(struct target *t)
{
	unsigned long long p;
	char *port;
	int rc;

	t->host = ctl_dup(t, "server");
	port = ctl_dup(t, "port");
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
	rc = target_read_ctl(root, &ctl);
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

int target_parse(const char *spec, struct target *t)
{
	struct stat st;
	int rc;

	memset(t, 0, sizeof(*t));
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
	rc = netaddr_split(spec, BRAMBLE_PORT_DEFAULT, &t->host, &t->port);
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

int target_open(const char *spec, unsigned int timeout_ms, struct target *t,
		struct bramble **b)
{
	struct bramble_opts o;
	const char *auth;
	int rc = target_parse(spec, t);

	if (rc < 0)
		return rc;
	bramble_opts_init(&o);
	o.host = t->host;
	o.port = t->port;
	o.timeout_ms = timeout_ms;
	/* As bramblefs's -o auth= and munge_socket=. */
	auth = getenv("BRAMBLE_AUTH");
	if (auth && *auth && bramble_auth_parse(auth, &o.auth) < 0) {
		fprintf(stderr, "bramble: BRAMBLE_AUTH=%s: not sys, munge or auto\n", auth);
		target_release(t);
		return -EINVAL;
	}
	o.munge_socket = getenv("BRAMBLE_MUNGE_SOCKET");
	o.client_name = "bramble " PACKAGE_VERSION;
	rc = bramble_new(&o, b);
	if (rc < 0) {
		fprintf(stderr, "bramble: cannot connect to %s:%d: %s\n", t->host,
			t->port, strerror(-rc));
		target_release(t);
	}
	return rc;
}
