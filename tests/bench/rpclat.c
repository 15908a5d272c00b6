/* rpclat.c - per-procedure round-trip latency of brambled, without FUSE.
 *
 *   rpclat [-n N] [-u UID] [-g GID] HOST:PORT
 *
 * One TCP connection (from a reserved port when run as root, else the
 * server needs --insecure), N sequential calls per procedure, each waiting
 * for its reply: the latency one FUSE request sees on the server and the
 * network, nothing else.  Prints median, p90 and p99 in microseconds.
 *
 * Self-contained on purpose (hand-made XDR, no libbramble, no libtirpc), so
 * it measures any brambled build, and a change in the client cannot move
 * its figures.  It works in a scratch file "rpclat.<pid>" in the export
 * root, which it removes at the end. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PROG 0x2062726Du
enum { P_NULL = 0, P_MOUNT = 2, P_GETATTR = 3, P_SETATTR = 4, P_LOOKUP = 5,
       P_READ = 8, P_WRITE = 9, P_CREATE = 10, P_REMOVE = 14, P_OPEN = 21 };
#define FH_MAX 64
#define REC_MAX (2u << 20)

struct xb {
	unsigned char *d;
	size_t len, cap;
};

static void die(const char *msg)
{
	fprintf(stderr, "rpclat: %s\n", msg);
	exit(1);
}

static void put(struct xb *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2;
		b->d = realloc(b->d, b->cap);
		if (!b->d)
			die("out of memory");
	}
	memcpy(b->d + b->len, p, n);
	b->len += n;
}

static void u32(struct xb *b, uint32_t v)
{
	v = htonl(v);
	put(b, &v, 4);
}

static void u64(struct xb *b, uint64_t v)
{
	u32(b, (uint32_t)(v >> 32));
	u32(b, (uint32_t)v);
}

static void opaque(struct xb *b, const void *p, size_t n)
{
	static const char zero[4];

	u32(b, (uint32_t)n);
	put(b, p, n);
	put(b, zero, (4 - n % 4) % 4);
}

static int fd_ = -1;
static uint32_t xid_, uid_, gid_;
static unsigned char *in_;

static void write_all(const void *p, size_t n)
{
	const char *c = p;

	while (n) {
		ssize_t w = write(fd_, c, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			die("write failed");
		c += w;
		n -= (size_t)w;
	}
}

static void read_all(void *p, size_t n)
{
	char *c = p;

	while (n) {
		ssize_t r = read(fd_, c, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			die("connection closed");
		c += r;
		n -= (size_t)r;
	}
}

static char client_id_[17];             /* 16 hex digits */

static void send_call(uint32_t proc, const struct xb *args)
{
	struct xb b = { 0 };
	uint32_t mark;

	u32(&b, 0);                     /* record mark, filled below */
	u32(&b, ++xid_);
	u32(&b, 0);                     /* CALL */
	u32(&b, 2);
	u32(&b, PROG);
	u32(&b, 1);
	u32(&b, proc);
	/* As libbramble does: a random client id as the machine name, so
	 * CREATE, REMOVE... go through the duplicate-request cache as they
	 * do from a mount. */
	if (!client_id_[0])
		snprintf(client_id_, sizeof(client_id_), "%08lx%08lx",
			 (unsigned long)getpid() & 0xffffffffUL,
			 (unsigned long)time(NULL) & 0xffffffffUL);
	u32(&b, 1);                     /* AUTH_SYS */
	u32(&b, 4 + 20 + 4 + 4 + 4); /* stamp, name, uid, gid, ngroups */
	u32(&b, 0);                     /* stamp */
	opaque(&b, client_id_, 16);     /* 4 + 16 bytes */
	u32(&b, uid_);
	u32(&b, gid_);
	u32(&b, 0);                     /* no groups */
	u32(&b, 0);                     /* verifier AUTH_NONE */
	u32(&b, 0);
	if (args)
		put(&b, args->d, args->len);
	mark = htonl(0x80000000u | (uint32_t)(b.len - 4));
	memcpy(b.d, &mark, 4);
	write_all(b.d, b.len);
	free(b.d);
}

/* The next reply: a pointer to its body after accept_stat (which must be
 * SUCCESS), *len its length.  want_xid 0: any. */
static const unsigned char *recv_reply(uint32_t want_xid, size_t *len)
{
	uint32_t mark, v;
	size_t n, off;

	read_all(&mark, 4);
	mark = ntohl(mark);
	n = mark & 0x7fffffffu;
	if (!(mark & 0x80000000u) || n > REC_MAX || n < 12)
		{ fprintf(stderr, "rpclat: bad reply record (mark %08x)\n", mark); exit(1); }
	read_all(in_, n);
	memcpy(&v, in_, 4);
	if (want_xid && ntohl(v) != want_xid)
		die("xid mismatch");
	memcpy(&v, in_ + 8, 4);
	if (v || n < 24)
		die("call denied");
	/* verifier: flavor, length (0) */
	memcpy(&v, in_ + 16, 4);
	off = 20 + ((ntohl(v) + 3) & ~3u);
	memcpy(&v, in_ + off, 4);
	if (v)
		die("call not accepted");
	off += 4;
	*len = n - off;
	return in_ + off;
}

