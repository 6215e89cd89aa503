/*
 * mod_s2s_partners — validation of one partner record (README "Partner record" and "Negotiation
 * matrix") into its compact form (prec.h): the record as a whole (its keys, its domains, its
 * negotiation row); each field's value is parsed in validate_fields.c.
 *
 * Every refusal raises a compile error (s2sp_push_compile_error) whose text is
 * "<partner N (domain)|default partner>: <reason>"; policy.c runs the whole compilation under
 * lua_pcall and turns that into nil, text, detail. Field names and defaults are the schema's
 * (schema.c, README "Partner record"). No Lua table is built for a partner here (pview.c does,
 * on first use): the record's values go into a struct s2sp_prec, its strings into the policy's
 * arena and its domains into the policy's domain table. All three are owned by the policy
 * userdata (freed from __gc), so a refusal half-way through leaks nothing.
 */
#include "validate.h"
#include "validate_record.h"
#include "text.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define NAME(f) (S2SP_FIELDS[f].name)

static const char *prefix_of(struct record *r);

/* Raise "<prefix>: <reason>" about the key `field` (NULL: none), the reason on top. */
static int rec_raise(struct record *r, const char *field)
{
	s2sp_push_compile_error(r->L, prefix_of(r), &r->index, field);
	return lua_error(r->L);
}

int s2sp_rec_error(struct record *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	lua_pushvfstring(r->L, fmt, ap);
	va_end(ap);
	return rec_raise(r, r->field == S2SP_NO_FIELD ? NULL : NAME(r->field));
}

/* rec_error() about the key `field` of the record, whether or not the schema has it. */
static int rec_error_about(struct record *r, const char *field, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	lua_pushvfstring(r->L, fmt, ap);
	va_end(ap);
	return rec_raise(r, field);
}

/* How errors name the record: "partner N (domain)", "partner N" or "default partner". */
static const char *prefix_of(struct record *r)
{
	lua_State *L = r->L;
	char shown[S2SP_ESCAPE_SIZE(S2SP_SHOWN_MAX)];
	const char *s;
	size_t len;

	if (r->has_prefix)
		return r->prefix;
	r->has_prefix = true;
	if (r->index == 0) {
		snprintf(r->prefix, sizeof r->prefix, "default partner");
		return r->prefix;
	}
	lua_pushnil(L);
	if (lua_istable(L, r->rec)) {
		lua_pop(L, 1);
		lua_pushliteral(L, "domain");
		lua_rawget(L, r->rec);
	}
	if (lua_type(L, -1) == LUA_TSTRING) {
		s = lua_tolstring(L, -1, &len);
		s2sp_escape(s, len, S2SP_SHOWN_MAX, shown, sizeof shown);
		snprintf(r->prefix, sizeof r->prefix, "partner %lld (%s)", (long long)r->index,
			 shown);
	} else {
		snprintf(r->prefix, sizeof r->prefix, "partner %lld", (long long)r->index);
	}
	lua_pop(L, 1);
	return r->prefix;
}

/*
 * Refuse fields a record may not have; deterministic whatever the traversal order. Pushes
 * S2SP_F_COUNT slots from r->slots on: the value of each known field (nil when absent), so
 * the parsers read them without a lookup by name each.
 */
