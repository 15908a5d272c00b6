/* hello.h - the HELLO exchange libbramble makes on every new connection,
 * before the connection carries any other call (internal to client/).
 *
 * It is a plain blocking exchange on the fresh socket, so it fits both
 * bramble_new() and the reader thread's redial, and it tells the library
 * whether the server it reached is the same run as before (instance). */
#ifndef BR_HELLO_H
#define BR_HELLO_H

#include <stdint.h>

#include "bramble.h"

/* Ask for revisions 1..BR_REVISION with caps (announced) and need
 * (required); wait at most timeout_ms.  Returns 0 with *out filled,
 * -EPROTO when either side refuses (out->message says why, in words),
 * -EPROTONOSUPPORT when the peer is not a bramble server (it answered, but
 * not ONC RPC or not our program: out->message says which), or -errno
 * when the server could not be talked to (-ETIMEDOUT: no answer).  A server older than
 * HELLO answers "procedure unavailable": that is revision 1, no
 * capabilities, instance 0 (restarts cannot be told apart). */
int hello_exchange(int fd, uint64_t caps, uint64_t need, const char *client,
		   int timeout_ms, struct bramble_hello *out);

#endif
