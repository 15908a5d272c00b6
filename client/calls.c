/* calls.c - one function per metadata procedure of bramble_prot.x (see
 * bramble.h): NULL, INFO, STATS, MOUNT, attributes, names, directories,
 * extended attributes.  The data and chunk procedures are in
 * calls_data.c, TREE in tree.c, the locks in locks.c, the benchmarks in
 * bench.c.
 *
 * Each function packs its arguments into the rpcgen types (pointing into
 * the caller's memory, never copying), runs the call, converts the wire
 * status with br_stat_to_errno() and copies the results out into plain C
 * types.  XDR types stay inside client/'s procedure files and rpc.c:
 * bramble.h shows callers plain C types only. */
#include <errno.h>
#include <string.h>

#include "rpc.h"

_Static_assert(BRAMBLE_CAP_OPENS == BR_CAP_OPENS, "bramble.h out of date");
_Static_assert(BRAMBLE_OPEN_HOLD == BR_OPEN_HOLD, "bramble.h out of date");
_Static_assert(BRAMBLE_CREATE_HOLD == BR_CREATE_HOLD &&
	       BRAMBLE_CREATE_READ == BR_CREATE_READ &&
	       BRAMBLE_CREATE_WRITE == BR_CREATE_WRITE, "bramble.h out of date");
_Static_assert(BRAMBLE_CLOSE_LAST == BR_CLOSE_LAST, "bramble.h out of date");
_Static_assert(BRAMBLE_SET_OPEN == BR_SET_OPEN &&
	       BRAMBLE_SET_KILL_SETID == BR_SET_KILL_SETID, "bramble.h out of date");

/* ---- argument and result helpers */

/* Names are checked here so an over-long one gets the errno open(2)
 * would give, not an encoding failure. */
static int check_name(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0)
		return -EINVAL;
	return n > BR_NAME_MAX ? -ENAMETOOLONG : 0;
}

static int entry_result(br_entry_res *r, struct bramble_fh *fh, struct stat *st)
{
	int rc = br_stat_to_errno(r->status);

	if (rc == 0) {
		rpc_fh_out(fh, &r->br_entry_res_u.ok.fh);
		rpc_attr_out(st, &r->br_entry_res_u.ok.attr);
	}
	xdr_free((xdrproc_t)xdr_br_entry_res, (char *)r);
	return rc;
}

static int attr_result(br_attr_res *r, struct stat *st)
{
	int rc = br_stat_to_errno(r->status);

	if (rc == 0)
		rpc_attr_out(st, &r->br_attr_res_u.attr);
	xdr_free((xdrproc_t)xdr_br_attr_res, (char *)r);
	return rc;
}

static int stat_result(br_stat *st)
{
	return br_stat_to_errno(*st);
}

/* A call whose result is a br_entry_res. */
static int entry_call(struct bramble *b, uint32_t proc,
		      const struct bramble_cred *cr, xdrproc_t xargs,
		      const void *args, struct bramble_fh *fh, struct stat *st)
{
	struct rpc_op op;
	br_entry_res r;
	int rc = rpc_run_decode(b, &op, proc, cr, xargs, args,
				(xdrproc_t)xdr_br_entry_res, &r, sizeof(r));

	if (rc == 0)
		rc = entry_result(&r, fh, st);
	return rpc_end(b, &op, rc);
}

static int attr_call(struct bramble *b, uint32_t proc,
		     const struct bramble_cred *cr, xdrproc_t xargs,
		     const void *args, struct stat *st)
{
	struct rpc_op op;
	br_attr_res r;
	int rc = rpc_run_decode(b, &op, proc, cr, xargs, args,
				(xdrproc_t)xdr_br_attr_res, &r, sizeof(r));

	if (rc == 0)
		rc = attr_result(&r, st);
	return rpc_end(b, &op, rc);
}

static int stat_call(struct bramble *b, uint32_t proc,
		     const struct bramble_cred *cr, xdrproc_t xargs,
		     const void *args)
{
	struct rpc_op op;
	br_stat r;
	int rc = rpc_run_decode(b, &op, proc, cr, xargs, args,
				(xdrproc_t)xdr_br_stat, &r, sizeof(r));

	if (rc == 0)
		rc = stat_result(&r);
	return rpc_end(b, &op, rc);
}

/* ---- NULL, INFO, MOUNT: AUTH_NONE */

