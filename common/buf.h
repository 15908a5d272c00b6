/* buf.h - a growable byte string, in the manner of git's strbuf.
 *
 * After buf_init() (or BUF_INIT), b->data is never NULL and is always
 * NUL-terminated one past b->len, so it can be printed as a string.
 * The buffer owns b->data; buf_detach() hands it to the caller (who then
 * frees it), buf_release() frees it and re-initialises the buffer. */
#ifndef BR_BUF_H
#define BR_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "util.h"

struct buf {
	char *data;
	size_t len;
	size_t cap;     /* 0 while data points at the shared empty string */
};

extern char buf_empty[];
#define BUF_INIT { buf_empty, 0, 0 }

void buf_init(struct buf *b, size_t hint);
void buf_release(struct buf *b);
/* Make room for `more' bytes beyond len (plus the terminator). */
void buf_grow(struct buf *b, size_t more);
void buf_add(struct buf *b, const void *data, size_t len);
void buf_adds(struct buf *b, const char *s);
void buf_addf(struct buf *b, const char *fmt, ...) BR_PRINTF(2, 3);
void buf_vaddf(struct buf *b, const char *fmt, va_list ap);
void buf_setlen(struct buf *b, size_t len);
static inline void buf_reset(struct buf *b) { buf_setlen(b, 0); }
/* Take the data: the caller frees it; *len_out (may be NULL) gets len. */
char *buf_detach(struct buf *b, size_t *len_out);

#endif
