/* buf.c - growable byte strings. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "xalloc.h"

char buf_empty[1];

void buf_init(struct buf *b, size_t hint)
{
	b->data = buf_empty;
	b->len = 0;
	b->cap = 0;
	if (hint)
		buf_grow(b, hint);
}

void buf_release(struct buf *b)
{
	if (b->cap)
		free(b->data);
	buf_init(b, 0);
}

void buf_grow(struct buf *b, size_t more)
{
	size_t need = b->len + more + 1;
	size_t cap;

	if (need <= b->cap)
		return;
	cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap < ((size_t)1 << 30) ? cap * 2 : need;
	if (!b->cap) {
		b->data = xmalloc(cap);
		b->data[0] = '\0';
	} else {
		b->data = xrealloc(b->data, cap);
	}
	b->cap = cap;
}

void buf_setlen(struct buf *b, size_t len)
{
	if (len > b->len)
		buf_grow(b, len - b->len);
	b->len = len;
	if (b->cap)
		b->data[len] = '\0';
}

void buf_add(struct buf *b, const void *data, size_t len)
{
	buf_grow(b, len);
	memcpy(b->data + b->len, data, len);
	buf_setlen(b, b->len + len);
}

void buf_adds(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

void buf_vaddf(struct buf *b, const char *fmt, va_list ap)
{
	va_list cp;
	int n;

	va_copy(cp, ap);
	n = vsnprintf(b->data + b->len, b->cap ? b->cap - b->len : 0, fmt, cp);
	va_end(cp);
	if (n < 0)
		return;
	if (!b->cap || (size_t)n >= b->cap - b->len) {
		buf_grow(b, (size_t)n);
		vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
	}
	buf_setlen(b, b->len + (size_t)n);
}

void buf_addf(struct buf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	buf_vaddf(b, fmt, ap);
	va_end(ap);
}

char *buf_detach(struct buf *b, size_t *len_out)
{
	char *p;

	if (len_out)
		*len_out = b->len;
	p = b->cap ? b->data : xstrdup("");
	buf_init(b, 0);
	return p;
}
