/*
 * mod_s2s_partners — the partner record's fields (README "Partner record") and the module's own
 * options (README "Options").
 *
 * partners.schema()  -> { field, ... }   (a fresh list of fresh tables, README order)
 * partners.options() -> { option, ... }  (the same for the options this module defines)
 *
 * The validator (validate.c, validate_fields.c) takes field names and defaults from
 * S2SP_FIELDS, and enum values from the parsers' own name tables (record.c, matrix.c), so what
 * is exported is what is enforced. spec/unit/readme_schema_spec.lua checks the README tables against these.
 */
#include "schema.h"
#include "matrix.h"
#include "record.h"

#include <string.h>

static const char *type_value(unsigned v)
{
	return s2sp_partner_type_name((enum s2sp_partner_type)v);
}

static const char *negotiation_value(unsigned v)
{
	return s2sp_negotiation_name((enum s2sp_negotiation)v);
}

/* Lync's PartnerType, TlsNegotiation and SaslNegotiation values. */
static const char *const lync_types[S2SP_PARTNER_TYPE_COUNT] = {
	[S2SP_FEDERATED]         = "Federated",
	[S2SP_PUBLIC_VERIFIED]   = "PublicVerified",
	[S2SP_PUBLIC_UNVERIFIED] = "PublicUnverified",
};
static const char *const lync_negotiations[S2SP_NEGOTIATION_COUNT] = {
	[S2SP_REQUIRED]      = "Required",
	[S2SP_OPTIONAL]      = "Optional",
	[S2SP_NOT_SUPPORTED] = "NotSupported",
};

static const struct s2sp_enum types = { type_value, S2SP_PARTNER_TYPE_COUNT, lync_types };
static const struct s2sp_enum negotiations = { negotiation_value, S2SP_NEGOTIATION_COUNT,
					       lync_negotiations };

const struct s2sp_field_def S2SP_FIELDS[S2SP_F_COUNT] = {
	[S2SP_F_DOMAIN] = {
		.name = "domain", .type = S2SP_T_DOMAIN, .required = true,
		.label = "Primary domain",
		.description = "The partner's primary XMPP domain.",
		.type_text = "domain name", .default_text = "— (required)", .lync = "Domain",
	},
	[S2SP_F_DESCRIPTION] = {
		.name = "description", .type = S2SP_T_STRING,
		.label = "Description",
		.description = "Free text, shown in listings.",
		.type_text = "string", .lync = "Description", .has_default = true,
	},
	[S2SP_F_ADDITIONAL_DOMAINS] = {
		.name = "additional_domains", .type = S2SP_T_DOMAIN_LIST,
		.label = "Additional domains",
		.description = "Other domains of the same partner sharing its policy.",
		.type_text = "list of domain names", .lync = "AdditionalDomains", .has_default = true,
	},
	[S2SP_F_TYPE] = {
		.name = "type", .type = S2SP_T_ENUM,
		.label = "Partner type",
		.description = "The contact rules that apply to the partner's users.",
		.lync = "PartnerType", .values = &types,
		.has_default = true, .def = S2SP_PUBLIC_UNVERIFIED,
	},
	[S2SP_F_TLS] = {
		.name = "tls", .type = S2SP_T_ENUM,
		.label = "TLS negotiation",
		.description = "TLS on the stream: required (never downgraded), used when both sides "
			       "support it, or never.",
		.lync = "TlsNegotiation", .values = &negotiations,
		.has_default = true, .def = S2SP_REQUIRED,
	},
	[S2SP_F_SASL] = {
		.name = "sasl", .type = S2SP_T_ENUM,
		.label = "SASL negotiation",
		.description = "SASL EXTERNAL (certificate authentication, XEP-0178).",
		.lync = "SaslNegotiation", .values = &negotiations,
		.has_default = true, .def = S2SP_OPTIONAL,
	},
	[S2SP_F_DIALBACK] = {
		.name = "dialback", .type = S2SP_T_BOOLEAN,
		.label = "Dialback negotiation",
		.description = "Server dialback (XEP-0220).",
		.type_text = "boolean", .lync = "SupportDialbackNegotiation",
		.has_default = true, .def = 1,
	},
	[S2SP_F_CONNECTION_LIMIT] = {
		.name = "connection_limit", .type = S2SP_T_INTEGER,
		.label = "Connection limit",
		.description = "Most simultaneous authenticated s2s streams with the partner (both "
			       "directions, all its domains).",
		.default_text = "unlimited", .lync = "ConnectionLimit", .min = 1,
	},
	[S2SP_F_KEEPALIVE] = {
		.name = "keepalive", .type = S2SP_T_BOOLEAN,
		.label = "Keepalive",
		.description = "Whitespace keepalives on idle streams (Prosody's behaviour).",
		.type_text = "boolean", .lync = "EnableKeepAlive",
		.has_default = true, .def = 1,
	},
	[S2SP_F_CONNECT] = {
		.name = "connect", .type = S2SP_T_HOSTPORT,
		.label = "Connect to",
		.description = "Where to connect for this partner instead of DNS (Lync's ProxyFqdn); "
			       "port 5269 when omitted.",
		.type_text = "\"host\", \"host:port\", \"[IPv6]:port\"", .default_text = "DNS",
		.lync = "ProxyFqdn",
	},
	[S2SP_F_AUTO_APPROVE] = {
		.name = "auto_approve", .type = S2SP_T_BOOLEAN,
		.label = "Approve subscriptions",
		.description = "Approve presence subscription requests from the partner's users "
			       "without asking the local user.",
		.type_text = "boolean",
		/* README "Partner types"; the validator asks s2sp_partner_type_auto_approve() */
		.default_text = "true for federated and public_verified, else false",
	},
	[S2SP_F_PIN] = {
		.name = "pin", .type = S2SP_T_PIN_LIST,
		.label = "Key pins",
		.description = "SHA-256 fingerprints (64 hex digits, colons allowed) of the partner's "
			       "public keys (SubjectPublicKeyInfo).",
		.type_text = "string or list of strings", .default_text = "none",
	},
};

