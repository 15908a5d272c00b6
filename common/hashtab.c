/* hashtab.c - the one hash table of the tree (hashtab.h). */
#include <stdlib.h>
#include <xxhash.h>

#include "hashtab.h"
#include "xalloc.h"

#define DEFAULT_BUCKETS 16

static size_t slot(const struct hashtab *t, uint64_t hash)
{
	return (size_t)hash & (t->nbuckets - 1);
}

void hashtab_init(struct hashtab *t, size_t min_buckets)
{
	size_t n = DEFAULT_BUCKETS;

	if (min_buckets) {
		for (n = 1; n < min_buckets; n *= 2)
			;
	}
	t->buckets = xcalloc(n, sizeof(*t->buckets));
	t->nbuckets = n;
	t->count = 0;
}

void hashtab_release(struct hashtab *t)
{
	free(t->buckets);
	t->buckets = NULL;
	t->nbuckets = 0;
	t->count = 0;
}

/* Twice the buckets, the nodes relinked by the hash they were inserted
 * with: keys are never looked at again. */
static void grow(struct hashtab *t)
{
	struct hashtab_node **old = t->buckets;
	size_t oldn = t->nbuckets;

	t->nbuckets = oldn * 2;
	t->buckets = xcalloc(t->nbuckets, sizeof(*t->buckets));
	for (size_t i = 0; i < oldn; i++) {
		struct hashtab_node *n = old[i], *next;

		for (; n; n = next) {
			struct hashtab_node **head = &t->buckets[slot(t, n->hash)];

			next = n->next;
			n->next = *head;
			*head = n;
		}
	}
	free(old);
}

void hashtab_insert(struct hashtab *t, struct hashtab_node *n, uint64_t hash)
{
	struct hashtab_node **head = &t->buckets[slot(t, hash)];

	n->hash = hash;
	n->next = *head;
	*head = n;
	if (++t->count > t->nbuckets)
		grow(t);
}

void hashtab_remove(struct hashtab *t, struct hashtab_node *n)
{
	struct hashtab_node **pp = &t->buckets[slot(t, n->hash)];

	while (*pp != n)
		pp = &(*pp)->next;
	*pp = n->next;
	n->next = NULL;
	t->count--;
}

struct hashtab_node *hashtab_find(const struct hashtab *t, uint64_t hash,
				  bool (*is)(const struct hashtab_node *n, const void *key),
				  const void *key)
{
	struct hashtab_node *n = t->buckets[slot(t, hash)];

	for (; n; n = n->next)
		if (n->hash == hash && is(n, key))
			return n;
	return NULL;
}

int hashtab_foreach(struct hashtab *t,
		    int (*fn)(struct hashtab_node *n, void *arg), void *arg)
{
	for (size_t i = 0; i < t->nbuckets; i++) {
		struct hashtab_node *n = t->buckets[i], *next;

		/* next is read first: fn may unlink and free n. */
		for (; n; n = next) {
			int rc;

			next = n->next;
			rc = fn(n, arg);
			if (rc)
				return rc;
		}
	}
	return 0;
}

bool hashtab_foreach_range(struct hashtab *t, size_t first, size_t n,
			   int (*fn)(struct hashtab_node *n, void *arg), void *arg)
{
	if (first >= t->nbuckets)
		return false;
	for (size_t i = first; i < t->nbuckets && i - first < n; i++) {
		struct hashtab_node *node = t->buckets[i], *next;

		for (; node; node = next) {
			next = node->next;
			fn(node, arg);
		}
	}
	return true;
}

uint64_t hash_bytes(const void *p, size_t len)
{
	return XXH3_64bits(p, len);
}

uint64_t hash_u64(uint64_t v)
{
	return XXH3_64bits(&v, sizeof(v));
}