int bramble_null(struct bramble *b)
{
	struct rpc_op op;
	int rc = rpc_run(b, &op, BRPROC_NULL, NULL, NULL, NULL);

	if (rc == 0 && op.body_len != 0)
		rc = -EBADMSG;
	return rpc_end(b, &op, rc);
}

static void copy_str(char *dst, size_t size, const char *src)
{
	size_t n = src ? strnlen(src, size - 1) : 0;

	memcpy(dst, src ? src : "", n);
	dst[n] = '\0';
}

int bramble_info(struct bramble *b, struct bramble_info *out)
{
	struct rpc_op op;
	br_info r;
	int rc = rpc_run_decode(b, &op, BRPROC_INFO, NULL, NULL, NULL,
				(xdrproc_t)xdr_br_info, &r, sizeof(r));

	if (rc == 0) {
		memset(out, 0, sizeof(*out));
		copy_str(out->server_version, sizeof(out->server_version),
			 r.server_version);
		copy_str(out->export_path, sizeof(out->export_path), r.export_path);
		out->proto_vers = r.proto_vers;
		out->start_time = r.start_time;
		out->uptime = r.uptime;
		out->max_data = r.max_data;
		out->read_only = r.read_only;
		xdr_free((xdrproc_t)xdr_br_info, (char *)&r);
	}
	return rpc_end(b, &op, rc);
}

static void proc_stats_out(struct bramble_server_proc_stats *o,
			   const br_proc_stats *w)
{
	copy_str(o->name, sizeof(o->name), w->name);
	o->calls = w->calls;
	o->errors = w->errors;
	o->bytes_in = w->bytes_in;
	o->bytes_out = w->bytes_out;
	o->p50_us = w->lat_p50_us;
	o->p90_us = w->lat_p90_us;
	o->p99_us = w->lat_p99_us;
	o->max_us = w->lat_max_us;
	o->sum_us = w->lat_sum_us;
}

static void server_stats_out(struct bramble_server_stats *out, const br_stats_ok *s)
{
	memset(out, 0, sizeof(*out));
	out->start_time = s->start_time;
	out->uptime_ms = s->uptime_ms;
	out->nprocs = BR_MIN(s->procs.procs_len, (u_int)BRAMBLE_STATS_PROCS_MAX);
	for (size_t i = 0; i < out->nprocs; i++)
		proc_stats_out(&out->procs[i], &s->procs.procs_val[i]);
	out->conns_current = s->conns_current;
	out->conns_total = s->conns_total;
	out->conns_refused = s->conns_refused;
	out->disk_read_bytes = s->disk_read_bytes;
	out->disk_write_bytes = s->disk_write_bytes;
	out->disk_read_ns = s->disk_read_ns;
	out->disk_write_ns = s->disk_write_ns;
}

/* STATS without the named counters: what a server before them answers. */
static int server_stats_plain(struct bramble *b, const struct bramble_cred *cr,
			      struct bramble_server_stats *out)
{
	struct rpc_op op;
	br_stats_args a = { .flags = 0 };
	br_stats_res r;
	int rc = rpc_run_decode(b, &op, BRPROC_STATS, cr, (xdrproc_t)xdr_br_stats_args,
				&a, (xdrproc_t)xdr_br_stats_res, &r, sizeof(r));

	if (rc == 0) {
		rc = br_stat_to_errno(r.status);
		if (rc == 0)
			server_stats_out(out, &r.br_stats_res_u.ok);
		xdr_free((xdrproc_t)xdr_br_stats_res, (char *)&r);
	}
	return rpc_end(b, &op, rc);
}

int bramble_server_stats(struct bramble *b, const struct bramble_cred *cr,
			 struct bramble_server_stats *out)
{
	struct rpc_op op;
	br_stats_args a = { .flags = BR_STATS_COUNTERS };
	br_stats_ext_res r;
	const br_stats_ext_ok *ok = &r.br_stats_ext_res_u.ok;
	int rc = rpc_run_decode(b, &op, BRPROC_STATS, cr, (xdrproc_t)xdr_br_stats_args,
				&a, (xdrproc_t)xdr_br_stats_ext_res, &r, sizeof(r));

