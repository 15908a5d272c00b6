/* seeds.c - the seed corpus of fuzz_request, written by the real encoder.
 *
 * Linked into fuzz_request: with FUZZ_REQUEST_SEEDS=DIR in the environment
 * it writes one small valid input per file into DIR and exits instead of
 * fuzzing.  `make fuzz` runs it so the seeds always follow bramble_prot.x;
 * `make fuzz-seeds` rewrites the committed copies in tests/fuzz/corpus/.
 * Each input is the chunk-size byte fuzz_request reads first, then one or
 * more records as a client sends them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "rpcmsg.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);

static char fh_bytes[16] = "\x01\x00\x00\x00\x2a\x00\x00\x00seedfh!";
static const struct br_cred cred = { 1000, 1000, 2, { 1000, 27 } };
static uint32_t next_xid = 1;

static void call(struct buf *b, uint32_t proc, const struct br_cred *c,
		 xdrproc_t xargs, const void *args)
{
	if (rpcmsg_encode_call(b, next_xid++, BR_PROGRAM, BR_VERSION, proc, c,
			       xargs, args) < 0) {
		fprintf(stderr, "seeds: cannot encode procedure %u\n", proc);
		exit(1);
	}
}

static void save(const char *dir, const char *name, unsigned char chunk,
		 const struct buf *b)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fputc(chunk, f) == EOF ||
	    fwrite(b->data, 1, b->len, f) != b->len || fclose(f) != 0) {
		fprintf(stderr, "seeds: cannot write %s: %s\n", path, strerror(errno));
		exit(1);
	}
}

/* One record split into two fragments, as a client may send it. */
static void refragment(struct buf *b)
{
	size_t body = b->len - 4, half = body / 2;
	struct buf f;

	buf_init(&f, b->len + 4);
	buf_add(&f, (const char[]){ 0, 0, (char)(half >> 8), (char)half }, 4);
	buf_add(&f, b->data + 4, half);
	buf_add(&f, (const char[]){ (char)0x80, 0, (char)((body - half) >> 8),
				    (char)(body - half) }, 4);
	buf_add(&f, b->data + 4 + half, body - half);
	buf_release(b);
	*b = f;
}

