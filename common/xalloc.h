/* xalloc.h - allocation that aborts on out-of-memory.
 *
 * Running out of memory in a daemon that serves a whole cluster is not a
 * condition we can meaningfully recover from piecemeal; every size that
 * comes off the wire is capped *before* it reaches these functions, so an
 * abort here means the machine really is out of memory. */
#ifndef BR_XALLOC_H
#define BR_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
void *xmemdup(const void *p, size_t n);

#endif