	if (rc == 0) {
		rc = br_stat_to_errno(r.status);
		if (rc == 0) {
			server_stats_out(out, &ok->base);
			out->ncounters = BR_MIN(ok->counters.counters_len,
						(u_int)BRAMBLE_STATS_COUNTERS_MAX);
			for (size_t i = 0; i < out->ncounters; i++) {
				copy_str(out->counters[i].name, sizeof(out->counters[i].name),
					 ok->counters.counters_val[i].name);
				out->counters[i].value = ok->counters.counters_val[i].value;
			}
		}
		xdr_free((xdrproc_t)xdr_br_stats_ext_res, (char *)&r);
	}
	rc = rpc_end(b, &op, rc);
	/* A server from before the named counters refuses the flag. */
	return rc == -EINVAL ? server_stats_plain(b, cr, out) : rc;
}

int bramble_mount(struct bramble *b, const char *path,
		  struct bramble_mount_res *out)
{
	struct rpc_op op;
	br_mount_args a = { .path = (char *)(path ? path : "") };
	br_mount_res r;
	int rc;

	if (strlen(a.path) > BR_PATH_MAX)
		return -ENAMETOOLONG;
	rc = rpc_run_decode(b, &op, BRPROC_MOUNT, NULL,
			    (xdrproc_t)xdr_br_mount_args, &a,
			    (xdrproc_t)xdr_br_mount_res, &r, sizeof(r));
	if (rc == 0) {
		rc = br_stat_to_errno(r.status);
		if (rc == 0) {
			br_mount_ok *ok = &r.br_mount_res_u.ok;

			memset(out, 0, sizeof(*out));
			rpc_fh_out(&out->root, &ok->fh);
			br_attr_to_stat(&ok->attr, &out->attr);
			out->max_data = ok->max_data;
			out->read_only = ok->read_only;
		}
		xdr_free((xdrproc_t)xdr_br_mount_res, (char *)&r);
	}
	return rpc_end(b, &op, rc);
}

/* ---- attributes */

int bramble_getattr(struct bramble *b, const struct bramble_cred *cr,
		    const struct bramble_fh *fh, struct stat *st)
{
	br_fh_args a;

	rpc_fh_arg(&a.fh, fh);
	return attr_call(b, BRPROC_GETATTR, cr, (xdrproc_t)xdr_br_fh_args, &a, st);
}

int bramble_setattr(struct bramble *b, const struct bramble_cred *cr,
		    const struct bramble_fh *fh, const struct bramble_setattr *sa,
		    struct stat *st)
{
	br_setattr_args a = {
		.valid = sa->valid,
		.mode = sa->mode & 07777,
		.uid = sa->uid,
		.gid = sa->gid,
		.size = sa->size,
	};

	rpc_fh_arg(&a.fh, fh);
	rpc_time_to_wire(&a.atime, &sa->atime);
	rpc_time_to_wire(&a.mtime, &sa->mtime);
	return attr_call(b, BRPROC_SETATTR, cr, (xdrproc_t)xdr_br_setattr_args,
			 &a, st);
}

int bramble_open(struct bramble *b, const struct bramble_cred *cr,
		 const struct bramble_fh *fh, unsigned int flags,
		 struct stat *st)
{
	br_open_args a = { .flags = flags };

	rpc_fh_arg(&a.fh, fh);
	return attr_call(b, BRPROC_OPEN, cr, (xdrproc_t)xdr_br_open_args, &a, st);
}

int bramble_close(struct bramble *b, const struct bramble_cred *cr,
		  const struct bramble_fh *fh, unsigned int flags)
{
	br_close_args a = { .flags = flags };

	rpc_fh_arg(&a.fh, fh);
	return stat_call(b, BRPROC_CLOSE, cr, (xdrproc_t)xdr_br_close_args, &a);
}

int bramble_access(struct bramble *b, const struct bramble_cred *cr,
		   const struct bramble_fh *fh, unsigned int mask)
{
	br_access_args a = { .mask = mask };

	rpc_fh_arg(&a.fh, fh);
	return stat_call(b, BRPROC_ACCESS, cr, (xdrproc_t)xdr_br_access_args, &a);
}

int bramble_commit(struct bramble *b, const struct bramble_cred *cr,
		   const struct bramble_fh *fh, unsigned int flags)
{
	br_commit_args a = { .flags = flags };

	rpc_fh_arg(&a.fh, fh);
	return stat_call(b, BRPROC_COMMIT, cr, (xdrproc_t)xdr_br_commit_args, &a);
}

