/* bramble_ctl.h - how a `bramble` command finds a bramblefs mount and
 * learns what it is: the mount type, and the control file `.bramble` at
 * the mount's root -- its name, its keys, and the one way to read it.
 * bramblefs writes the file (fuse/ctl.c); the commands read it (tools/).
 *
 * The format, which scripts and tests read too: text, one `KEY=VALUE`
 * line per key, each ended by '\n', no spaces, no quoting (a value runs
 * to the end of its line).  The settings come first, in the order below,
 * fixed when the mount starts (the file's st_size is their length); an
 * optional key is absent, not empty, when it does not apply.  The mount's
 * counters follow, as of the open, each named by a group prefix below and
 * the counter's name ("read.bytes_from_cache=1048576"); their values are
 * unsigned decimal integers.  Names only ever get added. */
#ifndef BRAMBLE_CTL_H
#define BRAMBLE_CTL_H

#include <stdbool.h>

/* The file's name in the mount's root directory (found by lookup only). */
#define BRAMBLE_CTL_NAME ".bramble"

/* The type /proc/self/mountinfo shows for a bramblefs mount: how a
 * command finds the mounts, and the mount a path is in, without a call
 * into them (their servers may be down). */
#define BRAMBLE_MOUNT_TYPE "fuse.bramblefs"

/* ---- settings, in the order written */
/* The server: its host as the mount was given it, and its TCP port. */
#define BRAMBLE_CTL_KEY_SERVER "server"
#define BRAMBLE_CTL_KEY_PORT "port"
/* What is mounted where: the source as given ("HOST:/SUBDIR"), the
 * server's directory mounted ("/" for the root, else "/SUB"), and the
 * mount point (empty when not known). */
#define BRAMBLE_CTL_KEY_EXPORT "export"
#define BRAMBLE_CTL_KEY_SUBDIR "subdir"
#define BRAMBLE_CTL_KEY_MOUNTPOINT "mountpoint"
/* bramblefs's version. */
#define BRAMBLE_CTL_KEY_VERSION "version"
/* Seconds: the kernel's attribute, entry and negative entry timeouts, and
 * how long a call waits for the server. */
#define BRAMBLE_CTL_KEY_ATTR_TIMEOUT "attr_timeout"
#define BRAMBLE_CTL_KEY_ENTRY_TIMEOUT "entry_timeout"
#define BRAMBLE_CTL_KEY_NEGATIVE_TIMEOUT "negative_timeout"
#define BRAMBLE_CTL_KEY_TIMEOUT "timeout"
/* 1 for -o hard (calls never give up), else 0. */
#define BRAMBLE_CTL_KEY_HARD "hard"
/* The largest READ or WRITE agreed with the server, in bytes. */
#define BRAMBLE_CTL_KEY_MAX_DATA "max_data"
/* 1 for a read-only mount, else 0. */
#define BRAMBLE_CTL_KEY_READ_ONLY "read_only"
/* The node cache: disk, ram or off; and its directory. */
#define BRAMBLE_CTL_KEY_CACHE "cache"
#define BRAMBLE_CTL_KEY_CACHE_DIR "cache_dir"
/* The port of this mount's peer service (bramble_peers_start): chunks
 * fetched for the mount, and by `bramble stage' into its node cache
 * (bramble_peers_opts.node_port), come from and go to other nodes.  0: none (-o
 * nopeers, cache=off, or the server does not allow it). */
#define BRAMBLE_CTL_KEY_PEERS "peers"
/* bramblefs's process id. */
#define BRAMBLE_CTL_KEY_PID "pid"
/* Optional: -o record=DIR, where the learned sets are. */
#define BRAMBLE_CTL_KEY_RECORD "record"
/* Optional: the Unix socket through which an ordinary user's `bramble
 * stage` asks this bramblefs to stage, and what one user may pin through
 * it (SIZE or N%). */
#define BRAMBLE_CTL_KEY_STAGE_SOCKET "stage_socket"
#define BRAMBLE_CTL_KEY_STAGE_USER_MAX "stage_user_max"

/* ---- counter groups: each counter is PREFIX + its name */
/* rpc.PROC.calls, .errors, .us: libbramble's calls per procedure. */
#define BRAMBLE_CTL_PREFIX_RPC "rpc."
/* The connection (struct bramble_conn_stats: connects, resent, ...). */
#define BRAMBLE_CTL_PREFIX_CONN "conn."
/* Where read bytes came from (struct bramble_reader_stats). */
#define BRAMBLE_CTL_PREFIX_READ "read."
/* The node cache (struct bramble_cache_stats); none with cache=off. */
#define BRAMBLE_CTL_PREFIX_CACHE "cache."
/* Trusted attributes and callbacks (written by fuse/lease.c). */
#define BRAMBLE_CTL_PREFIX_LEASE "lease."
#define BRAMBLE_CTL_PREFIX_CB "cb."
/* Learned sets (written by fuse/record.c). */
#define BRAMBLE_CTL_PREFIX_RECORD "record."
/* Write-behind: writes queued, merged into earlier requests, requests
 * sent, held back, let go by the timer; SETATTRs deferred behind the
 * writes and merged (struct wb_stats, fuse/wb.h). */
#define BRAMBLE_CTL_PREFIX_WB "wb."
/* Peer fan-out (struct bramble_peer_stats): chunks from peers, failures,
 * chunks served to other nodes. */
#define BRAMBLE_CTL_PREFIX_PEER "peer."

/* The counter group prefixes above, NULL-terminated. */
extern const char *const bramble_ctl_prefixes[];

struct buf;

/* Append dir/.bramble as it is now (its counters change with each open)
 * to ctl, stopping once past 64 KiB.  bramblefs answers the lookup
 * itself even though readdir never lists the name, and without a call to
 * the server.  0 or -errno (-ENOENT: dir is not a mount's root). */
int bramble_ctl_read(const char *dir, struct buf *ctl);

/* The value of key in the control file's text ctl_text (NULL allowed),
 * copied (the caller frees), or NULL when no line has that key. */
char *bramble_ctl_value(const char *ctl_text, const char *key);
/* Whether ctl_text has a line with key (an optional key is present). */
bool bramble_ctl_has(const char *ctl_text, const char *key);

#endif
