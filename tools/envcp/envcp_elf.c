/* envcp_elf.c - DT_NEEDED / RPATH / RUNPATH and ld.so-style resolution
 * for `bramble envcp --check` (see envcp_elf.h). */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "envcp_elf.h"
#include "util.h"
#include "xalloc.h"

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define NATIVE_DATA ELFDATA2LSB
#else
#define NATIVE_DATA ELFDATA2MSB
#endif

struct seg {
	uint64_t vaddr, off, filesz;
};

/* Program header i, in a class-neutral form. */
static bool phdr(const unsigned char *m, size_t len, int cls, uint64_t phoff,
		 unsigned int i, uint32_t *type, struct seg *s)
{
	if (cls == ELFCLASS64) {
		Elf64_Phdr p;

		if (phoff + (i + 1) * sizeof(p) > len)
			return false;
		memcpy(&p, m + phoff + i * sizeof(p), sizeof(p));
		*type = p.p_type;
		*s = (struct seg){ p.p_vaddr, p.p_offset, p.p_filesz };
	} else {
		Elf32_Phdr p;

		if (phoff + (i + 1) * sizeof(p) > len)
			return false;
		memcpy(&p, m + phoff + i * sizeof(p), sizeof(p));
		*type = p.p_type;
		*s = (struct seg){ p.p_vaddr, p.p_offset, p.p_filesz };
	}
	return true;
}

static bool vaddr_to_off(const struct seg *loads, size_t n, uint64_t va, uint64_t *off)
{
	for (size_t i = 0; i < n; i++)
		if (va >= loads[i].vaddr && va - loads[i].vaddr < loads[i].filesz) {
			*off = loads[i].off + (va - loads[i].vaddr);
			return true;
		}
	return false;
}

static int parse(const unsigned char *m, size_t len, struct elf_info *ei)
{
	struct seg loads[64], dyn = { 0, 0, 0 }, s;
	uint64_t phoff, strtab = 0, strsz = 0, stroff, needed[256];
	uint64_t rpath = UINT64_MAX, runpath = UINT64_MAX;
	size_t nloads = 0, nneeded = 0;
	unsigned int phnum;
	uint32_t type;
	bool have_dyn = false;

	if (len < EI_NIDENT || memcmp(m, ELFMAG, SELFMAG) || m[EI_DATA] != NATIVE_DATA ||
	    (m[EI_CLASS] != ELFCLASS32 && m[EI_CLASS] != ELFCLASS64))
		return -ENOEXEC;
	ei->cls = m[EI_CLASS];
	if (ei->cls == ELFCLASS64) {
		Elf64_Ehdr h;

		if (len < sizeof(h))
			return -ENOEXEC;
		memcpy(&h, m, sizeof(h));
		ei->machine = h.e_machine;
		phoff = h.e_phoff;
		phnum = h.e_phnum;
	} else {
		Elf32_Ehdr h;

		if (len < sizeof(h))
			return -ENOEXEC;
		memcpy(&h, m, sizeof(h));
		ei->machine = h.e_machine;
		phoff = h.e_phoff;
		phnum = h.e_phnum;
	}
	for (unsigned int i = 0; i < phnum; i++) {
		if (!phdr(m, len, ei->cls, phoff, i, &type, &s))
			return -ENOEXEC;
		if (type == PT_INTERP)
			ei->program = true;
		else if (type == PT_DYNAMIC)
			dyn = s, have_dyn = true;
		else if (type == PT_LOAD && nloads < ARRAY_SIZE(loads))
			loads[nloads++] = s;
	}
	if (!have_dyn || dyn.off > len || dyn.filesz > len - dyn.off)
		return 0;
	ei->dynamic = true;
	for (uint64_t o = dyn.off; o < dyn.off + dyn.filesz;) {
		int64_t tag;
		uint64_t val;

		if (ei->cls == ELFCLASS64) {
			Elf64_Dyn d;

			if (o + sizeof(d) > dyn.off + dyn.filesz)
				break;
			memcpy(&d, m + o, sizeof(d));
			tag = d.d_tag;
			val = d.d_un.d_val;
			o += sizeof(d);
		} else {
			Elf32_Dyn d;

			if (o + sizeof(d) > dyn.off + dyn.filesz)
				break;
			memcpy(&d, m + o, sizeof(d));
			tag = d.d_tag;
			val = d.d_un.d_val;
			o += sizeof(d);
		}
		if (tag == DT_NULL)
			break;
		if (tag == DT_NEEDED && nneeded < ARRAY_SIZE(needed))
			needed[nneeded++] = val;
		else if (tag == DT_STRTAB)
			strtab = val;
		else if (tag == DT_STRSZ)
			strsz = val;
		else if (tag == DT_RPATH)
			rpath = val;
		else if (tag == DT_RUNPATH)
			runpath = val;
	}
	if (!vaddr_to_off(loads, nloads, strtab, &stroff) || stroff > len)
		return nneeded ? -ENOEXEC : 0;
	if (strsz > len - stroff)
		strsz = len - stroff;
#define STR(v) ((v) < strsz && memchr(m + stroff + (v), '\0', strsz - (v)) ? \
		xstrdup((const char *)m + stroff + (v)) : NULL)
	ei->needed = xcalloc(nneeded + 1, sizeof(*ei->needed));
	for (size_t i = 0; i < nneeded; i++) {
		char *n = STR(needed[i]);

		if (n)
			ei->needed[ei->nneeded++] = n;
	}
	if (rpath != UINT64_MAX)
		ei->rpath = STR(rpath);
	if (runpath != UINT64_MAX)
		ei->runpath = STR(runpath);
#undef STR
	return 0;
}