static void write_seeds(const char *dir)
{
	br_fh fh = { sizeof(fh_bytes), fh_bytes };
	br_mount_args mount = { "/" };
	br_fh_args fha = { fh };
	br_dirop_args lookup = { fh, "hello.txt" };
	br_read_args rd = { fh, 4096, 65536 };
	char payload[64] = "some bytes to write";
	br_write_args wr = { fh, 0, 0, { sizeof(payload), payload } };
	br_readdir_args rdp = { fh, 0, 64, 32768 };
	br_setattr_args sa = { fh, BR_SET_MODE | BR_SET_UID, 0644, 1000, 0, 0,
			       { 0, 0 }, { 0, 0 } };
	br_rename_args rn = { fh, "a", fh, "b", 0 };
	br_open_args op = { fh, 2 };
	br_getxattr_args gx = { fh, "user.test", 256 };
	br_hello_args hello = { 1, BR_REVISION, 0, 0, "fuzz" };
	br_lock_args lk = { fh, 42, BR_LK_POSIX, BR_LOCK_WRITE, 0, 100, 7,
			    BR_LOCK_WAIT };
	br_chunkmap_args cm = { fh, 0, 16 };
	br_read_chunk_args rc = { fh, { 0 }, 1, 1 };
	br_read_chunk2_args rc2 = { fh, { 0 }, 1, 1, BR_RC_ZSTD | BR_RC_PEERS, { 0, NULL } };
	br_stats_args sta = { 0 };
	br_tree_args tr = { fh, "sub/dir", BR_TREE_CHUNKS, 3, 100, 65536 };
	br_bench_net_args bnet = { 65536, { sizeof(payload), payload } };
	br_bench_disk_args bdisk = { fh, 1 << 20, 1000, 0 };
	struct buf b;

	buf_init(&b, 0);
#define SEED(name, chunk, ...) do { \
		buf_reset(&b); __VA_ARGS__; save(dir, name, chunk, &b); \
	} while (0)
	SEED("null", 0, call(&b, BRPROC_NULL, NULL, NULL, NULL));
	SEED("info", 0, call(&b, BRPROC_INFO, NULL, NULL, NULL));
	SEED("mount", 0, call(&b, BRPROC_MOUNT, &cred, (xdrproc_t)xdr_br_mount_args, &mount));
	SEED("getattr", 0, call(&b, BRPROC_GETATTR, &cred, (xdrproc_t)xdr_br_fh_args, &fha));
	SEED("lookup", 0, call(&b, BRPROC_LOOKUP, &cred, (xdrproc_t)xdr_br_dirop_args, &lookup));
	SEED("read", 0, call(&b, BRPROC_READ, &cred, (xdrproc_t)xdr_br_read_args, &rd));
	SEED("write", 0, call(&b, BRPROC_WRITE, &cred, (xdrproc_t)xdr_br_write_args, &wr));
	SEED("readdirplus", 0, call(&b, BRPROC_READDIRPLUS, &cred,
				    (xdrproc_t)xdr_br_readdir_args, &rdp));
	SEED("setattr", 0, call(&b, BRPROC_SETATTR, &cred, (xdrproc_t)xdr_br_setattr_args, &sa));
	SEED("rename", 0, call(&b, BRPROC_RENAME, &cred, (xdrproc_t)xdr_br_rename_args, &rn));
	SEED("hello", 0, call(&b, BRPROC_HELLO, NULL, (xdrproc_t)xdr_br_hello_args, &hello));
	SEED("lock", 0, call(&b, BRPROC_LOCK, &cred, (xdrproc_t)xdr_br_lock_args, &lk));
	SEED("testlock", 0, call(&b, BRPROC_TESTLOCK, &cred, (xdrproc_t)xdr_br_lock_args, &lk));
	SEED("chunkmap", 0, call(&b, BRPROC_CHUNKMAP, &cred, (xdrproc_t)xdr_br_chunkmap_args, &cm));
	SEED("chunkmap_known", 0, call(&b, BRPROC_CHUNKMAP_KNOWN, &cred,
				       (xdrproc_t)xdr_br_chunkmap_args, &cm));
	SEED("read_chunk", 0, call(&b, BRPROC_READ_CHUNK, &cred, (xdrproc_t)xdr_br_read_chunk_args, &rc));
	SEED("read_chunk2", 0, call(&b, BRPROC_READ_CHUNK2, &cred,
				    (xdrproc_t)xdr_br_read_chunk2_args, &rc2));
	SEED("stats", 0, call(&b, BRPROC_STATS, &cred, (xdrproc_t)xdr_br_stats_args, &sta));
	SEED("tree", 0, call(&b, BRPROC_TREE, &cred, (xdrproc_t)xdr_br_tree_args, &tr));
	SEED("bench_net", 0, call(&b, BRPROC_BENCH_NET, &cred,
				  (xdrproc_t)xdr_br_bench_net_args, &bnet));
	SEED("bench_disk", 0, call(&b, BRPROC_BENCH_DISK, &cred,
				   (xdrproc_t)xdr_br_bench_disk_args, &bdisk));
	SEED("open", 0, call(&b, BRPROC_OPEN, &cred, (xdrproc_t)xdr_br_open_args, &op));
	SEED("getxattr", 0, call(&b, BRPROC_GETXATTR, &cred,
				 (xdrproc_t)xdr_br_getxattr_args, &gx));
	/* Two pipelined calls read 7 bytes at a time; one in two fragments. */
	SEED("pipeline", 7,
	     call(&b, BRPROC_LOOKUP, &cred, (xdrproc_t)xdr_br_dirop_args, &lookup);
	     call(&b, BRPROC_READ, &cred, (xdrproc_t)xdr_br_read_args, &rd));
	SEED("fragments", 3,
	     call(&b, BRPROC_LOOKUP, &cred, (xdrproc_t)xdr_br_dirop_args, &lookup);
	     refragment(&b));
#undef SEED
	buf_release(&b);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("FUZZ_REQUEST_SEEDS");

	(void)argc;
	(void)argv;
	if (dir && *dir) {
		write_seeds(dir);
		exit(0);
	}
	return 0;
}
