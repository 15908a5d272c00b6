/* exports_parse.c - reading an exports file into a table of entries, not
 * yet opened (exports.h: no file system access). */
#include <errno.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exports.h"
#include "util.h"
#include "xalloc.h"

void exports_table_free(struct exports_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++)
		exports_unref(t->v[i]);
	free(t->v);
	free(t);
}

void exports_table_add(struct exports_table *t, struct exports_entry *e)
{
	t->v = xrealloc(t->v, (t->n + 1) * sizeof(*t->v));
	t->v[t->n++] = e;
}

uint16_t exports_name_id(const char *name)
{
	unsigned char h[16];

	/* Unkeyed: the id is no secret, only stable and well spread. */
	crypto_generichash(h, sizeof(h), (const unsigned char *)name, strlen(name),
			   NULL, 0);
	return (uint16_t)(h[0] << 8 | h[1]);
}

struct parse {
	const char *file;
	unsigned int line;
	struct buf *err;
	int nerr;
};

static void perr(struct parse *p, const char *fmt, ...) BR_PRINTF(2, 3);
static void perr(struct parse *p, const char *fmt, ...)
{
	va_list ap;

	buf_addf(p->err, "%s:%u: ", p->file, p->line);
	va_start(ap, fmt);
	buf_vaddf(p->err, fmt, ap);
	va_end(ap);
	buf_adds(p->err, "\n");
	p->nerr++;
}

bool exports_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > EXPORTS_NAME_MAX || s[0] == '.')
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			 "0123456789._-") == n;
}

/* "/a//b/" -> "/a/b"; NULL for a relative path or a "." or ".." in it. */
static char *norm_path(const char *path)
{
	char *out = xmalloc(strlen(path) + 2), *o = out;
	const char *s = path;

	if (*s != '/') {
		free(out);
		return NULL;
	}
	while (*s) {
		size_t n;

		while (*s == '/')
			s++;
		n = strcspn(s, "/");
		if (n == 0)
			break;
		if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.')) {
			free(out);
			return NULL;
		}
		*o++ = '/';
		memcpy(o, s, n);
		o += n;
		s += n;
	}
	if (o == out)
		*o++ = '/';
	*o = '\0';
	return out;
}

enum { SEEN_RO = 1, SEEN_SQUASH = 2, SEEN_ALLOW = 4, SEEN_AUTH = 8, SEEN_ID = 16 };

/* Once per kind: "ro,rw" is a mistake to report, not a choice to guess. */
static bool once(struct parse *p, unsigned int *seen, unsigned int bit,
		 const char *tok)
{
	if (*seen & bit) {
		perr(p, "option '%s' contradicts or repeats an earlier one", tok);
		return false;
	}
	*seen |= bit;
	return true;
}

static void opt_allow(struct buf *spec, const char *val)
{
	if (spec->len)
		buf_adds(spec, ",");
	for (; *val; val++)
		buf_add(spec, *val == ';' ? "," : val, 1);
}

/* One comma-separated option.  *in_allow: the last option was allow=, so a
 * bare network continues its list ("allow=10.0.0.0/8,192.168.0.0/16"). */
static void parse_opt(struct parse *p, struct exports_entry *e, char *tok,
		      unsigned int *seen, bool *in_allow, struct buf *allow)
{
	unsigned long long v;
	char *val = strchr(tok, '=');

	if (val)
		*val++ = '\0';
	if (!val && *in_allow && strpbrk(tok, ".:") && !strchr(tok, '_')) {
		opt_allow(allow, tok);
		return;
	}
	*in_allow = false;
	if (!*tok) {
		perr(p, "empty option (two commas in a row?)");
	} else if (!val && (!strcmp(tok, "ro") || !strcmp(tok, "rw"))) {
		if (once(p, seen, SEEN_RO, tok))
			e->read_only = tok[1] == 'o';
	} else if (!val && (!strcmp(tok, "root_squash") || !strcmp(tok, "no_root_squash"))) {
		if (once(p, seen, SEEN_SQUASH, tok))
			e->root_squash = tok[0] == 'r';
	} else if (val && !strcmp(tok, "allow")) {
		if (!*val)
			perr(p, "allow=: not a list of networks (CIDR[;CIDR...])");
		else if (once(p, seen, SEEN_ALLOW, "allow=")) {
			buf_reset(allow);
			opt_allow(allow, val);
			*in_allow = true;
		}
	} else if (val && !strcmp(tok, "auth")) {
		if (strcmp(val, "sys") && strcmp(val, "munge"))
			perr(p, "auth=%s: not sys or munge", val);
		else if (once(p, seen, SEEN_AUTH, "auth="))
			e->auth = val[0] == 'm' ? EXPORT_AUTH_MUNGE : EXPORT_AUTH_SYS;
	} else if (val && !strcmp(tok, "id")) {
		if (parse_uint(val, 0, 65535, &v) < 0) {
			perr(p, "id=%s: not a number from 0 to 65535", val);
		} else if (once(p, seen, SEEN_ID, "id=")) {
			e->id = (uint16_t)v;
			e->id_given = true;
		}
	} else {
		perr(p, "unknown option '%s%s%s' (known: ro, rw, root_squash, "
		     "no_root_squash, allow=, auth=, id=)", tok, val ? "=" : "",
		     val ? val : "");
	}
}

