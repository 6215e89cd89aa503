/*
 * mod_s2s_partners — domain name normalisation (IDNA2008, UTS #46 non-transitional).
 *
 * Pure C, no Lua: usable from fuzz targets. Nothing here allocates beyond libidn2's own
 * result, which is freed before returning.
 */
#ifndef S2SP_IDNA_H
#define S2SP_IDNA_H

#include <stdbool.h>
#include <stddef.h>

#define S2SP_LABEL_MAX    63                  /* octets in one A-label */
#define S2SP_DOMAIN_MAX   253                 /* octets in a name, without the trailing dot */
#define S2SP_DOMAIN_BUFSZ (S2SP_DOMAIN_MAX + 1) /* a normalised name and its NUL */
#define S2SP_INPUT_MAX    1024                /* longer input is refused before any mapping */
#define S2SP_ERRBUFSZ     512                 /* enough for any message s2sp_normalize writes */

/*
 * Normalise the domain name in[0..len) to its lower-case ASCII form (A-labels, no trailing
 * dot) in out[0..outsz), NUL-terminated. Returns the length of the result, or -1 with a
 * reason for an operator in err[0..errsz) (when err is not NULL). One trailing dot is
 * removed; names that are not valid host names (STD3 rules: letters, digits, inner hyphens)
 * are refused. outsz of S2SP_DOMAIN_BUFSZ and errsz of S2SP_ERRBUFSZ always suffice.
 */
int s2sp_normalize(const char *in, size_t len, char *out, size_t outsz, char *err, size_t errsz);

/*
 * True when s[0..len) can only be a normalised name or no name at all: 1..253 octets of
 * [a-z0-9.-] without a trailing dot. Such input may be looked up as it is, without libidn2.
 */
bool s2sp_domain_fast_path(const char *s, size_t len);

#endif
