/*
 * mod_s2s_partners — rendering of untrusted strings inside error messages.
 *
 * Pure C, no Lua: usable from fuzz targets.
 */
#ifndef S2SP_TEXT_H
#define S2SP_TEXT_H

#include <stddef.h>

/*
 * Render in[0..len) for a log line or an error message: printable ASCII and well-formed UTF-8
 * pass unchanged, '"' and '\\' get a backslash, every other octet becomes \xNN. At most max_in
 * input octets are rendered (cut on a character boundary); "..." marks a cut. The result is
 * always NUL-terminated when outsz > 0 and never longer than outsz - 1; returns its length.
 * S2SP_ESCAPE_SIZE(max_in) is a sufficient outsz.
 */
#define S2SP_ESCAPE_SIZE(max_in) (4 * (size_t)(max_in) + sizeof "...")
size_t s2sp_escape(const char *in, size_t len, size_t max_in, char *out, size_t outsz);

/* Length of the well-formed UTF-8 sequence at s[0..len), or 0 when it is not one. */
size_t s2sp_utf8_seqlen(const unsigned char *s, size_t len);

#endif