int bramble_statfs(struct bramble *b, const struct bramble_cred *cr,
		   const struct bramble_fh *fh, struct statvfs *out)
{
	struct rpc_op op;
	br_fh_args a;
	br_statfs_res r;
	int rc;

	rpc_fh_arg(&a.fh, fh);
	rc = rpc_run_decode(b, &op, BRPROC_STATFS, cr, (xdrproc_t)xdr_br_fh_args,
			    &a, (xdrproc_t)xdr_br_statfs_res, &r, sizeof(r));
	if (rc == 0) {
		rc = br_stat_to_errno(r.status);
		if (rc == 0) {
			br_statfs_ok *s = &r.br_statfs_res_u.ok;

			memset(out, 0, sizeof(*out));
			out->f_bsize = s->bsize;
			out->f_frsize = s->frsize;
			out->f_blocks = s->blocks;
			out->f_bfree = s->bfree;
			out->f_bavail = s->bavail;
			out->f_files = s->files;
			out->f_ffree = s->ffree;
			out->f_favail = s->favail;
			out->f_namemax = s->namemax;
		}
		xdr_free((xdrproc_t)xdr_br_statfs_res, (char *)&r);
	}
	return rpc_end(b, &op, rc);
}

/* ---- names */

int bramble_lookup(struct bramble *b, const struct bramble_cred *cr,
		   const struct bramble_fh *dir, const char *name,
		   struct bramble_fh *fh, struct stat *st)
{
	br_dirop_args a = { .name = (char *)name };
	int rc = check_name(name);

	if (rc < 0)
		return rc;
	rpc_fh_arg(&a.dir, dir);
	return entry_call(b, BRPROC_LOOKUP, cr, (xdrproc_t)xdr_br_dirop_args, &a,
			  fh, st);
}

int bramble_create(struct bramble *b, const struct bramble_cred *cr,
		   const struct bramble_fh *dir, const char *name, mode_t mode,
		   unsigned int flags, struct bramble_fh *fh, struct stat *st)
{
	br_create_args a = { .name = (char *)name, .mode = mode & 07777,
			     .flags = flags };
	int rc = check_name(name);

	if (rc < 0)
		return rc;
	rpc_fh_arg(&a.dir, dir);
	return entry_call(b, BRPROC_CREATE, cr, (xdrproc_t)xdr_br_create_args,
			  &a, fh, st);
}

int bramble_mkdir(struct bramble *b, const struct bramble_cred *cr,
		  const struct bramble_fh *dir, const char *name, mode_t mode,
		  struct bramble_fh *fh, struct stat *st)
{
	br_mkdir_args a = { .name = (char *)name, .mode = mode & 07777 };
	int rc = check_name(name);

	if (rc < 0)
		return rc;
	rpc_fh_arg(&a.dir, dir);
	return entry_call(b, BRPROC_MKDIR, cr, (xdrproc_t)xdr_br_mkdir_args, &a,
			  fh, st);
}

int bramble_symlink(struct bramble *b, const struct bramble_cred *cr,
		    const struct bramble_fh *dir, const char *name,
		    const char *target, struct bramble_fh *fh, struct stat *st)
{
	br_symlink_args a = { .name = (char *)name, .target = (char *)target };
	int rc = check_name(name);

	if (rc < 0)
		return rc;
	if (!target || strlen(target) > BR_PATH_MAX)
		return -ENAMETOOLONG;
	rpc_fh_arg(&a.dir, dir);
	return entry_call(b, BRPROC_SYMLINK, cr, (xdrproc_t)xdr_br_symlink_args,
			  &a, fh, st);
}

int bramble_mknod(struct bramble *b, const struct bramble_cred *cr,
		  const struct bramble_fh *dir, const char *name, mode_t mode,
		  dev_t rdev, struct bramble_fh *fh, struct stat *st)
{
	br_mknod_args a = { .name = (char *)name, .mode = mode, .rdev = rdev };
	int rc = check_name(name);

	if (rc < 0)
		return rc;
	rpc_fh_arg(&a.dir, dir);
	return entry_call(b, BRPROC_MKNOD, cr, (xdrproc_t)xdr_br_mknod_args, &a,
			  fh, st);
}

int bramble_link(struct bramble *b, const struct bramble_cred *cr,
		 const struct bramble_fh *fh, const struct bramble_fh *dir,
		 const char *name, struct stat *st)
{
	br_link_args a = { .name = (char *)name };
	int rc = check_name(name);

	if (rc < 0)
		return rc;
	rpc_fh_arg(&a.fh, fh);
	rpc_fh_arg(&a.dir, dir);
	return entry_call(b, BRPROC_LINK, cr, (xdrproc_t)xdr_br_link_args, &a,
			  NULL, st);
}

