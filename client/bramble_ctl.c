/* bramble_ctl.c - reading a mount's control file (bramble_ctl.h). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "bramble_ctl.h"
#include "buf.h"
#include "xalloc.h"

/* Past this, a control file is not one: stop reading. */
#define CTL_READ_MAX 65536

const char *const bramble_ctl_prefixes[] = {
	BRAMBLE_CTL_PREFIX_RPC, BRAMBLE_CTL_PREFIX_CONN, BRAMBLE_CTL_PREFIX_READ,
	BRAMBLE_CTL_PREFIX_CACHE, BRAMBLE_CTL_PREFIX_LEASE, BRAMBLE_CTL_PREFIX_CB,
	BRAMBLE_CTL_PREFIX_RECORD, BRAMBLE_CTL_PREFIX_WB, BRAMBLE_CTL_PREFIX_PEER, NULL
};

int bramble_ctl_read(const char *dir, struct buf *ctl)
{
	struct buf path = BUF_INIT;
	char chunk[4096];
	ssize_t n;
	int fd, rc = 0;

	buf_addf(&path, "%s/" BRAMBLE_CTL_NAME, dir);
	fd = open(path.data, O_RDONLY | O_CLOEXEC);
	buf_release(&path);
	if (fd < 0)
		return -errno;
	while ((n = read(fd, chunk, sizeof(chunk))) > 0 && ctl->len < CTL_READ_MAX)
		buf_add(ctl, chunk, (size_t)n);
	if (n < 0)
		rc = -errno;
	close(fd);
	return rc;
}

/* Where key's value starts in ctl_text, or NULL. */
static const char *find_value(const char *ctl_text, const char *key)
{
	size_t klen = strlen(key);

	for (const char *p = ctl_text; p && *p;) {
		if (!strncmp(p, key, klen) && p[klen] == '=')
			return p + klen + 1;
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return NULL;
}

char *bramble_ctl_value(const char *ctl_text, const char *key)
{
	const char *v = find_value(ctl_text, key);

	return v ? xstrndup(v, strcspn(v, "\n")) : NULL;
}

bool bramble_ctl_has(const char *ctl_text, const char *key)
{
	return find_value(ctl_text, key) != NULL;
}
