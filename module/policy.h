/*
 * mod_s2s_partners — compiled partner policy: partner records validated (README "Partner record" and "Negotiation matrix"), their
 * domains in a hash table, and the Lua object that answers lookups. Built by partners.compile()
 * at once, or by a partners.compiler() object a slice of records per step() (policy.c).
 */
#ifndef S2SP_POLICY_H
#define S2SP_POLICY_H

#include "matrix.h"
#include "prec.h"
#include "ptable.h"
#include "record.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define S2SP_POLICY_MT  "s2s_partners.policy"
#define S2SP_WARNING_MT "s2s_partners.warning"

/* The policy userdata's uservalues: the Lua tables of the partners, built on first use. */
#define S2SP_UV_PARTNERS 1 /* [index] = partner table, once built */
#define S2SP_UV_DEFAULT  2 /* the default partner's table, or nil */

/* The C side of a policy userdata: what compile() (or a compiler) validated, in compact form. */
struct s2sp_policy {
	struct s2sp_ptable domains; /* normalised domain -> 1-based partner index */
	struct s2sp_prec *recs;     /* [0] the default partner, [1..npartners] the list; NULL once freed */
	struct s2sp_arena strings;  /* the records' strings */
	uint32_t npartners;
	unsigned types; /* bit 1 << type of every partner type present, default partner included */
	/* listed partners (not the default) by value of tls, sasl and dialback (0 false, 1 true) */
	uint32_t n_tls[S2SP_NEGOTIATION_COUNT];
	uint32_t n_sasl[S2SP_NEGOTIATION_COUNT];
	uint32_t n_dialback[2];
	bool has_default;
	bool closed; /* __close or __gc ran: domains is freed */
};

/*
 * The 1-based index of the partner owning domain[0..len), or 0 when none does (also for a
 * name that is not valid). Input already in normal form (s2sp_domain_fast_path) goes straight
 * to the table; anything else is normalised first.
 */
uint32_t s2sp_policy_find(const struct s2sp_policy *p, const char *domain, size_t len);

#endif