/* One call, waiting for its reply. */
static const unsigned char *call(uint32_t proc, const struct xb *args, size_t *len)
{
	send_call(proc, args);
	return recv_reply(xid_, len);
}

static uint32_t get32(const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return ntohl(v);
}

/* A call whose result starts with br_stat; dies unless BR_OK. */
static const unsigned char *call_ok(uint32_t proc, const struct xb *args,
				    const char *what)
{
	size_t len;
	const unsigned char *r = call(proc, args, &len);

	if (proc == P_NULL)             /* no br_stat: an empty result */
		return r;
	if (len < 4 || get32(r) != 0) {
		fprintf(stderr, "rpclat: %s: status %u\n", what, len < 4 ? 0 : get32(r));
		exit(1);
	}
	return r + 4;
}

/* An entry result (fh + attr): copy the handle out. */
static size_t take_fh(const unsigned char *r, unsigned char *fh)
{
	size_t n = get32(r);

	if (n > FH_MAX)
		die("handle too long");
	memcpy(fh, r + 4, n);
	return n;
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static void report(const char *name, int64_t *t, int n)
{
	qsort(t, (size_t)n, sizeof(*t), cmp64);
	printf("%-14s %8.1f %8.1f %8.1f\n", name, t[n / 2] / 1e3,
	       t[n * 9 / 10] / 1e3, t[n * 99 / 100] / 1e3);
}

static void connect_to(const char *hostport)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	char host[64];
	const char *colon = strrchr(hostport, ':');
	int one = 1;

	if (!colon || (size_t)(colon - hostport) >= sizeof(host))
		die("usage: rpclat [-n N] [-u UID] [-g GID] HOST:PORT");
	memcpy(host, hostport, (size_t)(colon - hostport));
	host[colon - hostport] = 0;
	sa.sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		die("HOST must be an IPv4 address");
	fd_ = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (geteuid() == 0) {
		/* A reserved source port: brambled's default "secure". */
		for (int p = 1000; p > 600; p--) {
			struct sockaddr_in me = { .sin_family = AF_INET,
						  .sin_port = htons((uint16_t)p) };

			if (bind(fd_, (struct sockaddr *)&me, sizeof(me)) == 0)
				break;
		}
	}
	if (connect(fd_, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("cannot connect");
}

int main(int argc, char **argv)
{
	unsigned char root[FH_MAX], file[FH_MAX];
	size_t rootlen, filelen;
	char name[64], cname[80];
	static char data[65536];
	int64_t *t;
	int n = 2000, opt;

	while ((opt = getopt(argc, argv, "n:u:g:")) != -1) {
		if (opt == 'n')
			n = atoi(optarg);
		else if (opt == 'u')
			uid_ = (uint32_t)atoi(optarg);
		else if (opt == 'g')
			gid_ = (uint32_t)atoi(optarg);
		else
			die("usage: rpclat [-n N] [-u UID] [-g GID] HOST:PORT");
	}
	if (optind != argc - 1 || n < 10)
		die("usage: rpclat [-n N>=10] [-u UID] [-g GID] HOST:PORT");
	in_ = malloc(REC_MAX);
	t = calloc((size_t)n, sizeof(*t));
	if (!in_ || !t)
		die("out of memory");
	connect_to(argv[optind]);
	memset(data, 'x', sizeof(data));
	snprintf(name, sizeof(name), "rpclat.%ld", (long)getpid());

	struct xb a = { 0 };
	const unsigned char *r;

	opaque(&a, "", 0);
	r = call_ok(P_MOUNT, &a, "MOUNT");
	rootlen = take_fh(r, root);

	a.len = 0;
	opaque(&a, root, rootlen);
	opaque(&a, name, strlen(name));
	u32(&a, 0644);
	u32(&a, 2);                     /* BR_CREATE_TRUNC */
	r = call_ok(P_CREATE, &a, "CREATE");
	filelen = take_fh(r, file);

	a.len = 0;
	opaque(&a, file, filelen);
	u64(&a, 0);
	u32(&a, 0);
	opaque(&a, data, sizeof(data));
	call_ok(P_WRITE, &a, "WRITE");

	printf("%-14s %8s %8s %8s   (us, %d calls each)\n", "procedure", "median",
	       "p90", "p99", n);

#define MEASURE(label, proc, build)                                       \
	do {                                                              \
		for (int i = -n / 10; i < n; i++) {                       \
			int64_t t0;                                       \
			a.len = 0;                                        \
			build;                                            \
			t0 = now_ns();                                    \
			call_ok(proc, &a, label);                         \
			if (i >= 0)                                       \
				t[i] = now_ns() - t0;                     \
		}                                                         \
		report(label, t, n);                                      \
	} while (0)

	MEASURE("NULL", P_NULL, (void)0);
	MEASURE("GETATTR", P_GETATTR, opaque(&a, file, filelen));
	MEASURE("LOOKUP", P_LOOKUP, (opaque(&a, root, rootlen),
				      opaque(&a, name, strlen(name))));
	MEASURE("OPEN read", P_OPEN, (opaque(&a, file, filelen), u32(&a, 1)));
	MEASURE("READ 4k", P_READ, (opaque(&a, file, filelen),
				    u64(&a, (uint64_t)(i & 15) * 4096), u32(&a, 4096)));
	MEASURE("READ 64k", P_READ, (opaque(&a, file, filelen), u64(&a, 0),
				     u32(&a, 65536)));
	MEASURE("SETATTR mtime", P_SETATTR, (opaque(&a, file, filelen),
		u32(&a, 32 | 128), u32(&a, 0), u32(&a, 0), u32(&a, 0), u64(&a, 0),
		u64(&a, 0), u32(&a, 0), u64(&a, 0), u32(&a, 0)));
	MEASURE("OPEN write", P_OPEN, (opaque(&a, file, filelen), u32(&a, 2)));
	MEASURE("WRITE 4k", P_WRITE, (opaque(&a, file, filelen),
				      u64(&a, (uint64_t)(i & 15) * 4096), u32(&a, 0),
				      opaque(&a, data, 4096)));
	{
		int64_t *t2 = calloc((size_t)n, sizeof(*t2));
		int64_t *t3 = calloc((size_t)n, sizeof(*t3));
		unsigned char cfh[FH_MAX];
		size_t cfhlen;

		if (!t2 || !t3)
			die("out of memory");
		for (int i = -n / 10; i < n; i++) {
			int64_t t0;

			snprintf(cname, sizeof(cname), "%s.c%d", name, i + n);
			a.len = 0;
			opaque(&a, root, rootlen);
			opaque(&a, cname, strlen(cname));
			u32(&a, 0644);
			u32(&a, 1);     /* BR_CREATE_EXCL */
			t0 = now_ns();
			r = call_ok(P_CREATE, &a, "CREATE");
			if (i >= 0)
				t[i] = now_ns() - t0;
			cfhlen = take_fh(r, cfh);
			a.len = 0;
			opaque(&a, cfh, cfhlen);
			u64(&a, 0);
			u32(&a, 0);
			opaque(&a, data, 4096);
			t0 = now_ns();
			call_ok(P_WRITE, &a, "WRITE");
			if (i >= 0)
				t3[i] = now_ns() - t0;
			a.len = 0;
			opaque(&a, root, rootlen);
			opaque(&a, cname, strlen(cname));
			t0 = now_ns();
			call_ok(P_REMOVE, &a, "REMOVE");
			if (i >= 0)
				t2[i] = now_ns() - t0;
		}
		report("CREATE", t, n);
		report("1st WRITE 4k", t3, n);
		report("REMOVE", t2, n);
		free(t2);
		free(t3);
	}

	/* Pipelined: DEPTH calls in flight, as a multi-threaded mount or
	 * write-behind sends them; time per call. */
	for (int depth = 8; depth <= 32; depth *= 4) {
		for (int k = 0; k < 3; k++) {
			static const uint32_t procs[] = { P_GETATTR, P_READ, P_WRITE };
			static const char *const names[] = { "GETATTR", "READ 4k", "WRITE 4k" };
			uint32_t proc = procs[k];
			int rounds = n / depth;
			int64_t t0;
			size_t len;

			a.len = 0;
			opaque(&a, file, filelen);
			if (proc == P_READ) {
				u64(&a, 0);
				u32(&a, 4096);
			} else if (proc == P_WRITE) {
				u64(&a, 0);
				u32(&a, 0);
				opaque(&a, data, 4096);
			}
			t0 = now_ns();
			for (int i = 0; i < rounds; i++) {
				for (int q = 0; q < depth; q++)
					send_call(proc, &a);
				for (int q = 0; q < depth; q++)
					recv_reply(0, &len);
			}
			printf("%-8s x%-5d %8.1f us/call (pipelined)\n",
			       names[k], depth,
			       (now_ns() - t0) / 1e3 / ((double)rounds * depth));
		}
	}

	a.len = 0;
	opaque(&a, root, rootlen);
	opaque(&a, name, strlen(name));
	call_ok(P_REMOVE, &a, "REMOVE");
	free(a.d);
	free(t);
	free(in_);
	close(fd_);
	return 0;
}