/* README "Options": the options this module defines (Prosody's own are not listed). */
static const struct {
	const char *name, *default_text, *description;
} options[] = {
	{ "s2s_partners", "{}", "The partner list: a list of partner records (below)." },
	{ "s2s_partners_default", "nil (refuse)",
	  "Policy for domains not listed: a partner record without domain / additional_domains." },
	{ "s2s_partners_web", "false",
	  "Serve the web control panel and the JSON admin API of the host on Prosody's HTTPS port." },
};

static const char *const type_names[] = {
	[S2SP_T_DOMAIN]      = "domain",
	[S2SP_T_STRING]      = "string",
	[S2SP_T_DOMAIN_LIST] = "domain_list",
	[S2SP_T_ENUM]        = "enum",
	[S2SP_T_BOOLEAN]     = "boolean",
	[S2SP_T_INTEGER]     = "integer",
	[S2SP_T_HOSTPORT]    = "hostport",
	[S2SP_T_PIN_LIST]    = "pin_list",
};

enum s2sp_field s2sp_field_find(const char *s, size_t len)
{
	unsigned f;

	if (len == 0)
		return S2SP_F_COUNT;
	for (f = 0; f < S2SP_F_COUNT; f++) /* the first octet rules out most at once */
		if (S2SP_FIELDS[f].name[0] == s[0] && strlen(S2SP_FIELDS[f].name) == len &&
		    memcmp(S2SP_FIELDS[f].name, s, len) == 0)
			break;
	return (enum s2sp_field)f;
}

int s2sp_enum_parse(enum s2sp_field f, const char *s, size_t len, unsigned *out)
{
	const struct s2sp_enum *e = S2SP_FIELDS[f].values;
	unsigned i;

	for (i = 0; i < e->count; i++) {
		const char *name = e->name(i);

		if (strlen(name) == len && memcmp(name, s, len) == 0) {
			*out = i;
			return 0;
		}
	}
	return -1;
}

const char *s2sp_enum_name(enum s2sp_field f, unsigned value)
{
	return S2SP_FIELDS[f].values->name(value);
}

const char *s2sp_push_values(lua_State *L, enum s2sp_field f, const char *last_sep)
{
	const struct s2sp_enum *e = S2SP_FIELDS[f].values;
	luaL_Buffer b;
	unsigned i;

	luaL_buffinit(L, &b);
	for (i = 0; i < e->count; i++) {
		if (i > 0)
			luaL_addstring(&b, i + 1 == e->count ? last_sep : ", ");
		luaL_addchar(&b, '"');
		luaL_addstring(&b, e->name(i));
		luaL_addchar(&b, '"');
	}
	luaL_pushresult(&b);
	return lua_tostring(L, -1);
}

