-- partners.cert_identity / cert_info / cert_expired / spki_sha256 / pin_match, against real
-- certificates made by openssl at run time (spec/fixtures/certs.lua).
local partners = require "s2s_partners"
local certs = require "fixtures.certs"

local XMPP = "otherName:1.3.6.1.5.5.7.8.5;UTF8:" -- id-on-xmppAddr
local SRV = "otherName:1.3.6.1.5.5.7.8.7;IA5:"   -- id-on-dnsSRV

local function nomatch(domain)
	return { false, "certificate does not identify " .. domain }
end

-- { description, certificate options, domain asked, expected { ok, how-or-reason } }
local identity_cases = {
	-- DNS-ID
	{ "exact dNSName", { san = "DNS:a.test" }, "a.test", { true, "dns-id" } },
	{ "query in upper case with a trailing dot", { san = "DNS:a.test" }, "A.Test.", { true, "dns-id" } },
	{ "presented in upper case with a trailing dot", { san = "DNS:A.TEST." }, "a.test", { true, "dns-id" } },
	{ "one of several dNSNames", { san = "DNS:x.test,DNS:a.test,DNS:y.test" }, "a.test", { true, "dns-id" } },
	{ "another domain", { san = "DNS:a.test" }, "b.test", nomatch("b.test") },
	{ "a subdomain of the presented name", { san = "DNS:a.test" }, "x.a.test", nomatch("x.a.test") },
	{ "the parent of the presented name", { san = "DNS:x.a.test" }, "a.test", nomatch("a.test") },
	{ "a suffix that is not a label boundary", { san = "DNS:xa.test" }, "a.test", nomatch("a.test") },
	{ "a presented name with an empty label", { san = "DNS:a..test" }, "a.test", nomatch("a.test") },
	{ "a presented name with an underscore", { san = "DNS:a_b.test" }, "ab.test", nomatch("ab.test") },
	-- wildcards (RFC 6125 §6.4.3)
	{ "wildcard matches one label", { san = "DNS:*.example.test" }, "x.example.test", { true, "dns-id-wildcard" } },
	{ "wildcard in upper case", { san = "DNS:*.EXAMPLE.TEST" }, "X.example.test", { true, "dns-id-wildcard" } },
	{ "wildcard does not match two labels", { san = "DNS:*.example.test" }, "a.b.example.test",
		nomatch("a.b.example.test") },
	{ "wildcard does not match the bare domain", { san = "DNS:*.example.test" }, "example.test",
		nomatch("example.test") },
	{ "wildcard followed by one label only", { san = "DNS:*.test" }, "x.test", nomatch("x.test") },
	{ "wildcard alone", { san = "DNS:*" }, "test", nomatch("test") },
	{ "partial wildcard before", { san = "DNS:f*.example.test" }, "foo.example.test", nomatch("foo.example.test") },
	{ "partial wildcard after", { san = "DNS:*oo.example.test" }, "foo.example.test", nomatch("foo.example.test") },
	{ "partial wildcard in the middle", { san = "DNS:f*o.example.test" }, "foo.example.test",
		nomatch("foo.example.test") },
	{ "wildcard not left-most", { san = "DNS:x.*.example.test" }, "x.y.example.test", nomatch("x.y.example.test") },
	{ "two wildcards", { san = "DNS:*.*.example.test" }, "x.y.example.test", nomatch("x.y.example.test") },
	{ "wildcard label matching an A-label", { san = "DNS:*.example.test" }, "bücher.example.test",
		{ true, "dns-id-wildcard" } },
	{ "exact name preferred over the wildcard", { san = "DNS:*.example.test,DNS:x.example.test" }, "x.example.test",
		{ true, "dns-id" } },
	-- IDN
	{ "A-label presented, U-label asked", { san = "DNS:xn--bcher-kva.example" }, "Bücher.Example.",
		{ true, "dns-id" } },
	{ "A-label presented, A-label asked", { san = "DNS:xn--bcher-kva.example" }, "XN--BCHER-KVA.example",
		{ true, "dns-id" } },
	{ "A-label presented, another U-label asked", { san = "DNS:xn--bcher-kva.example" }, "bucher.example",
		nomatch("bucher.example") },
	-- SRV-ID (RFC 4985)
	{ "SRV-ID for _xmpp-server", { san = SRV .. "_xmpp-server.b.test" }, "b.test", { true, "srv-id" } },
	{ "SRV-ID in upper case", { san = SRV .. "_XMPP-SERVER.B.Test" }, "b.test", { true, "srv-id" } },
	{ "SRV-ID for IDN in A-labels", { san = SRV .. "_xmpp-server.xn--bcher-kva.example" }, "bücher.example",
		{ true, "srv-id" } },
	{ "SRV-ID for _xmpp-client only", { san = SRV .. "_xmpp-client.b.test", subject = "/CN=b.test" }, "b.test",
		nomatch("b.test") },
	{ "SRV-ID for another domain", { san = SRV .. "_xmpp-server.c.test" }, "b.test", nomatch("b.test") },
	{ "SRV-ID wildcard", { san = SRV .. "_xmpp-server.*.example.test" }, "x.example.test",
		nomatch("x.example.test") },
	{ "SRV-ID without a service", { san = SRV .. "b.test" }, "b.test", nomatch("b.test") },
	{ "SRV-ID as UTF8String", { san = "otherName:1.3.6.1.5.5.7.8.7;UTF8:_xmpp-server.b.test" }, "b.test",
		nomatch("b.test") },
	-- XmppAddr (RFC 6120 §13.7.1.4)
	{ "XmppAddr", { san = XMPP .. "b.test" }, "b.test", { true, "xmppaddr" } },
	{ "XmppAddr in mixed case with a trailing dot", { san = XMPP .. "B.Test." }, "b.test", { true, "xmppaddr" } },
	{ "XmppAddr in U-labels, asked in A-labels",
		{ alt = { "otherName.0 = 1.3.6.1.5.5.7.8.5;FORMAT:UTF8,UTF8:Bücher.example" } }, "xn--bcher-kva.example",
		{ true, "xmppaddr" } },
	{ "XmppAddr in U-labels, asked in U-labels",
		{ alt = { "otherName.0 = 1.3.6.1.5.5.7.8.5;FORMAT:UTF8,UTF8:bücher.example" } }, "BÜCHER.example",
		{ true, "xmppaddr" } },
	{ "XmppAddr that is not a valid domain", { alt = { "otherName.0 = 1.3.6.1.5.5.7.8.5;UTF8:b..test" } }, "b.test",
		nomatch("b.test") },
	{ "XmppAddr with a local part", { san = XMPP .. "user@b.test" }, "b.test", nomatch("b.test") },
	{ "XmppAddr with a resource", { san = XMPP .. "b.test/res" }, "b.test", nomatch("b.test") },
	{ "XmppAddr wildcard", { san = XMPP .. "*.example.test" }, "x.example.test", nomatch("x.example.test") },
	{ "XmppAddr as IA5String", { san = "otherName:1.3.6.1.5.5.7.8.5;IA5:b.test", subject = "/CN=b.test" },
		"b.test", nomatch("b.test") },
	{ "XmppAddr for another domain", { san = XMPP .. "c.test" }, "b.test", nomatch("b.test") },
	{ "every kind at once reports the strongest",
		{ san = "DNS:*.b.test," .. XMPP .. "x.b.test," .. SRV .. "_xmpp-server.x.b.test,DNS:x.b.test" },
		"x.b.test", { true, "dns-id" } },
	{ "SRV-ID preferred over XmppAddr and wildcard",
		{ san = "DNS:*.b.test," .. XMPP .. "x.b.test," .. SRV .. "_xmpp-server.x.b.test" },
		"x.b.test", { true, "srv-id" } },
	-- CN-ID fallback (RFC 6125 §6.4.4)
	{ "CN without any subjectAltName", { subject = "/CN=a.test" }, "a.test", { true, "cn" } },
	{ "CN in upper case", { subject = "/CN=A.TEST" }, "a.test", { true, "cn" } },
	{ "wildcard CN without subjectAltName", { subject = "/CN=*.example.test" }, "x.example.test", { true, "cn" } },
	{ "partial wildcard CN", { subject = "/CN=x*.example.test" }, "xy.example.test", nomatch("xy.example.test") },
	{ "CN for another domain", { subject = "/CN=b.test" }, "a.test", nomatch("a.test") },
	{ "CN ignored when a dNSName is present", { subject = "/CN=a.test", san = "DNS:other.test" }, "a.test",
		nomatch("a.test") },
	{ "CN ignored when an SRV-ID is present", { subject = "/CN=a.test", san = SRV .. "_xmpp-server.other.test" },
		"a.test", nomatch("a.test") },
	{ "CN ignored when an XmppAddr is present", { subject = "/CN=a.test", san = XMPP .. "other.test" }, "a.test",
		nomatch("a.test") },
	{ "CN ignored when a URI is present", { subject = "/CN=a.test", san = "URI:xmpp:other.test" }, "a.test",
		nomatch("a.test") },
	{ "CN used when the subjectAltName has only an IP address", { subject = "/CN=a.test", san = "IP:127.0.0.1" },
		"a.test", { true, "cn" } },
	{ "CN used when the subjectAltName has only an e-mail address",
		{ subject = "/CN=a.test", san = "email:admin@a.test" }, "a.test", { true, "cn" } },
	{ "two CNs are no CN-ID", { subject = "/CN=a.test/CN=b.test" }, "a.test", nomatch("a.test") },
	{ "no CN and no subjectAltName", { subject = "/O=Example" }, "a.test", nomatch("a.test") },
}

