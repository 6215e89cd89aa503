/*
 * mod_s2s_partners — partner table: normalised domain -> partner index.
 *
 * An open-addressing hash table (linear probing, load factor at most 1/2) whose keys live in
 * one string arena. Pure C, no Lua: usable from fuzz targets. The Lua policy object owns one
 * and frees it from __gc. A slot array of 2 MiB or more is a mapping of its own, aligned and
 * advised for transparent huge pages (MADV_HUGEPAGE): lookups in a big table would otherwise
 * miss the TLB on most probes.
 */
#ifndef S2SP_PTABLE_H
#define S2SP_PTABLE_H

#include <stddef.h>
#include <stdint.h>

struct s2sp_pslot {
	uint32_t hash;
	uint32_t value; /* 0: empty slot */
	uint32_t key;   /* offset of the key in the arena (kept below 4 GiB) */
	uint32_t len;
};

struct s2sp_ptable {
	struct s2sp_pslot *slots;
	size_t mapped; /* bytes of the slots' own mapping (huge pages), or 0 when from calloc */
	size_t mask;  /* slot count - 1; the slot count is a power of two */
	size_t count; /* keys held */
	char *arena;  /* keys, back to back */
	size_t arena_len;
	size_t arena_cap;
};

/* An empty table that holds nothing and owns nothing. */
void s2sp_ptable_init(struct s2sp_ptable *t);

/* Make room for n keys in all without rehashing. 0 on success, -1 when out of memory. */
int s2sp_ptable_reserve(struct s2sp_ptable *t, size_t n);

/*
 * Map key[0..len) to value (1..UINT32_MAX). Returns 0 when inserted, 1 when the key was
 * already there (its value goes to *existing, when not NULL; nothing changes), -1 when out of
 * memory or value is 0.
 */
int s2sp_ptable_insert(struct s2sp_ptable *t, const char *key, size_t len, uint32_t value,
		       uint32_t *existing);

/* The hash of key[0..len) the table uses, for the two calls below. */
uint32_t s2sp_ptable_hash(const char *key, size_t len);

/*
 * Start loading the slot where the key of that hash would go into the cache, for an insert or
 * get a little later: a big table misses the cache on nearly every probe, and several loads in
 * flight at once cost little more than one. A hint; does nothing else.
 */
void s2sp_ptable_prefetch(const struct s2sp_ptable *t, uint32_t hash);

/* s2sp_ptable_insert() with hash = s2sp_ptable_hash(key, len), computed by the caller. */
int s2sp_ptable_insert_hashed(struct s2sp_ptable *t, uint32_t hash, const char *key, size_t len,
			      uint32_t value, uint32_t *existing);

/* The value of key[0..len), or 0 when absent. */
uint32_t s2sp_ptable_get(const struct s2sp_ptable *t, const char *key, size_t len);

/* Free everything the table owns and make it empty again; safe to call twice. */
void s2sp_ptable_free(struct s2sp_ptable *t);

#endif
