/*
 * mod_s2s_partners — validation of one partner record (README "Partner record" and "Negotiation
 * matrix") into its compact form (prec.h).
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
#include "idna.h"
#include "matrix.h"
#include "record.h"
#include "schema.h"
#include "text.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define SHOWN_MAX   100 /* octets of a config value quoted in a message */
#define PREFIX_SIZE (S2SP_ESCAPE_SIZE(SHOWN_MAX) + 48)

#define EXPECT_PIN "a SHA-256 fingerprint (64 hex digits, colons allowed between pairs)"
#define NO_FIELD   S2SP_F_COUNT
#define NAME(f)    (S2SP_FIELDS[f].name)

/* One record being compiled: where it is on the stack and how errors name it. */
struct record {
	lua_State *L;
	struct s2sp_policy *p;
	struct s2sp_prec *out; /* the compact record being filled in */
	int rec;               /* absolute index of the record table */
	int slots;             /* absolute index of the first of S2SP_F_COUNT field values */
	unsigned present;      /* bit 1 << f for each field f the record has */
	lua_Integer index;     /* 1-based position in the list; 0 for the default partner */
	enum s2sp_field field; /* the field being checked, which errors are about; or NO_FIELD */
	bool has_prefix;       /* prefix is made on first use: only errors and warnings need it */
	char prefix[PREFIX_SIZE];
};

static const char *prefix_of(struct record *r);

void s2sp_push_compile_error(lua_State *L, const char *prefix, const lua_Integer *index,
			     const char *field)
{
	int reason = lua_gettop(L);

	lua_createtable(L, 0, 4);
	if (prefix != NULL)
		lua_pushfstring(L, "%s: %s", prefix, lua_tostring(L, reason));
	else
		lua_pushvalue(L, reason);
	lua_setfield(L, -2, "text");
	lua_pushvalue(L, reason);
	lua_setfield(L, -2, "message");
	if (index != NULL) {
		lua_pushinteger(L, *index);
		lua_setfield(L, -2, "index");
	}
	if (field != NULL) {
		lua_pushstring(L, field);
		lua_setfield(L, -2, "field");
	}
	lua_remove(L, reason);
}

/* Raise "<prefix>: <reason>" about the key `field` (NULL: none), the reason on top. */
static int rec_raise(struct record *r, const char *field)
{
	s2sp_push_compile_error(r->L, prefix_of(r), &r->index, field);
	return lua_error(r->L);
}

