/* envcp_check.c - `bramble envcp --check DST`: is a copied environment
 * whole?  No leftover old prefix, every ELF's libraries resolve, every
 * script's interpreter exists, bin/python runs (see envcp.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "envcp.h"
#include "envcp_elf.h"
#include "envcp_rw.h"
#include "util.h"
#include "xalloc.h"

extern char **environ;

/* Occurrences reported per file; the rest are counted. */
#define MAX_HITS 3
#define PYTHON_TIMEOUT_MS 60000

struct elf_obj {
	char *rel;
	struct elf_info ei;
};

struct check {
	struct envcp_check_result *res;
	const char *old;                /* prefix to look for, or NULL */
	size_t oldlen;
	struct elf_obj *elfs;
	size_t nelfs;
};

static void problem(struct check *c, const char *kind, const char *rel,
		    long long off, const char *fmt, ...) BR_PRINTF(5, 6);
static void problem(struct check *c, const char *kind, const char *rel,
		    long long off, const char *fmt, ...)
{
	struct envcp_check_result *r = c->res;
	struct buf b = BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	buf_vaddf(&b, fmt, ap);
	va_end(ap);
	r->problems = xrealloc(r->problems, (r->nproblems + 1) * sizeof(*r->problems));
	r->problems[r->nproblems++] = (struct envcp_problem){
		.kind = xstrdup(kind), .path = xstrdup(rel), .offset = off,
		.msg = buf_detach(&b, NULL) };
}