describe("partners.cert_identity", function()
	local gen

	setup(function()
		gen = certs.new()
	end)

	teardown(function()
		gen:cleanup()
	end)

	for _, case in ipairs(identity_cases) do
		local what, opts, domain, expected = case[1], case[2], case[3], case[4]
		it(what, function()
			local pem = gen:make(opts)
			assert.same(expected, { partners.cert_identity(pem, domain) })
			-- the DER form of the leaf answers the same
			assert.same(expected, { partners.cert_identity(gen:der(pem), domain) })
		end)
	end

	it("takes a LuaSec certificate object (what Prosody hands over) as its PEM form", function()
		local x509 = require "ssl.x509"
		for _, case in ipairs(identity_cases) do
			local pem = gen:make(case[2])
			assert.same(case[4], { partners.cert_identity(x509.load(pem), case[3]) }, case[1])
		end
	end)

	it("uses the leaf of a PEM chain only", function()
		local leaf = gen:make{ san = "DNS:a.test" }
		local other = gen:make{ san = "DNS:b.test", key = "other" }
		assert.same({ true, "dns-id" }, { partners.cert_identity(leaf .. other, "a.test") })
		assert.same(nomatch("b.test"), { partners.cert_identity(leaf .. other, "b.test") })
	end)

	it("skips text before the PEM block", function()
		local pem = gen:make{ san = "DNS:a.test" }
		assert.same({ true, "dns-id" }, { partners.cert_identity("subject=CN = a.test\n" .. pem, "a.test") })
	end)

	it("reads text starting with '0' as PEM", function()
		local pem = gen:make{ san = "DNS:a.test" }
		assert.same({ true, "dns-id" }, { partners.cert_identity("0 a note\n" .. pem, "a.test") })
	end)

	it("names the normalised domain when it does not match", function()
		local pem = gen:make{ san = "DNS:a.test" }
		assert.same(nomatch("xn--bcher-kva.example"), { partners.cert_identity(pem, "Bücher.example.") })
	end)

	local unparsable = {
		{ "empty input", "", "^invalid certificate: empty input$" },
		{ "text without PEM", "hello", "^invalid certificate %(PEM%): .*no start line" },
		{ "a PEM block of another kind", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
			"^invalid certificate %(PEM%): " },
		{ "DER junk", "\48\130\1\0\1\2\3", "^invalid certificate %(DER%): " },
		{ "oversized input", ("x"):rep(256 * 1024 + 1), "^invalid certificate: input larger than 262144 bytes$" },
	}
	for _, case in ipairs(unparsable) do
		it("refuses " .. case[1] .. " with nil and a reason", function()
			local ok, err = partners.cert_identity(case[2], "a.test")
			assert.is_nil(ok)
			assert.matches(case[3], err)
		end)
	end

	it("refuses a truncated DER certificate", function()
		local der = gen:der(gen:make{ san = "DNS:a.test" })
		local ok, err = partners.cert_identity(der:sub(1, -2), "a.test")
		assert.is_nil(ok)
		assert.matches("^invalid certificate %(DER%): ", err)
	end)

	it("refuses a DER certificate with trailing data", function()
		local der = gen:der(gen:make{ san = "DNS:a.test" })
		assert.same({ nil, "invalid certificate (DER): trailing data" }, { partners.cert_identity(der .. "\0", "a.test") })
	end)

	it("refuses a truncated PEM certificate", function()
		local pem = gen:make{ san = "DNS:a.test" }
		local ok, err = partners.cert_identity(pem:sub(1, 200), "a.test")
		assert.is_nil(ok)
		assert.matches("^invalid certificate %(PEM%): ", err)
	end)

	local bad_domains = { "", "a..test", "a_b.test", "-a.test", ("a"):rep(64) .. ".test" }
	for _, domain in ipairs(bad_domains) do
		it(("refuses the invalid domain %q with nil and the idna reason"):format(domain), function()
			local pem = gen:make{ san = "DNS:a.test" }
			local ok, err = partners.cert_identity(pem, domain)
			assert.is_nil(ok)
			assert.same(select(2, partners.normalize(domain)), err)
		end)
	end

	it("raises on arguments that are not strings", function()
		assert.has_error(function() partners.cert_identity(nil, "a.test") end)
		assert.has_error(function() partners.cert_identity({}, "a.test") end)
		assert.has_error(function() partners.cert_identity("x", nil) end)
	end)
end)

