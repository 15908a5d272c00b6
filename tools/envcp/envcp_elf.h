/* envcp_elf.h - just enough ELF for `bramble envcp --check`: an object's
 * DT_NEEDED, DT_RPATH and DT_RUNPATH (read through its program headers,
 * so stripped files work), and resolution of each needed library the way
 * ld.so does it, without running anything (ldd runs the loader). */
#ifndef BR_ENVCP_ELF_H
#define BR_ENVCP_ELF_H

#include <stdbool.h>
#include <stddef.h>

struct elf_info {
	int cls;                /* ELFCLASS32 / ELFCLASS64 */
	int machine;            /* e_machine */
	bool program;           /* has PT_INTERP */
	bool dynamic;           /* has PT_DYNAMIC */
	char **needed;          /* DT_NEEDED names, in order */
	size_t nneeded;
	char *rpath, *runpath;  /* NULL when absent */
};

/* Parse the file at path.  0; -ENOEXEC when it is not an ELF file of this
 * machine's byte order (or is truncated/malformed); -errno. */
int elf_read(const char *path, struct elf_info *out);
void elf_release(struct elf_info *ei);

/* The system's library locations: `ldconfig -p' (the cache) and the
 * default directories.  Built once, read-only afterwards. */
struct elf_resolver;
struct elf_resolver *elf_resolver_new(void);
void elf_resolver_free(struct elf_resolver *r);

/* Look for each DT_NEEDED of the object at path (parsed into ei), in
 * ld.so's order: its DT_RPATH (unless it has a DT_RUNPATH), then
 * inherited_rpath (the programs' DT_RPATH, which a library inherits),
 * LD_LIBRARY_PATH, its DT_RUNPATH, the cache, the default directories;
 * $ORIGIN is the object's directory.  A candidate must be an ELF file of
 * the same class and machine.  Returns the number of libraries not found
 * and, in *missing (caller frees each and the array), their names. */
size_t elf_resolve(const struct elf_resolver *r, const char *path,
		   const struct elf_info *ei, const char *inherited_rpath,
		   char ***missing);

#endif
