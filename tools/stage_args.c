/* stage_args.c - the paths a `bramble stage` command line names
 * (stage_args.h): globs expanded as the user staged for, manifests,
 * --paths0, and the learned sets that bramblefs -o record= writes. */
#include <errno.h>
#include <glob.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "mountinfo.h"
#include "stage_args.h"
#include "target.h"
#include "util.h"
#include "xalloc.h"

void strlist_add(struct strlist *l, const char *s)
{
	l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
	l->v[l->n++] = xstrdup(s);
}

void strlist_free(struct strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

void stage_args_fail(struct stage_args *a, const char *path, const char *why)
{
	strlist_add(&a->pre_path, path);
	strlist_add(&a->pre_why, why);
}

/* A glob expanded by a child with the ids of the user staged for: the
 * names of a directory root may list but the user may not are never
 * seen.  Its answer: "P<path>\0" per match, or "F<reason>\0". */
static void add_glob_as_user(struct stage_args *a, const char *p)
{
	struct buf out = BUF_INIT;
	gid_t groups[BRAMBLE_NGROUPS];
	char chunk[4096];
	int fds[2], status = 0;
	ssize_t n;
	pid_t pid;

	for (uint32_t i = 0; i < a->cred.ngroups; i++)
		groups[i] = a->cred.groups[i];
	if (pipe(fds) < 0 || (pid = fork()) < 0) {
		stage_args_fail(a, p, strerror(errno));
		return;
	}
	if (pid == 0) {
		struct buf r = BUF_INIT;
		struct stat st;
		glob_t g;

		close(fds[0]);
		if (setgroups(a->cred.ngroups, groups) < 0 || setgid(a->cred.gid) < 0 ||
		    setuid(a->cred.uid) < 0)
			_exit(3);
		if (lstat(p, &st) == 0) {
			buf_addf(&r, "P%s", p);
			buf_add(&r, "", 1);
		} else if (glob(p, 0, NULL, &g) != 0 || g.gl_pathc == 0) {
			buf_adds(&r, "Fno file matches");
			buf_add(&r, "", 1);
		} else {
			for (size_t i = 0; i < g.gl_pathc; i++) {
				buf_addf(&r, "P%s", g.gl_pathv[i]);
				buf_add(&r, "", 1);
			}
		}
		_exit(write_all(fds[1], r.data, r.len) < 0 ? 4 : 0);
	}
	close(fds[1]);
	while ((n = read(fds[0], chunk, sizeof(chunk))) > 0 ||
	       (n < 0 && errno == EINTR))
		if (n > 0)
			buf_add(&out, chunk, (size_t)n);
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		stage_args_fail(a, p, "cannot expand the glob as the user");
	} else {
		for (size_t i = 0; i < out.len; i += strlen(out.data + i) + 1) {
			if (out.data[i] == 'P')
				strlist_add(&a->paths, out.data + i + 1);
			else
				stage_args_fail(a, p, out.data + i + 1);
		}
	}
	buf_release(&out);
}

void stage_args_add(struct stage_args *a, const char *p)
{
	struct stat st;
	glob_t g;

	if (strpbrk(p, "*?[") && a->for_user) {
		add_glob_as_user(a, p);
		return;
	}
	if (!strpbrk(p, "*?[") || lstat(p, &st) == 0) {
		strlist_add(&a->paths, p);
		return;
	}
	if (glob(p, 0, NULL, &g) != 0 || g.gl_pathc == 0) {
		stage_args_fail(a, p, "no file matches");
	} else {
		for (size_t i = 0; i < g.gl_pathc; i++)
			strlist_add(&a->paths, g.gl_pathv[i]);
	}
	globfree(&g);
}

int stage_args_manifest(struct stage_args *a, const char *file)
{
	FILE *f = fopen(file, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (!f) {
		fprintf(stderr, "bramble stage: cannot read %s: %s\n", file, strerror(errno));
		return -1;
	}
	while ((n = getline(&line, &cap, f)) >= 0) {
		char *p = line;

		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' ||
				 line[n - 1] == ' ' || line[n - 1] == '\t'))
			line[--n] = '\0';
		p += strspn(p, " \t");
		if (*p && *p != '#')
			stage_args_add(a, p);
	}
	free(line);
	fclose(f);
	return 0;
}

void stage_args_all_mounts(struct strlist *out)
{
	struct mountinfo *v;
	size_t n;

	mountinfo_read(&v, &n);
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i].type, BRAMBLE_MOUNT_TYPE))
			strlist_add(out, v[i].dir);
	mountinfo_free(v, n);
}

/* ---- learned sets (the format: stage.h's contract, README) */

