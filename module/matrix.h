/*
 * mod_s2s_partners — the negotiation matrix of README "Negotiation matrix".
 *
 * Pure C, no Lua: usable from fuzz targets and from the policy compiler.
 */
#ifndef S2SP_MATRIX_H
#define S2SP_MATRIX_H

#include <stdbool.h>
#include <stddef.h>

/* A partner's tls / sasl setting. */
enum s2sp_negotiation {
	S2SP_REQUIRED = 0,
	S2SP_OPTIONAL,
	S2SP_NOT_SUPPORTED,
	S2SP_NEGOTIATION_COUNT
};

/* What the matrix says of a (tls, sasl, dialback) row. */
enum s2sp_class {
	S2SP_VALID = 0,
	S2SP_WARNING,
	S2SP_INVALID
};

/* Authentication methods a row allows, as bits; S2SP_METHOD_ORDER lists them in report order. */
enum s2sp_method {
	S2SP_METHOD_SASL_TLS     = 1 << 0,
	S2SP_METHOD_TLS_DIALBACK = 1 << 1,
	S2SP_METHOD_TCP_DIALBACK = 1 << 2
};
#define S2SP_METHOD_COUNT 3
extern const enum s2sp_method S2SP_METHOD_ORDER[S2SP_METHOD_COUNT];

/* One row of the matrix: allowed methods (bit set), class and message (NULL when none). */
struct s2sp_row {
	unsigned methods;
	enum s2sp_class cls;
	const char *message;
};

/* Classify a row by the rules of README "Negotiation matrix". Never fails for in-range arguments. */
struct s2sp_row s2sp_classify(enum s2sp_negotiation tls, enum s2sp_negotiation sasl,
			      bool dialback);

/* "required" / "optional" / "not_supported"; NULL when out of range. */
const char *s2sp_negotiation_name(enum s2sp_negotiation n);

/* Parse a negotiation name of length len; 0 on success, -1 when it is none of the three. */
int s2sp_negotiation_parse(const char *s, size_t len, enum s2sp_negotiation *out);

/* "valid" / "warning" / "invalid". */
const char *s2sp_class_name(enum s2sp_class c);

/* "sasl_tls" / "tls_dialback" / "tcp_dialback"; NULL for anything else. */
const char *s2sp_method_name(enum s2sp_method m);

/* Parse a method name of length len; 0 on success, -1 when it is none of the three. */
int s2sp_method_parse(const char *s, size_t len, enum s2sp_method *out);

/* Which of a row's settings keeps it from allowing a method (README "Negotiation results"). */
enum s2sp_refusal {
	S2SP_ALLOWED = 0,
	S2SP_REFUSAL_TLS_REQUIRED,  /* dialback without TLS, but tls = "required" */
	S2SP_REFUSAL_BOTH_REQUIRED, /* dialback over TLS, but tls and sasl "required" */
	S2SP_REFUSAL_NO_DIALBACK,   /* dialback, but dialback = false */
	S2SP_REFUSAL_NO_SASL,       /* SASL EXTERNAL, but sasl = "not_supported" */
	S2SP_REFUSAL_NO_TLS,        /* a method over TLS, but tls = "not_supported" */
	S2SP_REFUSAL_COUNT
};

/* S2SP_ALLOWED when the row allows m (as s2sp_classify says), else why it does not. */
enum s2sp_refusal s2sp_refusal(enum s2sp_negotiation tls, enum s2sp_negotiation sasl,
			       bool dialback, enum s2sp_method m);

#endif
