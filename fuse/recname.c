/* recname.c - the name map of the learned sets (see recname.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inode.h"
#include "recname.h"
#include "util.h"
#include "xalloc.h"

#define DEPTH_MAX 512              /* components of a path */
#define FNV_OFF 0xcbf29ce484222325ULL

/* One name the kernel was given: the handle fh is dir/name. */
struct rname {
	struct rname *next_fh, *next_link;  /* hash chains */
	uint64_t hfh, hlink;                /* hlink: of link; 0 without */
	int64_t touched;                    /* last recname_set() of it */
	unsigned char *link;                /* dir handle, then the name and
	                                     * a NUL; NULL: no name known */
	uint8_t dirlen, fhlen;
	unsigned char fh[];
};

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++) {
		h ^= c[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static uint64_t link_hash(const struct bramble_fh *dir, const char *name)
{
	return fnv(fnv(FNV_OFF, dir->data, dir->len), name, strlen(name)) | 1;
}

/* ---- the tables */

static struct rname *find_fh(const struct recname *nm, const unsigned char *fh,
			     size_t len, uint64_t h)
{
	struct rname *e = nm->by_fh[h & (nm->nb - 1)];

	while (e && !(e->hfh == h && e->fhlen == len && !memcmp(e->fh, fh, len)))
		e = e->next_fh;
	return e;
}

static struct rname *find_link(struct recname *nm, const struct bramble_fh *dir,
			       const char *name, uint64_t h)
{
	struct rname *e = nm->by_link[h & (nm->nb - 1)];

	for (; e; e = e->next_link) {
		if (e->hlink == h && e->dirlen == dir->len &&
		    !memcmp(e->link, dir->data, dir->len) &&
		    !strcmp((char *)e->link + e->dirlen, name))
			return e;
	}
	return NULL;
}

static void chain_drop(struct rname **head, struct rname *e, bool by_link)
{
	struct rname **pp = head;

	while (*pp && *pp != e)
		pp = by_link ? &(*pp)->next_link : &(*pp)->next_fh;
	if (*pp)
		*pp = by_link ? e->next_link : e->next_fh;
}

/* e loses its name (renamed over, or the name now means another file). */
static void unset_link(struct recname *nm, struct rname *e)
{
	if (!e->link)
		return;
	chain_drop(&nm->by_link[e->hlink & (nm->nb - 1)], e, true);
	free(e->link);
	e->link = NULL;
	e->hlink = 0;
}

static void set_link(struct recname *nm, struct rname *e,
		     const struct bramble_fh *dir, const char *name, uint64_t h)
{
	size_t n = strlen(name);
	size_t b = h & (nm->nb - 1);

	e->link = xmalloc(dir->len + n + 1);
	memcpy(e->link, dir->data, dir->len);
	memcpy(e->link + dir->len, name, n + 1);
	e->dirlen = (uint8_t)dir->len;
	e->hlink = h;
	e->next_link = nm->by_link[b];
	nm->by_link[b] = e;
}

static void drop_name(struct recname *nm, struct rname *e)
{
	unset_link(nm, e);
	chain_drop(&nm->by_fh[e->hfh & (nm->nb - 1)], e, false);
	nm->count--;
	free(e);
}

static void grow_names(struct recname *nm)
{
	struct rname **old = nm->by_fh;
	size_t oldn = nm->nb;

	nm->nb *= 2;
	nm->by_fh = xcalloc(nm->nb, sizeof(*nm->by_fh));
	free(nm->by_link);
	nm->by_link = xcalloc(nm->nb, sizeof(*nm->by_link));
	for (size_t i = 0; i < oldn; i++) {
		struct rname *e = old[i], *next;

		for (; e; e = next) {
			next = e->next_fh;
			e->next_fh = nm->by_fh[e->hfh & (nm->nb - 1)];
			nm->by_fh[e->hfh & (nm->nb - 1)] = e;
			if (e->link) {
				e->next_link = nm->by_link[e->hlink & (nm->nb - 1)];
				nm->by_link[e->hlink & (nm->nb - 1)] = e;
			}
		}
	}
	free(old);
}

static struct rname *get_name(struct recname *nm, const struct bramble_fh *fh)
{
	uint64_t h = fnv(FNV_OFF, fh->data, fh->len);
	struct rname *e = find_fh(nm, fh->data, fh->len, h);

	if (e)
		return e;
	if (nm->count + 1 > nm->nb * 2)
		grow_names(nm);
	e = xcalloc(1, sizeof(*e) + fh->len);
	e->hfh = h;
	e->fhlen = (uint8_t)fh->len;
	memcpy(e->fh, fh->data, fh->len);
	e->next_fh = nm->by_fh[h & (nm->nb - 1)];
	nm->by_fh[h & (nm->nb - 1)] = e;
	nm->count++;
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
		const struct rname *e = find_fh(nm, cur, len, fnv(FNV_OFF, cur, len));

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
	nm->nb = 1024;
	nm->count = 0;
	nm->by_fh = xcalloc(nm->nb, sizeof(*nm->by_fh));
	nm->by_link = xcalloc(nm->nb, sizeof(*nm->by_link));
}

void recname_release(struct recname *nm)
{
	for (size_t b = 0; b < nm->nb; b++) {
		struct rname *e = nm->by_fh[b], *next;

		for (; e; e = next) {
			next = e->next_fh;
			free(e->link);
			free(e);
		}
	}
	free(nm->by_fh);
	free(nm->by_link);
	memset(nm, 0, sizeof(*nm));
}

void recname_set(struct recname *nm, const struct bramble_fh *dir,
		 const char *name, const struct bramble_fh *fh, int64_t now_ns)
{
	uint64_t h = link_hash(dir, name);
	struct rname *e = get_name(nm, fh), *other;

	e->touched = now_ns;
	if (e->link && e->hlink == h && find_link(nm, dir, name, h) == e)
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

bool recname_sweep(struct recname *nm, size_t first, size_t n, int64_t older_ns,
		   struct inode_table *inodes)
{
	if (first >= nm->nb)
		return false;
	for (size_t b = first; b < BR_MIN(first + n, nm->nb); b++) {
		struct rname *e = nm->by_fh[b], *next;

		for (; e; e = next) {
			struct bramble_fh fh = { .len = e->fhlen };
			uint64_t ino;

			next = e->next_fh;
			memcpy(fh.data, e->fh, e->fhlen);
			if (e->touched < older_ns && !inode_find_fh(inodes, &fh, &ino))
				drop_name(nm, e);
		}
	}
	return true;
}