describe("partners.cert_info", function()
	local gen

	setup(function()
		gen = certs.new()
	end)

	teardown(function()
		gen:cleanup()
	end)

	it("lists the names, dates and key digest", function()
		local pem = gen:make{
			subject = "/O=Example/CN=b.test",
			san = "DNS:b.test,DNS:*.b.test," .. SRV .. "_xmpp-server.b.test," .. XMPP .. "b.test,IP:127.0.0.1",
			startdate = "20200101000000Z", enddate = "20200201000000Z",
		}
		local info = partners.cert_info(pem)
		assert.same({
			names = { "b.test", "*.b.test" },
			srv = { "_xmpp-server.b.test" },
			xmpp = { "b.test" },
			cn = "b.test",
			subject = "/O=Example/CN=b.test",
			issuer = "/O=Example/CN=b.test",
			not_before = 1577836800,
			not_after = 1580515200,
			spki_sha256 = gen:spki_sha256(pem),
		}, info)
		assert.same(info, partners.cert_info(gen:der(pem)))
	end)

	it("has empty lists and no cn when the certificate has none", function()
		local info = partners.cert_info(gen:make{ subject = "/O=Example" })
		assert.same({}, info.names)
		assert.same({}, info.srv)
		assert.same({}, info.xmpp)
		assert.is_nil(info.cn)
	end)

	it("gives dates after 2038 and before 1970 as integers", function()
		local info = partners.cert_info(gen:make{ startdate = "19691231235959Z", enddate = "20500101000000Z" })
		assert.equal(-1, info.not_before)
		assert.equal(2524608000, info.not_after)
		assert.equal("integer", math.type(info.not_after))
	end)

	it("returns nil and a reason for unparsable input", function()
		local ok, err = partners.cert_info("nothing")
		assert.is_nil(ok)
		assert.matches("^invalid certificate %(PEM%): ", err)
	end)
end)