int elf_read(const char *path, struct elf_info *out)
{
	struct elf_info ei = { 0 };
	struct stat st;
	void *m;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	if (st.st_size < EI_NIDENT) {
		close(fd);
		return -ENOEXEC;
	}
	m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	rc = m == MAP_FAILED ? -errno : 0;
	close(fd);
	if (rc < 0)
		return rc;
	rc = parse(m, (size_t)st.st_size, &ei);
	munmap(m, (size_t)st.st_size);
	if (rc < 0)
		elf_release(&ei);
	else
		*out = ei;
	return rc;
}

void elf_release(struct elf_info *ei)
{
	for (size_t i = 0; i < ei->nneeded; i++)
		free(ei->needed[i]);
	free(ei->needed);
	free(ei->rpath);
	free(ei->runpath);
	memset(ei, 0, sizeof(*ei));
}

/* ---- resolution */

struct elf_resolver {
	char **name, **path;    /* ld.so.cache entries */
	size_t n;
};

static const char *const default_dirs[] = {
	"/lib64", "/usr/lib64", "/lib", "/usr/lib",
	"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
	"/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
	"/lib/arm-linux-gnueabihf", "/usr/lib/arm-linux-gnueabihf",
	"/lib/i386-linux-gnu", "/usr/lib/i386-linux-gnu",
};

struct elf_resolver *elf_resolver_new(void)
{
	struct elf_resolver *r = xcalloc(1, sizeof(*r));
	char line[4096];
	FILE *f;

	/* "\tlibz.so.1 (libc6,x86-64) => /lib/x86_64-linux-gnu/libz.so.1" */
	f = popen("/sbin/ldconfig -p 2>/dev/null || ldconfig -p 2>/dev/null", "r");
	if (!f)
		return r;
	while (fgets(line, sizeof(line), f)) {
		char *s = line + strspn(line, " \t"), *arrow = strstr(s, " => ");
		size_t n = strcspn(s, " \t");

		if (!arrow || n == 0)
			continue;
		arrow[strcspn(arrow, "\n")] = '\0';
		r->name = xrealloc(r->name, (r->n + 1) * sizeof(*r->name));
		r->path = xrealloc(r->path, (r->n + 1) * sizeof(*r->path));
		r->name[r->n] = xstrndup(s, n);
		r->path[r->n++] = xstrdup(arrow + 4);
	}
	pclose(f);
	return r;
}

void elf_resolver_free(struct elf_resolver *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++) {
		free(r->name[i]);
		free(r->path[i]);
	}
	free(r->name);
	free(r->path);
	free(r);
}

/* Is path an ELF object ld.so would accept for ei? */
static bool fits(const char *path, const struct elf_info *ei)
{
	unsigned char h[sizeof(Elf64_Ehdr)];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	uint16_t machine;

	if (fd < 0)
		return false;
	n = read_full(fd, h, sizeof(h));
	close(fd);
	if (n < (ssize_t)sizeof(Elf32_Ehdr) || memcmp(h, ELFMAG, SELFMAG) ||
	    h[EI_CLASS] != ei->cls || h[EI_DATA] != NATIVE_DATA)
		return false;
	memcpy(&machine, h + offsetof(Elf64_Ehdr, e_machine), sizeof(machine));
	return machine == ei->machine;
}

/* Try each ':'-separated directory of list, $ORIGIN expanded. */
static bool in_dirs(const char *list, const char *origin, const char *name,
		    const struct elf_info *ei)
{
	struct buf p = BUF_INIT;
	bool found = false;

	for (const char *s = list; s && *s && !found;) {
		size_t n = strcspn(s, ":;");

		buf_reset(&p);
		for (size_t i = 0; i < n;) {
			if (!strncmp(s + i, "$ORIGIN", 7) && (n - i == 7 || s[i + 7] == '/')) {
				buf_adds(&p, origin);
				i += 7;
			} else if (!strncmp(s + i, "${ORIGIN}", 9)) {
				buf_adds(&p, origin);
				i += 9;
			} else {
				buf_add(&p, s + i, 1);
				i++;
			}
		}
		if (p.len == 0)
			buf_adds(&p, ".");      /* an empty entry is the cwd */
		buf_addf(&p, "/%s", name);
		found = fits(p.data, ei);
		s += n;
		if (*s)
			s++;
	}
	buf_release(&p);
	return found;
}

size_t elf_resolve(const struct elf_resolver *r, const char *path,
		   const struct elf_info *ei, const char *inherited_rpath,
		   char ***missing)
{
	char *real = realpath(path, NULL), *slash;
	const char *llp = getenv("LD_LIBRARY_PATH");
	size_t nmiss = 0;

	*missing = NULL;
	if (!real)
		real = xstrdup(path);
	slash = strrchr(real, '/');
	if (slash)
		*(slash == real ? slash + 1 : slash) = '\0';
	for (size_t i = 0; i < ei->nneeded; i++) {
		const char *name = ei->needed[i];
		bool found = false;

		if (strchr(name, '/')) {
			found = fits(name, ei);
		} else {
			if (!ei->runpath)
				found = in_dirs(ei->rpath, real, name, ei) ||
					in_dirs(inherited_rpath, real, name, ei);
			found = found || in_dirs(llp, real, name, ei) ||
				in_dirs(ei->runpath, real, name, ei);
			for (size_t k = 0; !found && k < r->n; k++)
				found = !strcmp(r->name[k], name) && fits(r->path[k], ei);
			for (size_t k = 0; !found && k < ARRAY_SIZE(default_dirs); k++)
				found = in_dirs(default_dirs[k], real, name, ei);
		}
		if (!found) {
			*missing = xrealloc(*missing, (nmiss + 1) * sizeof(**missing));
			(*missing)[nmiss++] = xstrdup(name);
		}
	}
	free(real);
	return nmiss;
}
