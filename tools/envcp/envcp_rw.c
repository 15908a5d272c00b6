/* envcp_rw.c - prefix search and rewriting for `bramble envcp`; the
 * marker file.  See envcp_rw.h for the rules. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "envcp_rw.h"
#include "util.h"
#include "xalloc.h"

static const char *base_of(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

void envcp_prefixes_init(struct envcp_prefixes *p, const char *old, const char *new)
{
	p->old = old;
	p->oldlen = strlen(old);
	p->new = new;
	p->newlen = strlen(new);
	p->oldbase = base_of(old);
	p->newbase = base_of(new);
}

static bool name_char(unsigned char c)
{
	return isalnum(c) || c == '_' || c == '.' || c == '+' || c == '-';
}

ssize_t envcp_find(const char *data, size_t len, size_t from,
		   const char *pat, size_t plen)
{
	while (from + plen <= len) {
		const char *hit = memmem(data + from, len - from, pat, plen);
		size_t off;

		if (!hit)
			return -1;
		off = (size_t)(hit - data);
		/* The pattern is an absolute path: whatever precedes a real
		 * occurrence is a quote, '=', ':', space, NUL... never part
		 * of a file name; whatever follows is '/' or such. */
		if ((off == 0 || !name_char((unsigned char)data[off - 1])) &&
		    (off + plen == len || !name_char((unsigned char)data[off + plen])))
			return (ssize_t)off;
		from = off + 1;
	}
	return -1;
}

bool envcp_is_text(const char *data, size_t len)
{
	return memchr(data, '\0', len) == NULL;
}

bool envcp_is_pyc(const char *name)
{
	size_t n = strlen(name);

	return n > 4 && (!strcmp(name + n - 4, ".pyc") || !strcmp(name + n - 4, ".pyo"));
}

/* Append data[0..len) to out with every standalone old replaced by new. */
static size_t replace_all(const char *data, size_t len, const char *old, size_t oldlen,
			  const char *new, size_t newlen, struct buf *out)
{
	size_t from = 0, n = 0;
	ssize_t at;

	while ((at = envcp_find(data, len, from, old, oldlen)) >= 0) {
		buf_add(out, data + from, (size_t)at - from);
		buf_add(out, new, newlen);
		from = (size_t)at + oldlen;
		n++;
	}
	buf_add(out, data + from, len - from);
	return n;
}

/* Append s single-quoted for /bin/sh. */
static void sh_quote(struct buf *out, const char *s, size_t n)
{
	buf_adds(out, "'");
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\'')
			buf_adds(out, "'\\''");
		else
			buf_add(out, s + i, 1);
	}
	buf_adds(out, "'");
}

/* line[0..len) is a #! line (without its newline) too long for the
 * kernel: append a portable replacement, without the final newline. */