void s2sp_push_default(lua_State *L, enum s2sp_field f)
{
	const struct s2sp_field_def *d = &S2SP_FIELDS[f];

	if (!d->has_default) {
		lua_pushnil(L);
		return;
	}
	switch (d->type) {
	case S2SP_T_ENUM:
		lua_pushstring(L, d->values->name((unsigned)d->def));
		break;
	case S2SP_T_BOOLEAN:
		lua_pushboolean(L, d->def);
		break;
	case S2SP_T_STRING:
		lua_pushliteral(L, "");
		break;
	case S2SP_T_DOMAIN_LIST:
		lua_newtable(L);
		break;
	default:
		lua_pushnil(L);
		break;
	}
}

/* README's "type" cell: written out, or the enum's values, or the integer's lower bound. */
static void push_type_text(lua_State *L, enum s2sp_field f)
{
	const struct s2sp_field_def *d = &S2SP_FIELDS[f];

	if (d->type_text != NULL)
		lua_pushstring(L, d->type_text);
	else if (d->type == S2SP_T_ENUM)
		s2sp_push_values(L, f, ", ");
	else
		lua_pushfstring(L, "integer ≥ %I", (LUAI_UACINT)d->min);
}

/* README's "default" cell: written out, or the default value as a config file writes it. */
static void push_default_text(lua_State *L, enum s2sp_field f)
{
	const struct s2sp_field_def *d = &S2SP_FIELDS[f];

	if (d->default_text != NULL) {
		lua_pushstring(L, d->default_text);
		return;
	}
	switch (d->type) {
	case S2SP_T_ENUM:
		lua_pushfstring(L, "\"%s\"", d->values->name((unsigned)d->def));
		break;
	case S2SP_T_BOOLEAN:
		lua_pushstring(L, d->def ? "true" : "false");
		break;
	case S2SP_T_DOMAIN_LIST:
		lua_pushliteral(L, "{}");
		break;
	default:
		lua_pushliteral(L, "\"\"");
		break;
	}
}

/* A list of the enum's value names, or of their Lync spellings. */
static void push_name_list(lua_State *L, const struct s2sp_enum *e, bool lync)
{
	unsigned i;

	lua_createtable(L, (int)e->count, 0);
	for (i = 0; i < e->count; i++) {
		lua_pushstring(L, lync ? e->lync[i] : e->name(i));
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
}

static void set_string(lua_State *L, const char *key, const char *value)
{
	if (value == NULL)
		return;
	lua_pushstring(L, value);
	lua_setfield(L, -2, key);
}

static void push_field(lua_State *L, enum s2sp_field f)
{
	const struct s2sp_field_def *d = &S2SP_FIELDS[f];

	lua_createtable(L, 0, 12);
	set_string(L, "name", d->name);
	set_string(L, "type", type_names[d->type]);
	lua_pushboolean(L, d->required);
	lua_setfield(L, -2, "required");
	set_string(L, "label", d->label);
	set_string(L, "description", d->description);
	push_type_text(L, f);
	lua_setfield(L, -2, "type_text");
	push_default_text(L, f);
	lua_setfield(L, -2, "default_text");
	s2sp_push_default(L, f);
	lua_setfield(L, -2, "default");
	set_string(L, "lync", d->lync);
	if (d->values != NULL) {
		push_name_list(L, d->values, false);
		lua_setfield(L, -2, "values");
		push_name_list(L, d->values, true);
		lua_setfield(L, -2, "lync_values");
	}
	if (d->type == S2SP_T_INTEGER) {
		lua_pushinteger(L, (lua_Integer)d->min);
		lua_setfield(L, -2, "min");
	}
}

/* partners.schema() -> { { name, type, required, label, description, type_text, ... }, ... } */
static int l_schema(lua_State *L)
{
	unsigned f;

	lua_createtable(L, S2SP_F_COUNT, 0);
	for (f = 0; f < S2SP_F_COUNT; f++) {
		push_field(L, (enum s2sp_field)f);
		lua_rawseti(L, -2, (lua_Integer)f + 1);
	}
	return 1;
}

/* partners.options() -> { { name, default_text, description }, ... } */
static int l_options(lua_State *L)
{
	size_t i, n = sizeof options / sizeof options[0];

	lua_createtable(L, (int)n, 0);
	for (i = 0; i < n; i++) {
		lua_createtable(L, 0, 3);
		set_string(L, "name", options[i].name);
		set_string(L, "default_text", options[i].default_text);
		set_string(L, "description", options[i].description);
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	return 1;
}

void s2sp_open_schema(lua_State *L)
{
	static const luaL_Reg functions[] = {
		{ "schema",  l_schema  },
		{ "options", l_options },
		{ NULL,      NULL      },
	};

	luaL_setfuncs(L, functions, 0);
}