describe("partners.cert_expired", function()
	local gen, current, old, future

	setup(function()
		gen = certs.new()
		current = gen:make{ san = "DNS:a.test", days = 30 }
		old = gen:make{ san = "DNS:a.test", startdate = "20200101000000Z", enddate = "20200201000000Z" }
		future = gen:make{ san = "DNS:a.test", startdate = "20990101000000Z", enddate = "20991231000000Z" }
	end)

	teardown(function()
		gen:cleanup()
	end)

	local cases = {
		{ "a current certificate", "current", nil, { false } },
		{ "an expired certificate", "old", nil, { true, "certificate expired" } },
		{ "a certificate not yet valid", "future", nil, { true, "certificate not yet valid" } },
		{ "the last second of validity", "old", 1580515200, { false } },
		{ "one second after notAfter", "old", 1580515201, { true, "certificate expired" } },
		{ "the first second of validity", "old", 1577836800, { false } },
		{ "one second before notBefore", "old", 1577836799, { true, "certificate not yet valid" } },
	}
	for _, case in ipairs(cases) do
		it(case[1], function()
			local pem = ({ current = current, old = old, future = future })[case[2]]
			assert.same(case[4], { partners.cert_expired(pem, case[3]) })
			assert.same(case[4], { partners.cert_expired(gen:der(pem), case[3]) })
		end)
	end

	it("returns nil and a reason for unparsable input", function()
		local ok, err = partners.cert_expired("nothing")
		assert.is_nil(ok)
		assert.matches("^invalid certificate", err)
	end)

	it("raises when now is not a number", function()
		assert.has_error(function() partners.cert_expired(current, "soon") end)
	end)
end)