static int dirop(struct bramble *b, uint32_t proc, const struct bramble_cred *cr,
		 const struct bramble_fh *dir, const char *name)
{
	br_dirop_args a = { .name = (char *)name };
	int rc = check_name(name);

	if (rc < 0)
		return rc;
	rpc_fh_arg(&a.dir, dir);
	return stat_call(b, proc, cr, (xdrproc_t)xdr_br_dirop_args, &a);
}

int bramble_remove(struct bramble *b, const struct bramble_cred *cr,
		   const struct bramble_fh *dir, const char *name)
{
	return dirop(b, BRPROC_REMOVE, cr, dir, name);
}

int bramble_remove_open(struct bramble *b, const struct bramble_cred *cr,
			const struct bramble_fh *dir, const char *name)
{
	return dirop(b, BRPROC_REMOVE_OPEN, cr, dir, name);
}

int bramble_rmdir(struct bramble *b, const struct bramble_cred *cr,
		  const struct bramble_fh *dir, const char *name)
{
	return dirop(b, BRPROC_RMDIR, cr, dir, name);
}

int bramble_rename(struct bramble *b, const struct bramble_cred *cr,
		   const struct bramble_fh *from_dir, const char *from_name,
		   const struct bramble_fh *to_dir, const char *to_name,
		   unsigned int flags)
{
	br_rename_args a = { .from_name = (char *)from_name,
			     .to_name = (char *)to_name, .flags = flags };
	int rc = check_name(from_name);

	if (rc == 0)
		rc = check_name(to_name);
	if (rc < 0)
		return rc;
	rpc_fh_arg(&a.from_dir, from_dir);
	rpc_fh_arg(&a.to_dir, to_dir);
	return stat_call(b, BRPROC_RENAME, cr, (xdrproc_t)xdr_br_rename_args, &a);
}

ssize_t bramble_readlink(struct bramble *b, const struct bramble_cred *cr,
			 const struct bramble_fh *fh, char *buf, size_t size)
{
	struct rpc_op op;
	br_fh_args a;
	br_readlink_res r;
	int rc;
	size_t n = 0;

	rpc_fh_arg(&a.fh, fh);
	rc = rpc_run_decode(b, &op, BRPROC_READLINK, cr, (xdrproc_t)xdr_br_fh_args,
			    &a, (xdrproc_t)xdr_br_readlink_res, &r, sizeof(r));
	if (rc == 0) {
		rc = br_stat_to_errno(r.status);
		if (rc == 0) {
			n = strlen(r.br_readlink_res_u.target);
			if (n + 1 > size)
				rc = -ERANGE;
			else
				memcpy(buf, r.br_readlink_res_u.target, n + 1);
		}
		xdr_free((xdrproc_t)xdr_br_readlink_res, (char *)&r);
	}
	rc = rpc_end(b, &op, rc);
	return rc < 0 ? rc : (ssize_t)n;
}

/* ---- directories */

int bramble_readdirplus(struct bramble *b, const struct bramble_cred *cr,
			const struct bramble_fh *dir, uint64_t cookie,
			unsigned int max_entries, unsigned int max_bytes,
			bramble_dirent_fn *fn, void *ctx, bool *eof)
{
	struct rpc_op op;
	br_readdir_args a = {
		.cookie = cookie,
		.max_entries = max_entries ? BR_MIN(max_entries, BR_DIRENT_MAX)
					   : BR_DIRENT_MAX,
		.max_bytes = max_bytes ? max_bytes : 65536,
	};
	br_readdir_res r;
	int rc;

	rpc_fh_arg(&a.dir, dir);
	rc = rpc_run_decode(b, &op, BRPROC_READDIRPLUS, cr,
			    (xdrproc_t)xdr_br_readdir_args, &a,
			    (xdrproc_t)xdr_br_readdir_res, &r, sizeof(r));
	if (rc == 0) {
		rc = br_stat_to_errno(r.status);
		if (rc == 0) {
			br_readdir_ok *ok = &r.br_readdir_res_u.ok;

			if (eof)
				*eof = ok->eof;
			for (u_int i = 0; i < ok->entries.entries_len && rc == 0; i++) {
				br_dirent *w = &ok->entries.entries_val[i];
				struct bramble_fh fh;
				struct stat st;
				struct bramble_dirent de = {
					.name = w->name, .cookie = w->cookie,
					.fh = &fh, .attr = &st,
				};

				rpc_fh_out(&fh, &w->fh);
				br_attr_to_stat(&w->attr, &st);
				rc = fn(ctx, &de);
			}
			/* Stopped early: the directory did not end here. */
			if (rc != 0 && eof)
				*eof = false;
		}
		xdr_free((xdrproc_t)xdr_br_readdir_res, (char *)&r);
	}
	return rpc_end(b, &op, rc);
}

