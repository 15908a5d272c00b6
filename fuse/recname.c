/* recname.c - the name map of the learned sets (see recname.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hashtab.h"
#include "inode.h"
#include "recname.h"
#include "util.h"
#include "xalloc.h"

#define DEPTH_MAX 512              /* components of a path */

/* One name the kernel was given: the handle fh is dir/name. */
struct rname {
	struct hashtab_node by_fh;          /* in recname.by_fh */
	struct hashtab_node by_link;        /* in recname.by_link while link */
	int64_t touched;                    /* last recname_set() of it */
	unsigned char *link;                /* dir handle, then the name and
	                                     * a NUL; NULL: no name known */
	uint8_t dirlen, fhlen;
	unsigned char fh[];
};

static uint64_t link_hash(const struct bramble_fh *dir, const char *name)
{
	return hash_bytes(dir->data, dir->len) ^ hash_bytes(name, strlen(name));
}

/* ---- the tables */

struct fh_key { const unsigned char *fh; size_t len; };
struct link_key { const struct bramble_fh *dir; const char *name; };

static bool fh_is(const struct hashtab_node *n, const void *key)
{
	const struct rname *e = HASHTAB_ENTRY(n, struct rname, by_fh);
	const struct fh_key *k = key;

	return e->fhlen == k->len && !memcmp(e->fh, k->fh, k->len);
}

static bool link_is(const struct hashtab_node *n, const void *key)
{
	const struct rname *e = HASHTAB_ENTRY(n, struct rname, by_link);
	const struct link_key *k = key;

	return e->dirlen == k->dir->len && !memcmp(e->link, k->dir->data, k->dir->len) &&
	       !strcmp((char *)e->link + e->dirlen, k->name);
}

static struct rname *find_fh(const struct recname *nm, const unsigned char *fh,
			     size_t len)
{
	struct fh_key k = { fh, len };
	struct hashtab_node *n = hashtab_find(&nm->by_fh, hash_bytes(fh, len), fh_is, &k);

	return n ? HASHTAB_ENTRY(n, struct rname, by_fh) : NULL;
}

static struct rname *find_link(const struct recname *nm, const struct bramble_fh *dir,
			       const char *name, uint64_t h)
{
	struct link_key k = { dir, name };
	struct hashtab_node *n = hashtab_find(&nm->by_link, h, link_is, &k);

	return n ? HASHTAB_ENTRY(n, struct rname, by_link) : NULL;
}

/* e loses its name (renamed over, or the name now means another file). */
static void unset_link(struct recname *nm, struct rname *e)
{
	if (!e->link)
		return;
	hashtab_remove(&nm->by_link, &e->by_link);
	free(e->link);
	e->link = NULL;
}

static void set_link(struct recname *nm, struct rname *e,
		     const struct bramble_fh *dir, const char *name, uint64_t h)
{
	size_t n = strlen(name);

	e->link = xmalloc(dir->len + n + 1);
	memcpy(e->link, dir->data, dir->len);
	memcpy(e->link + dir->len, name, n + 1);
	e->dirlen = (uint8_t)dir->len;
	hashtab_insert(&nm->by_link, &e->by_link, h);
}

static void drop_name(struct recname *nm, struct rname *e)
{
	unset_link(nm, e);
	hashtab_remove(&nm->by_fh, &e->by_fh);
	free(e);
}

static struct rname *get_name(struct recname *nm, const struct bramble_fh *fh)
{
	struct rname *e = find_fh(nm, fh->data, fh->len);

	if (e)
		return e;
	e = xcalloc(1, sizeof(*e) + fh->len);
	e->fhlen = (uint8_t)fh->len;
	memcpy(e->fh, fh->data, fh->len);
	hashtab_insert(&nm->by_fh, &e->by_fh, hash_bytes(fh->data, fh->len));
	return e;
}

/* ---- paths */

/* Append name to out[*pos..cap) escaped; false when it does not fit. */
static bool esc_add(char *out, size_t *pos, size_t cap, const char *name)
{
	size_t p = *pos;

	for (; *name; name++) {
		if (p + 3 > cap)
			return false;
		if (*name == '\\' || *name == '\n') {
			out[p++] = '\\';
			out[p++] = *name == '\n' ? 'n' : '\\';
		} else {
			out[p++] = *name;
		}
	}
	*pos = p;
	return true;
}

