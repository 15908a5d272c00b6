/* consts.c - bramble.h's copies of the protocol's constants, held to
 * bramble_prot.x at compile time.
 *
 * bramble.h repeats the limits and flag values of the protocol so that
 * its callers (fuse/, tools/) need no XDR header; each copy must equal
 * the generated BR_* constant, since libbramble hands the flags to the
 * wire unchanged and sizes its buffers by the limits.  The copies that
 * one procedure file alone uses are checked there (rpc.h, calls.c,
 * tree.c, locks.c, bench.c); every other one is checked here. */
#include "bramble.h"
#include "bramble_peers.h"
#include "proto.h"

#define OUT_OF_DATE "bramble.h out of date"

_Static_assert(BRAMBLE_DEFAULT_PORT == BR_DEFAULT_PORT, OUT_OF_DATE);

/* limits */
_Static_assert(BRAMBLE_NAME_MAX == BR_NAME_MAX, OUT_OF_DATE);
_Static_assert(BRAMBLE_PATH_MAX == BR_PATH_MAX, OUT_OF_DATE);
_Static_assert(BRAMBLE_TEXT_MAX == BR_TEXT_MAX, OUT_OF_DATE);
_Static_assert(BRAMBLE_XATTR_SIZE_MAX == BR_XATTR_SIZE_MAX, OUT_OF_DATE);
_Static_assert(BRAMBLE_DIRENT_MAX == BR_DIRENT_MAX, OUT_OF_DATE);
_Static_assert(BRAMBLE_STATS_PROCS_MAX == BR_STATS_PROCS_MAX, OUT_OF_DATE);
_Static_assert(BRAMBLE_STATS_COUNTERS_MAX == BR_STATS_COUNTERS_MAX, OUT_OF_DATE);
_Static_assert(BRAMBLE_STATS_NAME_MAX == BR_STATS_NAME_MAX, OUT_OF_DATE);
_Static_assert(BRAMBLE_CHUNK_HASH_LEN == sizeof(br_chunk_hash), OUT_OF_DATE);
_Static_assert(BRAMBLE_CHUNKS_MAX == BR_CHUNKS_MAX, OUT_OF_DATE);
_Static_assert(BRAMBLE_PEER_KEY_LEN == BR_PEER_KEY_LEN, OUT_OF_DATE);
_Static_assert(BRAMBLE_CB_NAMES_MAX == BR_CB_NAMES_MAX, OUT_OF_DATE);

/* capabilities announced in HELLO */
_Static_assert(BRAMBLE_CAP_LOCKS == BR_CAP_LOCKS && BRAMBLE_CAP_MUNGE == BR_CAP_MUNGE &&
	       BRAMBLE_CAP_DRC == BR_CAP_DRC && BRAMBLE_CAP_EXPORTS == BR_CAP_EXPORTS &&
	       BRAMBLE_CAP_CHUNKS == BR_CAP_CHUNKS && BRAMBLE_CAP_STATS == BR_CAP_STATS &&
	       BRAMBLE_CAP_CALLBACKS == BR_CAP_CALLBACKS &&
	       BRAMBLE_CAP_CHUNKMAP_KNOWN == BR_CAP_CHUNKMAP_KNOWN &&
	       BRAMBLE_CAP_CB_ATTRS == BR_CAP_CB_ATTRS &&
	       BRAMBLE_CAP_CHUNK_ZSTD == BR_CAP_CHUNK_ZSTD &&
	       BRAMBLE_CAP_PEERS == BR_CAP_PEERS, OUT_OF_DATE);

/* flags of SETATTR, CREATE, OPEN, WRITE, COMMIT and RENAME */
_Static_assert(BRAMBLE_SET_MODE == BR_SET_MODE && BRAMBLE_SET_UID == BR_SET_UID &&
	       BRAMBLE_SET_GID == BR_SET_GID && BRAMBLE_SET_SIZE == BR_SET_SIZE &&
	       BRAMBLE_SET_ATIME == BR_SET_ATIME && BRAMBLE_SET_MTIME == BR_SET_MTIME &&
	       BRAMBLE_SET_ATIME_NOW == BR_SET_ATIME_NOW &&
	       BRAMBLE_SET_MTIME_NOW == BR_SET_MTIME_NOW, OUT_OF_DATE);
_Static_assert(BRAMBLE_CREATE_EXCL == BR_CREATE_EXCL &&
	       BRAMBLE_CREATE_TRUNC == BR_CREATE_TRUNC, OUT_OF_DATE);
_Static_assert(BRAMBLE_OPEN_READ == BR_OPEN_READ && BRAMBLE_OPEN_WRITE == BR_OPEN_WRITE &&
	       BRAMBLE_OPEN_TRUNC == BR_OPEN_TRUNC, OUT_OF_DATE);
_Static_assert(BRAMBLE_WRITE_SYNC == BR_WRITE_SYNC, OUT_OF_DATE);
_Static_assert(BRAMBLE_COMMIT_DATASYNC == BR_COMMIT_DATASYNC, OUT_OF_DATE);
_Static_assert(BRAMBLE_RENAME_NOREPLACE == BR_RENAME_NOREPLACE &&
	       BRAMBLE_RENAME_EXCHANGE == BR_RENAME_EXCHANGE, OUT_OF_DATE);

/* bramble_cb_obj.flags */
_Static_assert(BRAMBLE_CB_DROPPED == BR_CB_DROPPED && BRAMBLE_CB_SELF == BR_CB_SELF &&
	       BRAMBLE_CB_RACE == BR_CB_RACE && BRAMBLE_CB_ENTRIES == BR_CB_ENTRIES,
	       OUT_OF_DATE);
