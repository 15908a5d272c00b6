/* cache.c - the node cache's front (see bramble_cache.h): argument checks,
 * the process counters, listings, and dispatch to the disk mode
 * (cachedisk.c) or the RAM mode (cacheram.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bramble_cache.h"
#include "cache_int.h"
#include "util.h"
#include "xalloc.h"

int64_t cache_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void cache_hex(const unsigned char *hash, char out[2 * BRAMBLE_HASH_LEN + 1])
{
	static const char digits[] = "0123456789abcdef";

	for (int i = 0; i < BRAMBLE_HASH_LEN; i++) {
		out[2 * i] = digits[hash[i] >> 4];
		out[2 * i + 1] = digits[hash[i] & 15];
	}
	out[2 * BRAMBLE_HASH_LEN] = '\0';
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

int cache_unhex(const char *s, unsigned char hash[BRAMBLE_HASH_LEN])
{
	if (strlen(s) != 2 * BRAMBLE_HASH_LEN)
		return -EINVAL;
	for (int i = 0; i < BRAMBLE_HASH_LEN; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		hash[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

void cache_count_hit(struct bramble_cache *c, uint64_t len)
{
	pthread_mutex_lock(&c->mu);
	c->st.hits++;
	c->st.bytes_hit += len;
	pthread_mutex_unlock(&c->mu);
}

void cache_count_miss(struct bramble_cache *c, bool verify_failure)
{
	pthread_mutex_lock(&c->mu);
	c->st.misses++;
	c->st.verify_failures += verify_failure;
	pthread_mutex_unlock(&c->mu);
}

void cache_count_failure(struct bramble_cache *c)
{
	pthread_mutex_lock(&c->mu);
	c->st.verify_failures++;
	pthread_mutex_unlock(&c->mu);
}

void cache_count_put(struct bramble_cache *c, uint64_t len, bool dedup)
{
	pthread_mutex_lock(&c->mu);
	if (dedup) {
		c->st.dedup_puts++;
	} else {
		c->st.puts++;
		c->st.bytes_put += len;
	}
	pthread_mutex_unlock(&c->mu);
}

int bramble_cache_open(const struct bramble_cache_opts *o, struct bramble_cache **out,
		       char *err, size_t errlen)
{
	struct bramble_cache *c;
	int rc;

	if (o->mode != BRAMBLE_CACHE_DISK && o->mode != BRAMBLE_CACHE_RAM) {
		snprintf(err, errlen, "node cache mode %d is neither disk nor ram", o->mode);
		return -EINVAL;
	}
	c = xcalloc(1, sizeof(*c));
	c->mode = o->mode;
	c->dirfd = -1;
	pthread_mutex_init(&c->mu, NULL);
	if (o->mode == BRAMBLE_CACHE_DISK) {
		c->ops = &cachedisk_ops;
		rc = cachedisk_open(c, o, err, errlen);
	} else {
		c->ops = &cacheram_ops;
		rc = cacheram_open(c, o, err, errlen);
	}
	if (rc < 0) {
		bramble_cache_close(c);
		return rc;
	}
	c->st.mode = c->mode;
	c->maps_max = o->maps_max ? o->maps_max : o->mode == BRAMBLE_CACHE_DISK ?
		      BRAMBLE_CACHE_MAPS_MAX : BRAMBLE_CACHE_RAM_MAPS_MAX;
	*out = c;
	return 0;
}

void bramble_cache_close(struct bramble_cache *c)
{
	if (!c)
		return;
	c->ops->close(c);
	cachemap_free(c);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

int bramble_cache_mode(const struct bramble_cache *c)
{
	return c->mode;
}

static const char *const mode_names[] = {
	[BRAMBLE_CACHE_OFF] = "off",
	[BRAMBLE_CACHE_DISK] = "disk",
	[BRAMBLE_CACHE_RAM] = "ram",
};

const char *bramble_cache_mode_name(int mode)
{
	if (mode < 0 || (size_t)mode >= ARRAY_SIZE(mode_names))
		return NULL;
	return mode_names[mode];
}

int bramble_cache_mode_parse(const char *name)
{
	for (size_t i = 0; name && i < ARRAY_SIZE(mode_names); i++)
		if (!strcmp(name, mode_names[i]))
			return (int)i;
	return -EINVAL;
}

uint64_t bramble_cache_quota(const struct bramble_cache *c)
{
	return c->quota;
}

ssize_t bramble_cache_get(struct bramble_cache *c, const unsigned char hash[BRAMBLE_HASH_LEN],
			  void *buf, size_t size)
{
	return c->ops->get(c, hash, buf, size);
}

bool bramble_cache_has(struct bramble_cache *c, const unsigned char hash[BRAMBLE_HASH_LEN])
{
	return c->ops->has(c, hash);
}

static bool owner_ok(const char *owner)
{
	size_t n = owner ? strnlen(owner, BRAMBLE_CACHE_OWNER_MAX + 1) : 0;

	return n >= 1 && n <= BRAMBLE_CACHE_OWNER_MAX;
}

int bramble_cache_put(struct bramble_cache *c, const unsigned char hash[BRAMBLE_HASH_LEN],
		      const void *data, size_t len, const char *pin_owner, int64_t pin_expires)
{
	if ((pin_owner && !owner_ok(pin_owner)) || pin_expires < 0)
		return -EINVAL;
	if (len > c->quota)
		return -EFBIG;
	return c->ops->put(c, hash, data, len, pin_owner, pin_expires);
}

int bramble_cache_pin(struct bramble_cache *c, const unsigned char hash[BRAMBLE_HASH_LEN],
		      const char *owner, int64_t expires)
{
	if (!owner_ok(owner) || expires < 0)
		return -EINVAL;
	return c->ops->pin(c, hash, owner, expires);
}

int bramble_cache_pin_many(struct bramble_cache *c,
			   const unsigned char (*hashes)[BRAMBLE_HASH_LEN], size_t n,
			   const char *owner, int64_t expires, bool *missing)
{
	if (!owner_ok(owner) || expires < 0)
		return -EINVAL;
	if (c->ops->pin_many)
		return c->ops->pin_many(c, hashes, n, owner, expires, missing);
	for (size_t i = 0; i < n; i++) {
		int rc = c->ops->pin(c, hashes[i], owner, expires);

		missing[i] = rc == -ENOENT;
		if (rc < 0 && rc != -ENOENT)
			return rc;
	}
	return 0;
}

int bramble_cache_unpin(struct bramble_cache *c, const char *owner,
			const unsigned char *hash, uint64_t *count)
{
	uint64_t n = 0;
	int rc;

	if (!owner_ok(owner))
		return -EINVAL;
	rc = c->ops->unpin(c, owner, hash, &n);
	if (count)
		*count = n;
	return rc;
}

int bramble_cache_gc(struct bramble_cache *c, int64_t now, uint64_t *expired)
{
	uint64_t n = 0;
	int rc = c->ops->gc(c, now, &n);

	if (expired)
		*expired = n;
	return rc;
}

int bramble_cache_evict(struct bramble_cache *c, uint64_t keep_bytes, uint64_t *freed)
{
	uint64_t n = 0;
	int rc = c->ops->evict(c, keep_bytes, &n);

	if (freed)
		*freed = n;
	return rc;
}

int bramble_cache_verify(struct bramble_cache *c, struct bramble_cache_verify *r)
{
	memset(r, 0, sizeof(*r));
	return c->ops->verify(c, r);
}

void bramble_cache_get_stats(struct bramble_cache *c, struct bramble_cache_stats *s)
{
	pthread_mutex_lock(&c->mu);
	*s = c->st;
	s->mode = c->mode;
	s->quota = c->quota;
	c->ops->index_stats(c, s);
	pthread_mutex_unlock(&c->mu);
}

/* The listings are taken whole under the lock and handed to the callback
 * without it, so the callback may call the cache. */
int bramble_cache_list(struct bramble_cache *c,
		       int (*cb)(void *ctx, const struct bramble_cache_entry *e), void *ctx)
{
	struct bramble_cache_entry *e = NULL;
	size_t n = 0;
	int rc = c->ops->list(c, &e, &n);

	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = cb(ctx, &e[i]);
	free(e);
	return rc;
}

int bramble_cache_list_pins(struct bramble_cache *c,
			    int (*cb)(void *ctx, const struct bramble_cache_pininfo *p),
			    void *ctx)
{
	struct bramble_cache_pininfo *p = NULL;
	size_t n = 0;
	int rc = c->ops->list_pins(c, &p, &n);

	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = cb(ctx, &p[i]);
	for (size_t i = 0; i < n; i++)
		free((char *)p[i].owner);
	free(p);
	return rc;
}
