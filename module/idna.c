/*
 * mod_s2s_partners — domain name normalisation (IDNA2008, UTS #46 non-transitional).
 *
 * partners.normalize(domain) -> ascii_domain | nil, err
 *
 * libidn2 2.3 with IDN2_USE_STD3_ASCII_RULES silently drops the characters that STD3 forbids
 * ("a_b.com" becomes "ab.com", and so does "a\uff3fb.com"), which would let one spelling stand
 * for another partner. So the STD3 rules are enforced here instead: ASCII input is checked
 * before libidn2 sees it, and libidn2 (UTS #46 mapping without STD3) must then produce a name
 * made only of letters, digits, hyphens and dots.
 */
#include "idna.h"
#include "lua_api.h"
#include "text.h"

#include <idn2.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IDN2_FLAGS       IDN2_NONTRANSITIONAL
#define SHOWN_NAME_MAX   100 /* octets of a refused name quoted in a message */
#define SHOWN_LABEL_MAX  20  /* octets of an overlong label quoted in a message */
#define MSG_EMPTY        "empty domain name"
#define MSG_EMPTY_LABEL  "empty label in domain name"
#define MSG_NAME_TOO_BIG "domain name too long (max 253 octets)"

#if defined(__GNUC__)
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define PRINTF_LIKE(f, a)
#endif

static int fail(char *err, size_t errsz, const char *fmt, ...) PRINTF_LIKE(3, 4);

