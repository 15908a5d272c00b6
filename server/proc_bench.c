/* proc_bench.c - BENCH_NET and BENCH_DISK: the two layers `bramble bench'
 * cannot measure from the client alone (bramble_prot.x has the contract).
 *
 * BENCH_NET costs the server no allocation beyond its reply record: its
 * own XDR routines (dispatch.c's table) skip the payload where it lies in
 * the request record, and encode the reply's zeros from one static
 * zero-filled buffer (.bss, so it costs no memory until read, and then
 * only the shared zero page).
 *
 * BENCH_DISK runs diskbench (common/diskbench.h: an invisible O_TMPFILE,
 * O_DIRECT or fdatasync + DONTNEED) in the root of the call's export: the
 * filesystem the clients' data lives on.  Not the state directory: that
 * may sit on another disk (a Raspberry Pi's SD card beside a USB disk),
 * and it is not what reads and writes through a mount wait for.  One runs
 * at a time: two would each measure half a disk.  Its bytes are not added
 * to the disk counters of STATS, which describe the clients' traffic. */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "diskbench.h"
#include "log.h"
#include "proc.h"
#include "util.h"

_Static_assert(BR_BENCH_DISK_BLOCK == DISKBENCH_BLOCK, "one block size");

static char zeros[BR_DATA_MAX];
static atomic_flag disk_busy = ATOMIC_FLAG_INIT;

/* ---- BENCH_NET */

/* br_bench_net_args, decoded without copying the payload: its length is
 * kept, its bytes skipped in the record (payload_val stays NULL).  Encoding
 * (xdr_sizeof in rpcmsg_decode_body's check) writes zeros of that length;
 * freeing has nothing to free. */
bool_t proc_bench_net_xdr_args(XDR *x, void *p)
{
	br_bench_net_args *a = p;
	u_int len;

	if (x->x_op == XDR_FREE)
		return TRUE;
	if (!xdr_u_int(x, &a->reply_bytes))
		return FALSE;
	if (x->x_op == XDR_ENCODE) {
		len = a->payload.payload_len;
		return len <= BR_DATA_MAX && xdr_u_int(x, &len) &&
		       xdr_opaque(x, zeros, len);
	}
	if (!xdr_u_int(x, &len) || len > BR_DATA_MAX)
		return FALSE;
	a->payload.payload_len = len;
	a->payload.payload_val = NULL;
	/* xdrmem's setpos refuses a position past the end of the record. */
	return xdr_setpos(x, xdr_getpos(x) + ((len + 3) & ~3u));
}

/* br_bench_net_res with data_len zeros taken from the static buffer. */
bool_t proc_bench_net_xdr_res(XDR *x, void *p)
{
	br_bench_net_res *r = p;
	u_int len;

	if (x->x_op != XDR_ENCODE)
		return x->x_op == XDR_FREE;     /* the server never decodes one */
	if (!xdr_br_stat(x, &r->status))
		return FALSE;
	if (r->status != BR_OK)
		return TRUE;
	len = r->br_bench_net_res_u.ok.data.data_len;
	return len <= BR_DATA_MAX && xdr_u_int(x, &len) && xdr_opaque(x, zeros, len);
}

/* Any authenticated caller: the loop refused AUTH_NONE already. */
int proc_bench_net(struct call *c, void *args, void *res)
{
	br_bench_net_args *a = args;
	br_bench_net_res *r = res;

	(void)c;
	r->br_bench_net_res_u.ok.data.data_len = BR_MIN(a->reply_bytes, (u_int)BR_DATA_MAX);
	return 0;
}

/* ---- BENCH_DISK */

/* --bench-disk root: credentials that say uid 0 before any root squash.
 * The loop has already refused AUTH_SYS from ports >= 1024 unless the
 * server runs --insecure (then it believes every port, for this too). */
static int bench_allowed(const struct call *c)
{
	const struct job *j = c->job;

	switch (c->svc->bench_disk) {
	case BENCH_ANY:
		return 0;
	case BENCH_OFF:
		return -EPERM;
	case BENCH_ROOT:
		break;
	}
	if ((j->flavor == RPC_AUTH_SYS || j->flavor == BR_AUTH_MUNGE) && j->cred.uid == 0)
		return 0;
	return -EPERM;
}

static int bench_disk_run(struct call *c, const br_bench_disk_args *a,
			  br_bench_disk_ok *ok)
{
	int dirfd = export_root_fd(c->exp->ex);
	unsigned int ms = a->max_ms && a->max_ms < BR_BENCH_DISK_MS_MAX ? a->max_ms
								      : BR_BENCH_DISK_MS_MAX;
	struct diskbench d = { 0 };
	uint64_t size = 0;
	int rc = diskbench_size(dirfd, a->size, BR_BENCH_DISK_MAX, &size, &d.fs_free);

	if (rc == 0)
		rc = diskbench_run(dirfd, size, (int64_t)ms * 1000000, &d);
	if (rc < 0)
		return rc;
	ok->write_bytes = d.write_bytes;
	ok->write_ns = d.write_ns;
	ok->read_bytes = d.read_bytes;
	ok->read_ns = d.read_ns;
	ok->flags = (d.direct ? BR_BENCH_DIRECT : 0) | (d.tmpfile ? BR_BENCH_TMPFILE : 0);
	ok->fs_free = d.fs_free;
	return 0;
}

int proc_bench_disk(struct call *c, void *args, void *res)
{
	br_bench_disk_args *a = args;
	br_bench_disk_ok *ok = &((br_bench_disk_res *)res)->br_bench_disk_res_u.ok;
	struct stat st;
	int fd, rc;

	if (a->flags || a->size == 0)
		return -EINVAL;
	rc = bench_allowed(c);
	if (rc < 0)
		return rc;
	/* The handle must verify (MAC) like any other: it picks the export. */
	rc = call_fh(c, &a->dir, &fd, &st);
	if (rc < 0)
		return rc;
	close(fd);
	if (atomic_flag_test_and_set(&disk_busy))
		return -EBUSY;
	rc = bench_disk_run(c, a, ok);
	atomic_flag_clear(&disk_busy);
	if (rc < 0)
		log_warn("BENCH_DISK in %s: %s", export_path(c->exp->ex), strerror(-rc));
	else
		log_info("BENCH_DISK in %s: %llu MiB written at %.1f MB/s, read at "
			 "%.1f MB/s (%s)", export_path(c->exp->ex),
			 (unsigned long long)(ok->write_bytes >> 20),
			 ok->write_bytes * 1e3 / (double)BR_MAX(ok->write_ns, 1),
			 ok->read_bytes * 1e3 / (double)BR_MAX(ok->read_ns, 1),
			 ok->flags & BR_BENCH_DIRECT ? "O_DIRECT" : "buffered");
	return rc;
}
