/*
 * mod_s2s_partners — the value of each field of a partner record being compiled (README
 * "Partner record"): type-checked, normalised, and kept in the record's compact form (prec.h)
 * and the policy's strings. The record as a whole is validate.c's.
 */
#include "validate_record.h"

#include <string.h>

#define EXPECT_PIN "a SHA-256 fingerprint (64 hex digits, colons allowed between pairs)"
#define NAME(f)    (S2SP_FIELDS[f].name)

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
		const char *got = s2sp_describe(r->L, t);

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
		const char *got = s2sp_describe(r->L, -1);

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
				  (LUAI_UACINT)i, s2sp_describe(L, -1));
		rec_error(r, "field \"pin\": expected " EXPECT_PIN ", got %s",
			  s2sp_describe(L, -1));
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

void s2sp_parse_fields(struct record *r, char domain[S2SP_DOMAIN_BUFSZ], struct s2sp_rules *rules)
{
	struct s2sp_prec *out = r->out;

	if (r->index != 0)
		parse_domain(r, domain);
	parse_description(r);
	parse_additional_domains(r);
	rules->type = (enum s2sp_partner_type)parse_enum(r, S2SP_F_TYPE);
	rules->tls = (enum s2sp_negotiation)parse_enum(r, S2SP_F_TLS);
	rules->sasl = (enum s2sp_negotiation)parse_enum(r, S2SP_F_SASL);
	rules->dialback =
		parse_bool(r, S2SP_F_DIALBACK, S2SP_FIELDS[S2SP_F_DIALBACK].def != 0, NULL);
	parse_connection_limit(r);
	if (parse_bool(r, S2SP_F_KEEPALIVE, S2SP_FIELDS[S2SP_F_KEEPALIVE].def != 0, NULL))
		out->flags |= S2SP_PREC_KEEPALIVE;
	parse_connect(r);
	if (parse_auto_approve(r, rules->type))
		out->flags |= S2SP_PREC_AUTO_APPROVE;
	parse_pin(r);
}
