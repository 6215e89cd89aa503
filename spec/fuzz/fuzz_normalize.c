/*
 * libFuzzer target: domain name normalisation (module/idna.c).
 *
 * Any input: s2sp_normalize must not crash, must NUL-terminate, and on success give a name
 * that is its own normal form (normalising it again changes nothing), made of [a-z0-9.-]
 * only, at most 253 octets, no trailing dot, and accepted by the fast path. On failure it
 * must say why.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "idna.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[S2SP_DOMAIN_BUFSZ], again[S2SP_DOMAIN_BUFSZ], err[S2SP_ERRBUFSZ];
	int n, m;

	n = s2sp_normalize((const char *)data, size, out, sizeof out, err, sizeof err);
	if (n < 0) {
		if (err[0] == '\0' || strlen(err) >= sizeof err)
			abort(); /* a refusal always has a reason */
		return 0;
	}
	if (n == 0 || n > S2SP_DOMAIN_MAX || strlen(out) != (size_t)n || out[n - 1] == '.')
		abort();
	for (int i = 0; i < n; i++) {
		char c = out[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.'))
			abort();
	}
	if (!s2sp_domain_fast_path(out, (size_t)n))
		abort();
	m = s2sp_normalize(out, (size_t)n, again, sizeof again, err, sizeof err);
	if (m != n || memcmp(out, again, (size_t)n) != 0)
		abort(); /* not idempotent: two spellings of one partner could differ */
	return 0;
}
