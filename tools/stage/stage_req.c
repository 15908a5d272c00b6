/* stage_req.c - `bramble stage` of an ordinary user: the request to the
 * node's bramblefs (stage.h; the server side and the protocol are
 * fuse/stagereq.h's).
 *
 * The node cache is root's (0700): a user cannot write it, and must not
 * be able to pin what they like in it.  So the user's command asks the
 * bramblefs of a mount, through the Unix socket its .bramble names
 * (stage_socket=PATH): it sends the paths it resolved itself (globs,
 * manifests and learned sets read with the user's own rights) and its
 * stdout and stderr (SCM_RIGHTS); bramblefs takes the user's uid from the
 * socket (SO_PEERCRED: the kernel's word, not ours), stages with that
 * user's credentials under its per-user limit, writes progress and
 * messages straight to those descriptors, and answers the exit status. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "buf.h"
#include "mountinfo.h"
#include "stage.h"
#include "target.h"
#include "util.h"
#include "xalloc.h"

#define MAGIC "BRSTAGE1"
#define MAGIC_LEN 8

static char *socket_of_mount(const char *root)
{
	struct target t;
	char *sock;

	if (target_mount_root(root, &t) < 0)
		return NULL;
	sock = bramble_ctl_value(t.ctl, BRAMBLE_CTL_KEY_STAGE_SOCKET);
	target_release(&t);
	if (sock && !*sock) {
		free(sock);
		sock = NULL;
	}
	return sock;
}

char *stage_req_socket(char *const *paths, size_t npaths)
{
	struct mountinfo *v;
	char *sock = NULL;
	size_t n;

	/* the first path's mount decides (none offering one: no staging by
	 * another mount's bramblefs, whose limit is not this mount's) */
	for (size_t i = 0; i < npaths; i++) {
		char *root = target_mount_point(paths[i]);

		if (root) {
			sock = socket_of_mount(root);
			free(root);
			return sock;
		}
	}
	/* the current directory's mount, else any bramblefs mount's */
	{
		char *root = target_mount_point(".");

		if (root)
			sock = socket_of_mount(root);
		free(root);
	}
	if (sock)
		return sock;
	mountinfo_read(&v, &n);
	for (size_t i = 0; i < n && !sock; i++)
		if (!strcmp(v[i].type, BRAMBLE_MOUNT_TYPE))
			sock = socket_of_mount(v[i].dir);
	mountinfo_free(v, n);
	return sock;
}

void stage_req_add(struct buf *req, const char *key, const char *value)
{
	buf_adds(req, key);
	if (value) {
		buf_add(req, "=", 1);
		buf_adds(req, value);
	}
	buf_add(req, "", 1);     /* the NUL ending it */
}

static int send_head(int fd, size_t len)
{
	unsigned char head[MAGIC_LEN + 4];
	int fds[2] = { STDOUT_FILENO, STDERR_FILENO };
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(sizeof(fds))];
	} ctl;
	struct iovec iov = { head, sizeof(head) };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = ctl.space, .msg_controllen = sizeof(ctl.space),
	};
	struct cmsghdr *c;
	ssize_t n;

	memcpy(head, MAGIC, MAGIC_LEN);
	head[MAGIC_LEN] = (unsigned char)(len >> 24);
	head[MAGIC_LEN + 1] = (unsigned char)(len >> 16);
	head[MAGIC_LEN + 2] = (unsigned char)(len >> 8);
	head[MAGIC_LEN + 3] = (unsigned char)len;
	memset(&ctl, 0, sizeof(ctl));
	c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(fds));
	memcpy(CMSG_DATA(c), fds, sizeof(fds));
	do
		n = sendmsg(fd, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n == (ssize_t)sizeof(head) ? 0 :
		write_all(fd, head + n, sizeof(head) - (size_t)n);
}

int stage_req_run(const char *sock, const struct buf *req)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	unsigned char reply[MAGIC_LEN + 4];
	size_t got = 0;
	int fd, rc;

	if (strlen(sock) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "bramble stage: stage socket path too long: %s\n", sock);
		return 1;
	}
	memcpy(sa.sun_path, sock, strlen(sock) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "bramble stage: cannot reach the mount's bramblefs at %s: %s\n",
			sock, strerror(errno));
		if (fd >= 0)
			close(fd);
		return 1;
	}
	rc = send_head(fd, req->len);
	if (rc == 0)
		rc = write_all(fd, req->data, req->len);
	if (rc < 0) {
		fprintf(stderr, "bramble stage: cannot send the request to bramblefs (%s): %s\n",
			sock, strerror(-rc));
		close(fd);
		return 1;
	}
	/* bramblefs writes everything else to our stdout and stderr; here
	 * comes only the exit status, when it is done.  (Leaving -- Ctrl-C --
	 * closes the socket, and bramblefs stops the staging.) */
	while (got < sizeof(reply)) {
		ssize_t n = read(fd, reply + got, sizeof(reply) - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (got < sizeof(reply) || memcmp(reply, MAGIC, MAGIC_LEN)) {
		fprintf(stderr, "bramble stage: bramblefs (%s) ended the request without an "
			"answer (it stopped, or is too busy: see its log)\n", sock);
		return 1;
	}
	return (int)((uint32_t)reply[MAGIC_LEN] << 24 | (uint32_t)reply[MAGIC_LEN + 1] << 16 |
		     (uint32_t)reply[MAGIC_LEN + 2] << 8 | reply[MAGIC_LEN + 3]) & 0xff;
}