ssize_t recname_path(const struct recname *nm, const struct bramble_fh *root,
		     const struct bramble_fh *fh, char *out, size_t cap)
{
	const struct rname *chain[DEPTH_MAX];
	const unsigned char *cur = fh->data;
	size_t len = fh->len, n = 0, pos = 0, raw = 0;

	while (!(len == root->len && !memcmp(cur, root->data, len))) {
		const struct rname *e = find_fh(nm, cur, len);

		if (!e || !e->link)
			return -ENOENT;
		if (n == DEPTH_MAX)
			return -ENAMETOOLONG;
		chain[n++] = e;
		cur = e->link;
		len = e->dirlen;
	}
	if (n == 0)
		return -ENOENT;  /* the root is no regular file */
	while (n--) {
		const char *name = (const char *)chain[n]->link + chain[n]->dirlen;

		/* A first '#' would read as a comment: "./#...". */
		if (pos == 0 && name[0] == '#') {
			memcpy(out, "./", 2);
			pos = 2;
		}
		raw += strlen(name) + 1;
		if (raw > BRAMBLE_PATH_MAX || !esc_add(out, &pos, cap, name))
			return -ENAMETOOLONG;
		out[pos++] = n ? '/' : '\0';
	}
	return (ssize_t)pos - 1;
}

/* ---- the interface */

void recname_init(struct recname *nm)
{
	hashtab_init(&nm->by_fh, 1024);
	hashtab_init(&nm->by_link, 1024);
}

static int name_free(struct hashtab_node *n, void *arg)
{
	struct rname *e = HASHTAB_ENTRY(n, struct rname, by_fh);

	free(e->link);
	free(e);
	return 0;
}

void recname_release(struct recname *nm)
{
	hashtab_foreach(&nm->by_fh, name_free, NULL);
	hashtab_release(&nm->by_fh);
	hashtab_release(&nm->by_link);
}

void recname_set(struct recname *nm, const struct bramble_fh *dir,
		 const char *name, const struct bramble_fh *fh, int64_t now_ns)
{
	uint64_t h = link_hash(dir, name);
	struct rname *e = get_name(nm, fh), *other;

	e->touched = now_ns;
	if (e->link && find_link(nm, dir, name, h) == e)
		return;
	other = find_link(nm, dir, name, h);
	if (other)
		unset_link(nm, other);  /* the name means e now */
	unset_link(nm, e);
	set_link(nm, e, dir, name, h);
}

void recname_rename(struct recname *nm, const struct bramble_fh *from,
		    const char *name, const struct bramble_fh *to,
		    const char *newname, unsigned int flags)
{
	uint64_t ha = link_hash(from, name), hb = link_hash(to, newname);
	struct rname *a = find_link(nm, from, name, ha);
	struct rname *b = find_link(nm, to, newname, hb);

	if (a == b)
		b = NULL;  /* renamed onto itself */
	if (a)
		unset_link(nm, a);
	if (b)
		unset_link(nm, b);
	if (a)
		set_link(nm, a, to, newname, hb);
	if (b && (flags & RENAME_EXCHANGE))
		set_link(nm, b, from, name, ha);
}

struct sweep { struct recname *nm; int64_t older_ns; struct inode_table *inodes; };

static int sweep_one(struct hashtab_node *n, void *arg)
{
	struct rname *e = HASHTAB_ENTRY(n, struct rname, by_fh);
	struct sweep *sw = arg;
	struct bramble_fh fh = { .len = e->fhlen };
	uint64_t ino;

	memcpy(fh.data, e->fh, e->fhlen);
	if (e->touched < sw->older_ns && !inode_find_fh(sw->inodes, &fh, &ino))
		drop_name(sw->nm, e);
	return 0;
}

bool recname_sweep(struct recname *nm, size_t first, size_t n, int64_t older_ns,
		   struct inode_table *inodes)
{
	struct sweep sw = { nm, older_ns, inodes };

	return hashtab_foreach_range(&nm->by_fh, first, n, sweep_one, &sw);
}