static void check_keys(struct record *r)
{
	lua_State *L = r->L;
	const char *unknown = NULL;
	size_t unknown_len = 0;
	lua_Integer entry = 0;
	bool has_entry = false, not_allowed[S2SP_F_COUNT] = { false };
	int other = LUA_TNONE;
	unsigned f;

	r->slots = lua_gettop(L) + 1;
	r->present = 0;
	lua_settop(L, r->slots + S2SP_F_COUNT - 1); /* the slots, nil */
	lua_pushnil(L);
	while (lua_next(L, r->rec) != 0) {
		if (lua_type(L, -2) == LUA_TSTRING) {
			size_t len;
			/* stays valid: the key is held by the table, which does not change */
			const char *k = lua_tolstring(L, -2, &len);

			f = s2sp_field_find(k, len);
			if (f == S2SP_F_COUNT) {
				if (unknown == NULL ||
				    s2sp_key_less(k, len, unknown, unknown_len)) {
					unknown = k;
					unknown_len = len;
				}
			} else {
				lua_copy(L, -1, r->slots + (int)f);
				r->present |= 1u << f;
				if (r->index == 0 &&
				    (f == S2SP_F_DOMAIN || f == S2SP_F_ADDITIONAL_DOMAINS))
					not_allowed[f] = true;
			}
		} else if (lua_isinteger(L, -2)) {
			lua_Integer k = lua_tointeger(L, -2);

			if (!has_entry || k < entry) {
				entry = k;
				has_entry = true;
			}
		} else if (other == LUA_TNONE) {
			other = lua_type(L, -2);
		}
		lua_pop(L, 1);
	}
	for (f = 0; f < S2SP_F_COUNT; f++)
		if (not_allowed[f])
			rec_error_about(r, NAME(f), "field \"%s\" is not allowed", NAME(f));
	if (unknown != NULL) {
		const char *shown = s2sp_push_quoted(L, unknown, unknown_len);

		lua_pushlstring(L, unknown, unknown_len);
		rec_error_about(r, lua_tostring(L, -1), "unknown field %s", shown);
	}
	if (has_entry)
		rec_error(r, "unexpected list entry [%I] (fields are written name = value)",
			  (LUAI_UACINT)entry);
	if (other != LUA_TNONE)
		rec_error(r, "unexpected key of type %s", lua_typename(L, other));
}

/* Give domain[0..len) (of that table hash) to this record's partner, or raise if it is taken. */
static void claim_domain(struct record *r, int list, const char *domain, size_t len,
			 uint32_t hash)
{
	lua_State *L = r->L;
	char shown[S2SP_ESCAPE_SIZE(S2SP_SHOWN_MAX)];
	uint32_t owner = 0;
	const char *raw;
	size_t rawlen;
	int rc;

	rc = s2sp_ptable_insert_hashed(&r->p->domains, hash, domain, len, (uint32_t)r->index,
				       &owner);
	if (rc < 0)
		rec_error(r, "not enough memory");
	if (rc == 0)
		return;
	if (owner == (uint32_t)r->index)
		rec_error(r, "domain \"%s\" is listed twice", domain);
	/* the owner's domain as written: a string, or it would not have been compiled */
	lua_rawgeti(L, list, (lua_Integer)owner);
	lua_pushliteral(L, "domain");
	lua_rawget(L, -2);
	raw = lua_tolstring(L, -1, &rawlen);
	s2sp_escape(raw, rawlen, S2SP_SHOWN_MAX, shown, sizeof shown);
	/* the detail names the owner too, so a caller can tell a conflict from an invalid value */
	lua_pushfstring(L, "domain \"%s\" already belongs to partner %I (%s)", domain,
			(LUAI_UACINT)owner, shown);
	s2sp_push_compile_error(L, prefix_of(r), &r->index,
				r->field == S2SP_NO_FIELD ? NULL : NAME(r->field));
	lua_pushinteger(L, (lua_Integer)owner);
	lua_setfield(L, -2, "owner");
	lua_error(L);
}

static void push_warning(struct record *r, const char *domain, enum s2sp_negotiation tls,
			 enum s2sp_negotiation sasl, bool dialback, const char *message)
{
	lua_State *L = r->L;

	lua_createtable(L, 0, 8);
	if (domain != NULL) {
		lua_pushstring(L, domain);
		lua_setfield(L, -2, "domain");
		lua_pushinteger(L, r->index);
		lua_setfield(L, -2, "index");
	}
	lua_pushstring(L, message);
	lua_setfield(L, -2, "message");
	lua_pushstring(L, s2sp_negotiation_name(tls));
	lua_setfield(L, -2, "tls");
	lua_pushstring(L, s2sp_negotiation_name(sasl));
	lua_setfield(L, -2, "sasl");
	lua_pushboolean(L, dialback);
	lua_setfield(L, -2, "dialback");
	lua_pushfstring(L, "%s: %s", prefix_of(r), message);
	lua_setfield(L, -2, "text");
	luaL_setmetatable(L, S2SP_WARNING_MT);
}