/* ---- extended attributes */

static int check_xname(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0)
		return -EINVAL;
	return n > BR_XATTR_NAME_MAX ? -ERANGE : 0;
}

/* GETXATTR and LISTXATTR share their result: value + whole size. */
static ssize_t xattr_result(br_xattr_res *r, void *buf, size_t size)
{
	int rc = br_stat_to_errno(r->status);
	ssize_t n = rc;

	if (rc == 0) {
		br_xattr_ok *ok = &r->br_xattr_res_u.ok;

		n = ok->size;
		if (size > 0) {
			if (ok->size > size || ok->value.value_len > size)
				n = -ERANGE;
			else if (ok->value.value_len > 0)  /* val NULL when 0 */
				memcpy(buf, ok->value.value_val, ok->value.value_len);
		}
	}
	xdr_free((xdrproc_t)xdr_br_xattr_res, (char *)r);
	return n;
}

ssize_t bramble_getxattr(struct bramble *b, const struct bramble_cred *cr,
			 const struct bramble_fh *fh, const char *name,
			 void *buf, size_t size)
{
	struct rpc_op op;
	br_getxattr_args a = { .name = (char *)name,
			       .size = (u_int)BR_MIN(size, (size_t)BR_XATTR_SIZE_MAX) };
	br_xattr_res r;
	ssize_t n = check_xname(name);
	int rc;

	if (n < 0)
		return n;
	rpc_fh_arg(&a.fh, fh);
	rc = rpc_run_decode(b, &op, BRPROC_GETXATTR, cr,
			    (xdrproc_t)xdr_br_getxattr_args, &a,
			    (xdrproc_t)xdr_br_xattr_res, &r, sizeof(r));
	if (rc == 0)
		n = xattr_result(&r, buf, a.size);
	rc = rpc_end(b, &op, rc < 0 ? rc : n < 0 ? (int)n : 0);
	return rc < 0 ? rc : n;
}

ssize_t bramble_listxattr(struct bramble *b, const struct bramble_cred *cr,
			  const struct bramble_fh *fh, char *buf, size_t size)
{
	struct rpc_op op;
	br_listxattr_args a = {
		.size = (u_int)BR_MIN(size, (size_t)BR_XATTR_SIZE_MAX) };
	br_xattr_res r;
	ssize_t n = 0;
	int rc;

	rpc_fh_arg(&a.fh, fh);
	rc = rpc_run_decode(b, &op, BRPROC_LISTXATTR, cr,
			    (xdrproc_t)xdr_br_listxattr_args, &a,
			    (xdrproc_t)xdr_br_xattr_res, &r, sizeof(r));
	if (rc == 0)
		n = xattr_result(&r, buf, a.size);
	rc = rpc_end(b, &op, rc < 0 ? rc : n < 0 ? (int)n : 0);
	return rc < 0 ? rc : n;
}

int bramble_setxattr(struct bramble *b, const struct bramble_cred *cr,
		     const struct bramble_fh *fh, const char *name,
		     const void *value, size_t size, unsigned int flags)
{
	br_setxattr_args a = { .name = (char *)name, .flags = flags };
	int rc = check_xname(name);

	if (rc < 0)
		return rc;
	if (size > BR_XATTR_SIZE_MAX)
		return -E2BIG;
	rpc_fh_arg(&a.fh, fh);
	a.value.value_len = (u_int)size;
	a.value.value_val = (char *)(value ? value : "");
	return stat_call(b, BRPROC_SETXATTR, cr, (xdrproc_t)xdr_br_setxattr_args,
			 &a);
}

int bramble_removexattr(struct bramble *b, const struct bramble_cred *cr,
			const struct bramble_fh *fh, const char *name)
{
	br_removexattr_args a = { .name = (char *)name };
	int rc = check_xname(name);

	if (rc < 0)
		return rc;
	rpc_fh_arg(&a.fh, fh);
	return stat_call(b, BRPROC_REMOVEXATTR, cr,
			 (xdrproc_t)xdr_br_removexattr_args, &a);
}
