/*
 * mod_s2s_partners — the encoding of a Lync export (README "Migrating from Lync"): Windows
 * PowerShell 5.1's Export-Csv writes ASCII by default, UTF-8 or UTF-16LE ("Unicode") with a
 * BOM when asked; a console capture (Format-List, ConvertTo-Json redirected with `>`) is
 * UTF-16LE with a BOM. Everything is handed on as UTF-8.
 */
#include "lync.h"
#include "text.h"

#include <stdint.h>

void s2sp_lync_add_utf8(luaL_Buffer *b, uint32_t cp)
{
	if (cp < 0x80) {
		luaL_addchar(b, (char)cp);
	} else if (cp < 0x800) {
		luaL_addchar(b, (char)(0xC0 | (cp >> 6)));
		luaL_addchar(b, (char)(0x80 | (cp & 0x3F)));
	} else if (cp < 0x10000) {
		luaL_addchar(b, (char)(0xE0 | (cp >> 12)));
		luaL_addchar(b, (char)(0x80 | ((cp >> 6) & 0x3F)));
		luaL_addchar(b, (char)(0x80 | (cp & 0x3F)));
	} else {
		luaL_addchar(b, (char)(0xF0 | (cp >> 18)));
		luaL_addchar(b, (char)(0x80 | ((cp >> 12) & 0x3F)));
		luaL_addchar(b, (char)(0x80 | ((cp >> 6) & 0x3F)));
		luaL_addchar(b, (char)(0x80 | (cp & 0x3F)));
	}
}

/* UTF-16 unit i of s (big- or little-endian). */
static uint32_t unit(const unsigned char *s, size_t i, int big)
{
	return big ? (uint32_t)s[2 * i] << 8 | s[2 * i + 1] : (uint32_t)s[2 * i + 1] << 8 | s[2 * i];
}

/* Convert UTF-16 s[0..len) (no BOM) and push it, or return an error (nothing pushed). */
static const char *from_utf16(lua_State *L, const unsigned char *s, size_t len, int big)
{
	size_t n = len / 2, i;
	luaL_Buffer b;

	if (len % 2 != 0)
		return "the file is UTF-16 but has an odd number of octets (truncated?)";
	/* validate first, so that the buffer is only opened for text that converts */
	for (i = 0; i < n; i++) {
		uint32_t u = unit(s, i, big);

		if (u >= 0xD800 && u <= 0xDBFF) {
			if (i + 1 >= n || unit(s, i + 1, big) < 0xDC00 || unit(s, i + 1, big) > 0xDFFF)
				return "the file is UTF-16 but has an unpaired surrogate";
			i++;
		} else if (u >= 0xDC00 && u <= 0xDFFF) {
			return "the file is UTF-16 but has an unpaired surrogate";
		} else if (u == 0) {
			return "the file has a NUL character";
		}
	}
	luaL_buffinit(L, &b);
	for (i = 0; i < n; i++) {
		uint32_t u = unit(s, i, big);

		if (u >= 0xD800 && u <= 0xDBFF) {
			u = 0x10000 + ((u - 0xD800) << 10) + (unit(s, i + 1, big) - 0xDC00);
			i++;
		}
		s2sp_lync_add_utf8(&b, u);
	}
	luaL_pushresult(&b);
	return NULL;
}

const char *s2sp_lync_decode(lua_State *L, const char *in, size_t len, const char **err)
{
	const unsigned char *s = (const unsigned char *)in;
	int ascii = 1;
	size_t i;

	if (len >= 2 && s[0] == 0xFF && s[1] == 0xFE) {
		*err = from_utf16(L, s + 2, len - 2, 0);
		return *err == NULL ? "UTF-16LE" : NULL;
	}
	if (len >= 2 && s[0] == 0xFE && s[1] == 0xFF) {
		*err = from_utf16(L, s + 2, len - 2, 1);
		return *err == NULL ? "UTF-16BE" : NULL;
	}
	if (len >= 3 && s[0] == 0xEF && s[1] == 0xBB && s[2] == 0xBF) {
		s += 3;
		len -= 3;
	}
	for (i = 0; i < len;) {
		size_t n = s[i] < 0x80 ? 1 : s2sp_utf8_seqlen(s + i, len - i);

		if (n == 0) {
			*err = "the file is neither UTF-8 nor UTF-16 with a BOM (export with "
			       "-Encoding UTF8)";
			return NULL;
		}
		if (s[i] == 0) {
			*err = "the file has a NUL character";
			return NULL;
		}
		ascii &= n == 1;
		i += n;
	}
	lua_pushlstring(L, (const char *)s, len);
	*err = NULL;
	if (s != (const unsigned char *)in)
		return "UTF-8 (BOM)";
	return ascii ? "ASCII" : "UTF-8";
}
