/* ctl.c - the control file `.bramble' at the mount root.
 *
 * Found by lookup only (never listed, so `cp -a /clusterfs` does not copy
 * it), read-only, owned by root.  Its `key=value' lines tell the bramble
 * tool which server and options this mount uses.  The content is fixed
 * when the mount starts, so its size is known for stat. */
#include <string.h>
#include <unistd.h>

#include "bfs.h"
#include "proto.h"

void ctl_render(struct bfs *fs, const char *mountpoint)
{
	const struct bfs_opts *o = &fs->opts;

	buf_reset(&fs->ctl);
	buf_addf(&fs->ctl, "server=%s\n", o->host);
	buf_addf(&fs->ctl, "port=%u\n", o->port);
	buf_addf(&fs->ctl, "export=%s\n", o->source);
	buf_addf(&fs->ctl, "subdir=%s\n", o->subdir);
	buf_addf(&fs->ctl, "mountpoint=%s\n", mountpoint ? mountpoint : "");
	buf_addf(&fs->ctl, "version=%s\n", PACKAGE_VERSION);
	buf_addf(&fs->ctl, "attr_timeout=%g\n", o->attr_timeout);
	buf_addf(&fs->ctl, "entry_timeout=%g\n", o->entry_timeout);
	buf_addf(&fs->ctl, "negative_timeout=%g\n", o->negative_timeout);
	buf_addf(&fs->ctl, "timeout=%g\n", o->timeout);
	buf_addf(&fs->ctl, "hard=%d\n", o->hard ? 1 : 0);
	buf_addf(&fs->ctl, "max_data=%u\n", fs->max_data);
	buf_addf(&fs->ctl, "read_only=%d\n", fs->read_only);
	buf_addf(&fs->ctl, "pid=%ld\n", (long)getpid());
}

void ctl_stat(const struct bfs *fs, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	/* Its FUSE inode number is reserved (INODE_CTL_INO); st_ino must not
	 * look like a server object's either (2 is the root of ext4). */
	st->st_ino = BFS_CTL_ST_INO;
	st->st_mode = S_IFREG | 0444;
	st->st_nlink = 1;
	st->st_size = (off_t)fs->ctl.len;
	st->st_blksize = 4096;
	st->st_blocks = (blkcnt_t)((fs->ctl.len + 511) / 512);
}