#define PREFETCH_MAX 16 /* domains of a record whose slots are loaded together */

/* Claim the record's domain and additional domains, in that order. */
static void claim_domains(struct record *r, int list, const char *domain)
{
	/* the arena does not move from here on: no more strings are kept for this record */
	const char *first = r->p->strings.data + r->out->adds, *d = first;
	uint32_t hashes[PREFETCH_MAX], i, n = r->out->nadds;
	size_t len = strlen(domain);
	uint32_t hash = s2sp_ptable_hash(domain, len);

	/* start every slot loading, then insert: the cache misses overlap */
	s2sp_ptable_prefetch(&r->p->domains, hash);
	for (i = 0; i < n && i < PREFETCH_MAX; i++) {
		size_t dl = strlen(d);

		hashes[i] = s2sp_ptable_hash(d, dl);
		s2sp_ptable_prefetch(&r->p->domains, hashes[i]);
		d += dl + 1;
	}
	r->field = S2SP_F_DOMAIN;
	claim_domain(r, list, domain, len, hash);
	r->field = S2SP_F_ADDITIONAL_DOMAINS;
	for (i = 0, d = first; i < n; i++) {
		size_t dl = strlen(d);

		claim_domain(r, list, d, dl, i < PREFETCH_MAX ? hashes[i] : s2sp_ptable_hash(d, dl));
		d += dl + 1;
	}
}

void s2sp_compile_record(lua_State *L, struct s2sp_policy *p, lua_Integer index, int rec,
			   int list, int warnings)
{
	struct s2sp_prec *out = &p->recs[index];
	struct record r; /* not zeroed: prefix is a buffer, written on first use */
	char domain[S2SP_DOMAIN_BUFSZ];
	enum s2sp_partner_type type;
	enum s2sp_negotiation tls, sasl;
	struct s2sp_row row;
	struct s2sp_rules rules;
	bool dialback;

	r.L = L;
	r.p = p;
	r.out = out;
	r.rec = rec;
	r.slots = lua_gettop(L) + 1;
	r.present = 0;
	r.index = index;
	r.field = S2SP_NO_FIELD;
	r.has_prefix = false;
	memset(out, 0, sizeof *out);
	if (!lua_istable(L, rec))
		rec_error(&r, "expected a table, got %s", luaL_typename(L, rec));
	check_keys(&r);

	s2sp_parse_fields(&r, domain, &rules);
	type = rules.type;
	tls = rules.tls;
	sasl = rules.sasl;
	dialback = rules.dialback;
	out->type = (uint8_t)type;
	out->tls = (uint8_t)tls;
	out->sasl = (uint8_t)sasl;
	if (dialback)
		out->flags |= S2SP_PREC_DIALBACK;

	row = s2sp_classify(tls, sasl, dialback);
	r.field = S2SP_NO_FIELD; /* about tls, sasl and dialback together */
	if (row.cls == S2SP_INVALID)
		rec_error(&r, "tls = \"%s\", sasl = \"%s\", dialback = %s: %s",
			  s2sp_negotiation_name(tls), s2sp_negotiation_name(sasl),
			  dialback ? "true" : "false", row.message);

	if (index != 0)
		claim_domains(&r, list, domain);
	p->types |= 1u << type;
	if (index != 0) {
		p->n_tls[tls]++;
		p->n_sasl[sasl]++;
		p->n_dialback[dialback ? 1 : 0]++;
	}
	if (row.cls == S2SP_WARNING) {
		push_warning(&r, index != 0 ? domain : NULL, tls, sasl, dialback, row.message);
		lua_rawseti(L, warnings, (lua_Integer)lua_rawlen(L, warnings) + 1);
	}
	lua_settop(L, r.slots - 1);
}