static int fail(char *err, size_t errsz, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errsz > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errsz, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* "invalid domain name \"<name>\": <reason>" */
static int fail_invalid(const char *in, size_t len, const char *reason, char *err, size_t errsz)
{
	char shown[S2SP_ESCAPE_SIZE(SHOWN_NAME_MAX)];

	s2sp_escape(in, len, SHOWN_NAME_MAX, shown, sizeof shown);
	return fail(err, errsz, "invalid domain name \"%s\": %s", shown, reason);
}

static int fail_char(const char *in, size_t len, const char *c, char *err, size_t errsz)
{
	char shown[S2SP_ESCAPE_SIZE(1)], reason[64];

	s2sp_escape(c, 1, 1, shown, sizeof shown);
	snprintf(reason, sizeof reason, "disallowed character \"%s\"", shown);
	return fail_invalid(in, len, reason, err, errsz);
}

static int fail_label_too_long(const char *label, size_t len, char *err, size_t errsz)
{
	char shown[S2SP_ESCAPE_SIZE(SHOWN_LABEL_MAX)];

	s2sp_escape(label, len, SHOWN_LABEL_MAX, shown, sizeof shown);
	return fail(err, errsz, "label too long (max 63 octets): %s", shown);
}

static bool is_ldh(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-';
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/*
 * Check the ASCII name s[0..n) (trailing dot already removed) label by label, left to right,
 * then its length. `in` is the caller's input, quoted in messages. Sets *reserved when a label
 * has "--" in its third and fourth positions (an A-label, or a reserved label libidn2 must
 * judge).
 */
static int check_labels(const char *in, size_t inlen, const char *s, size_t n, bool *reserved,
			char *err, size_t errsz)
{
	size_t i, start = 0;

	*reserved = false;
	for (i = 0; i <= n; i++) {
		size_t ll;

		if (i < n && s[i] != '.') {
			if (!is_ldh((unsigned char)s[i]))
				return fail_char(in, inlen, s + i, err, errsz);
			continue;
		}
		ll = i - start;
		if (ll == 0)
			return fail(err, errsz, MSG_EMPTY_LABEL);
		if (ll > S2SP_LABEL_MAX)
			return fail_label_too_long(s + start, ll, err, errsz);
		if (s[start] == '-' || s[i - 1] == '-') {
			char shown[S2SP_ESCAPE_SIZE(S2SP_LABEL_MAX)], reason[sizeof shown + 64];

			s2sp_escape(s + start, ll, S2SP_LABEL_MAX, shown, sizeof shown);
			snprintf(reason, sizeof reason, "label \"%s\" starts or ends with a hyphen",
				 shown);
			return fail_invalid(in, inlen, reason, err, errsz);
		}
		if (ll >= 4 && s[start + 2] == '-' && s[start + 3] == '-')
			*reserved = true;
		start = i + 1;
	}
	if (n > S2SP_DOMAIN_MAX)
		return fail(err, errsz, MSG_NAME_TOO_BIG);
	return 0;
}

/* Length of a dot (U+002E, U+3002, U+FF0E, U+FF61) ending s[0..n), or 0. */
static size_t trailing_dot(const char *s, size_t n)
{
	static const char *const dots[] = { "\xe3\x80\x82", "\xef\xbc\x8e", "\xef\xbd\xa1" };
	size_t i;

	if (n >= 1 && s[n - 1] == '.')
		return 1;
	for (i = 0; i < sizeof dots / sizeof dots[0]; i++)
		if (n >= 3 && memcmp(s + n - 3, dots[i], 3) == 0)
			return 3;
	return 0;
}

/* Length of a dot starting s[0..n), or 0. */
static size_t leading_dot(const char *s, size_t n)
{
	size_t d;

	for (d = 1; d <= 3 && d <= n; d++)
		if (trailing_dot(s, d) == d)
			return d;
	return 0;
}

/* libidn2 refused the NUL-terminated name buf for an overlong label: find and show it. */
static int fail_big_label(const char *buf, size_t n, char *err, size_t errsz)
{
	char label[S2SP_INPUT_MAX + 1];
	size_t i = 0, start = 0, d;

	while (i <= n) {
		d = i < n ? leading_dot(buf + i, n - i) : 1;
		if (d == 0) {
			i++;
			continue;
		}
		if (i > start) {
			uint8_t *res = NULL;
			int rc;

			memcpy(label, buf + start, i - start);
			label[i - start] = '\0';
			rc = idn2_lookup_u8((const uint8_t *)label, &res, IDN2_FLAGS);
			idn2_free(res);
			if (rc == IDN2_TOO_BIG_LABEL || rc == IDN2_PUNYCODE_BIG_OUTPUT)
				return fail_label_too_long(buf + start, i - start, err, errsz);
		}
		i += d;
		start = i;
	}
	return fail_label_too_long(buf, n, err, errsz);
}

static int normalize_ascii(const char *in, size_t len, char *out, size_t outsz, char *err,
			   size_t errsz)
{
	size_t i, n = len - trailing_dot(in, len);
	bool reserved;
	uint8_t *res = NULL;
	int rc;

	if (n == 0)
		return fail(err, errsz, MSG_EMPTY);
	if (check_labels(in, len, in, n, &reserved, err, errsz) != 0)
		return -1;
	if (n >= outsz)
		return fail(err, errsz, "output buffer too small");
	for (i = 0; i < n; i++)
		out[i] = lower(in[i]);
	out[n] = '\0';
	if (!reserved)
		return (int)n;

	/* "xn--" A-labels (and other "??--" labels) are for libidn2 to validate */
	rc = idn2_lookup_u8((const uint8_t *)out, &res, IDN2_FLAGS);
	if (rc != IDN2_OK)
		return fail_invalid(in, len, idn2_strerror(rc), err, errsz);
	n = strlen((const char *)res);
	if (n >= outsz) {
		idn2_free(res);
		return fail(err, errsz, MSG_NAME_TOO_BIG);
	}
	memcpy(out, res, n + 1);
	idn2_free(res);
	return (int)n;
}

static int normalize_unicode(const char *in, size_t len, char *out, size_t outsz, char *err,
			     size_t errsz)
{
	char buf[S2SP_INPUT_MAX + 1];
	size_t i, n = len - trailing_dot(in, len);
	bool reserved;
	uint8_t *res = NULL;
	int rc;

	if (n == 0)
		return fail(err, errsz, MSG_EMPTY);
	memcpy(buf, in, n);
	buf[n] = '\0';
	rc = idn2_lookup_u8((const uint8_t *)buf, &res, IDN2_FLAGS);
	switch (rc) {
	case IDN2_OK:
		break;
	case IDN2_TOO_BIG_DOMAIN:
		return fail(err, errsz, MSG_NAME_TOO_BIG);
	case IDN2_TOO_BIG_LABEL:
	case IDN2_PUNYCODE_BIG_OUTPUT:
		return fail_big_label(buf, n, err, errsz);
	default:
		return fail_invalid(in, len, idn2_strerror(rc), err, errsz);
	}
	n = strlen((const char *)res);
	if (n >= outsz) {
		idn2_free(res);
		return fail(err, errsz, MSG_NAME_TOO_BIG);
	}
	for (i = 0; i <= n; i++)
		out[i] = lower((char)res[i]);
	idn2_free(res);
	/* the STD3 rules, on what the mapping produced */
	if (n == 0)
		return fail(err, errsz, MSG_EMPTY);
	if (check_labels(in, len, out, n, &reserved, err, errsz) != 0)
		return -1;
	return (int)n;
}

/*
 * Whether s[0..len) is a name in normal form already, one pass: lower-case LDH labels of
 * 1..63 octets, none starting or ending with a hyphen or reserved ("??--"), at most
 * S2SP_DOMAIN_MAX octets, no trailing dot. Such a name normalises to itself (what
 * normalize_ascii makes of it in three passes); anything else takes the full path, and gets its
 * messages. Most names in a configuration are written this way.
 */
static bool label_ok(const char *s, size_t start, size_t end)
{
	size_t ll = end - start;

	return ll != 0 && ll <= S2SP_LABEL_MAX && s[start] != '-' && s[end - 1] != '-' &&
	       !(ll >= 4 && s[start + 2] == '-' && s[start + 3] == '-');
}

static bool already_normal(const char *s, size_t len)
{
	/* 1: a-z 0-9 -, 2: '.', 0: anything else */
	static const unsigned char kind[256] = {
		['-'] = 1, ['.'] = 2,
		['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1,
		['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
		['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1,
		['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1,
		['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1,
		['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
	};
	size_t i, start = 0;

	if (len == 0 || len > S2SP_DOMAIN_MAX)
		return false;
	for (i = 0; i < len; i++) {
		unsigned char k = kind[(unsigned char)s[i]];

		if (k == 2) {
			if (!label_ok(s, start, i))
				return false;
			start = i + 1;
		} else if (k == 0) {
			return false;
		}
	}
	return label_ok(s, start, len);
}

int s2sp_normalize(const char *in, size_t len, char *out, size_t outsz, char *err, size_t errsz)
{
	bool ascii = true;
	size_t i;

	if (err != NULL && errsz > 0)
		err[0] = '\0';
	if (len < outsz && already_normal(in, len)) {
		memcpy(out, in, len);
		out[len] = '\0';
		return (int)len;
	}
	if (len == 0)
		return fail(err, errsz, MSG_EMPTY);
	if (len > S2SP_INPUT_MAX)
		return fail(err, errsz, MSG_NAME_TOO_BIG);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c >= 0x80)
			ascii = false;
		else if (c != '.' && !is_ldh(c))
			return fail_char(in, len, in + i, err, errsz);
	}
	if (ascii)
		return normalize_ascii(in, len, out, outsz, err, errsz);
	return normalize_unicode(in, len, out, outsz, err, errsz);
}

bool s2sp_domain_fast_path(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > S2SP_DOMAIN_MAX || s[len - 1] == '.')
		return false;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.'))
			return false;
	}
	return true;
}

/* partners.normalize(domain) -> ascii_domain | nil, err */
static int l_normalize(lua_State *L)
{
	char out[S2SP_DOMAIN_BUFSZ], err[S2SP_ERRBUFSZ];
	const char *in;
	size_t len;
	int n;

	luaL_checktype(L, 1, LUA_TSTRING);
	in = lua_tolstring(L, 1, &len);
	n = s2sp_normalize(in, len, out, sizeof out, err, sizeof err);
	if (n < 0) {
		lua_pushnil(L);
		lua_pushstring(L, err);
		return 2;
	}
	lua_pushlstring(L, out, (size_t)n);
	return 1;
}

void s2sp_open_idna(lua_State *L)
{
	static const luaL_Reg functions[] = {
		{ "normalize", l_normalize },
		{ NULL,        NULL        },
	};

	luaL_setfuncs(L, functions, 0);
}
