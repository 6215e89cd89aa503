/*
 * mod_s2s_partners — one partner record being compiled, shared by validate.c (the record as a
 * whole: its keys, its domains, its negotiation row) and validate_fields.c (each field's
 * value). Internal to those two files.
 */
#ifndef S2SP_VALIDATE_RECORD_H
#define S2SP_VALIDATE_RECORD_H

#include "compile_error.h"
#include "idna.h"
#include "lua_api.h"
#include "matrix.h"
#include "policy.h"
#include "record.h"
#include "schema.h"

#include <stdbool.h>

#define S2SP_NO_FIELD S2SP_F_COUNT
#define S2SP_PREFIX_SIZE (S2SP_ESCAPE_SIZE(S2SP_SHOWN_MAX) + 48)

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
	char prefix[S2SP_PREFIX_SIZE];
};

/* Raise "<partner N (domain)|default partner>: <message>" about r->field (a compile error,
 * s2sp_push_compile_error); the message uses lua_pushfstring's format. Does not return. */
int s2sp_rec_error(struct record *r, const char *fmt, ...);
#define rec_error s2sp_rec_error

/* What the negotiation row and the contact rules are decided from. */
struct s2sp_rules {
	enum s2sp_partner_type type;
	enum s2sp_negotiation tls, sasl;
	bool dialback;
};

/*
 * Parse every field of the record (its keys gathered into r->slots, r->present) into r->out
 * and the policy's strings, in the order refusals are made: domain (normalised into `domain`,
 * a partner's only), description, additional domains, type, tls, sasl, dialback, connection
 * limit, keepalive, connect, auto_approve, pin. Raises on the first refused value.
 */
void s2sp_parse_fields(struct record *r, char domain[S2SP_DOMAIN_BUFSZ], struct s2sp_rules *rules);

#endif
