/*
 * mod_s2s_partners — validation of one partner record (README "Partner record" and "Negotiation matrix") into its partner table.
 *
 * Every refusal raises a compile error (s2sp_push_compile_error) whose text is
 * "<partner N (domain)|default partner>: <reason>"; policy.c runs the whole compilation under
 * lua_pcall and turns that into nil, text, detail. Field names and defaults are the schema's
 * (schema.c, README "Partner record"). Nothing here allocates outside Lua's heap and the
 * policy's own table, so a refusal half-way through leaks nothing.
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
	int rec;               /* absolute index of the record table */
	int out;               /* absolute index of the partner table being built */
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

/* Push record[field] (raw access) and return its type; errors from now on are about f. */
static int get_field(struct record *r, enum s2sp_field f)
{
	r->field = f;
	lua_pushstring(r->L, NAME(f));
	return lua_rawget(r->L, r->rec);
}

/* out[field] = value on top of the stack (popped). */
static void set_field(struct record *r, enum s2sp_field f)
{
	lua_setfield(r->L, r->out, NAME(f));
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
	if (lua_istable(L, r->rec) && get_field(r, S2SP_F_DOMAIN) == LUA_TSTRING) {
		s = lua_tolstring(L, -1, &len);
		s2sp_escape(s, len, SHOWN_MAX, shown, sizeof shown);
		snprintf(r->prefix, sizeof r->prefix, "partner %lld (%s)", (long long)r->index,
			 shown);
	} else {
		snprintf(r->prefix, sizeof r->prefix, "partner %lld", (long long)r->index);
	}
	if (lua_istable(L, r->rec))
		lua_pop(L, 1);
	return r->prefix;
}