static void parse_opts(struct parse *p, struct exports_entry *e, char *opts,
		       const struct exports_defaults *d)
{
	struct buf allow = BUF_INIT;
	unsigned int seen = 0;
	bool in_allow = false;
	char *tok;

	while (opts && (tok = strsep(&opts, ",")))
		parse_opt(p, e, tok, &seen, &in_allow, &allow);
	if (!allow.len)
		buf_adds(&allow, d->allow ? d->allow : "127.0.0.0/8");
	if (allow_parse(&e->allow, allow.data) < 0)
		perr(p, "allow=%s: not a list of networks (CIDR[;CIDR...], "
		     "host bits clear, e.g. 10.0.0.0/24)", allow.data);
	buf_release(&allow);
}

/* One non-blank, non-comment line: NAME PATH [OPTIONS...]. */
static struct exports_entry *parse_line(struct parse *p, char *line,
					const struct exports_defaults *d)
{
	struct exports_entry *e = xcalloc(1, sizeof(*e));
	char *f[3] = { NULL, NULL, NULL }, *rest = line, *tok;
	struct buf opts = BUF_INIT;
	int nf = 0, nerr = p->nerr;

	atomic_init(&e->refs, 1);
	e->line = p->line;
	e->read_only = d->read_only;
	e->root_squash = d->root_squash;
	e->auth = d->auth;
	/* Options may also be spread over several fields: "ro allow=..." */
	while ((tok = strsep(&rest, " \t\r"))) {
		if (!*tok)
			continue;
		if (nf < 2) {
			f[nf++] = tok;
		} else {
			if (opts.len)
				buf_adds(&opts, ",");
			buf_adds(&opts, tok);
			nf = 3;
		}
	}
	if (nf < 2) {
		perr(p, "'%s': want NAME PATH [OPTIONS]", f[0]);
		goto out;
	}
	if (!exports_name_ok(f[0]))
		perr(p, "bad export name '%s' (1-%d of A-Z a-z 0-9 . _ -, not "
		     "starting with '.')", f[0], EXPORTS_NAME_MAX);
	e->name = xstrdup(f[0]);
	e->id = exports_name_id(e->name);
	e->path = norm_path(f[1]);
	if (!e->path)
		perr(p, "path '%s' is not absolute (or has a '.' or '..' in it)", f[1]);
	parse_opts(p, e, nf == 3 ? opts.data : NULL, d);
out:
	buf_release(&opts);
	if (p->nerr != nerr) {
		exports_unref(e);     /* its only reference */
		return NULL;
	}
	return e;
}

/* Duplicate names and colliding ids, reported on the later line. */
static void check_unique(struct parse *p, const struct exports_table *t)
{
	for (size_t i = 0; i < t->n; i++) {
		for (size_t j = 0; j < i; j++) {
			const struct exports_entry *a = t->v[j], *b = t->v[i];

			p->line = b->line;
			if (!strcmp(a->name, b->name)) {
				perr(p, "duplicate export name '%s' (first on line %u)",
				     b->name, a->line);
			} else if (a->id == b->id) {
				perr(p, "export '%s' has handle id %u, as has '%s' "
				     "(line %u): give one of them another id=N",
				     b->name, b->id, a->name, a->line);
			}
		}
	}
}

int exports_parse(const char *file, const char *text,
		  const struct exports_defaults *d, struct exports_table **out,
		  struct buf *err)
{
	struct exports_table *t = xcalloc(1, sizeof(*t));
	struct parse p = { file, 0, err, 0 };
	char *copy = xstrdup(text), *rest = copy, *line;

	while ((line = strsep(&rest, "\n"))) {
		struct exports_entry *e;
		char *hash = strchr(line, '#');

		p.line++;
		if (hash)
			*hash = '\0';
		if (!line[strspn(line, " \t\r")])
			continue;
		e = parse_line(&p, line, d);
		if (e)
			exports_table_add(t, e);
	}
	free(copy);
	check_unique(&p, t);
	if (p.nerr == 0 && t->n == 0) {
		p.line = 1;
		perr(&p, "no exports in the file");
	}
	if (p.nerr) {
		exports_table_free(t);
		return -EINVAL;
	}
	*out = t;
	return 0;
}
