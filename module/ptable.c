/*
 * mod_s2s_partners — partner table: normalised domain -> partner index.
 *
 * Keys are written by the operator (the configuration), so no seed is needed against
 * collision floods; lookups, which do come from remote servers, cost one hash and a short
 * probe whatever the input.
 */
#define _DEFAULT_SOURCE /* MADV_HUGEPAGE, MAP_ANONYMOUS */
#include "ptable.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define MIN_SLOTS 16
#define HUGE_PAGE ((size_t)2 << 20)

/*
 * Eight octets at a time, each word mixed in by a multiply and a shift, then the murmur3 64-bit
 * finaliser so that linear probing sees well-mixed low bits. About a third of the instructions
 * of a byte-wise FNV-1a for a typical 15-octet name.
 */
static uint32_t hash_key(const char *key, size_t len)
{
	uint64_t h = 0x9e3779b97f4a7c15u ^ (uint64_t)len, w = 0;
	size_t i, n = len;

	while (n > 8) {
		memcpy(&w, key, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdu;
		h ^= h >> 32;
		key += 8;
		n -= 8;
	}
	if (len >= 8) {
		memcpy(&w, key + n - 8, 8); /* the last 8 octets, overlapping the words before */
	} else {
		for (i = 0; i < n; i++)
			w = w << 8 | (unsigned char)key[i];
	}
	h = (h ^ w) * 0xc4ceb9fe1a85ec53u;
	h ^= h >> 29;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdu;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53u;
	h ^= h >> 33;
	return (uint32_t)h;
}

void s2sp_ptable_init(struct s2sp_ptable *t)
{
	memset(t, 0, sizeof *t);
}

static struct s2sp_pslot *probe(const struct s2sp_ptable *t, uint32_t h, const char *key,
				size_t len)
{
	size_t i = h & t->mask;

	for (;;) {
		struct s2sp_pslot *s = &t->slots[i];

		if (s->value == 0)
			return s;
		if (s->hash == h && s->len == len && memcmp(t->arena + s->key, key, len) == 0)
			return s;
		i = (i + 1) & t->mask;
	}
}

/*
 * nslots zeroed slots. Small arrays come from calloc (*mapped = 0); from HUGE_PAGE on, a mapping
 * of whole huge pages, aligned to one, advised for THP (*mapped = its length).
 */
static struct s2sp_pslot *alloc_slots(size_t nslots, size_t *mapped)
{
	size_t bytes = nslots * sizeof(struct s2sp_pslot), len, head;
	char *map, *start;

	*mapped = 0;
	if (bytes < HUGE_PAGE)
		return calloc(nslots, sizeof(struct s2sp_pslot));
	len = (bytes + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
	map = mmap(NULL, len + HUGE_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED)
		return NULL;
	start = (char *)(((uintptr_t)map + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
	head = (size_t)(start - map);
	if (head > 0)
		munmap(map, head);
	if (HUGE_PAGE - head > 0)
		munmap(start + len, HUGE_PAGE - head);
#ifdef MADV_HUGEPAGE
	madvise(start, len, MADV_HUGEPAGE); /* advice only: without THP, 4 KiB pages do */
#endif
	*mapped = len;
	return (struct s2sp_pslot *)(void *)start;
}

static void free_slots(struct s2sp_pslot *slots, size_t mapped)
{
	if (mapped != 0)
		munmap(slots, mapped);
	else
		free(slots);
}

static int rehash(struct s2sp_ptable *t, size_t nslots)
{
	struct s2sp_pslot *old = t->slots, *fresh;
	size_t i, oldn = t->slots != NULL ? t->mask + 1 : 0, old_mapped = t->mapped, mapped;

	fresh = alloc_slots(nslots, &mapped);
	if (fresh == NULL)
		return -1;
	t->slots = fresh;
	t->mapped = mapped;
	t->mask = nslots - 1;
	for (i = 0; i < oldn; i++) {
		if (old[i].value != 0) {
			size_t j = old[i].hash & t->mask;

			while (fresh[j].value != 0)
				j = (j + 1) & t->mask;
			fresh[j] = old[i];
		}
	}
	free_slots(old, old_mapped);
	return 0;
}

int s2sp_ptable_reserve(struct s2sp_ptable *t, size_t n)
{
	size_t nslots = MIN_SLOTS;

	if (n > SIZE_MAX / 4 / sizeof(struct s2sp_pslot))
		return -1;
	while (nslots < 2 * n)
		nslots *= 2;
	if (t->slots != NULL && nslots <= t->mask + 1)
		return 0;
	return rehash(t, nslots);
}

static int arena_append(struct s2sp_ptable *t, const char *key, size_t len, uint32_t *off)
{
	if (len > UINT32_MAX / 2 - t->arena_len) /* offsets and lengths fit a slot's 32 bits */
		return -1;
	if (t->arena == NULL || t->arena_len + len > t->arena_cap) {
		size_t cap = t->arena_cap != 0 ? t->arena_cap : 256;
		char *grown;

		while (cap < t->arena_len + len)
			cap *= 2;
		grown = realloc(t->arena, cap);
		if (grown == NULL)
			return -1;
		t->arena = grown;
		t->arena_cap = cap;
	}
	if (len > 0)
		memcpy(t->arena + t->arena_len, key, len);
	*off = (uint32_t)t->arena_len;
	t->arena_len += len;
	return 0;
}

uint32_t s2sp_ptable_hash(const char *key, size_t len)
{
	return hash_key(key, len);
}

int s2sp_ptable_insert(struct s2sp_ptable *t, const char *key, size_t len, uint32_t value,
		       uint32_t *existing)
{
	return s2sp_ptable_insert_hashed(t, hash_key(key, len), key, len, value, existing);
}

int s2sp_ptable_insert_hashed(struct s2sp_ptable *t, uint32_t h, const char *key, size_t len,
			      uint32_t value, uint32_t *existing)
{
	struct s2sp_pslot *s;
	uint32_t off;

	if (value == 0)
		return -1;
	if (t->slots == NULL || 2 * (t->count + 1) > t->mask + 1) {
		if (s2sp_ptable_reserve(t, t->count + 1) != 0)
			return -1;
	}
	s = probe(t, h, key, len);
	if (s->value != 0) {
		if (existing != NULL)
			*existing = s->value;
		return 1;
	}
	if (arena_append(t, key, len, &off) != 0)
		return -1;
	s->hash = h;
	s->value = value;
	s->key = off;
	s->len = (uint32_t)len;
	t->count++;
	return 0;
}

void s2sp_ptable_prefetch(const struct s2sp_ptable *t, uint32_t hash)
{
#if defined(__GNUC__)
	if (t->slots != NULL)
		__builtin_prefetch(&t->slots[hash & t->mask], 1);
#else
	(void)t;
	(void)hash;
#endif
}

uint32_t s2sp_ptable_get(const struct s2sp_ptable *t, const char *key, size_t len)
{
	if (t->slots == NULL)
		return 0;
	return probe(t, hash_key(key, len), key, len)->value;
}

void s2sp_ptable_free(struct s2sp_ptable *t)
{
	if (t->slots != NULL)
		free_slots(t->slots, t->mapped);
	free(t->arena);
	s2sp_ptable_init(t);
}