/* Undo the set's escapes ("\\\\" and "\\n") in place; -1 if malformed. */
static int unescape(char *s)
{
	char *o = s;

	for (char *p = s; *p; p++) {
		if (*p != '\\') {
			*o++ = *p;
			continue;
		}
		p++;
		if (*p == '\\')
			*o++ = '\\';
		else if (*p == 'n')
			*o++ = '\n';
		else
			return -1;
	}
	*o = '\0';
	return 0;
}

void stage_args_learned(struct stage_args *a, const char *mount_path)
{
	char *dir = NULL, *file = NULL, *line = NULL, why[512];
	struct target t;
	size_t cap = 0;
	ssize_t n;
	FILE *f = NULL;
	bool head = false;

	if (target_mount(mount_path, &t) < 0) {
		stage_args_fail(a, mount_path, "not in a bramble mount");
		return;
	}
	dir = a->record_dir ? xstrdup(a->record_dir) :
			      bramble_ctl_value(t.ctl, BRAMBLE_CTL_KEY_RECORD);
	if (!dir || !*dir) {
		snprintf(why, sizeof(why), "learned set '%s': the mount %s records no sets "
			 "(bramblefs -o record=DIR) and no --record-dir was given",
			 a->learned, t.mount);
		stage_args_fail(a, mount_path, why);
		goto out;
	}
	file = xmalloc(strlen(dir) + strlen(a->learned) + 8);
	sprintf(file, "%s/%s.set", dir, a->learned);
	f = fopen(file, "r");
	if (!f) {
		snprintf(why, sizeof(why), "learned set '%s': %s: %s", a->learned, file,
			 strerror(errno));
		stage_args_fail(a, mount_path, why);
		goto out;
	}
	while ((n = getline(&line, &cap, f)) >= 0) {
		char *full;

		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		if (!head) {
			if (strcmp(line, "# bramble learned set v1")) {
				snprintf(why, sizeof(why), "%s is not a learned set "
					 "(no '# bramble learned set v1' line)", file);
				stage_args_fail(a, mount_path, why);
				head = true;   /* said */
				break;
			}
			head = true;
			continue;
		}
		/* "# truncated" and other comments; "./#x" is how a name
		 * starting with '#' is written */
		if (!*line || *line == '#' || unescape(line) < 0)
			continue;
		full = xmalloc(strlen(t.mount) + strlen(line) + 2);
		sprintf(full, "%s/%s", t.mount, line + (*line == '/'));
		strlist_add(&a->paths, full);
		free(full);
	}
	/* a set of only the header is an empty set; no header is no set */
	if (!head) {
		snprintf(why, sizeof(why), "learned set %s: empty file", file);
		stage_args_fail(a, mount_path, why);
	}
out:
	if (f)
		fclose(f);
	free(line);
	free(file);
	free(dir);
	target_release(&t);
}

void stage_args_learned_anywhere(struct stage_args *a)
{
	struct strlist mounts = { 0 };
	struct target t;
	size_t found = 0;

	if (target_mount(".", &t) == 0) {
		target_release(&t);
		stage_args_learned(a, ".");
		return;
	}
	stage_args_all_mounts(&mounts);
	for (size_t i = 0; i < mounts.n; i++) {
		char *dir, *file;

		if (target_mount(mounts.v[i], &t) < 0)
			continue;
		dir = a->record_dir ? xstrdup(a->record_dir) :
				      bramble_ctl_value(t.ctl, BRAMBLE_CTL_KEY_RECORD);
		if (dir) {
			file = xmalloc(strlen(dir) + strlen(a->learned) + 8);
			sprintf(file, "%s/%s.set", dir, a->learned);
			if (access(file, F_OK) == 0) {
				stage_args_learned(a, mounts.v[i]);
				found++;
			}
			free(file);
			free(dir);
		}
		target_release(&t);
	}
	if (!found) {
		char why[512];

		snprintf(why, sizeof(why), "no bramblefs mount records a set named '%s' "
			 "(give a PATH in the mount, or --record-dir)", a->learned);
		stage_args_fail(a, a->learned, why);
	}
	strlist_free(&mounts);
}

/* bramblefs passes the paths a user's command resolved. */
int stage_args_paths0(struct stage_args *a)
{
	struct buf in = BUF_INIT;
	char chunk[65536];
	ssize_t n;

	while ((n = read(STDIN_FILENO, chunk, sizeof(chunk))) > 0 ||
	       (n < 0 && errno == EINTR))
		if (n > 0)
			buf_add(&in, chunk, (size_t)n);
	if (n < 0) {
		fprintf(stderr, "bramble stage: reading the paths: %s\n", strerror(errno));
		buf_release(&in);
		return -1;
	}
	for (size_t i = 0; i < in.len; i += strlen(in.data + i) + 1)
		if (in.data[i])
			strlist_add(&a->paths, in.data + i);
	buf_release(&in);
	return 0;
}
