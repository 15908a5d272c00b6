/* stats_mount.c - the mount's own counters for `bramble stats MOUNT`:
 * read from the counter lines of its control file .bramble (bramble_ctl.h
 * names their groups), shown beside the server's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bramble_ctl.h"
#include "buf.h"
#include "json.h"
#include "stats_mount.h"
#include "xalloc.h"

/* Counter lines have a group's prefix; the rest are settings. */
static bool is_counter(const char *key)
{
	for (const char *const *p = bramble_ctl_prefixes; *p; p++)
		if (!strncmp(key, *p, strlen(*p)))
			return true;
	return false;
}

/* One "key=value" line into m when it is a counter. */
static void parse_line(char *line, struct mount_counters *m)
{
	char *eq = strchr(line, '='), *end;
	unsigned long long v;

	if (!eq || eq - line >= MC_KEY_MAX)
		return;
	*eq = '\0';
	if (!is_counter(line))
		return;
	v = strtoull(eq + 1, &end, 10);
	if (end == eq + 1 || *end)
		return;
	if (m->n == m->cap) {
		m->cap = m->cap ? 2 * m->cap : 64;
		m->kv = xrealloc(m->kv, m->cap * sizeof(*m->kv));
	}
	snprintf(m->kv[m->n].key, MC_KEY_MAX, "%s", line);
	m->kv[m->n++].value = v;
}

int mount_counters_read(const char *mount, struct mount_counters *m)
{
	struct buf text = BUF_INIT;
	char *line, *save = NULL;
	int rc;

	memset(m, 0, sizeof(*m));
	rc = bramble_ctl_read(mount, &text);
	buf_add(&text, "", 1);
	for (line = strtok_r(text.data, "\n", &save); line && rc == 0;
	     line = strtok_r(NULL, "\n", &save))
		parse_line(line, m);
	buf_release(&text);
	return rc;
}

void mount_counters_release(struct mount_counters *m)
{
	free(m->kv);
	memset(m, 0, sizeof(*m));
}

uint64_t mc_get(const struct mount_counters *m, const char *key)
{
	for (size_t i = 0; i < m->n; i++)
		if (!strcmp(m->kv[i].key, key))
			return m->kv[i].value;
	return 0;
}

static double ratio(uint64_t part, uint64_t whole)
{
	return whole ? 100.0 * (double)part / (double)whole : 0;
}

/* ---- table */

/* "rpc.NAME.calls" -> NAME (into buf), or NULL for other keys. */
static const char *rpc_name(const char *key, char *buf, size_t len)
{
	size_t plen = strlen(BRAMBLE_CTL_PREFIX_RPC);
	const char *dot;

	if (strncmp(key, BRAMBLE_CTL_PREFIX_RPC, plen))
		return NULL;
	dot = strrchr(key, '.');
	if (dot == key + plen - 1 || strcmp(dot, ".calls"))
		return NULL;
	snprintf(buf, len, "%.*s", (int)(dot - key - plen), key + plen);
	return buf;
}

static uint64_t rpc_field(const struct mount_counters *m, const char *proc,
			  const char *field)
{
	char key[MC_KEY_MAX + 16];

	snprintf(key, sizeof(key), BRAMBLE_CTL_PREFIX_RPC "%s.%s", proc, field);
	return mc_get(m, key);
}

void mount_print_table(const char *mount, const struct mount_counters *m)
{
	uint64_t srv = mc_get(m, BRAMBLE_CTL_PREFIX_READ "bytes_from_server");
	uint64_t cache = mc_get(m, BRAMBLE_CTL_PREFIX_READ "bytes_from_cache");
	char name[MC_KEY_MAX];

	printf("\nmount %s\n", mount);
	printf("%-12s %10s %8s %10s\n", "call", "calls", "errors", "avg us");
	for (size_t i = 0; i < m->n; i++) {
		uint64_t calls = m->kv[i].value;

		if (!rpc_name(m->kv[i].key, name, sizeof(name)) || !calls)
			continue;
		printf("%-12s %10llu %8llu %10.0f\n", name, (unsigned long long)calls,
		       (unsigned long long)rpc_field(m, name, "errors"),
		       (double)rpc_field(m, name, "us") / (double)calls);
	}
	printf("reads: %.2f MB, chunks from the server %.2f MB, from the node cache "
	       "%.2f MB (%.1f %% of chunk bytes), RAM front hits %llu\n",
	       (double)mc_get(m, BRAMBLE_CTL_PREFIX_READ "bytes_read") / 1e6, (double)srv / 1e6,
	       (double)cache / 1e6, ratio(cache, cache + srv),
	       (unsigned long long)mc_get(m, BRAMBLE_CTL_PREFIX_READ "front_hits"));
	if (mc_get(m, BRAMBLE_CTL_PREFIX_READ "zstd_fetches"))
		printf("chunk wire: %.2f MB received for %.2f MB of chunks (%.1f %%), "
		       "%llu chunks zstd-compressed\n",
		       (double)mc_get(m, BRAMBLE_CTL_PREFIX_READ "wire_from_server") / 1e6,
		       (double)srv / 1e6,
		       ratio(mc_get(m, BRAMBLE_CTL_PREFIX_READ "wire_from_server"), srv),
		       (unsigned long long)mc_get(m, BRAMBLE_CTL_PREFIX_READ "zstd_fetches"));
	printf("node cache: %.2f of %.2f MB used, %llu chunks (%llu pinned); this "
	       "mount: %llu hits, %llu misses, %llu evictions, %llu verify failures\n",
	       (double)mc_get(m, BRAMBLE_CTL_PREFIX_CACHE "used") / 1e6,
	       (double)mc_get(m, BRAMBLE_CTL_PREFIX_CACHE "quota") / 1e6,
	       (unsigned long long)mc_get(m, BRAMBLE_CTL_PREFIX_CACHE "chunks"),
	       (unsigned long long)mc_get(m, BRAMBLE_CTL_PREFIX_CACHE "pinned_chunks"),
	       (unsigned long long)mc_get(m, BRAMBLE_CTL_PREFIX_CACHE "hits"),
	       (unsigned long long)mc_get(m, BRAMBLE_CTL_PREFIX_CACHE "misses"),
	       (unsigned long long)mc_get(m, BRAMBLE_CTL_PREFIX_CACHE "evictions"),
	       (unsigned long long)mc_get(m, BRAMBLE_CTL_PREFIX_CACHE "verify_failures"));
	printf("answered without the server: %llu getattr, %llu lookup, %llu open\n",
	       (unsigned long long)mc_get(m, BRAMBLE_CTL_PREFIX_LEASE "getattr_saved"),
	       (unsigned long long)mc_get(m, BRAMBLE_CTL_PREFIX_LEASE "lookup_saved"),
	       (unsigned long long)mc_get(m, BRAMBLE_CTL_PREFIX_LEASE "open_saved"));
	printf("write-behind: %llu writes, %llu merged, %llu requests sent\n",
	       (unsigned long long)mc_get(m, BRAMBLE_CTL_PREFIX_WB "writes"),
	       (unsigned long long)mc_get(m, BRAMBLE_CTL_PREFIX_WB "merged"),
	       (unsigned long long)mc_get(m, BRAMBLE_CTL_PREFIX_WB "requests"));
}

