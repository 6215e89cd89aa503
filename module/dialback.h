/*
 * mod_s2s_partners — dialback keys (XEP-0185), byte for byte as Prosody 0.12's mod_dialback:
 *
 *   key = hex(HMAC-SHA256(hex(SHA-256(secret)), to .. " " .. from .. " " .. stream_id))
 *
 * The HMAC key is the 64-character lower-case hex text of SHA-256(secret), not the raw
 * 32 bytes: mod_dialback stores `sha256(dialback_secret, true)` and passes it to hmac_sha256.
 */
#ifndef S2SP_DIALBACK_H
#define S2SP_DIALBACK_H

#include <stddef.h>

#define S2SP_DIALBACK_KEY_LEN 64 /* hex characters, no terminator counted */

/*
 * Compute the dialback key into out[S2SP_DIALBACK_KEY_LEN + 1] (NUL-terminated, lower-case
 * hex). Returns 1 on success; 0 on failure with a reason from OpenSSL's error queue (cleared)
 * in err[errsz].
 */
int s2sp_dialback_key(const char *secret, size_t secret_len, const char *to, size_t to_len,
		      const char *from, size_t from_len, const char *id, size_t id_len,
		      char out[S2SP_DIALBACK_KEY_LEN + 1], char *err, size_t errsz);

#endif
