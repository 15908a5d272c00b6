/* lkrange.c - Linux lock semantics on an array of locks (see lkrange.h).
 *
 * The array is unordered: a file rarely has more than a handful of locks,
 * and every operation is one linear pass (plus one for merging). */
#include <errno.h>
#include <stdlib.h>

#include "lkrange.h"
#include "xalloc.h"

int lkr_range(uint64_t start, uint64_t length, uint64_t *end)
{
	if (length == 0) {
		*end = LKR_EOF;
		return 0;
	}
	if (length - 1 > LKR_EOF - start)
		return -EINVAL;
	*end = start + (length - 1);
	return 0;
}

uint64_t lkr_length(uint64_t start, uint64_t end)
{
	return end == LKR_EOF ? 0 : end - start + 1;
}

bool lkr_same_owner(const struct lkr *a, const struct lkr *b)
{
	return a->client == b->client && a->owner == b->owner && a->kind == b->kind;
}

static bool overlaps(const struct lkr *l, uint64_t start, uint64_t end)
{
	return l->start <= end && start <= l->end;
}

/* Overlapping or adjacent: [0,4] and [5,9] touch. */
static bool touches(const struct lkr *l, uint64_t start, uint64_t end)
{
	return (l->end == LKR_EOF || l->end + 1 >= start) &&
	       (end == LKR_EOF || l->start <= end + 1);
}

static void push(struct lkr_set *s, const struct lkr *l)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 4;
		s->v = xrealloc(s->v, s->cap * sizeof(*s->v));
	}
	s->v[s->n++] = *l;
}

static void remove_at(struct lkr_set *s, size_t i)
{
	s->v[i] = s->v[--s->n];
}

const struct lkr *lkr_conflict(const struct lkr_set *s, const struct lkr *req)
{
	for (size_t i = 0; i < s->n; i++) {
		const struct lkr *l = &s->v[i];

		if (l->kind != req->kind || lkr_same_owner(l, req))
			continue;
		if (l->type != LKR_WRITE && req->type != LKR_WRITE)
			continue;
		if (req->kind == LKR_FLOCK || overlaps(l, req->start, req->end))
			return l;
	}
	return NULL;
}

/* Remove [start, end] from every POSIX lock of who's owner: whole locks
 * inside go, locks across an edge are trimmed, a lock around the range
 * is split in two. */
static void carve(struct lkr_set *s, const struct lkr *who, uint64_t start,
		  uint64_t end)
{
	size_t i = 0;

	while (i < s->n) {
		struct lkr *l = &s->v[i];

		if (!lkr_same_owner(l, who) || !overlaps(l, start, end)) {
			i++;
		} else if (l->start < start && l->end > end) {
			struct lkr right = *l;

			right.start = end + 1;
			l->end = start - 1;
			push(s, &right);    /* l may move: not used after */
			i++;
		} else if (l->start < start) {
			l->end = start - 1;
			i++;
		} else if (l->end > end) {
			l->start = end + 1;
			i++;
		} else {
			remove_at(s, i);    /* the last one moved here: look again */
		}
	}
}

static void apply_posix(struct lkr_set *s, const struct lkr *req)
{
	struct lkr nl = *req;
	size_t i = 0;

	if (req->type == LKR_UNLOCK) {
		carve(s, req, req->start, req->end);
		return;
	}
	/* Absorb the owner's locks of the same type that overlap or touch;
	 * the owner's locks never overlap each other, so one pass does. */
	while (i < s->n) {
		struct lkr *l = &s->v[i];

		if (lkr_same_owner(l, req) && l->type == req->type &&
		    touches(l, nl.start, nl.end)) {
			if (l->start < nl.start)
				nl.start = l->start;
			if (l->end > nl.end)
				nl.end = l->end;
			remove_at(s, i);
		} else {
			i++;
		}
	}
	/* What is left of the owner's inside the new range is of the other
	 * type: the new lock replaces it. */
	carve(s, req, nl.start, nl.end);
	push(s, &nl);
}

void lkr_apply(struct lkr_set *s, const struct lkr *req)
{
	if (req->kind != LKR_FLOCK) {
		apply_posix(s, req);
		return;
	}
	for (size_t i = 0; i < s->n;) {
		if (lkr_same_owner(&s->v[i], req))
			remove_at(s, i);
		else
			i++;
	}
	if (req->type != LKR_UNLOCK) {
		struct lkr nl = *req;

		nl.start = 0;
		nl.end = LKR_EOF;
		push(s, &nl);
	}
}

bool lkr_holds(const struct lkr_set *s, const struct lkr *req)
{
	for (size_t i = 0; i < s->n; i++) {
		const struct lkr *l = &s->v[i];

		if (!lkr_same_owner(l, req) || l->type != req->type)
			continue;
		if (req->kind == LKR_FLOCK ||
		    (l->start <= req->start && l->end >= req->end))
			return true;
	}
	return false;
}

size_t lkr_drop(struct lkr_set *s, uint64_t client, bool all_owners,
		uint64_t owner)
{
	size_t n = 0;

	for (size_t i = 0; i < s->n;) {
		const struct lkr *l = &s->v[i];

		if (l->client == client && (all_owners || l->owner == owner)) {
			remove_at(s, i);
			n++;
		} else {
			i++;
		}
	}
	return n;
}

void lkr_set_release(struct lkr_set *s)
{
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
}
