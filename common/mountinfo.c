/* mountinfo.c - reading /proc/self/mountinfo (mountinfo.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mountinfo.h"
#include "xalloc.h"

/* mountinfo writes blanks, tabs, newlines and backslashes as \ooo. */
static void unoctal(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' &&
		    s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*o++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0'));
			s += 3;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
}

int mountinfo_read(struct mountinfo **out, size_t *n)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL, dir[4096], type[256], src[4096];
	struct mountinfo *v = NULL;
	size_t cap = 0, k = 0;

	*out = NULL;
	*n = 0;
	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		char *sep = strstr(line, " - ");

		/* id parent maj:min root MOUNTPOINT opts [tags] - TYPE SOURCE ... */
		unsigned int maj, min;

		if (!sep || sscanf(line, "%*s %*s %u:%u %*s %4095s", &maj, &min, dir) != 3 ||
		    sscanf(sep + 3, "%255s %4095s", type, src) != 2)
			continue;
		unoctal(dir);
		unoctal(src);
		v = xrealloc(v, (k + 1) * sizeof(*v));
		v[k].dir = xstrdup(dir);
		v[k].type = xstrdup(type);
		v[k].source = xstrdup(src);
		v[k].major = maj;
		v[k].minor = min;
		k++;
	}
	free(line);
	fclose(f);
	*out = v;
	*n = k;
	return 0;
}

void mountinfo_free(struct mountinfo *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].dir);
		free(v[i].type);
		free(v[i].source);
	}
	free(v);
}
