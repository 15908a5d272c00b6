/* hashtab.h - the one hash table of the tree: intrusive, chained, growing.
 *
 * The caller embeds a struct hashtab_node in its own entry and hashes its
 * own key (hash_bytes, hash_u64); the table only chains nodes by hash, so
 * an entry can sit in several tables (and on LRU lists) at once, and
 * finding, inserting and removing allocate nothing but buckets.  The table
 * doubles its buckets when it holds more entries than buckets (so chains
 * stay about one long) and never shrinks.
 *
 * Not thread-safe: callers lock around it as they do around the entries.
 *
 *   struct ent { struct hashtab_node hn; uint64_t ino; ... };
 *   static bool ent_is(const struct hashtab_node *n, const void *key)
 *   { return HASHTAB_ENTRY(n, struct ent, hn)->ino == *(const uint64_t *)key; }
 *   ...
 *   hashtab_insert(&t, &e->hn, hash_u64(e->ino));
 *   n = hashtab_find(&t, hash_u64(ino), ent_is, &ino);
 */
#ifndef BR_HASHTAB_H
#define BR_HASHTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hashtab_node {
	struct hashtab_node *next;      /* private: the bucket's chain */
	uint64_t hash;                  /* private: as inserted */
};

struct hashtab {
	struct hashtab_node **buckets;
	size_t nbuckets;                /* a power of two */
	size_t count;                   /* entries held */
};

/* The entry a node is embedded in. */
#define HASHTAB_ENTRY(node, type, member) \
	((type *)(void *)((char *)(node) - offsetof(type, member)))

/* An empty table with at least min_buckets buckets (rounded up to a power
 * of two; 0: 16).  Exits (xalloc) when memory runs out. */
void hashtab_init(struct hashtab *t, size_t min_buckets);
/* Frees the buckets; the entries are the caller's (free them first, e.g.
 * with hashtab_foreach). */
void hashtab_release(struct hashtab *t);

void hashtab_insert(struct hashtab *t, struct hashtab_node *n, uint64_t hash);
/* n must be in t. */
void hashtab_remove(struct hashtab *t, struct hashtab_node *n);

/* The first node with this hash for which is(node, key) holds, or NULL. */
struct hashtab_node *hashtab_find(const struct hashtab *t, uint64_t hash,
				  bool (*is)(const struct hashtab_node *n, const void *key),
				  const void *key);

/* Every node, in no order; fn may remove (and free) the node it is given
 * but no other.  Stops early, returning fn's value, when fn returns
 * nonzero; else 0. */
int hashtab_foreach(struct hashtab *t,
		    int (*fn)(struct hashtab_node *n, void *arg), void *arg);

/* hashtab_foreach over buckets [first, first + n) only, for a walk done in
 * batches with the lock dropped between them (fn's value is ignored).  A
 * table that grew between batches is walked on in its new layout, so a
 * node may then be seen twice or missed: for sweeps that come round
 * again.  False when first is past the last bucket (the walk is over). */
bool hashtab_foreach_range(struct hashtab *t, size_t first, size_t n,
			   int (*fn)(struct hashtab_node *n, void *arg), void *arg);

/* Hashes for keys (64-bit xxh3: well mixed in every bit, so the table can
 * take the low bits). */
uint64_t hash_bytes(const void *p, size_t len);
uint64_t hash_u64(uint64_t v);

#endif
