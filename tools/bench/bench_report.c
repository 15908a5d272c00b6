/* bench_report.c - what `bramble bench' concludes and how it shows it: the
 * verdict (which layer limits the mount, in plain words), a text table,
 * JSON for scripts (keys documented in bramble(1), stable), and an SVG
 * bar chart written by hand. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "buf.h"
#include "util.h"

static const struct layer_desc {
	const char *key, *label;
	enum bench_unit unit;
} layers[BL_NLAYERS] = {
	[BL_RTT] = { "rtt", "round trip (NULL call)", BU_US },
	[BL_NET_DOWN] = { "net_down", "network, server -> node", BU_MBPS },
	[BL_NET_UP] = { "net_up", "network, node -> server", BU_MBPS },
	[BL_SDISK_WRITE] = { "server_disk_write", "server disk, write", BU_MBPS },
	[BL_SDISK_READ] = { "server_disk_read", "server disk, read", BU_MBPS },
	[BL_CDISK_WRITE] = { "cache_disk_write", "cache disk, write", BU_MBPS },
	[BL_CDISK_READ] = { "cache_disk_read", "cache disk, read", BU_MBPS },
	[BL_SEQ_WRITE] = { "mount_seq_write", "mount, sequential write", BU_MBPS },
	[BL_SEQ_READ_COLD] = { "mount_seq_read_cold", "mount, sequential read, cold", BU_MBPS },
	[BL_SEQ_READ_WARM] = { "mount_seq_read_warm", "mount, sequential read, warm", BU_MBPS },
	[BL_RAND_READ_COLD] = { "mount_rand_read_cold", "mount, 4 KiB random read, cold", BU_IOPS },
	[BL_RAND_READ_WARM] = { "mount_rand_read_warm", "mount, 4 KiB random read, warm", BU_IOPS },
	[BL_META_CREATE] = { "meta_create", "metadata, create", BU_OPS },
	[BL_META_STAT] = { "meta_stat", "metadata, stat", BU_OPS },
	[BL_META_READDIR] = { "meta_readdir", "metadata, readdir (entries)", BU_OPS },
	[BL_META_UNLINK] = { "meta_unlink", "metadata, unlink", BU_OPS },
};

static const char *const unit_names[] = {
	[BU_US] = "us", [BU_MBPS] = "MB/s", [BU_IOPS] = "IOPS", [BU_OPS] = "ops/s",
};

static const char *const culprit_keys[] = {
	[BC_NONE] = "none", [BC_NETWORK] = "network",
	[BC_SERVER_DISK] = "server_disk", [BC_CACHE_DISK] = "cache_disk",
};

const char *bench_layer_key(enum bench_layer l)
{
	return layers[l].key;
}

const char *bench_layer_label(enum bench_layer l)
{
	return layers[l].label;
}

enum bench_unit bench_layer_unit(enum bench_layer l)
{
	return layers[l].unit;
}

const char *bench_num(char *out, size_t len, double v)
{
	char digits[32];
	size_t n, o = 0;

	if (v < 100) {
		snprintf(out, len, "%.1f", v);
		return out;
	}
	snprintf(digits, sizeof(digits), "%.0f", v);
	n = strlen(digits);
	for (size_t i = 0; i < n && o + 2 < len; i++) {
		if (i && (n - i) % 3 == 0)
			out[o++] = ',';
		out[o++] = digits[i];
	}
	out[o] = '\0';
	return out;
}

/* ---- the verdict */

static bool got(const struct bench *bn, enum bench_layer l)
{
	return bn->f[l].done;
}

static double rate(const struct bench *bn, enum bench_layer l)
{
	return bn->f[l].rate;
}

/* The smaller of two measured layers (either may be missing): 0 if none. */
static double lower(const struct bench *bn, enum bench_layer a, enum bench_layer b)
{
	if (got(bn, a) && got(bn, b))
		return BR_MIN(rate(bn, a), rate(bn, b));
	return got(bn, a) ? rate(bn, a) : got(bn, b) ? rate(bn, b) : 0;
}