static bool executable(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* NAME as `env' finds it: on PATH (the environment's bin/ counts too:
 * an activated environment puts it first). */
static bool on_path(const char *root, const char *name)
{
	const char *path = getenv("PATH");
	struct buf p = BUF_INIT;
	bool found;

	buf_addf(&p, "%s/bin/%s", root, name);
	found = executable(p.data);
	for (const char *s = path ? path : "/usr/bin:/bin"; !found && *s;) {
		size_t n = strcspn(s, ":");

		buf_reset(&p);
		buf_add(&p, s, n);
		buf_addf(&p, "/%s", name);
		found = n && executable(p.data);
		s += n + (s[n] == ':');
	}
	buf_release(&p);
	return found;
}

/* The first word of s[0..n), unquoted ('...' with '\'' or "..."). */
static char *sh_word(const char *s, size_t n)
{
	struct buf w = BUF_INIT;
	size_t i = 0;

	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	while (i < n && s[i] != ' ' && s[i] != '\t') {
		char q = s[i];

		if (q == '\'' || q == '"') {
			for (i++; i < n && s[i] != q; i++)
				buf_add(&w, s + i, 1);
			i++;
		} else if (q == '\\' && i + 1 < n) {
			buf_add(&w, s + i + 1, 1);
			i += 2;
		} else {
			buf_add(&w, s + i, 1);
			i++;
		}
	}
	return buf_detach(&w, NULL);
}

static void check_script(struct check *c, const char *rel, const char *data, size_t len)
{
	const char *nl = memchr(data, '\n', len), *p = data + 2, *end;
	size_t l1 = nl ? (size_t)(nl - data) : len;
	char *interp, *cmd = NULL;

	c->res->scripts++;
	end = data + l1;
	while (end > p && (end[-1] == '\r' || end[-1] == ' '))
		end--;
	if (l1 > 255)
		problem(c, "interp", rel, -1, "#! line is %zu bytes: the kernel reads "
			"only 255", l1);
	interp = sh_word(p, (size_t)(end - p));
	if (interp[0] != '/') {
		problem(c, "interp", rel, -1, "interpreter '%s' is not an absolute path",
			interp);
		goto out;
	}
	if (!executable(interp)) {
		problem(c, "interp", rel, -1, "interpreter %s not found", interp);
		goto out;
	}
	if (!strcmp(strrchr(interp, '/'), "/env")) {
		/* #!/usr/bin/env [-S] [NAME=VALUE...] CMD ... */
		const char *a = p + strspn(p, " \t");

		a += strcspn(a, " \t");
		for (;;) {
			a += strspn(a, " \t");
			if (a >= end)
				break;
			free(cmd);
			cmd = sh_word(a, (size_t)(end - a));
			a += strcspn(a, " \t");
			if (cmd[0] != '-' && !strchr(cmd, '='))
				break;
			free(cmd);
			cmd = NULL;
		}
		if (cmd && (strchr(cmd, '/') ? !executable(cmd) : !on_path(c->res->dst, cmd)))
			problem(c, "interp", rel, -1, "interpreter %s (through env) not found "
				"in %s/bin or on PATH", cmd, c->res->dst);
	} else if (nl && (size_t)(nl + 1 - data) + 9 < len && !strncmp(nl + 1, "'''exec' ", 9)) {
		/* pip's /bin/sh trick for long #! lines: the real interpreter
		 * is the first word after 'exec'. */
		const char *l2 = nl + 10, *e2 = memchr(l2, '\n', len - (size_t)(l2 - data));

		cmd = sh_word(l2, e2 ? (size_t)(e2 - l2) : len - (size_t)(l2 - data));
		if (!executable(cmd))
			problem(c, "interp", rel, -1, "interpreter %s (exec'd by /bin/sh) "
				"not found", cmd);
	}
out:
	free(interp);
	free(cmd);
}

static void check_file(struct check *c, const char *path, const char *rel,
		       const struct stat *st)
{
	size_t len = (size_t)st->st_size;
	char *m;
	int fd;

	c->res->files++;
	if (len == 0)
		return;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		problem(c, "read", rel, -1, "cannot open: %s", strerror(errno));
		return;
	}
	m = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (m == MAP_FAILED) {
		problem(c, "read", rel, -1, "cannot map: %s", strerror(errno));
		return;
	}
	if (c->old && !envcp_is_pyc(rel)) {
		ssize_t at = 0;
		size_t hits = 0;

		while ((at = envcp_find(m, len, (size_t)at, c->old, c->oldlen)) >= 0) {
			if (hits++ < MAX_HITS)
				problem(c, "prefix", rel, at, "old prefix %s at offset %zd",
					c->old, at);
			at += (ssize_t)c->oldlen;
		}
		if (hits > MAX_HITS)
			problem(c, "prefix", rel, -1, "... and %zu more occurrences",
				hits - MAX_HITS);
	}
	if (len >= 4 && !memcmp(m, "\177ELF", 4)) {
		struct elf_info ei;

		if (elf_read(path, &ei) == 0) {
			if (ei.dynamic) {
				c->elfs = xrealloc(c->elfs, (c->nelfs + 1) * sizeof(*c->elfs));
				c->elfs[c->nelfs++] = (struct elf_obj){ xstrdup(rel), ei };
			} else {
				elf_release(&ei);
			}
		}
	} else if (len > 2 && m[0] == '#' && m[1] == '!' && (st->st_mode & 0111)) {
		check_script(c, rel, m, len);
	}
	munmap(m, len);
}

static int walk(struct check *c, const char *rel)
{
	struct buf p = BUF_INIT, r = BUF_INIT;
	struct dirent *d;
	DIR *dir;
	int rc = 0;

	buf_addf(&p, "%s/%s", c->res->dst, rel);
	dir = opendir(p.data);
	if (!dir) {
		rc = -errno;
		problem(c, "read", rel, -1, "cannot open directory: %s", strerror(-rc));
		buf_release(&p);
		return rc;
	}
	while ((d = readdir(dir))) {
		struct stat st;

		if (!strcmp(d->d_name, ".") || !strcmp(d->d_name, "..") ||
		    (!*rel && !strcmp(d->d_name, ENVCP_MARKER)))
			continue;
		buf_reset(&r);
		buf_addf(&r, *rel ? "%s/%s" : "%s%s", rel, d->d_name);
		buf_reset(&p);
		buf_addf(&p, "%s/%s", c->res->dst, r.data);
		if (lstat(p.data, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode))
			walk(c, r.data);
		else if (S_ISREG(st.st_mode))
			check_file(c, p.data, r.data, &st);
	}
	closedir(dir);
	buf_release(&p);
	buf_release(&r);
	return rc;
}

/* The DT_RPATH of every program (without DT_RUNPATH), $ORIGIN expanded
 * for the program: libraries it loads inherit them. */
static char *inherited_rpaths(struct check *c)
{
	struct buf b = BUF_INIT;

	for (size_t i = 0; i < c->nelfs; i++) {
		const struct elf_info *ei = &c->elfs[i].ei;
		struct buf org = BUF_INIT;

		if (!ei->program || !ei->rpath || ei->runpath)
			continue;
		buf_addf(&org, "%s/%s", c->res->dst, c->elfs[i].rel);
		buf_setlen(&org, (size_t)(strrchr(org.data, '/') - org.data));
		for (const char *s = ei->rpath; *s;) {
			size_t n = strcspn(s, ":");

			if (b.len)
				buf_adds(&b, ":");
			if (!strncmp(s, "$ORIGIN", 7)) {
				buf_add(&b, org.data, org.len);
				buf_add(&b, s + 7, n - 7);
			} else {
				buf_add(&b, s, n);
			}
			s += n + (s[n] == ':');
		}
		buf_release(&org);
	}
	return buf_detach(&b, NULL);
}

static void check_elfs(struct check *c)
{
	struct elf_resolver *r = elf_resolver_new();
	char *inh = inherited_rpaths(c);
	struct buf p = BUF_INIT;

	for (size_t i = 0; i < c->nelfs; i++) {
		struct elf_obj *o = &c->elfs[i];
		char **miss;
		size_t n;

		c->res->elfs++;
		buf_reset(&p);
		buf_addf(&p, "%s/%s", c->res->dst, o->rel);
		n = elf_resolve(r, p.data, &o->ei, o->ei.program ? NULL : inh, &miss);
		for (size_t k = 0; k < n; k++) {
			problem(c, "lib", o->rel, -1, "%s => not found (%s%s)", miss[k],
				o->ei.runpath ? "RUNPATH " : o->ei.rpath ? "RPATH " : "no RPATH",
				o->ei.runpath ? o->ei.runpath : o->ei.rpath ? o->ei.rpath : "");
			free(miss[k]);
		}
		free(miss);
	}
	buf_release(&p);
	free(inh);
	elf_resolver_free(r);
}

/* Run bin/python -c 'print(sys.prefix)' with a deadline; no PYTHONHOME or
 * PYTHONPATH of ours leaks in. */
static void check_python(struct check *c)
{
	static const char *const names[] = { "bin/python", "bin/python3" };
	const char *rel = NULL;
	struct buf py = BUF_INIT, out = BUF_INIT;
	posix_spawn_file_actions_t fa;
	char **env = NULL, *argv[4];
	size_t ne = 0;
	int pfd[2], status = 0, rc;
	int64_t deadline = now_ns() + (int64_t)PYTHON_TIMEOUT_MS * 1000000;
	pid_t pid;

	for (size_t i = 0; i < ARRAY_SIZE(names) && !rel; i++) {
		buf_reset(&py);
		buf_addf(&py, "%s/%s", c->res->dst, names[i]);
		if (access(py.data, F_OK) == 0)
			rel = names[i];
	}
	if (!rel) {
		buf_release(&py);
		return;
	}
	for (char **e = environ; *e; e++) {
		if (!strncmp(*e, "PYTHONHOME=", 11) || !strncmp(*e, "PYTHONPATH=", 11))
			continue;
		env = xrealloc(env, (ne + 2) * sizeof(*env));
		env[ne++] = *e;
	}
	env = xrealloc(env, (ne + 1) * sizeof(*env));
	env[ne] = NULL;
	argv[0] = py.data;
	argv[1] = (char *)"-c";
	argv[2] = (char *)"import sys; print(sys.prefix)";
	argv[3] = NULL;
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		problem(c, "python", rel, -1, "pipe: %s", strerror(errno));
		goto out;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], 2);
	rc = posix_spawn(&pid, py.data, &fa, NULL, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	close(pfd[1]);
	if (rc != 0) {
		close(pfd[0]);
		problem(c, "python", rel, -1, "cannot run: %s", strerror(rc));
		goto out;
	}
	for (;;) {
		struct pollfd pf = { .fd = pfd[0], .events = POLLIN };
		int64_t left = (deadline - now_ns()) / 1000000;
		char chunk[4096];
		ssize_t n;

		if (left <= 0 || poll(&pf, 1, (int)left) == 0) {
			kill(pid, SIGKILL);
			buf_adds(&out, "(timed out)");
			break;
		}
		n = read(pfd[0], chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (out.len < 65536)
			buf_add(&out, chunk, (size_t)n);
	}
	close(pfd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	while (out.len && out.data[out.len - 1] == '\n')
		buf_setlen(&out, out.len - 1);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		c->res->python = buf_detach(&out, NULL);
	} else {
		const char *last = strrchr(out.data, '\n');

		problem(c, "python", rel, -1, "%s %s: %s", rel,
			WIFEXITED(status) ? "failed" : "was killed",
			last ? last + 1 : out.data);
	}
out:
	free(env);
	buf_release(&py);
	buf_release(&out);
}

/* The rest of the first line of path that starts with key, or NULL. */
static char *line_after(const char *path, const char *key)
{
	FILE *f = fopen(path, "re");
	char *line = NULL, *v = NULL;
	size_t cap = 0, klen = strlen(key);

	while (f && !v && getline(&line, &cap, f) > 0)
		if (!strncmp(line, key, klen))
			v = xstrndup(line + klen, strcspn(line + klen, "\r\n"));
	if (f)
		fclose(f);
	free(line);
	return v;
}

/* Where a venv says it was made: bin/activate's VIRTUAL_ENV=, else the
 * last word of pyvenv.cfg's `command = ... -m venv [opts] PREFIX' (Python
 * >= 3.11).  NULL when neither says, or when that is dst itself. */
