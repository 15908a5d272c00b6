/* bench.h - `bramble bench': what it measures (bench_run.c) and how it
 * reports it (bench_report.c); cmd_bench.c parses the options and runs
 * the layers in order.
 *
 * One struct bench holds everything: the options, one figure per layer,
 * and the verdict made from them.  Single-threaded except the network
 * phase, whose threads only add to their own counters. */
#ifndef BR_TOOLS_BENCH_H
#define BR_TOOLS_BENCH_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bramble.h"

/* The layers, in the order they run and are reported.  Their JSON keys
 * (bench_layer_key) are stable: scripts read them. */
enum bench_layer {
	BL_RTT,                 /* NULL round trip: rate = median us */
	BL_NET_DOWN,            /* BENCH_NET, server -> node: MB/s */
	BL_NET_UP,              /* BENCH_NET, node -> server */
	BL_SDISK_WRITE,         /* BENCH_DISK */
	BL_SDISK_READ,
	BL_CDISK_WRITE,         /* the node's cache directory (diskbench) */
	BL_CDISK_READ,
	BL_SEQ_WRITE,           /* the mount, 1 MiB writes + fsync */
	BL_SEQ_READ_COLD,       /* a file written to the server directly:
				 * never in this node's caches */
	BL_SEQ_READ_WARM,       /* the same file again */
	BL_RAND_READ_COLD,      /* 4 KiB preads: rate = IOPS */
	BL_RAND_READ_WARM,
	BL_META_CREATE,         /* ops/s */
	BL_META_STAT,
	BL_META_READDIR,        /* entries/s */
	BL_META_UNLINK,
	BL_NLAYERS
};

enum bench_unit { BU_US, BU_MBPS, BU_IOPS, BU_OPS };

struct bench_fig {
	bool done;              /* measured: rate is meaningful */
	double rate;            /* in the layer's unit (bench_layer_unit) */
	double secs;            /* time measured */
	uint64_t bytes, ops;
	double p99_us;          /* BL_RTT only */
	char note[96];          /* "O_DIRECT", "8 calls in flight", ... */
	char why[160];          /* not measured: why (empty when done) */
	bool failed;            /* not measured because something went wrong
				 * (a refusal, an error): the run fails.  A
				 * layer out of reach by design (no mount, an
				 * older server, root-only for a user) is
				 * only skipped. */
};

/* The verdict's bottleneck (JSON "bottleneck"). */
enum bench_culprit { BC_NONE, BC_NETWORK, BC_SERVER_DISK, BC_CACHE_DISK };

#define BENCH_VERDICT_MAX 8

struct bench {
	/* options */
	bool quick, json;
	const char *svg;        /* --svg FILE, or NULL */
	unsigned int seconds;   /* longest any one measurement runs */
	unsigned int threads;   /* BENCH_NET calls in flight */
	uint64_t size_max;      /* largest scratch file */
	unsigned int meta_files;
	const char *cache_dir_opt;  /* --cache-dir */

	/* the target */
	char *spec;             /* as given */
	char *server;           /* "host:port" */
	char *mount;            /* the mount's root; NULL: a server given */
	char *subdir;           /* the mount's MOUNT path ("name/sub", no leading /) */
	char *cache_dir;        /* measured, or NULL */
	char *cache_mode;       /* the mount's cache= (from .bramble), or NULL */
	char *scratch;          /* our directory in the mount, or NULL */
	struct bramble *b;
	struct bramble_cred cr;
	uint64_t seed;          /* random per run: file contents no cache has seen */

	struct bench_fig f[BL_NLAYERS];
	double elapsed;         /* seconds, the whole run */

	enum bench_culprit culprit;     /* the slowest layer below the mount */
	bool culprit_clear;             /* ... by more than 20 % */
	unsigned int nverdict;
	char verdict[BENCH_VERDICT_MAX][256];
};

/* Set by SIGINT: the phases stop early, scratch files are still removed. */
extern volatile sig_atomic_t bench_stop;

/* 1234567.8 -> "1,234,568"; below 100 one decimal ("12.3").  Returns out. */
const char *bench_num(char *out, size_t len, double v);
const char *bench_layer_key(enum bench_layer l);
const char *bench_layer_label(enum bench_layer l);
enum bench_unit bench_layer_unit(enum bench_layer l);
/* Mark a layer skipped (out of reach by design), printf-style reason. */
void bench_skip(struct bench *bn, enum bench_layer l, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Mark a layer failed: it should have been measured and was not. */
void bench_fail(struct bench *bn, enum bench_layer l, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* bench_run.c: each fills its layers' figures (or why they were skipped). */
void bench_rtt(struct bench *bn);
void bench_net(struct bench *bn);
void bench_server_disk(struct bench *bn);
void bench_cache_disk(struct bench *bn);
void bench_mount_io(struct bench *bn);
void bench_meta(struct bench *bn);

/* bench_report.c */
void bench_verdict(struct bench *bn);
void bench_print_text(const struct bench *bn);
void bench_print_json(const struct bench *bn);
/* Name each failed layer and why on stderr (layers failing for the same
 * reason on one line); returns how many failed. */
unsigned int bench_print_failures(const struct bench *bn);
/* 0 or -errno (the file could not be written; printed). */
int bench_write_svg(const struct bench *bn, const char *path);

#endif
