/* drckey.h - what the duplicate-request cache (drc.h) and its table in
 * bramble.db (drcstore.h) both know: the key of a call and the bound on
 * its reply.  A header of its own so that the store needs nothing else
 * of the cache that uses it. */
#ifndef BR_DRCKEY_H
#define BR_DRCKEY_H

#include <stdint.h>

#define DRC_REPLY_MAX 4096             /* bytes of one reply record */

struct drc_key {
	uint64_t client;               /* from the machinename */
	uint32_t xid, proc;
	uint64_t sum;                  /* checksum of the arguments */
};

#endif