describe("partners.spki_sha256 and partners.pin_match", function()
	local gen, pem, same_key, other_key, pin, other_pin

	setup(function()
		gen = certs.new()
		pem = gen:make{ san = "DNS:a.test" }
		same_key = gen:make{ san = "DNS:renewed.test", days = 60 }
		other_key = gen:make{ san = "DNS:a.test", key = "other" }
		pin = gen:spki_sha256(pem)
		other_pin = gen:spki_sha256(other_key)
	end)

	teardown(function()
		gen:cleanup()
	end)

	it("is the SHA-256 of the DER SubjectPublicKeyInfo, as openssl computes it", function()
		assert.equal(pin, partners.spki_sha256(pem))
		assert.matches("^[0-9a-f]+$", pin)
		assert.equal(64, #pin)
	end)

	it("is the same for DER input", function()
		assert.equal(pin, partners.spki_sha256(gen:der(pem)))
	end)

	it("stays the same when a certificate is renewed with the same key", function()
		assert.equal(pin, partners.spki_sha256(same_key))
		assert.not_equal(pin, other_pin)
	end)

	it("returns nil and a reason for unparsable input", function()
		local ok, err = partners.spki_sha256("nothing")
		assert.is_nil(ok)
		assert.matches("^invalid certificate", err)
	end)

	local cases = {
		{ "the certificate's own pin", function() return { pin } end, true },
		{ "the pin in upper case", function() return { pin:upper() } end, true },
		{ "one of several pins", function() return { other_pin, pin } end, true },
		{ "another key's pin", function() return { other_pin } end, false },
		{ "an empty list", function() return {} end, false },
		{ "a pin with colons", function() return { (pin:gsub("(%x%x)", "%1:"):sub(1, -2)) } end, false },
		{ "a truncated pin", function() return { pin:sub(1, 63) } end, false },
		{ "a pin with one more character", function() return { pin .. "0" } end, false },
		{ "a pin differing in the last character",
			function() return { pin:sub(1, 63) .. (pin:sub(64) == "0" and "1" or "0") } end, false },
	}
	for _, case in ipairs(cases) do
		it(("%s: %s"):format(case[3] and "matches" or "does not match", case[1]), function()
			assert.equal(case[3], partners.pin_match(pem, case[2]()))
		end)
	end

	it("matches the DER form too", function()
		assert.is_true(partners.pin_match(gen:der(pem), { pin }))
		assert.is_true(partners.pin_match(require("ssl.x509").load(pem), { pin })) -- a LuaSec certificate object
	end)

	it("returns nil and a reason for unparsable input", function()
		local ok, err = partners.pin_match("nothing", { pin })
		assert.is_nil(ok)
		assert.matches("^invalid certificate", err)
	end)

	it("raises when pins is not a list of strings", function()
		assert.has_error(function() partners.pin_match(pem, pin) end)
		assert.has_error(function() partners.pin_match(pem, { pin, 42 }) end)
		assert.has_error(function() partners.pin_match(pem, { pin, false }) end)
		assert.has_error(function() partners.pin_match(pem) end)
	end)
end)
