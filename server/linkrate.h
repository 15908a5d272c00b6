/* linkrate.h - how fast a TCP connection's link drains, as the kernel
 * measures it (TCP_INFO: tcpi_delivery_rate, the rate at which the peer
 * acknowledged data over the latest flight of packets -- the rate
 * sampler BBR uses).  A sample taken while the sender had too little to
 * send (app-limited) is only a lower bound on the link's speed.
 * Linux 4.9 or later; elsewhere -ENOPROTOOPT. */
#ifndef BR_LINKRATE_H
#define BR_LINKRATE_H

#include <stdbool.h>
#include <stdint.h>

/* The latest sample of the socket fd into *bps (bytes per second; 0: none
 * yet) and *app_limited.  0 or -errno. */
int linkrate_get(int fd, uint64_t *bps, bool *app_limited);

#endif
