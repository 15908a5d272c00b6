/* json.h - the one JSON string escaper of the `bramble` tools (JSON is
 * written by hand: numbers and keys need no help). */
#ifndef BR_TOOLS_JSON_H
#define BR_TOOLS_JSON_H

#include <stdio.h>

/* s as a JSON string, quotes included, to f: backslash, double quote,
 * newline, tab escaped, other control bytes as \u00XX; other bytes as
 * they are (UTF-8 passes through). */
void json_fstr(FILE *f, const char *s);
/* The same to stdout. */
void json_str(const char *s);

#endif
