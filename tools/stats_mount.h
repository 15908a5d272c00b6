/* stats_mount.h - a bramblefs mount's own counters (the counter lines of
 * its .bramble: rpc.*, conn.*, read.*, cache.*, lease.*, cb.*, record.*)
 * for `bramble stats MOUNT`: read, looked up, printed as a table, JSON,
 * Prometheus text or rates. */
#ifndef BR_TOOLS_STATS_MOUNT_H
#define BR_TOOLS_STATS_MOUNT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MC_KEY_MAX 96

struct mount_counters {
	size_t n, cap;
	struct { char key[MC_KEY_MAX]; uint64_t value; } *kv;
};

/* Read MOUNT/.bramble now.  0 or -errno; release *m either way. */
int mount_counters_read(const char *mount, struct mount_counters *m);
void mount_counters_release(struct mount_counters *m);
/* The value of key, 0 when absent. */
uint64_t mc_get(const struct mount_counters *m, const char *key);

void mount_print_table(const char *mount, const struct mount_counters *m);
/* One JSON object {"path": ..., "counters": {key: value, ...}}, no newline. */
void mount_print_json(const char *mount, const struct mount_counters *m);
void mount_print_prom(const char *mount, const struct mount_counters *m);
void mount_print_rates(const struct mount_counters *a,
		       const struct mount_counters *b, double dt);

#endif
