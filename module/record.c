/*
 * mod_s2s_partners — values of partner record fields that are more than a type check.
 */
#include "record.h"
#include "text.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#define SHOWN_MAX 100 /* octets of a refused value quoted in a message */

static const char *const type_names[S2SP_PARTNER_TYPE_COUNT] = {
	[S2SP_FEDERATED]         = "federated",
	[S2SP_PUBLIC_VERIFIED]   = "public_verified",
	[S2SP_PUBLIC_UNVERIFIED] = "public_unverified",
};

const char *s2sp_partner_type_name(enum s2sp_partner_type t)
{
	if ((unsigned)t >= S2SP_PARTNER_TYPE_COUNT)
		return NULL;
	return type_names[t];
}

bool s2sp_partner_type_auto_approve(enum s2sp_partner_type t)
{
	return t == S2SP_FEDERATED || t == S2SP_PUBLIC_VERIFIED;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int s2sp_parse_pin(const char *in, size_t len, char out[S2SP_PIN_HEXLEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	bool colons;
	size_t i, o = 0;

	if (len == S2SP_PIN_HEXLEN)
		colons = false;
	else if (len == S2SP_PIN_HEXLEN / 2 * 3 - 1)
		colons = true;
	else
		return -1;
	for (i = 0; i < len; i++) {
		int v;

		if (colons && i % 3 == 2) {
			if (in[i] != ':')
				return -1;
			continue;
		}
		v = hexval(in[i]);
		if (v < 0)
			return -1;
		out[o++] = hex[v];
	}
	out[o] = '\0';
	return 0;
}

static int fail(char *err, size_t errsz, const char *what, const char *in, size_t len,
		const char *hint)
{
	char shown[S2SP_ESCAPE_SIZE(SHOWN_MAX)];

	s2sp_escape(in, len, SHOWN_MAX, shown, sizeof shown);
	if (err != NULL && errsz > 0)
		snprintf(err, errsz, "%s \"%s\"%s", what, shown, hint);
	return -1;
}

/* 1..65535 in plain decimal; 0 when s[0..len) is not that. */
static unsigned parse_port(const char *s, size_t len)
{
	unsigned long v = 0;
	size_t i;

	if (len == 0 || len > 5)
		return 0;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	return v >= 1 && v <= 65535 ? (unsigned)v : 0;
}

static bool digits_and_dots(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || s[i] == '.'))
			return false;
	return true;
}

int s2sp_parse_connect(const char *in, size_t len, struct s2sp_connect *out, char *err,
		       size_t errsz)
{
	const char *host = in, *port = NULL, *colon;
	size_t hostlen = len, portlen = 0;
	char addr[INET6_ADDRSTRLEN];
	unsigned char bin[16];

	memset(out, 0, sizeof *out);
	if (len == 0)
		return fail(err, errsz, "expected \"host\" or \"host:port\", got", in, len, "");
	if (in[0] == '[') {
		const char *close = memchr(in, ']', len);

		if (close == NULL)
			return fail(err, errsz, "missing \"]\" in", in, len, "");
		host = in + 1;
		hostlen = (size_t)(close - host);
		if (close + 1 < in + len) {
			if (close[1] != ':')
				return fail(err, errsz, "expected \":port\" after \"]\" in", in, len,
					    "");
			port = close + 2;
			portlen = (size_t)(in + len - port);
		}
		if (hostlen >= sizeof addr || memchr(host, '\0', hostlen) != NULL)
			return fail(err, errsz, "invalid IPv6 address", in, len, "");
		memcpy(addr, host, hostlen);
		addr[hostlen] = '\0';
		if (inet_pton(AF_INET6, addr, bin) != 1)
			return fail(err, errsz, "invalid IPv6 address", in, len, "");
		out->kind = S2SP_HOST_IPV6;
		inet_ntop(AF_INET6, bin, out->host, sizeof out->host);
	} else {
		colon = memchr(in, ':', len);
		if (colon != NULL) {
			if (memchr(colon + 1, ':', (size_t)(in + len - colon - 1)) != NULL)
				return fail(err, errsz, "invalid host in", in, len,
					    " (write an IPv6 address in brackets, e.g. "
					    "\"[2001:db8::1]:5269\")");
			hostlen = (size_t)(colon - in);
			port = colon + 1;
			portlen = (size_t)(in + len - port);
		}
		if (hostlen == 0)
			return fail(err, errsz, "missing host in", in, len, "");
		if (digits_and_dots(host, hostlen)) {
			if (hostlen >= sizeof addr)
				return fail(err, errsz, "invalid IPv4 address", host, hostlen, "");
			memcpy(addr, host, hostlen);
			addr[hostlen] = '\0';
			if (inet_pton(AF_INET, addr, bin) != 1)
				return fail(err, errsz, "invalid IPv4 address", host, hostlen, "");
			out->kind = S2SP_HOST_IPV4;
			inet_ntop(AF_INET, bin, out->host, sizeof out->host);
		} else {
			out->kind = S2SP_HOST_NAME;
			if (s2sp_normalize(host, hostlen, out->host, sizeof out->host, err,
					   errsz) < 0)
				return -1;
		}
	}
	if (port != NULL) {
		out->port = parse_port(port, portlen);
		if (out->port == 0)
			return fail(err, errsz, "invalid port", port, portlen,
				    " (expected 1-65535)");
	}
	snprintf(out->text, sizeof out->text, out->kind == S2SP_HOST_IPV6 ? "[%s]" : "%s",
		 out->host);
	if (out->port != 0) {
		size_t n = strlen(out->text);

		snprintf(out->text + n, sizeof out->text - n, ":%u", out->port);
	}
	return 0;
}
