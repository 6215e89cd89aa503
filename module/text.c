/*
 * mod_s2s_partners — rendering of untrusted strings inside error messages.
 *
 * A domain from a config file or from a remote stream may hold quotes, control characters or
 * broken UTF-8; an error message quotes it without letting it forge a log line.
 */
#include "text.h"

#include <string.h>

size_t s2sp_utf8_seqlen(const unsigned char *s, size_t len)
{
	size_t n, i;
	unsigned long cp;

	if (len == 0)
		return 0;
	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (len < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* overlong forms, surrogates, beyond U+10FFFF */
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

size_t s2sp_escape(const char *in, size_t len, size_t max_in, char *out, size_t outsz)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)in;
	size_t i = 0, o = 0;

	if (outsz == 0)
		return 0;
	while (i < len) {
		char piece[4];
		size_t plen, step, seq = s2sp_utf8_seqlen(s + i, len - i);

		if (seq > 1) {
			memcpy(piece, s + i, seq);
			plen = step = seq;
		} else if (s[i] == '"' || s[i] == '\\') {
			piece[0] = '\\';
			piece[1] = (char)s[i];
			plen = 2;
			step = 1;
		} else if (s[i] >= 0x20 && s[i] < 0x7f) {
			piece[0] = (char)s[i];
			plen = step = 1;
		} else {
			piece[0] = '\\';
			piece[1] = 'x';
			piece[2] = hex[s[i] >> 4];
			piece[3] = hex[s[i] & 0x0f];
			plen = 4;
			step = 1;
		}
		if (i + step > max_in || o + plen + sizeof "..." > outsz)
			break;
		memcpy(out + o, piece, plen);
		o += plen;
		i += step;
	}
	if (i < len && o + sizeof "..." <= outsz) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return o;
}
