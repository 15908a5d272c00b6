/* linkrate.c - the kernel's delivery-rate sample (linkrate.h).  Its own
 * file: <linux/tcp.h>, which has the fields, clashes with glibc's
 * <netinet/tcp.h>, whose struct tcp_info lacks them. */
#include <errno.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>

#include "linkrate.h"

int linkrate_get(int fd, uint64_t *bps, bool *app_limited)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	memset(&ti, 0, sizeof(ti));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
		return -errno;
	/* An older kernel fills less: no rate then. */
	if (len < offsetof(struct tcp_info, tcpi_delivery_rate) + sizeof(ti.tcpi_delivery_rate))
		return -ENOPROTOOPT;
	*bps = ti.tcpi_delivery_rate;
	*app_limited = ti.tcpi_delivery_rate_app_limited;
	return 0;
}
