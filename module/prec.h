/*
 * mod_s2s_partners — a compiled partner record in compact form, and the string arena its
 * strings live in.
 *
 * compile() (validate.c) turns each record into a struct s2sp_prec: enums and flags, and
 * offsets into one arena of strings owned by the policy. The Lua table a caller sees is built
 * from it on first use (pview.c). Pure C, no Lua.
 */
#ifndef S2SP_PREC_H
#define S2SP_PREC_H

#include <stddef.h>
#include <stdint.h>

/* Strings back to back; offsets are kept below 4 GiB. */
struct s2sp_arena {
	char *data;
	size_t len;
	size_t cap;
};

/*
 * Append s[0..len) (and a NUL when nul is true) to the arena; *off = where it starts.
 * 0 on success, -1 when out of memory or past 4 GiB.
 */
int s2sp_arena_append(struct s2sp_arena *a, const char *s, size_t len, int nul, uint32_t *off);

/* Free what the arena owns and make it empty again; safe to call twice. */
void s2sp_arena_free(struct s2sp_arena *a);

enum s2sp_prec_flag {
	S2SP_PREC_DIALBACK     = 1 << 0,
	S2SP_PREC_KEEPALIVE    = 1 << 1,
	S2SP_PREC_AUTO_APPROVE = 1 << 2,
	S2SP_PREC_HAS_LIMIT    = 1 << 3, /* connection_limit given */
	S2SP_PREC_HAS_CONNECT  = 1 << 4, /* connect given */
	S2SP_PREC_HAS_PIN      = 1 << 5  /* pin given */
};

/* One validated record; offsets are into the policy's arena. */
struct s2sp_prec {
	uint32_t domain;          /* normalised domain, NUL-terminated (listed partners only) */
	uint32_t description;     /* description_len octets (may hold NULs) */
	uint32_t description_len;
	uint32_t adds;            /* nadds normalised additional domains, each NUL-terminated */
	uint32_t nadds;
	uint32_t connect;         /* canonical text, NUL, host, NUL (S2SP_PREC_HAS_CONNECT) */
	uint32_t pins;            /* npins fingerprints of S2SP_PIN_HEXLEN hex digits each */
	uint32_t npins;
	long long connection_limit; /* S2SP_PREC_HAS_LIMIT */
	uint16_t connect_port;    /* 0: none given */
	uint8_t type;             /* enum s2sp_partner_type */
	uint8_t tls;              /* enum s2sp_negotiation */
	uint8_t sasl;             /* enum s2sp_negotiation */
	uint8_t flags;            /* enum s2sp_prec_flag */
};

#endif