/* Raise "<prefix>: <message>" about r->field; the message uses lua_pushfstring's format. */
static int rec_error(struct record *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	lua_pushvfstring(r->L, fmt, ap);
	va_end(ap);
	return rec_raise(r, r->field == NO_FIELD ? NULL : NAME(r->field));
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

/* Push a quoted, escaped copy of the string s[0..len) and return it. */
static const char *push_quoted(lua_State *L, const char *s, size_t len)
{
	char shown[S2SP_ESCAPE_SIZE(SHOWN_MAX)];

	s2sp_escape(s, len, SHOWN_MAX, shown, sizeof shown);
	return lua_pushfstring(L, "\"%s\"", shown);
}

/* Push and return how a refused value is shown: a string quoted, a number as is, else its type. */
static const char *describe(lua_State *L, int idx)
{
	size_t len;
	const char *s;

	switch (lua_type(L, idx)) {
	case LUA_TSTRING:
		s = lua_tolstring(L, idx, &len);
		return push_quoted(L, s, len);
	case LUA_TNUMBER:
		if (lua_isinteger(L, idx))
			return lua_pushfstring(L, "%I", (LUAI_UACINT)lua_tointeger(L, idx));
		return lua_pushfstring(L, "%f", (LUAI_UACNUMBER)lua_tonumber(L, idx));
	default:
		return lua_pushstring(L, luaL_typename(L, idx));
	}
}

/* Order of two strings that may hold NULs. */
static bool less(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	return c < 0 || (c == 0 && alen < blen);
}

const char *s2sp_list_problem(lua_State *L, int idx, lua_Integer *n, lua_Integer *hole)
{
	lua_Integer count = 0, max = 0, bad_int = 0;
	const char *key = NULL;
	size_t keylen = 0;
	int other = LUA_TNONE;
	bool has_bad_int = false;

	lua_pushnil(L);
	while (lua_next(L, idx) != 0) {
		lua_pop(L, 1);
		if (lua_isinteger(L, -1)) {
			lua_Integer k = lua_tointeger(L, -1);

			if (k >= 1) {
				count++;
				if (k > max)
					max = k;
			} else if (!has_bad_int || k < bad_int) {
				bad_int = k;
				has_bad_int = true;
			}
		} else if (lua_type(L, -1) == LUA_TSTRING) {
			size_t len;
			/* stays valid: the key is held by the table, which does not change */
			const char *k = lua_tolstring(L, -1, &len);

			if (key == NULL || less(k, len, key, keylen)) {
				key = k;
				keylen = len;
			}
		} else if (other == LUA_TNONE) {
			other = lua_type(L, -1);
		}
	}
	if (key != NULL) {
		push_quoted(L, key, keylen);
		lua_pushfstring(L, "a table with field %s", lua_tostring(L, -1));
		lua_remove(L, -2);
		return lua_tostring(L, -1);
	}
	if (has_bad_int)
		return lua_pushfstring(L, "a table with key %I", (LUAI_UACINT)bad_int);
	if (other != LUA_TNONE)
		return lua_pushfstring(L, "a table with a key of type %s", lua_typename(L, other));
	if (max != count) {
		if (hole != NULL) {
			/* the first one: at most one past the number of entries */
			for (*hole = 1; lua_rawgeti(L, idx, *hole) != LUA_TNIL; (*hole)++)
				lua_pop(L, 1);
			lua_pop(L, 1);
		}
		return lua_pushliteral(L, "a table with holes");
	}
	*n = count;
	return NULL;
}

/* Whether the record lacks field f (pushes nothing); errors from now on are about f. */
static bool absent(struct record *r, enum s2sp_field f)
{
	r->field = f;
	return (r->present & (1u << f)) == 0;
}

/* The stack index of the record's field f (gathered by check_keys; nil when absent), pushing
 * nothing; errors from now on are about f. */
static int slot(struct record *r, enum s2sp_field f)
{
	r->field = f;
	return r->slots + (int)f;
}

/* Push the record's field f (raw access, gathered by check_keys) and return its type; errors
 * from now on are about f. */
static int get_field(struct record *r, enum s2sp_field f)
{
	r->field = f;
	lua_pushvalue(r->L, r->slots + (int)f);
	return lua_type(r->L, -1);
}

/* How errors name the record: "partner N (domain)", "partner N" or "default partner". */
static const char *prefix_of(struct record *r)
{
	lua_State *L = r->L;
	char shown[S2SP_ESCAPE_SIZE(SHOWN_MAX)];
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
		s2sp_escape(s, len, SHOWN_MAX, shown, sizeof shown);
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
				if (unknown == NULL || less(k, len, unknown, unknown_len)) {
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
		const char *shown = push_quoted(L, unknown, unknown_len);

		lua_pushlstring(L, unknown, unknown_len);
		rec_error_about(r, lua_tostring(L, -1), "unknown field %s", shown);
	}
	if (has_entry)
		rec_error(r, "unexpected list entry [%I] (fields are written name = value)",
			  (LUAI_UACINT)entry);
	if (other != LUA_TNONE)
		rec_error(r, "unexpected key of type %s", lua_typename(L, other));
}

/* Copy s[0..len) (and a NUL when nul) to the policy's strings; its offset. */
static uint32_t keep(struct record *r, const char *s, size_t len, int nul)
{
	uint32_t off = 0;

	if (s2sp_arena_append(&r->p->strings, s, len, nul, &off) != 0)
		rec_error(r, "not enough memory");
	return off;
}

/* Normalise the string at stack index idx into out, or raise "<what>: <reason>" ("<what>:
 * entry N: <reason>" for entry N > 0 of a list). */
static size_t normalize_at(struct record *r, int idx, char out[S2SP_DOMAIN_BUFSZ],
			   const char *what, lua_Integer entry)
{
	char err[S2SP_ERRBUFSZ];
	const char *s;
	size_t len;
	int n;

	s = lua_tolstring(r->L, idx, &len);
	n = s2sp_normalize(s, len, out, S2SP_DOMAIN_BUFSZ, err, sizeof err);
	if (n < 0 && entry > 0)
		rec_error(r, "%s: entry %I: %s", what, (LUAI_UACINT)entry, err);
	if (n < 0)
		rec_error(r, "%s: %s", what, err);
	return (size_t)n;
}

static size_t parse_domain(struct record *r, char out[S2SP_DOMAIN_BUFSZ])
{
	size_t n;
	int v;

	if (absent(r, S2SP_F_DOMAIN))
		rec_error(r, "field \"domain\" is required");
	v = slot(r, S2SP_F_DOMAIN);
	if (lua_type(r->L, v) != LUA_TSTRING)
		rec_error(r, "field \"domain\": expected string, got %s", luaL_typename(r->L, v));
	n = normalize_at(r, v, out, "field \"domain\"", 0);
	r->out->domain = keep(r, out, n, 1);
	return n;
}

static void parse_description(struct record *r)
{
	int t;

	if (absent(r, S2SP_F_DESCRIPTION))
		return;
	t = get_field(r, S2SP_F_DESCRIPTION);

	if (t == LUA_TSTRING) {
		size_t len;
		const char *s = lua_tolstring(r->L, -1, &len);

		r->out->description = keep(r, s, len, 0);
		r->out->description_len = (uint32_t)len;
	} else if (t != LUA_TNIL) {
		rec_error(r, "field \"description\": expected string, got %s",
			  luaL_typename(r->L, -1));
	}
	lua_pop(r->L, 1);
}

/*
 * One traversal of the list at src: when its entries come as 1, 2, ... n and nothing else
 * (a list in its table's array part), all strings that normalise, keep them and return true.
 * Anything else returns false, raising nothing: the caller then takes the slow path, which
 * finds what is wrong in the order refusals are made (shape of the list, then entry by entry).
 */
static bool keep_list_fast(struct record *r, int src)
{
	lua_State *L = r->L;
	char name[S2SP_DOMAIN_BUFSZ];
	lua_Integer n = 0;
	bool ok = true;

	lua_pushnil(L);
	while (lua_next(L, src) != 0) {
		if (ok && lua_isinteger(L, -2) && lua_tointeger(L, -2) == n + 1 &&
		    lua_type(L, -1) == LUA_TSTRING && n + 1 < UINT32_MAX) {
			size_t len;
			const char *s = lua_tolstring(L, -1, &len);
			int m = s2sp_normalize(s, len, name, sizeof name, NULL, 0);

			if (m >= 0) {
				uint32_t off = keep(r, name, (size_t)m, 1);

				if (++n == 1)
					r->out->adds = off;
			} else {
				ok = false;
			}
		} else {
			ok = false;
		}
		lua_pop(L, 1);
	}
	r->out->nadds = (uint32_t)n;
	return ok;
}

/* Keep the normalised additional domains, back to back (the default partner has none). */
static void parse_additional_domains(struct record *r)
{
	lua_State *L = r->L;
	char name[S2SP_DOMAIN_BUFSZ];
	lua_Integer i, n = 0;
	const char *problem;
	int src;

	if (r->index == 0 || absent(r, S2SP_F_ADDITIONAL_DOMAINS))
		return;
	src = slot(r, S2SP_F_ADDITIONAL_DOMAINS);
	if (!lua_istable(L, src))
		rec_error(r, "field \"additional_domains\": expected a list of domain names, got %s",
			  luaL_typename(L, src));
	if (keep_list_fast(r, src))
		return;
	/* something is wrong: find it as a refusal names it (what was kept is left unused) */
	problem = s2sp_list_problem(L, src, &n, NULL);
	if (problem != NULL)
		rec_error(r, "field \"additional_domains\": expected a list of domain names, got %s",
			  problem);
	if (n >= UINT32_MAX)
		rec_error(r, "not enough memory");
	for (i = 1; i <= n; i++) {
		size_t len;
		uint32_t off;

		if (lua_rawgeti(L, src, i) != LUA_TSTRING)
			rec_error(r, "field \"additional_domains\": entry %I: expected string, got %s",
				  (LUAI_UACINT)i, luaL_typename(L, -1));
		len = normalize_at(r, -1, name, "field \"additional_domains\"", i);
		lua_pop(L, 1);
		off = keep(r, name, len, 1);
		if (i == 1)
			r->out->adds = off;
	}
	r->out->nadds = (uint32_t)n;
}

/* The enum field f's value (its default when absent). */
static unsigned parse_enum(struct record *r, enum s2sp_field f)
{
	unsigned v = (unsigned)S2SP_FIELDS[f].def;
	bool known = false;
	int t;

	if (absent(r, f))
		return v;
	t = slot(r, f);
	if (lua_type(r->L, t) == LUA_TSTRING) {
		size_t len;
		const char *s = lua_tolstring(r->L, t, &len);

		known = s2sp_enum_parse(f, s, len, &v) == 0;
	}
	if (!known) {
		const char *got = describe(r->L, t);

		rec_error(r, "field \"%s\": expected %s, got %s", NAME(f),
			  s2sp_push_values(r->L, f, " or "), got);
	}
	return v;
}

/* The boolean field f, def when absent; *given tells whether it was written. */
static bool parse_bool(struct record *r, enum s2sp_field f, bool def, bool *given)
{
	bool v = def;
	int t;

	if (given != NULL)
		*given = !absent(r, f);
	if (absent(r, f))
		return v;
	t = slot(r, f);
	if (lua_type(r->L, t) != LUA_TBOOLEAN)
		rec_error(r, "field \"%s\": expected boolean, got %s", NAME(f),
			  luaL_typename(r->L, t));
	return lua_toboolean(r->L, t);
}

static void parse_connection_limit(struct record *r)
{
	int t, ok = 0;
	lua_Integer v = 0, min = (lua_Integer)S2SP_FIELDS[S2SP_F_CONNECTION_LIMIT].min;

	if (absent(r, S2SP_F_CONNECTION_LIMIT))
		return;
	t = get_field(r, S2SP_F_CONNECTION_LIMIT);
	if (t == LUA_TNUMBER)
		v = lua_tointegerx(r->L, -1, &ok);
	if (!ok || v < min) {
		const char *got = describe(r->L, -1);

		rec_error(r, "field \"connection_limit\": expected an integer >= %I, got %s",
			  (LUAI_UACINT)min, got);
	}
	lua_pop(r->L, 1);
	r->out->connection_limit = (long long)v;
	r->out->flags |= S2SP_PREC_HAS_LIMIT;
}

static void parse_connect(struct record *r)
{
	lua_State *L = r->L;
	struct s2sp_connect c;
	char err[S2SP_ERRBUFSZ];
	const char *s;
	size_t len;

	if (absent(r, S2SP_F_CONNECT))
		return;
	if (get_field(r, S2SP_F_CONNECT) != LUA_TSTRING)
		rec_error(r, "field \"connect\": expected string, got %s", luaL_typename(L, -1));
	s = lua_tolstring(L, -1, &len);
	if (s2sp_parse_connect(s, len, &c, err, sizeof err) != 0)
		rec_error(r, "field \"connect\": %s", err);
	lua_pop(L, 1);
	r->out->connect = keep(r, c.text, strlen(c.text), 1);
	keep(r, c.host, strlen(c.host), 1);
	r->out->connect_port = (uint16_t)c.port;
	r->out->flags |= S2SP_PREC_HAS_CONNECT;
}

static bool parse_auto_approve(struct record *r, enum s2sp_partner_type type)
{
	bool given, allowed = s2sp_partner_type_auto_approve(type);
	bool v = parse_bool(r, S2SP_F_AUTO_APPROVE, allowed, &given);

	if (v && !allowed)
		rec_error(r, "auto_approve applies only to federated and public_verified partners");
	return v;
}

/* Keep the fingerprint on top of the stack (popped), entry i of the record's pins. */
static void add_pin(struct record *r, lua_Integer i, bool in_list)
{
	lua_State *L = r->L;
	char hex[S2SP_PIN_HEXLEN + 1];
	const char *s;
	size_t len;
	uint32_t off;

	if (lua_type(L, -1) != LUA_TSTRING)
		rec_error(r, "field \"pin\": entry %I: expected string, got %s", (LUAI_UACINT)i,
			  luaL_typename(L, -1));
	s = lua_tolstring(L, -1, &len);
	if (s2sp_parse_pin(s, len, hex) != 0) {
		if (in_list)
			rec_error(r, "field \"pin\": entry %I: expected " EXPECT_PIN ", got %s",
				  (LUAI_UACINT)i, describe(L, -1));
		rec_error(r, "field \"pin\": expected " EXPECT_PIN ", got %s", describe(L, -1));
	}
	lua_pop(L, 1);
	off = keep(r, hex, S2SP_PIN_HEXLEN, 0);
	if (i == 1)
		r->out->pins = off;
}

static void parse_pin(struct record *r)
{
	lua_State *L = r->L;
	lua_Integer i, n = 0;
	const char *problem;
	int src, t;

	if (absent(r, S2SP_F_PIN))
		return;
	t = get_field(r, S2SP_F_PIN);
	src = lua_gettop(L);
	if (t == LUA_TSTRING) {
		lua_pushvalue(L, src);
		add_pin(r, 1, false);
		n = 1;
	} else if (t == LUA_TTABLE) {
		problem = s2sp_list_problem(L, src, &n, NULL);
		if (problem != NULL)
			rec_error(r, "field \"pin\": expected a fingerprint or a list of "
				     "fingerprints, got %s",
				  problem);
		if (n == 0)
			rec_error(r, "field \"pin\": expected at least one fingerprint, got an "
				     "empty list");
		if (n >= UINT32_MAX)
			rec_error(r, "not enough memory");
		for (i = 1; i <= n; i++) {
			lua_rawgeti(L, src, i);
			add_pin(r, i, true);
		}
	} else {
		rec_error(r, "field \"pin\": expected a fingerprint or a list of fingerprints, got %s",
			  luaL_typename(L, src));
	}
	r->out->npins = (uint32_t)n;
	r->out->flags |= S2SP_PREC_HAS_PIN;
	lua_pop(L, 1);
}

/* Give domain[0..len) (of that table hash) to this record's partner, or raise if it is taken. */
static void claim_domain(struct record *r, int list, const char *domain, size_t len,
			 uint32_t hash)
{
	lua_State *L = r->L;
	char shown[S2SP_ESCAPE_SIZE(SHOWN_MAX)];
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
	s2sp_escape(raw, rawlen, SHOWN_MAX, shown, sizeof shown);
	/* the detail names the owner too, so a caller can tell a conflict from an invalid value */
	lua_pushfstring(L, "domain \"%s\" already belongs to partner %I (%s)", domain,
			(LUAI_UACINT)owner, shown);
	s2sp_push_compile_error(L, prefix_of(r), &r->index,
				r->field == NO_FIELD ? NULL : NAME(r->field));
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
	bool dialback;

	r.L = L;
	r.p = p;
	r.out = out;
	r.rec = rec;
	r.slots = lua_gettop(L) + 1;
	r.present = 0;
	r.index = index;
	r.field = NO_FIELD;
	r.has_prefix = false;
	memset(out, 0, sizeof *out);
	if (!lua_istable(L, rec))
		rec_error(&r, "expected a table, got %s", luaL_typename(L, rec));
	check_keys(&r);

	if (index != 0)
		parse_domain(&r, domain);
	parse_description(&r);
	parse_additional_domains(&r);
	type = (enum s2sp_partner_type)parse_enum(&r, S2SP_F_TYPE);
	tls = (enum s2sp_negotiation)parse_enum(&r, S2SP_F_TLS);
	sasl = (enum s2sp_negotiation)parse_enum(&r, S2SP_F_SASL);
	dialback = parse_bool(&r, S2SP_F_DIALBACK, S2SP_FIELDS[S2SP_F_DIALBACK].def != 0, NULL);
	parse_connection_limit(&r);
	if (parse_bool(&r, S2SP_F_KEEPALIVE, S2SP_FIELDS[S2SP_F_KEEPALIVE].def != 0, NULL))
		out->flags |= S2SP_PREC_KEEPALIVE;
	parse_connect(&r);
	if (parse_auto_approve(&r, type))
		out->flags |= S2SP_PREC_AUTO_APPROVE;
	parse_pin(&r);
	out->type = (uint8_t)type;
	out->tls = (uint8_t)tls;
	out->sasl = (uint8_t)sasl;
	if (dialback)
		out->flags |= S2SP_PREC_DIALBACK;

	row = s2sp_classify(tls, sasl, dialback);
	r.field = NO_FIELD; /* about tls, sasl and dialback together */
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
