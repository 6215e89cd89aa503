/*
 * mod_s2s_partners — public-key pins: SHA-256 of the DER SubjectPublicKeyInfo (the same
 * digest as DANE's "3 1 1" / HPKP's pin-sha256, in lower-case hex).
 */
#ifndef S2SP_PIN_H
#define S2SP_PIN_H

#include <stddef.h>

#define S2SP_PIN_HEX_LEN 64

/*
 * Constant-time test of a 64-character lower-case hex digest against one configured pin.
 * The pin's hex letters may be upper or lower case; a pin of any other length never matches.
 * The time taken depends only on the pin's length, never on where the two differ.
 */
int s2sp_pin_equal(const char *digest_hex, const char *pin, size_t pin_len);

#endif