static char *venv_home(const char *dst)
{
	struct buf p = BUF_INIT;
	struct stat a, b;
	char *v, *home = NULL;

	buf_addf(&p, "%s/bin/activate", dst);
	v = line_after(p.data, "VIRTUAL_ENV=");
	if (v)
		home = sh_word(v, strlen(v));
	free(v);
	buf_reset(&p);
	buf_addf(&p, "%s/pyvenv.cfg", dst);
	v = home ? NULL : line_after(p.data, "command = ");
	if (v && strrchr(v, ' '))
		home = xstrdup(strrchr(v, ' ') + 1);
	free(v);
	buf_release(&p);
	/* Made where it is, perhaps under another name (a symlink). */
	if (home && (home[0] != '/' || !strcmp(home, dst) ||
		     (stat(home, &a) == 0 && stat(dst, &b) == 0 &&
		      a.st_dev == b.st_dev && a.st_ino == b.st_ino))) {
		free(home);
		home = NULL;
	}
	return home;
}

int envcp_check(const char *dst, const char *old_prefix, struct envcp_check_result *res)
{
	struct check c = { .res = res };
	struct envcp_marker mk;
	struct stat st;
	char *guess;
	int rc;

	memset(res, 0, sizeof(*res));
	res->dst = path_abs_lexical(dst);
	rc = stat(res->dst, &st) < 0 ? -errno : S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
	if (rc < 0) {
		fprintf(stderr, "bramble envcp: %s: %s\n", dst, strerror(-rc));
		return rc;
	}
	rc = envcp_marker_read(res->dst, &mk);
	if (rc == 0) {
		res->made_for = xstrdup(mk.prefix);
		if (!old_prefix && mk.from)
			res->old_prefix = path_abs_lexical(mk.from);
		envcp_marker_release(&mk);
	}
	if (old_prefix)
		res->old_prefix = path_abs_lexical(old_prefix);
	/* A venv names its birthplace: a copy still tied to it (cp -a, or
	 * envcp given the wrong old prefix) is not whole, marker or not. */
	guess = old_prefix ? NULL : venv_home(res->dst);
	if (guess) {
		if (!res->old_prefix)
			res->old_prefix = path_abs_lexical(guess);
		problem(&c, "marker", "", -1, "a venv made at %s but found at %s "
			"(copied without relocating it: use bramble envcp)", guess, res->dst);
		free(guess);
	}
	if (res->old_prefix && strcmp(res->old_prefix, res->dst) &&
	    strcmp(res->old_prefix, "/")) {
		c.old = res->old_prefix;
		c.oldlen = strlen(c.old);
	}
	if (res->made_for && strcmp(res->made_for, res->dst))
		problem(&c, "marker", "", -1, "made for %s but found at %s: relocate it "
			"with bramble envcp", res->made_for, res->dst);
	walk(&c, "");
	check_elfs(&c);
	check_python(&c);
	for (size_t i = 0; i < c.nelfs; i++) {
		free(c.elfs[i].rel);
		elf_release(&c.elfs[i].ei);
	}
	free(c.elfs);
	return 0;
}

void envcp_check_release(struct envcp_check_result *res)
{
	free(res->dst);
	free(res->old_prefix);
	free(res->made_for);
	free(res->python);
	for (size_t i = 0; i < res->nproblems; i++) {
		free(res->problems[i].kind);
		free(res->problems[i].path);
		free(res->problems[i].msg);
	}
	free(res->problems);
	memset(res, 0, sizeof(*res));
}