static void portable_shebang(const char *line, size_t len, struct buf *out)
{
	const char *p = line + 2, *end = line + len, *interp, *name;
	size_t ilen;

	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	interp = p;
	while (p < end && *p != ' ' && *p != '\t')
		p++;
	ilen = (size_t)(p - interp);
	name = interp + ilen;
	while (name > interp && name[-1] != '/')
		name--;
	if ((size_t)(interp + ilen - name) >= 6 && !strncmp(name, "python", 6)) {
		/* pip's (distlib's) trick: sh runs the line below, which
		 * Python sees as a string literal.  The exact interpreter is
		 * kept, and so are its arguments. */
		buf_adds(out, "#!/bin/sh\n'''exec' ");
		sh_quote(out, interp, ilen);
		for (;;) {
			const char *a;

			while (p < end && (*p == ' ' || *p == '\t'))
				p++;
			if (p == end)
				break;
			a = p;
			while (p < end && *p != ' ' && *p != '\t')
				p++;
			buf_adds(out, " ");
			sh_quote(out, a, (size_t)(p - a));
		}
		buf_adds(out, " \"$0\" \"$@\"\n' '''");
		return;
	}
	/* conda-pack's way: the interpreter is found on PATH (the
	 * environment's bin/ once activated); env -S splits the arguments
	 * the kernel passes as one. */
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	while (end > p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
		end--;
	buf_adds(out, p < end ? "#!/usr/bin/env -S " : "#!/usr/bin/env ");
	buf_add(out, name, (size_t)(interp + ilen - name));
	if (p < end) {
		buf_adds(out, " ");
		buf_add(out, p, (size_t)(end - p));
	}
}

size_t envcp_rewrite_text(const char *data, size_t len, const struct envcp_prefixes *p,
			  const char *name, struct buf *out, unsigned int *what)
{
	struct buf t = BUF_INIT, prompt_old = BUF_INIT, prompt_new = BUF_INIT;
	const char *nl = memchr(data, '\n', len);
	size_t line1 = nl ? (size_t)(nl - data) : len, n;
	ssize_t first = envcp_find(data, len, 0, p->old, p->oldlen);
	const char *body;
	size_t blen;

	*what = 0;
	if (len >= 2 && data[0] == '#' && data[1] == '!' && first >= 0 &&
	    (size_t)first < line1)
		*what |= ENVCP_RW_SHEBANG;
	n = replace_all(data, len, p->old, p->oldlen, p->new, p->newlen, &t);
	body = t.data;
	blen = t.len;
	if (!strncmp(base_of(name), "activate", 8) && *p->oldbase && *p->newbase) {
		struct buf t2 = BUF_INIT;
		const char *hit;

		buf_addf(&prompt_old, "(%s) ", p->oldbase);
		buf_addf(&prompt_new, "(%s) ", p->newbase);
		/* Not a path: a plain replace of the exact "(name) " form
		 * venv writes (PS1, VIRTUAL_ENV_PROMPT, csh and fish). */
		for (size_t from = 0;;) {
			hit = memmem(body + from, blen - from, prompt_old.data, prompt_old.len);
			if (!hit) {
				buf_add(&t2, body + from, blen - from);
				break;
			}
			buf_add(&t2, body + from, (size_t)(hit - body) - from);
			buf_add(&t2, prompt_new.data, prompt_new.len);
			from = (size_t)(hit - body) + prompt_old.len;
			*what |= ENVCP_RW_PROMPT;
		}
		buf_release(&t);
		t = t2;
		body = t.data;
		blen = t.len;
	}
	if (*what & ENVCP_RW_SHEBANG) {
		const char *nl2 = memchr(body, '\n', blen);
		size_t l1 = nl2 ? (size_t)(nl2 - body) : blen;

		if (l1 > ENVCP_SHEBANG_MAX) {
			portable_shebang(body, l1, out);
			body += l1;
			blen -= l1;
			*what |= ENVCP_RW_LONG_SHEBANG;
		}
	}
	buf_add(out, body, blen);
	buf_release(&t);
	buf_release(&prompt_old);
	buf_release(&prompt_new);
	return n;
}

ssize_t envcp_rewrite_binary(char *data, size_t len, const struct envcp_prefixes *p)
{
	struct buf seg = BUF_INIT;
	ssize_t at = envcp_find(data, len, 0, p->old, p->oldlen);
	ssize_t n = 0;

	if (at < 0)
		return 0;
	if (p->newlen > p->oldlen)
		return -ENOSPC;
	while (at >= 0) {
		char *end = memchr(data + at, '\0', len - (size_t)at);
		size_t slen = end ? (size_t)(end - data) - (size_t)at : len - (size_t)at;

		/* The whole string: an RPATH "P/lib:P/lib64" holds two. */
		buf_reset(&seg);
		n += (ssize_t)replace_all(data + at, slen, p->old, p->oldlen,
					  p->new, p->newlen, &seg);
		memcpy(data + at, seg.data, seg.len);
		memset(data + at + seg.len, 0, slen - seg.len);
		at = envcp_find(data, len, (size_t)at + slen, p->old, p->oldlen);
	}
	buf_release(&seg);
	return n;
}

char *envcp_rewrite_link(const char *target, const struct envcp_prefixes *p)
{
	struct buf b = BUF_INIT;

	if (strncmp(target, p->old, p->oldlen) ||
	    (target[p->oldlen] != '\0' && target[p->oldlen] != '/'))
		return NULL;
	buf_add(&b, p->new, p->newlen);
	buf_adds(&b, target + p->oldlen);
	return buf_detach(&b, NULL);
}

/* ---- the marker file */

static void put_escaped(struct buf *b, const char *key, const char *v)
{
	buf_adds(b, key);
	buf_adds(b, "=");
	for (; *v; v++) {
		if (*v == '\\')
			buf_adds(b, "\\\\");
		else if (*v == '\n')
			buf_adds(b, "\\n");
		else
			buf_add(b, v, 1);
	}
	buf_adds(b, "\n");
}

static char *unescape(const char *s, size_t n)
{
	char *out = xmalloc(n + 1), *o = out;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\\' && i + 1 < n) {
			i++;
			*o++ = s[i] == 'n' ? '\n' : s[i];
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	return out;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void push(char ***v, size_t *n, char *s)
{
	*v = xrealloc(*v, (*n + 1) * sizeof(**v));
	(*v)[(*n)++] = s;
}

int envcp_marker_read(const char *root, struct envcp_marker *m)
{
	struct buf path = BUF_INIT, text = BUF_INIT;
	struct envcp_marker r = { 0 };
	char chunk[65536];
	struct stat st;
	bool ours = false;
	ssize_t got;
	int fd, rc = 0;

	buf_addf(&path, "%s/%s", root, ENVCP_MARKER);
	fd = open(path.data, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	buf_release(&path);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	while ((got = read(fd, chunk, sizeof(chunk))) > 0 && text.len < (64u << 20))
		buf_add(&text, chunk, (size_t)got);
	if (got < 0)
		rc = -errno;
	close(fd);
	r.mtime = st.st_mtim;
	for (char *l = text.data; rc == 0 && *l;) {
		char *nl = strchr(l, '\n'), *eq;
		size_t n = nl ? (size_t)(nl - l) : strlen(l);

		eq = memchr(l, '=', n);
		if (eq && l[0] != '#') {
			size_t k = (size_t)(eq - l);
			char *v = unescape(eq + 1, n - k - 1);

			if (k == 7 && !strncmp(l, "version", k)) {
				ours = !strcmp(v, "1");
				free(v);
			} else if (k == 6 && !strncmp(l, "prefix", k) && !r.prefix) {
				r.prefix = v;
			} else if (k == 4 && !strncmp(l, "from", k) && !r.from) {
				r.from = v;
			} else if (k == 7 && !strncmp(l, "rewrite", k)) {
				push(&r.rewrite, &r.nrewrite, v);
			} else if (k == 6 && !strncmp(l, "unsafe", k)) {
				push(&r.unsafe, &r.nunsafe, v);
			} else {
				free(v);
			}
		}
		l += n + (nl != NULL);
	}
	buf_release(&text);
	if (rc == 0 && (!ours || !r.prefix || r.prefix[0] != '/'))
		rc = -EPROTO;
	if (rc < 0) {
		envcp_marker_release(&r);
		return rc;
	}
	if (r.nrewrite)
		qsort(r.rewrite, r.nrewrite, sizeof(*r.rewrite), cmp_str);
	*m = r;
	return 0;
}

void envcp_marker_release(struct envcp_marker *m)
{
	free(m->prefix);
	free(m->from);
	for (size_t i = 0; i < m->nrewrite; i++)
		free(m->rewrite[i]);
	free(m->rewrite);
	for (size_t i = 0; i < m->nunsafe; i++)
		free(m->unsafe[i]);
	free(m->unsafe);
	memset(m, 0, sizeof(*m));
}

bool envcp_marker_lists(const struct envcp_marker *m, const char *rel)
{
	return m->nrewrite &&
	       bsearch(&rel, m->rewrite, m->nrewrite, sizeof(*m->rewrite), cmp_str);
}

int envcp_marker_write(const char *root, const char *prefix, const char *from,
		       char **rewrite, size_t nrewrite, char **unsafe, size_t nunsafe)
{
	struct buf b = BUF_INIT, path = BUF_INIT, tmp = BUF_INIT;
	int fd, rc = 0;

	buf_adds(&b, "# bramble envcp: this environment was made for the prefix below.\n"
		     "# `bramble envcp` of it rewrites that prefix, even after a move by hand;\n"
		     "# `rewrite' lists the files that hold it (the others are copied as they are).\n"
		     "version=1\n");
	put_escaped(&b, "prefix", prefix);
	if (from)
		put_escaped(&b, "from", from);
	for (size_t i = 0; i < nrewrite; i++)
		put_escaped(&b, "rewrite", rewrite[i]);
	for (size_t i = 0; i < nunsafe; i++)
		put_escaped(&b, "unsafe", unsafe[i]);
	buf_addf(&path, "%s/%s", root, ENVCP_MARKER);
	buf_addf(&tmp, "%s/%s.tmp", root, ENVCP_MARKER);
	fd = open(tmp.data, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	rc = write_all(fd, b.data, b.len);
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp.data, path.data) < 0)
		rc = -errno;
	if (rc < 0)
		unlink(tmp.data);
out:
	buf_release(&b);
	buf_release(&path);
	buf_release(&tmp);
	return rc;
}

void envcp_json_str(struct buf *out, const char *s)
{
	buf_adds(out, "\"");
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		if (*c == '"' || *c == '\\')
			buf_addf(out, "\\%c", *c);
		else if (*c == '\n')
			buf_adds(out, "\\n");
		else if (*c == '\t')
			buf_adds(out, "\\t");
		else if (*c < 0x20 || *c == 0x7f)
			buf_addf(out, "\\u%04x", *c);
		else
			buf_add(out, c, 1);
	}
	buf_adds(out, "\"");
}
