/* chunkfill.h - the node cache filled from plain READs (private to
 * libbramble's read path, readpath.c).
 *
 * A big file read before the server has its map is read with plain READs
 * (one round trip, no wait for the server to hash it; bramble_reader.h,
 * "the read path").  Its bytes should still land in the node cache, so
 * the next open -- on any mount of the node, once the server has the map
 * it built from those READs -- reads with no data call.  The filler
 * gathers READ replies into whole chunks (chunk_size pieces of the file,
 * as the server cuts it), hashes each complete one itself and stores it:
 * a chunk in the node cache is always the true bytes of its name,
 * whatever the file did meanwhile.  Whether a map names it is the map's
 * business (the read path checks maps against the open's attributes).
 *
 * Replies may come in any order (the kernel's read-ahead sends several
 * at once); a few chunks are gathered at a time, in buffers shared by all
 * files (the least recently fed is dropped when another is needed; a
 * small piece starts one only at a chunk's first or last byte, so random
 * small reads do not churn them), and only page-aligned pieces count, so
 * overlapping replies are never counted twice.
 *
 * Thread-safe; a chunk is hashed and stored without the lock held. */
#ifndef BR_CHUNKFILL_H
#define BR_CHUNKFILL_H

#include <stddef.h>
#include <stdint.h>

#include "bramble_cache.h"

struct chunkfill;

/* cache is borrowed and must outlive the filler. */
struct chunkfill *chunkfill_new(struct bramble_cache *cache);
void chunkfill_free(struct chunkfill *f);    /* NULL is fine */

/* data[0 .. len): bytes [off, off + len) of file id, size bytes long when
 * opened, that a READ returned.  Returns the number of chunks this
 * completed and stored. */
unsigned int chunkfill_add(struct chunkfill *f, uint64_t id, uint64_t size,
			   uint32_t chunk_size, uint64_t off, const void *data,
			   size_t len);
/* Drop what was gathered of id (it changed). */
void chunkfill_forget(struct chunkfill *f, uint64_t id);

#endif