static void say(struct bench *bn, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct bench *bn, const char *fmt, ...)
{
	va_list ap;

	if (bn->nverdict >= BENCH_VERDICT_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(bn->verdict[bn->nverdict++], sizeof(bn->verdict[0]), fmt, ap);
	va_end(ap);
}

/* The slowest of the layers under the mount: network, the server's disk,
 * the node's cache disk.  Within 20 % of each other, two layers are
 * named together: the measurements cannot tell them apart. */
static void headline(struct bench *bn)
{
	static const char *const names[] = {
		[BC_NETWORK] = "the network", [BC_SERVER_DISK] = "the server's disk",
		[BC_CACHE_DISK] = "the cache disk",
	};
	double r[4] = {
		[BC_NETWORK] = lower(bn, BL_NET_DOWN, BL_NET_UP),
		[BC_SERVER_DISK] = lower(bn, BL_SDISK_WRITE, BL_SDISK_READ),
		[BC_CACHE_DISK] = lower(bn, BL_CDISK_WRITE, BL_CDISK_READ),
	};
	enum bench_culprit next = BC_NONE;
	char a[32], b[32], c[32];

	bn->culprit = BC_NONE;
	bn->culprit_clear = false;
	for (int i = BC_NETWORK; i <= BC_CACHE_DISK; i++) {
		if (r[i] <= 0)
			continue;
		if (bn->culprit == BC_NONE || r[i] < r[bn->culprit]) {
			next = bn->culprit;
			bn->culprit = (enum bench_culprit)i;
		} else if (next == BC_NONE || r[i] < r[next]) {
			next = (enum bench_culprit)i;
		}
	}
	if (bn->culprit != BC_NONE && next != BC_NONE && r[next] < 1.2 * r[bn->culprit]) {
		say(bn, "no single layer stands out: %s (%s MB/s) and %s (%s MB/s) are "
			"within 20 %% of each other", names[bn->culprit],
		    bench_num(a, 32, r[bn->culprit]), names[next], bench_num(b, 32, r[next]));
		return;
	}
	bn->culprit_clear = bn->culprit != BC_NONE;
	switch (bn->culprit) {
	case BC_NETWORK:
		say(bn, "the network is the limit: it carries %s MB/s from the server and "
			"%s MB/s to it; the server's disk does %s MB/s",
		    bench_num(a, 32, rate(bn, BL_NET_DOWN)), bench_num(b, 32, rate(bn, BL_NET_UP)),
		    r[BC_SERVER_DISK] > 0 ? bench_num(c, 32, r[BC_SERVER_DISK]) : "(not measured)");
		break;
	case BC_SERVER_DISK:
		say(bn, "the server's disk is the limit: writes %s MB/s, reads %s MB/s; "
			"the network carries %s MB/s",
		    bench_num(a, 32, rate(bn, BL_SDISK_WRITE)), bench_num(b, 32, rate(bn, BL_SDISK_READ)),
		    r[BC_NETWORK] > 0 ? bench_num(c, 32, r[BC_NETWORK]) : "(not measured)");
		break;
	case BC_CACHE_DISK:
		say(bn, "your cache disk is slower than the network: it writes %s MB/s and "
			"reads %s MB/s, the network carries %s MB/s: use cache=ram "
			"(or a faster cache_dir)",
		    bench_num(a, 32, rate(bn, BL_CDISK_WRITE)), bench_num(b, 32, rate(bn, BL_CDISK_READ)),
		    r[BC_NETWORK] > 0 ? bench_num(c, 32, r[BC_NETWORK]) : "(not measured)");
		break;
	case BC_NONE:
		say(bn, "nothing below the mount could be measured: no bottleneck named");
		break;
	}
}

/* Reads or writes through the mount against what the layers below allow. */
static void mount_line(struct bench *bn, const char *what, enum bench_layer mnt,
		       enum bench_layer net, enum bench_layer disk)
{
	double m = rate(bn, mnt), limit = lower(bn, net, disk);
	bool net_bound = got(bn, net) && (!got(bn, disk) || rate(bn, net) <= rate(bn, disk));
	int pct = limit > 0 ? (int)lrint(100 * m / limit) : 0;
	char a[32], b[32], c[32];

	if (!got(bn, mnt) || limit <= 0)
		return;
	if (pct > 120)
		say(bn, "%s: %s MB/s, faster than the server's disk (%s MB/s): the data was "
			"in the server's memory; data that is not will come at disk speed",
		    what, bench_num(a, 32, m), bench_num(b, 32, rate(bn, disk)));
	else if (pct >= 60 && net_bound)
		say(bn, "%s are network-bound: %s MB/s of a link measured at %s MB/s (%d %%)",
		    what, bench_num(a, 32, m), bench_num(b, 32, limit), pct);
	else if (pct >= 60)
		say(bn, "%s are bound by the server's disk: %s MB/s of the %s MB/s it does "
			"(%d %%); the network carries %s MB/s", what, bench_num(a, 32, m),
		    bench_num(b, 32, limit), pct,
		    got(bn, net) ? bench_num(c, 32, rate(bn, net)) : "(not measured)");
	else
		say(bn, "%s reach %s MB/s, %d %% of the %s MB/s the %s allows: the rest is "
			"lost in bramblefs, brambled or round trips (%.0f us each)",
		    what, bench_num(a, 32, m), pct, bench_num(b, 32, limit),
		    net_bound ? "network" : "server's disk", rate(bn, BL_RTT));
}

static void cache_line(struct bench *bn)
{
	double cdisk = lower(bn, BL_CDISK_WRITE, BL_CDISK_READ);
	double net = rate(bn, BL_NET_DOWN);
	char a[32], b[32];

	if (cdisk <= 0 || !got(bn, BL_NET_DOWN) || bn->culprit == BC_CACHE_DISK)
		return;
	if (cdisk * 1.2 < net)
		say(bn, "your cache disk is slower than the network: %s MB/s against %s "
			"MB/s: use cache=ram (or a faster cache_dir)",
		    bench_num(a, 32, cdisk), bench_num(b, 32, net));
	else if (cdisk < net)
		say(bn, "the cache disk about matches the network: %s MB/s, the network "
			"carries %s MB/s", bench_num(a, 32, cdisk), bench_num(b, 32, net));
	else
		say(bn, "the cache disk keeps up: %s MB/s, the network carries %s MB/s",
		    bench_num(a, 32, cdisk), bench_num(b, 32, net));
}

static void meta_line(struct bench *bn)
{
	double creates = rate(bn, BL_META_CREATE), rtt = rate(bn, BL_RTT);
	double each = creates > 0 ? 1e6 / creates : 0, trips = rtt > 0 ? each / rtt : 0;
	char a[32], b[32];

	if (!got(bn, BL_META_CREATE) || !got(bn, BL_RTT))
		return;
	if (trips <= 4)
		say(bn, "metadata is round-trip bound: %s creates/s (%s stats/s) at %.0f us "
			"per round trip, %.1f round trips each",
		    bench_num(a, 32, creates), got(bn, BL_META_STAT) ? bench_num(b, 32, rate(bn, BL_META_STAT))
							   : "?", rtt, trips);
	else
		say(bn, "metadata is not round-trip bound: a create takes %.0f us, %.0f round "
			"trips' worth (%.0f us each): the server's disk or software is the limit",
		    each, trips, rtt);
}

void bench_verdict(struct bench *bn)
{
	bn->nverdict = 0;
	headline(bn);
	mount_line(bn, "reads", BL_SEQ_READ_COLD, BL_NET_DOWN, BL_SDISK_READ);
	mount_line(bn, "writes", BL_SEQ_WRITE, BL_NET_UP, BL_SDISK_WRITE);
	cache_line(bn);
	meta_line(bn);
}

/* ---- text */

/* "41 % of its limit" for the mount's sequential layers. */
static int pct_of_limit(const struct bench *bn, enum bench_layer l)
{
	double limit = 0;

	if (l == BL_SEQ_WRITE)
		limit = lower(bn, BL_NET_UP, BL_SDISK_WRITE);
	else if (l == BL_SEQ_READ_COLD)
		limit = lower(bn, BL_NET_DOWN, BL_SDISK_READ);
	else
		return -1;
	return got(bn, l) && limit > 0 ? (int)lrint(100 * rate(bn, l) / limit) : -1;
}

void bench_print_text(const struct bench *bn)
{
	struct buf line = BUF_INIT;
	char v[32];

	printf("bramble bench: server %s", bn->server);
	if (bn->mount)
		printf(", mount %s", bn->mount);
	printf(" (%.1f s)\n\n", bn->elapsed);
	for (int i = 0; i < BL_NLAYERS; i++) {
		const struct bench_fig *f = &bn->f[i];
		int pct = pct_of_limit(bn, (enum bench_layer)i);

		if (!f->done) {
			printf("  %-32s %16s   %s\n", layers[i].label,
			       f->failed ? "FAILED" : "-", f->why[0] ? f->why : "not measured");
			continue;
		}
		buf_reset(&line);
		buf_addf(&line, "  %-32s %10s %-5s   ", layers[i].label,
			 bench_num(v, sizeof(v), f->rate), unit_names[layers[i].unit]);
		if (i == BL_RTT)
			buf_addf(&line, "median, p99 %.0f us; ", f->p99_us);
		if (pct >= 0)
			buf_addf(&line, "%d %% of its limit%s", pct, f->note[0] ? "; " : "");
		buf_addf(&line, "%s", f->note);
		while (line.len && line.data[line.len - 1] == ' ')
			line.data[--line.len] = '\0';
		printf("%s\n", line.data);
	}
	buf_release(&line);
	printf("\nverdict:\n");
	for (unsigned int i = 0; i < bn->nverdict; i++)
		printf("  - %s\n", bn->verdict[i]);
}

/* ---- JSON */

static void json_str(FILE *o, const char *s)
{
	fputc('"', o);
	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(o, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(o, "\\u%04x", *p);
		else
			fputc(*p, o);
	}
	fputc('"', o);
}

static void json_layer(FILE *o, const struct bench *bn, enum bench_layer l)
{
	const struct bench_fig *f = &bn->f[l];
	int pct = pct_of_limit(bn, l);

	fprintf(o, "    \"%s\": {\"measured\": %s", layers[l].key, f->done ? "true" : "false");
	if (!f->done) {
		fprintf(o, ", \"failed\": %s, \"why\": ", f->failed ? "true" : "false");
		json_str(o, f->why);
		fputs("}", o);
		return;
	}
	fprintf(o, ", \"value\": %.3f, \"unit\": \"%s\", \"seconds\": %.3f, "
		   "\"bytes\": %llu, \"ops\": %llu", f->rate, unit_names[layers[l].unit],
		f->secs, (unsigned long long)f->bytes, (unsigned long long)f->ops);
	if (l == BL_RTT)
		fprintf(o, ", \"p99_us\": %.3f", f->p99_us);
	if (pct >= 0)
		fprintf(o, ", \"pct_of_limit\": %d", pct);
	fputs(", \"note\": ", o);
	json_str(o, f->note);
	fputs("}", o);
}

void bench_print_json(const struct bench *bn)
{
	FILE *o = stdout;

	fputs("{\n  \"version\": 1,\n  \"server\": ", o);
	json_str(o, bn->server);
	fputs(",\n  \"mount\": ", o);
	if (bn->mount)
		json_str(o, bn->mount);
	else
		fputs("null", o);
	fputs(",\n  \"cache_dir\": ", o);
	if (bn->cache_dir)
		json_str(o, bn->cache_dir);
	else
		fputs("null", o);
	fprintf(o, ",\n  \"elapsed_s\": %.3f,\n  \"quick\": %s,\n  \"layers\": {\n",
		bn->elapsed, bn->quick ? "true" : "false");
	for (int i = 0; i < BL_NLAYERS; i++) {
		json_layer(o, bn, (enum bench_layer)i);
		fputs(i + 1 < BL_NLAYERS ? ",\n" : "\n", o);
	}
	fputs("  },\n  \"bottleneck\": ", o);
	json_str(o, culprit_keys[bn->culprit]);
	fprintf(o, ",\n  \"bottleneck_clear\": %s", bn->culprit_clear ? "true" : "false");
	fputs(",\n  \"verdict\": [", o);
	for (unsigned int i = 0; i < bn->nverdict; i++) {
		fputs(i ? ",\n    " : "\n    ", o);
		json_str(o, bn->verdict[i]);
	}
	fputs(bn->nverdict ? "\n  ]\n}\n" : "]\n}\n", o);
}

/* ---- failures, for the exit status */

unsigned int bench_print_failures(const struct bench *bn)
{
	unsigned int n = 0;

	for (int i = 0; i < BL_NLAYERS; i++) {
		const struct bench_fig *f = &bn->f[i];
		int last = i;

		if (f->done || !f->failed)
			continue;
		/* The layers after it that failed for the same reason. */
		while (last + 1 < BL_NLAYERS && !bn->f[last + 1].done &&
		       bn->f[last + 1].failed && !strcmp(bn->f[last + 1].why, f->why))
			last++;
		if (last == i)
			fprintf(stderr, "bramble bench: could not measure %s: %s\n",
				layers[i].label, f->why);
		else
			fprintf(stderr, "bramble bench: could not measure %s ... %s "
				"(%d layers): %s\n", layers[i].label, layers[last].label,
				last - i + 1, f->why);
		n += (unsigned int)(last - i + 1);
		i = last;
	}
	return n;
}