/* ---- JSON: every counter under its own key */

void mount_print_json(const char *mount, const struct mount_counters *m)
{
	fputs("{\"path\": ", stdout);
	json_str(mount);
	fputs(", \"counters\": {", stdout);
	for (size_t i = 0; i < m->n; i++) {
		printf("%s", i ? ", " : "");
		json_str(m->kv[i].key);
		printf(": %llu", (unsigned long long)m->kv[i].value);
	}
	fputs("}}", stdout);
}

/* ---- Prometheus: bramble_mount_rpc_{calls,errors,us}_total{proc=} and
 * bramble_mount_<prefix>_<name>{} for the rest, labelled by mount. */

static void prom_name(const char *key, char *out, size_t len)
{
	size_t j = 0;

	for (const char *p = key; *p && j + 1 < len; p++)
		out[j++] = (*p == '.' || *p == '-') ? '_' : *p;
	out[j] = '\0';
}

void mount_print_prom(const char *mount, const struct mount_counters *m)
{
	static const char *const fields[] = { "calls", "errors", "us" };
	char name[MC_KEY_MAX], metric[2 * MC_KEY_MAX];

	for (size_t f = 0; f < 3; f++) {
		printf("# HELP bramble_mount_rpc_%s_total libbramble calls of this mount "
		       "by procedure (%s)\n", fields[f], fields[f]);
		printf("# TYPE bramble_mount_rpc_%s_total counter\n", fields[f]);
		for (size_t i = 0; i < m->n; i++) {
			if (!rpc_name(m->kv[i].key, name, sizeof(name)))
				continue;
			printf("bramble_mount_rpc_%s_total{mount=", fields[f]);
			json_str(mount);  /* a JSON string is a valid label value */
			printf(",proc=\"%s\"} %llu\n", name,
			       (unsigned long long)rpc_field(m, name, fields[f]));
		}
	}
	for (size_t i = 0; i < m->n; i++) {
		if (!strncmp(m->kv[i].key, BRAMBLE_CTL_PREFIX_RPC, strlen(BRAMBLE_CTL_PREFIX_RPC)))
			continue;
		prom_name(m->kv[i].key, name, sizeof(name));
		snprintf(metric, sizeof(metric), "bramble_mount_%s", name);
		printf("# TYPE %s untyped\n%s{mount=", metric, metric);
		json_str(mount);
		printf("} %llu\n", (unsigned long long)m->kv[i].value);
	}
}

/* ---- rates between two readings dt seconds apart */

void mount_print_rates(const struct mount_counters *a,
		       const struct mount_counters *b, double dt)
{
	char name[MC_KEY_MAX];
	uint64_t srv = mc_get(b, BRAMBLE_CTL_PREFIX_READ "bytes_from_server") -
		       mc_get(a, BRAMBLE_CTL_PREFIX_READ "bytes_from_server");
	uint64_t cache = mc_get(b, BRAMBLE_CTL_PREFIX_READ "bytes_from_cache") -
			 mc_get(a, BRAMBLE_CTL_PREFIX_READ "bytes_from_cache");
	uint64_t read = mc_get(b, BRAMBLE_CTL_PREFIX_READ "bytes_read") -
			mc_get(a, BRAMBLE_CTL_PREFIX_READ "bytes_read");

	for (size_t i = 0; i < b->n; i++) {
		uint64_t n;

		if (!rpc_name(b->kv[i].key, name, sizeof(name)))
			continue;
		n = b->kv[i].value - mc_get(a, b->kv[i].key);
		if (n)
			printf("          mount %-12s %10.1f /s %10.0f us avg\n", name,
			       (double)n / dt,
			       (double)(rpc_field(b, name, "us") - rpc_field(a, name, "us")) /
				       (double)n);
	}
	printf("          mount reads %.2f MB/s: %.2f MB/s from the server, %.2f MB/s "
	       "from the node cache (%.0f %% of chunk bytes)\n", (double)read / 1e6 / dt,
	       (double)srv / 1e6 / dt, (double)cache / 1e6 / dt, ratio(cache, cache + srv));
}