/* Refuse fields a record may not have; deterministic whatever the traversal order. */
static void check_keys(struct record *r)
{
	lua_State *L = r->L;
	const char *unknown = NULL;
	size_t unknown_len = 0;
	lua_Integer entry = 0;
	bool has_entry = false, not_allowed[S2SP_F_COUNT] = { false };
	int other = LUA_TNONE;
	unsigned f;

	lua_pushnil(L);
	while (lua_next(L, r->rec) != 0) {
		lua_pop(L, 1);
		if (lua_type(L, -1) == LUA_TSTRING) {
			size_t len;
			/* stays valid: the key is held by the table, which does not change */
			const char *k = lua_tolstring(L, -1, &len);

			f = s2sp_field_find(k, len);
			if (f == S2SP_F_COUNT) {
				if (unknown == NULL || less(k, len, unknown, unknown_len)) {
					unknown = k;
					unknown_len = len;
				}
			} else if (r->index == 0 &&
				   (f == S2SP_F_DOMAIN || f == S2SP_F_ADDITIONAL_DOMAINS)) {
				not_allowed[f] = true;
			}
		} else if (lua_isinteger(L, -1)) {
			lua_Integer k = lua_tointeger(L, -1);

			if (!has_entry || k < entry) {
				entry = k;
				has_entry = true;
			}
		} else if (other == LUA_TNONE) {
			other = lua_type(L, -1);
		}
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

/* Normalise the string on top of the stack into out, or raise "<what>: <reason>" ("<what>:
 * entry N: <reason>" for entry N > 0 of a list). */
static size_t normalize_top(struct record *r, char out[S2SP_DOMAIN_BUFSZ], const char *what,
			    lua_Integer entry)
{
	char err[S2SP_ERRBUFSZ];
	const char *s;
	size_t len;
	int n;

	s = lua_tolstring(r->L, -1, &len);
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
	int t = get_field(r, S2SP_F_DOMAIN);

	if (t == LUA_TNIL)
		rec_error(r, "field \"domain\" is required");
	if (t != LUA_TSTRING)
		rec_error(r, "field \"domain\": expected string, got %s", luaL_typename(r->L, -1));
	n = normalize_top(r, out, "field \"domain\"", 0);
	lua_pop(r->L, 1);
	lua_pushlstring(r->L, out, n);
	set_field(r, S2SP_F_DOMAIN);
	return n;
}

static void parse_description(struct record *r)
{
	int t = get_field(r, S2SP_F_DESCRIPTION);

	if (t == LUA_TNIL) {
		lua_pop(r->L, 1);
		s2sp_push_default(r->L, S2SP_F_DESCRIPTION);
	} else if (t != LUA_TSTRING) {
		rec_error(r, "field \"description\": expected string, got %s",
			  luaL_typename(r->L, -1));
	}
	set_field(r, S2SP_F_DESCRIPTION);
}

/* Set out.additional_domains to the normalised list and leave that list on the stack. */
static int parse_additional_domains(struct record *r)
{
	lua_State *L = r->L;
	char name[S2SP_DOMAIN_BUFSZ];
	lua_Integer i, n = 0;
	const char *problem;
	int src, list;

	if (r->index == 0 || get_field(r, S2SP_F_ADDITIONAL_DOMAINS) == LUA_TNIL) {
		if (r->index != 0)
			lua_pop(L, 1);
		s2sp_push_default(L, S2SP_F_ADDITIONAL_DOMAINS);
		lua_pushvalue(L, -1);
		set_field(r, S2SP_F_ADDITIONAL_DOMAINS);
		return lua_gettop(L);
	}
	src = lua_gettop(L);
	if (!lua_istable(L, src))
		rec_error(r, "field \"additional_domains\": expected a list of domain names, got %s",
			  luaL_typename(L, src));
	problem = s2sp_list_problem(L, src, &n, NULL);
	if (problem != NULL)
		rec_error(r, "field \"additional_domains\": expected a list of domain names, got %s",
			  problem);
	lua_createtable(L, n > INT_MAX ? INT_MAX : (int)n, 0);
	list = lua_gettop(L);
	for (i = 1; i <= n; i++) {
		size_t len;

		if (lua_rawgeti(L, src, i) != LUA_TSTRING)
			rec_error(r, "field \"additional_domains\": entry %I: expected string, got %s",
				  (LUAI_UACINT)i, luaL_typename(L, -1));
		len = normalize_top(r, name, "field \"additional_domains\"", i);
		lua_pop(L, 1);
		lua_pushlstring(L, name, len);
		lua_rawseti(L, list, i);
	}
	lua_remove(L, src);
	lua_pushvalue(L, -1);
	set_field(r, S2SP_F_ADDITIONAL_DOMAINS);
	return lua_gettop(L);
}

/* The enum field f's value (its default when absent); out[f] = its name. */
static unsigned parse_enum(struct record *r, enum s2sp_field f)
{
	unsigned v = (unsigned)S2SP_FIELDS[f].def;
	int t = get_field(r, f);
	bool known = false;

	if (t == LUA_TSTRING) {
		size_t len;
		const char *s = lua_tolstring(r->L, -1, &len);

		known = s2sp_enum_parse(f, s, len, &v) == 0;
	}
	if (t != LUA_TNIL && !known) {
		const char *got = describe(r->L, -1);

		rec_error(r, "field \"%s\": expected %s, got %s", NAME(f),
			  s2sp_push_values(r->L, f, " or "), got);
	}
	lua_pop(r->L, 1);
	lua_pushstring(r->L, s2sp_enum_name(f, v));
	set_field(r, f);
	return v;
}

/* The boolean field f, def when absent; *given tells whether it was written. */
static bool parse_bool(struct record *r, enum s2sp_field f, bool def, bool *given)
{
	int t = get_field(r, f);
	bool v = def;

	if (given != NULL)
		*given = t != LUA_TNIL;
	if (t == LUA_TBOOLEAN)
		v = lua_toboolean(r->L, -1);
	else if (t != LUA_TNIL)
		rec_error(r, "field \"%s\": expected boolean, got %s", NAME(f),
			  luaL_typename(r->L, -1));
	lua_pop(r->L, 1);
	lua_pushboolean(r->L, v);
	set_field(r, f);
	return v;
}

static void parse_connection_limit(struct record *r)
{
	int t = get_field(r, S2SP_F_CONNECTION_LIMIT), ok = 0;
	lua_Integer v = 0, min = (lua_Integer)S2SP_FIELDS[S2SP_F_CONNECTION_LIMIT].min;

	if (t == LUA_TNIL) {
		lua_pop(r->L, 1);
		return;
	}
	if (t == LUA_TNUMBER)
		v = lua_tointegerx(r->L, -1, &ok);
	if (!ok || v < min) {
		const char *got = describe(r->L, -1);

		rec_error(r, "field \"connection_limit\": expected an integer >= %I, got %s",
			  (LUAI_UACINT)min, got);
	}
	lua_pop(r->L, 1);
	lua_pushinteger(r->L, v);
	set_field(r, S2SP_F_CONNECTION_LIMIT);
}

static void parse_connect(struct record *r)
{
	lua_State *L = r->L;
	struct s2sp_connect c;
	char err[S2SP_ERRBUFSZ];
	const char *s;
	size_t len;
	int t = get_field(r, S2SP_F_CONNECT);

	if (t == LUA_TNIL) {
		lua_pop(L, 1);
		return;
	}
	if (t != LUA_TSTRING)
		rec_error(r, "field \"connect\": expected string, got %s", luaL_typename(L, -1));
	s = lua_tolstring(L, -1, &len);
	if (s2sp_parse_connect(s, len, &c, err, sizeof err) != 0)
		rec_error(r, "field \"connect\": %s", err);
	lua_pop(L, 1);
	lua_pushstring(L, c.text);
	set_field(r, S2SP_F_CONNECT);
	lua_pushstring(L, c.host);
	lua_setfield(L, r->out, "connect_host");
	if (c.port != 0) {
		lua_pushinteger(L, (lua_Integer)c.port);
		lua_setfield(L, r->out, "connect_port");
	}
}

static void parse_auto_approve(struct record *r, enum s2sp_partner_type type)
{
	bool given, allowed = s2sp_partner_type_auto_approve(type);

	if (parse_bool(r, S2SP_F_AUTO_APPROVE, allowed, &given) && !allowed)
		rec_error(r, "auto_approve applies only to federated and public_verified partners");
}

/* Append the fingerprint on top of the stack (popped) to the list at `list` as entry i. */
static void add_pin(struct record *r, int list, lua_Integer i, bool in_list)
{
	lua_State *L = r->L;
	char hex[S2SP_PIN_HEXLEN + 1];
	const char *s;
	size_t len;

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
	lua_pushlstring(L, hex, S2SP_PIN_HEXLEN);
	lua_rawseti(L, list, i);
}

static void parse_pin(struct record *r)
{
	lua_State *L = r->L;
	lua_Integer i, n = 0;
	const char *problem;
	int src, list, t = get_field(r, S2SP_F_PIN);

	if (t == LUA_TNIL) {
		lua_pop(L, 1);
		return;
	}
	src = lua_gettop(L);
	lua_newtable(L);
	list = lua_gettop(L);
	if (t == LUA_TSTRING) {
		lua_pushvalue(L, src);
		add_pin(r, list, 1, false);
	} else if (t == LUA_TTABLE) {
		problem = s2sp_list_problem(L, src, &n, NULL);
		if (problem != NULL)
			rec_error(r, "field \"pin\": expected a fingerprint or a list of "
				     "fingerprints, got %s",
				  problem);
		if (n == 0)
			rec_error(r, "field \"pin\": expected at least one fingerprint, got an "
				     "empty list");
		for (i = 1; i <= n; i++) {
			lua_rawgeti(L, src, i);
			add_pin(r, list, i, true);
		}
	} else {
		rec_error(r, "field \"pin\": expected a fingerprint or a list of fingerprints, got %s",
			  luaL_typename(L, src));
	}
	set_field(r, S2SP_F_PIN);
	lua_pop(L, 1);
}

/* Give domain[0..len) to this record's partner, or raise if it is taken. */
static void claim_domain(struct record *r, struct s2sp_policy *p, int list, const char *domain,
			 size_t len)
{
	lua_State *L = r->L;
	char shown[S2SP_ESCAPE_SIZE(SHOWN_MAX)];
	uint32_t owner = 0;
	const char *raw;
	size_t rawlen;
	int rc;

	rc = s2sp_ptable_insert(&p->domains, domain, len, (uint32_t)r->index, &owner);
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

/* Registry key of the shared method lists, by method bit set. */
static const char methods_key;

static int read_only_list(lua_State *L)
{
	return luaL_error(L, "a partner's methods are read-only");
}

/*
 * Push the list of method names for a bit set. There are only 2^S2SP_METHOD_COUNT such lists:
 * every partner with the same row shares one (read-only), instead of a table each (about a
 * tenth of a compiled partner's memory).
 */
static void push_methods(lua_State *L, unsigned methods)
{
	int i, n = 0;

	if (lua_rawgetp(L, LUA_REGISTRYINDEX, &methods_key) != LUA_TTABLE) {
		lua_pop(L, 1);
		lua_createtable(L, 0, 1 << S2SP_METHOD_COUNT);
		lua_pushvalue(L, -1);
		lua_rawsetp(L, LUA_REGISTRYINDEX, &methods_key);
	}
	if (lua_rawgeti(L, -1, (lua_Integer)methods) == LUA_TTABLE) {
		lua_remove(L, -2);
		return;
	}
	lua_pop(L, 1);
	lua_createtable(L, S2SP_METHOD_COUNT, 0);
	for (i = 0; i < S2SP_METHOD_COUNT; i++) {
		if (methods & (unsigned)S2SP_METHOD_ORDER[i]) {
			lua_pushstring(L, s2sp_method_name(S2SP_METHOD_ORDER[i]));
			lua_rawseti(L, -2, ++n);
		}
	}
	lua_createtable(L, 0, 1);
	lua_pushcfunction(L, read_only_list);
	lua_setfield(L, -2, "__newindex");
	lua_setmetatable(L, -2);
	lua_pushvalue(L, -1);
	lua_rawseti(L, -3, (lua_Integer)methods);
	lua_remove(L, -2);
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

void s2sp_compile_record(lua_State *L, struct s2sp_policy *p, lua_Integer index, int rec,
			   int list, int warnings)
{
	struct record r = { .L = L, .rec = rec, .index = index, .field = NO_FIELD };
	char domain[S2SP_DOMAIN_BUFSZ];
	enum s2sp_partner_type type;
	enum s2sp_negotiation tls, sasl;
	struct s2sp_row row;
	bool dialback;
	int adds;

	r.field = NO_FIELD;
	if (!lua_istable(L, rec))
		rec_error(&r, "expected a table, got %s", luaL_typename(L, rec));
	check_keys(&r);
	lua_createtable(L, 0, 20);
	r.out = lua_gettop(L);

	if (index != 0)
		parse_domain(&r, domain);
	parse_description(&r);
	adds = parse_additional_domains(&r);
	type = (enum s2sp_partner_type)parse_enum(&r, S2SP_F_TYPE);
	tls = (enum s2sp_negotiation)parse_enum(&r, S2SP_F_TLS);
	sasl = (enum s2sp_negotiation)parse_enum(&r, S2SP_F_SASL);
	dialback = parse_bool(&r, S2SP_F_DIALBACK, S2SP_FIELDS[S2SP_F_DIALBACK].def != 0, NULL);
	parse_connection_limit(&r);
	parse_bool(&r, S2SP_F_KEEPALIVE, S2SP_FIELDS[S2SP_F_KEEPALIVE].def != 0, NULL);
	parse_connect(&r);
	parse_auto_approve(&r, type);
	parse_pin(&r);

	row = s2sp_classify(tls, sasl, dialback);
	r.field = NO_FIELD; /* about tls, sasl and dialback together */
	if (row.cls == S2SP_INVALID)
		rec_error(&r, "tls = \"%s\", sasl = \"%s\", dialback = %s: %s",
			  s2sp_negotiation_name(tls), s2sp_negotiation_name(sasl),
			  dialback ? "true" : "false", row.message);

	if (index != 0) {
		lua_Integer i, n = (lua_Integer)lua_rawlen(L, adds);

		r.field = S2SP_F_DOMAIN;
		claim_domain(&r, p, list, domain, strlen(domain));
		r.field = S2SP_F_ADDITIONAL_DOMAINS;
		for (i = 1; i <= n; i++) {
			size_t len;
			const char *d;

			lua_rawgeti(L, adds, i);
			d = lua_tolstring(L, -1, &len);
			claim_domain(&r, p, list, d, len);
			lua_pop(L, 1);
		}
		lua_pushinteger(L, index);
		lua_setfield(L, r.out, "index");
	}
	lua_pushstring(L, s2sp_class_name(row.cls));
	lua_setfield(L, r.out, "class");
	push_methods(L, row.methods);
	lua_setfield(L, r.out, "methods");
	if (row.message != NULL) {
		lua_pushstring(L, row.message);
		lua_setfield(L, r.out, "message");
	}
	lua_pushboolean(L, index == 0);
	lua_setfield(L, r.out, "default");

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
	lua_remove(L, adds); /* leaves the partner table on top */
}
