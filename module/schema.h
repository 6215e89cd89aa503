/*
 * mod_s2s_partners — the partner record's fields (README "Partner record") and the module's own
 * options (README "Options"): one definition of names, order, defaults and texts, read by the
 * validator (validate.c) and exported to Lua by partners.schema() / partners.options().
 */
#ifndef S2SP_SCHEMA_H
#define S2SP_SCHEMA_H

#include "lua_api.h"

#include <stdbool.h>
#include <stddef.h>

/* The fields of a partner record, in README "Partner record" order. */
enum s2sp_field {
	S2SP_F_DOMAIN = 0,
	S2SP_F_DESCRIPTION,
	S2SP_F_ADDITIONAL_DOMAINS,
	S2SP_F_TYPE,
	S2SP_F_TLS,
	S2SP_F_SASL,
	S2SP_F_DIALBACK,
	S2SP_F_CONNECTION_LIMIT,
	S2SP_F_KEEPALIVE,
	S2SP_F_CONNECT,
	S2SP_F_AUTO_APPROVE,
	S2SP_F_PIN,
	S2SP_F_COUNT
};

/* What a field's value is; partners.schema() names them ("domain", "string", ...). */
enum s2sp_field_type {
	S2SP_T_DOMAIN = 0,
	S2SP_T_STRING,
	S2SP_T_DOMAIN_LIST,
	S2SP_T_ENUM,
	S2SP_T_BOOLEAN,
	S2SP_T_INTEGER,
	S2SP_T_HOSTPORT,
	S2SP_T_PIN_LIST
};

/* The names of an enumeration, by value 0 .. count-1 (the parser's own table). */
struct s2sp_enum {
	const char *(*name)(unsigned value);
	unsigned count;
	const char *const *lync; /* Lync's spelling of each value, same order */
};

struct s2sp_field_def {
	const char *name;
	enum s2sp_field_type type;
	bool required;            /* only the primary domain */
	const char *label;        /* short form label */
	const char *description;  /* one plain sentence; README's description cell begins with it */
	const char *type_text;    /* README "type" cell; NULL: made from the values or min */
	const char *default_text; /* README "default" cell; NULL: made from the default */
	const char *lync;         /* New-CsXmppAllowedPartner property, or NULL */
	const struct s2sp_enum *values; /* enums only */
	/* The value when the field is absent: has_default false means none (or one that depends on
	 * another field). An enum's default is the value def, a boolean's def != 0; a string's is
	 * "", a domain list's {}. */
	bool has_default;
	int def;
	long long min; /* integers: the smallest value allowed */
};

extern const struct s2sp_field_def S2SP_FIELDS[S2SP_F_COUNT];

/* The field named s[0..len), or S2SP_F_COUNT when no field has that name. */
enum s2sp_field s2sp_field_find(const char *s, size_t len);

/* The enum field f's value named s[0..len): 0 and *out set, or -1 when it is none of them. */
int s2sp_enum_parse(enum s2sp_field f, const char *s, size_t len, unsigned *out);

/* The name of the enum field f's value (an in-range value). */
const char *s2sp_enum_name(enum s2sp_field f, unsigned value);

/* Push and return `"a", "b" or "c"`: the enum field f's values, quoted, the last after last_sep. */
const char *s2sp_push_values(lua_State *L, enum s2sp_field f, const char *last_sep);

/* Push the value field f takes when a record does not have it: nil where there is none. */
void s2sp_push_default(lua_State *L, enum s2sp_field f);

#endif
