-- partners.compile: validation of partner records (README "Partner record" and "Negotiation matrix") and the warnings it reports.
local partners = require "s2s_partners"

local PIN_A = ("0123456789abcdef"):rep(4)
local PIN_B = ("fedcba9876543210"):rep(4)
local PIN_B_COLONS = PIN_B:upper():gsub("(%x%x)", "%1:"):sub(1, -2)
local SASL_TLS = "SASL requires TLS. Allowing TLS to be optional may result in failed session negotiations."
local EXPECT_NEGOTIATION = 'expected "required", "optional" or "not_supported"'
local EXPECT_PIN = "expected a SHA-256 fingerprint (64 hex digits, colons allowed between pairs)"

-- a list whose second partner is `record`, the first one being harmless
local function second(record)
	return { { domain = "contoso.com" }, record }
end

-- fabrikam.com with one field changed
local function fabrikam(field, value)
	return second({ domain = "fabrikam.com", [field] = value })
end

-- { description, list, default, exact error }
local refused = {
	-- the list itself
	{ "a string instead of a list", "fabrikam.com", nil,
		"partners: expected a list of partner records, got string" },
	{ "no list at all", nil, nil, "partners: expected a list of partner records, got nil" },
	{ "one record instead of a list", { domain = "fabrikam.com", tls = "required" }, nil,
		'partners: expected a list of partner records, got a table with field "domain"' },
	{ "a list with holes", { [1] = { domain = "contoso.com" }, [3] = { domain = "fabrikam.com" } }, nil,
		"partners: expected a list of partner records, got a table with holes" },
	{ "a list with a zero index", { [0] = { domain = "contoso.com" } }, nil,
		"partners: expected a list of partner records, got a table with key 0" },
	{ "an entry that is not a table", second("fabrikam.com"), nil, "partner 2: expected a table, got string" },
	-- keys
	{ "a misspelt field", fabrikam("tsl", "required"), nil, 'partner 2 (fabrikam.com): unknown field "tsl"' },
	{ "several unknown fields (the first in byte order is named)",
		second({ domain = "fabrikam.com", zone = 1, alias = 2, Tls = 3 }), nil,
		'partner 2 (fabrikam.com): unknown field "Tls"' },
	{ "a positional entry", { { "fabrikam.com" } }, nil,
		"partner 1: unexpected list entry [1] (fields are written name = value)" },
	{ "a boolean key", { { domain = "fabrikam.com", [true] = 1 } }, nil,
		"partner 1 (fabrikam.com): unexpected key of type boolean" },
	-- domain
	{ "a missing domain", { { tls = "required" } }, nil, 'partner 1: field "domain" is required' },
	{ "a numeric domain", second({ domain = 42 }), nil, 'partner 2: field "domain": expected string, got number' },
	{ "an invalid domain", second({ domain = "fabrikam..com" }), nil,
		'partner 2 (fabrikam..com): field "domain": empty label in domain name' },
	{ "a domain with an underscore", second({ domain = "_fabrikam.com" }), nil,
		'partner 2 (_fabrikam.com): field "domain": invalid domain name "_fabrikam.com": disallowed character "_"' },
	{ "an empty domain", second({ domain = "" }), nil, 'partner 2 (): field "domain": empty domain name' },
	{ "a JID as domain", second({ domain = "admin@fabrikam.com" }), nil,
		'partner 2 (admin@fabrikam.com): field "domain": invalid domain name "admin@fabrikam.com": disallowed character "@"' },
	-- description
	{ "a numeric description", fabrikam("description", 1), nil,
		'partner 2 (fabrikam.com): field "description": expected string, got number' },
	-- additional_domains
	{ "additional_domains as a string", fabrikam("additional_domains", "corp.fabrikam.com"), nil,
		'partner 2 (fabrikam.com): field "additional_domains": expected a list of domain names, got string' },
	{ "additional_domains as a map", fabrikam("additional_domains", { corp = "corp.fabrikam.com" }), nil,
		'partner 2 (fabrikam.com): field "additional_domains": expected a list of domain names, got a table with field "corp"' },
	{ "an invalid additional domain", fabrikam("additional_domains", { "corp.fabrikam.com", "it.fabrikam.com", "-x.fabrikam.com" }), nil,
		'partner 2 (fabrikam.com): field "additional_domains": entry 3: invalid domain name "-x.fabrikam.com": label "-x" starts or ends with a hyphen' },
	{ "an empty additional domain", fabrikam("additional_domains", { "corp.fabrikam.com", "it.fabrikam.com", "" }), nil,
		'partner 2 (fabrikam.com): field "additional_domains": entry 3: empty domain name' },
	{ "a numeric additional domain", fabrikam("additional_domains", { 1 }), nil,
		'partner 2 (fabrikam.com): field "additional_domains": entry 1: expected string, got number' },
	-- enumerations
	{ "tls = yes", fabrikam("tls", "yes"), nil,
		'partner 2 (fabrikam.com): field "tls": ' .. EXPECT_NEGOTIATION .. ', got "yes"' },
	{ "tls = true", fabrikam("tls", true), nil,
		'partner 2 (fabrikam.com): field "tls": ' .. EXPECT_NEGOTIATION .. ", got boolean" },
	{ "sasl in upper case", fabrikam("sasl", "REQUIRED"), nil,
		'partner 2 (fabrikam.com): field "sasl": ' .. EXPECT_NEGOTIATION .. ', got "REQUIRED"' },
	{ "sasl = 1", fabrikam("sasl", 1), nil,
		'partner 2 (fabrikam.com): field "sasl": ' .. EXPECT_NEGOTIATION .. ", got 1" },
	{ "an unknown type", fabrikam("type", "partner"), nil,
		'partner 2 (fabrikam.com): field "type": expected "federated", "public_verified" or "public_unverified", got "partner"' },
	{ "a table as type", fabrikam("type", {}), nil,
		'partner 2 (fabrikam.com): field "type": expected "federated", "public_verified" or "public_unverified", got table' },
	-- booleans
	{ "dialback as a string", fabrikam("dialback", "yes"), nil,
		'partner 2 (fabrikam.com): field "dialback": expected boolean, got string' },
	{ "keepalive as a number", fabrikam("keepalive", 1), nil,
		'partner 2 (fabrikam.com): field "keepalive": expected boolean, got number' },
	{ "auto_approve as a string", fabrikam("auto_approve", "true"), nil,
		'partner 2 (fabrikam.com): field "auto_approve": expected boolean, got string' },
	-- auto_approve by type
	{ "auto_approve on a public_unverified partner", fabrikam("auto_approve", true), nil,
		"partner 2 (fabrikam.com): auto_approve applies only to federated and public_verified partners" },
	-- connection_limit
	{ "a zero connection_limit", fabrikam("connection_limit", 0), nil,
		'partner 2 (fabrikam.com): field "connection_limit": expected an integer >= 1, got 0' },
	{ "a negative connection_limit", fabrikam("connection_limit", -5), nil,
		'partner 2 (fabrikam.com): field "connection_limit": expected an integer >= 1, got -5' },
	{ "a fractional connection_limit", fabrikam("connection_limit", 1.5), nil,
		'partner 2 (fabrikam.com): field "connection_limit": expected an integer >= 1, got 1.5' },
	{ "a string connection_limit", fabrikam("connection_limit", "10"), nil,
		'partner 2 (fabrikam.com): field "connection_limit": expected an integer >= 1, got "10"' },
	{ "a boolean connection_limit", fabrikam("connection_limit", true), nil,
		'partner 2 (fabrikam.com): field "connection_limit": expected an integer >= 1, got boolean' },
	-- connect
	{ "a numeric connect", fabrikam("connect", 5269), nil,
		'partner 2 (fabrikam.com): field "connect": expected string, got number' },
	{ "an empty connect", fabrikam("connect", ""), nil,
		'partner 2 (fabrikam.com): field "connect": expected "host" or "host:port", got ""' },
	{ "a connect port of 0", fabrikam("connect", "xmpp.fabrikam.com:0"), nil,
		'partner 2 (fabrikam.com): field "connect": invalid port "0" (expected 1-65535)' },
	{ "a connect port of 65536", fabrikam("connect", "xmpp.fabrikam.com:65536"), nil,
		'partner 2 (fabrikam.com): field "connect": invalid port "65536" (expected 1-65535)' },
	{ "a named connect port", fabrikam("connect", "xmpp.fabrikam.com:xmpp"), nil,
		'partner 2 (fabrikam.com): field "connect": invalid port "xmpp" (expected 1-65535)' },
	{ "an empty connect port", fabrikam("connect", "xmpp.fabrikam.com:"), nil,
		'partner 2 (fabrikam.com): field "connect": invalid port "" (expected 1-65535)' },
	{ "a connect without host", fabrikam("connect", ":5269"), nil,
		'partner 2 (fabrikam.com): field "connect": missing host in ":5269"' },
	{ "an invalid connect host", fabrikam("connect", "xmpp_fabrikam.com:5269"), nil,
		'partner 2 (fabrikam.com): field "connect": invalid domain name "xmpp_fabrikam.com": disallowed character "_"' },
	{ "an invalid IPv4 connect host", fabrikam("connect", "192.0.2.256:5269"), nil,
		'partner 2 (fabrikam.com): field "connect": invalid IPv4 address "192.0.2.256"' },
	{ "an IPv6 connect host without brackets", fabrikam("connect", "2001:db8::1"), nil,
		'partner 2 (fabrikam.com): field "connect": invalid host in "2001:db8::1" '
			.. '(write an IPv6 address in brackets, e.g. "[2001:db8::1]:5269")' },
	{ "an invalid IPv6 connect host", fabrikam("connect", "[2001:db8::zz]:5269"), nil,
		'partner 2 (fabrikam.com): field "connect": invalid IPv6 address "[2001:db8::zz]:5269"' },
	{ "an unclosed IPv6 bracket", fabrikam("connect", "[2001:db8::1"), nil,
		'partner 2 (fabrikam.com): field "connect": missing "]" in "[2001:db8::1"' },
	{ "junk after an IPv6 bracket", fabrikam("connect", "[2001:db8::1]5269"), nil,
		'partner 2 (fabrikam.com): field "connect": expected ":port" after "]" in "[2001:db8::1]5269"' },
	-- pin
	{ "a numeric pin", fabrikam("pin", 1), nil,
		'partner 2 (fabrikam.com): field "pin": expected a fingerprint or a list of fingerprints, got number' },
	{ "a short pin", fabrikam("pin", "abc"), nil, 'partner 2 (fabrikam.com): field "pin": ' .. EXPECT_PIN .. ', got "abc"' },
	{ "a pin with a non-hex digit", fabrikam("pin", PIN_A:sub(1, 63) .. "g"), nil,
		'partner 2 (fabrikam.com): field "pin": ' .. EXPECT_PIN .. ', got "' .. PIN_A:sub(1, 63) .. 'g"' },
	{ "a pin with misplaced colons", fabrikam("pin", PIN_A:sub(1, 62) .. ":" .. PIN_A:sub(63)), nil,
		'partner 2 (fabrikam.com): field "pin": ' .. EXPECT_PIN .. ', got "' .. PIN_A:sub(1, 62) .. ":" .. PIN_A:sub(63) .. '"' },
	{ "an empty pin list", fabrikam("pin", {}), nil,
		'partner 2 (fabrikam.com): field "pin": expected at least one fingerprint, got an empty list' },
	{ "a bad pin in a list", fabrikam("pin", { PIN_A, "zz" }), nil,
		'partner 2 (fabrikam.com): field "pin": entry 2: ' .. EXPECT_PIN .. ', got "zz"' },
	{ "a numeric pin in a list", fabrikam("pin", { PIN_A, 7 }), nil,
		'partner 2 (fabrikam.com): field "pin": entry 2: expected string, got number' },
	{ "a pin map", fabrikam("pin", { main = PIN_A }), nil,
		'partner 2 (fabrikam.com): field "pin": expected a fingerprint or a list of fingerprints, got a table with field "main"' },
	-- §3 matrix
	{ "an invalid N/R/false row", second({ domain = "fabrikam.com", tls = "not_supported", sasl = "required", dialback = false }), nil,
		'partner 2 (fabrikam.com): tls = "not_supported", sasl = "required", dialback = false: '
			.. "SASL requires TLS, and TLS is not available; dialback is off and cannot be used." },
	{ "an invalid N/O/false row", second({ domain = "fabrikam.com", tls = "not_supported", dialback = false }), nil,
		'partner 2 (fabrikam.com): tls = "not_supported", sasl = "optional", dialback = false: '
			.. "SASL requires TLS, and TLS is not available; dialback is off and cannot be used." },
	{ "an invalid R/N/false row", second({ domain = "fabrikam.com", sasl = "not_supported", dialback = false }), nil,
		'partner 2 (fabrikam.com): tls = "required", sasl = "not_supported", dialback = false: SASL or dialback must be enabled.' },
	-- one domain, one partner
	{ "a domain taken by an earlier partner",
		{ { domain = "contoso.com" }, { domain = "fabrikam.com" }, { domain = "contoso.com", additional_domains = { "fabrikam.com" } } }, nil,
		'partner 3 (contoso.com): domain "contoso.com" already belongs to partner 1 (contoso.com)' },
	{ "an additional domain taken by an earlier partner",
		{ { domain = "contoso.com" }, { domain = "fabrikam.com" }, { domain = "contoso.net", additional_domains = { "fabrikam.com" } } }, nil,
		'partner 3 (contoso.net): domain "fabrikam.com" already belongs to partner 2 (fabrikam.com)' },
	{ "a domain taken in another spelling",
		{ { domain = "contoso.com" }, { domain = "Fabrikam.COM." }, { domain = "contoso.com.au", additional_domains = { "fabrikam.com" } } }, nil,
		'partner 3 (contoso.com.au): domain "fabrikam.com" already belongs to partner 2 (Fabrikam.COM.)' },
	{ "a U-label taken as an A-label", { { domain = "bücher.example" }, { domain = "XN--BCHER-KVA.example" } }, nil,
		'partner 2 (XN--BCHER-KVA.example): domain "xn--bcher-kva.example" already belongs to partner 1 (bücher.example)' },
	{ "the primary domain repeated as additional", fabrikam("additional_domains", { "corp.fabrikam.com", "FABRIKAM.com" }), nil,
		'partner 2 (fabrikam.com): domain "fabrikam.com" is listed twice' },
	{ "an additional domain repeated", fabrikam("additional_domains", { "corp.fabrikam.com", "corp.fabrikam.com." }), nil,
		'partner 2 (fabrikam.com): domain "corp.fabrikam.com" is listed twice' },
	-- the default partner
	{ "a default that is not a table", {}, "public_unverified", "default partner: expected a table, got string" },
	{ "a default with a domain", {}, { domain = "fabrikam.com" }, 'default partner: field "domain" is not allowed' },
	{ "a default with additional domains", {}, { additional_domains = {} },
		'default partner: field "additional_domains" is not allowed' },
	{ "a default with an unknown field", {}, { tsl = "required" }, 'default partner: unknown field "tsl"' },
	{ "a default with a bad tls", {}, { tls = "always" },
		'default partner: field "tls": ' .. EXPECT_NEGOTIATION .. ', got "always"' },
	{ "a default with auto_approve", {}, { auto_approve = true },
		"default partner: auto_approve applies only to federated and public_verified partners" },
	{ "an invalid default row", {}, { tls = "not_supported", sasl = "not_supported", dialback = false },
		'default partner: tls = "not_supported", sasl = "not_supported", dialback = false: SASL or dialback must be enabled.' },
	{ "a valid list with an invalid default", { { domain = "fabrikam.com" } }, { dialback = 1 },
		'default partner: field "dialback": expected boolean, got number' },
}

describe("partners.compile", function()
	describe("refuses", function()
		for _, case in ipairs(refused) do
			it(case[1], function()
				local policy, err = partners.compile(case[2], case[3])
				assert.is_nil(policy)
				assert.equal(case[4], err)
			end)
		end
	end)

	it("quotes a raw domain safely in the partner's name", function()
		local policy, err = partners.compile({ { domain = 'evil"\ncom' } })
		assert.is_nil(policy)
		assert.equal('partner 1 (evil\\"\\x0acom): field "domain": invalid domain name "evil\\"\\x0acom": disallowed character "\\""', err)
	end)

	it("fills in every default of a minimal record", function()
		local policy, warnings = partners.compile({ { domain = "Fabrikam.COM." } })
		assert.same({}, warnings)
		assert.same({
			domain = "fabrikam.com",
			description = "",
			additional_domains = {},
			type = "public_unverified",
			tls = "required",
			sasl = "optional",
			dialback = true,
			keepalive = true,
			auto_approve = false,
			class = "valid",
			methods = { "sasl_tls", "tls_dialback" },
			index = 1,
			default = false,
		}, policy:lookup("fabrikam.com"))
	end)

	it("keeps every field of a full record, normalised", function()
		local policy, warnings = partners.compile({
			{ domain = "contoso.com" },
			{
				domain = "Fabrikam.com",
				description = "Fabrikam, Inc. — supply chain",
				additional_domains = { "Corp.Fabrikam.com", "bücher.example." },
				type = "federated",
				tls = "required",
				sasl = "required",
				dialback = false,
				connection_limit = 4,
				keepalive = true,
				connect = "XMPP.Fabrikam.com:5270",
				auto_approve = false,
				pin = { PIN_A, PIN_B_COLONS },
			},
		})
		assert.same({}, warnings)
		assert.same({
			domain = "fabrikam.com",
			description = "Fabrikam, Inc. — supply chain",
			additional_domains = { "corp.fabrikam.com", "xn--bcher-kva.example" },
			type = "federated",
			tls = "required",
			sasl = "required",
			dialback = false,
			connection_limit = 4,
			keepalive = true,
			connect = "xmpp.fabrikam.com:5270",
			connect_host = "xmpp.fabrikam.com",
			connect_port = 5270,
			auto_approve = false,
			pin = { PIN_A, PIN_B },
			class = "valid",
			methods = { "sasl_tls" },
			index = 2,
			default = false,
		}, policy:lookup("fabrikam.com"))
	end)

	it("stores connection_limit as an integer", function()
		local policy = partners.compile({ { domain = "fabrikam.com", connection_limit = 3.0 } })
		assert.equal("integer", math.type(policy:lookup("fabrikam.com").connection_limit))
	end)

	-- { type, auto_approve as written, auto_approve compiled }
	local approvals = {
		{ "federated", nil, true },
		{ "public_verified", nil, true },
		{ "public_unverified", nil, false },
		{ nil, nil, false },
		{ "federated", false, false },
		{ "public_verified", true, true },
		{ "public_unverified", false, false },
	}
	for _, case in ipairs(approvals) do
		it(("sets auto_approve = %s for type %s with auto_approve = %s"):format(case[3], case[1], case[2]), function()
			local policy = assert(partners.compile({ { domain = "fabrikam.com", type = case[1], auto_approve = case[2] } }))
			assert.equal(case[3], policy:lookup("fabrikam.com").auto_approve)
		end)
	end

	-- { connect as written, connect, connect_host, connect_port }
	local connects = {
		{ "Proxy.Fabrikam.COM", "proxy.fabrikam.com", "proxy.fabrikam.com", nil },
		{ "proxy.fabrikam.com.:5269", "proxy.fabrikam.com:5269", "proxy.fabrikam.com", 5269 },
		{ "bücher.example:1", "xn--bcher-kva.example:1", "xn--bcher-kva.example", 1 },
		{ "192.0.2.10", "192.0.2.10", "192.0.2.10", nil },
		{ "192.0.2.10:65535", "192.0.2.10:65535", "192.0.2.10", 65535 },
		{ "[2001:DB8:0:0::1]", "[2001:db8::1]", "2001:db8::1", nil },
		{ "[::1]:5270", "[::1]:5270", "::1", 5270 },
	}
	for _, case in ipairs(connects) do
		it(("parses connect = %q"):format(case[1]), function()
			local policy = assert(partners.compile({ { domain = "fabrikam.com", connect = case[1] } }))
			local p = policy:lookup("fabrikam.com")
			assert.equal(case[2], p.connect)
			assert.equal(case[3], p.connect_host)
			assert.equal(case[4], p.connect_port)
		end)
	end

	-- { pin as written, pin compiled }
	local pins = {
		{ PIN_A, { PIN_A } },
		{ PIN_A:upper(), { PIN_A } },
		{ PIN_B_COLONS, { PIN_B } },
		{ PIN_B_COLONS:lower(), { PIN_B } },
		{ { PIN_A }, { PIN_A } },
		{ { PIN_B_COLONS, PIN_A:upper() }, { PIN_B, PIN_A } },
	}
	for i, case in ipairs(pins) do
		it("normalises pin spelling #" .. i, function()
			local policy = assert(partners.compile({ { domain = "fabrikam.com", pin = case[1] } }))
			assert.same(case[2], policy:lookup("fabrikam.com").pin)
		end)
	end

	it("reports one warning per partner whose row is a warning, and the default's", function()
		local policy, warnings = partners.compile({
			{ domain = "contoso.com" },
			{ domain = "Fabrikam.com", tls = "optional" },
			{ domain = "litware.com", tls = "required", sasl = "required", dialback = true },
		}, { tls = "not_supported", sasl = "optional" })
		assert.truthy(policy)
		assert.equal(3, #warnings)
		assert.same({
			domain = "fabrikam.com",
			index = 2,
			message = SASL_TLS,
			tls = "optional",
			sasl = "optional",
			dialback = true,
			text = "partner 2 (Fabrikam.com): " .. SASL_TLS,
		}, warnings[1])
		assert.same({
			domain = "litware.com",
			index = 3,
			message = "Dialback will not operate if both SASL and TLS are required.",
			tls = "required",
			sasl = "required",
			dialback = true,
			text = "partner 3 (litware.com): Dialback will not operate if both SASL and TLS are required.",
		}, warnings[2])
		assert.same({
			message = SASL_TLS,
			tls = "not_supported",
			sasl = "optional",
			dialback = true,
			text = "default partner: " .. SASL_TLS,
		}, warnings[3])
		assert.equal("partner 2 (Fabrikam.com): " .. SASL_TLS, tostring(warnings[1]))
		assert.equal("default partner: " .. SASL_TLS, tostring(warnings[3]))
		assert.equal("warning", policy:lookup("fabrikam.com").class)
		assert.equal(SASL_TLS, policy:lookup("fabrikam.com").message)
	end)

	it("compiles an empty list into a policy that knows nobody", function()
		local policy, warnings = partners.compile({})
		assert.equal(0, #policy)
		assert.same({}, warnings)
		assert.is_nil(policy:lookup("fabrikam.com"))
		assert.is_nil(policy:resolve("fabrikam.com"))
		assert.is_nil(policy:default())
	end)

	it("returns a policy object with a named metatable", function()
		local policy = partners.compile({ { domain = "fabrikam.com" }, { domain = "contoso.com" } }, {})
		assert.equal("userdata", type(policy))
		assert.equal("s2s_partners.policy", getmetatable(policy).__name)
		assert.equal(2, #policy)
		assert.equal("s2s_partners.policy (2 partners, default)", tostring(policy))
		assert.equal("s2s_partners.policy (0 partners)", tostring(partners.compile({})))
	end)

	it("does not change the records it was given", function()
		local record = { domain = "Fabrikam.COM", additional_domains = { "Corp.Fabrikam.COM" }, pin = PIN_B_COLONS }
		assert(partners.compile({ record }))
		assert.same({ domain = "Fabrikam.COM", additional_domains = { "Corp.Fabrikam.COM" }, pin = PIN_B_COLONS }, record)
	end)

	it("compiles 10,000 partners with 3 domains each", function()
		local list = {}
		for i = 1, 10000 do
			list[i] = {
				domain = ("partner%d.example"):format(i),
				additional_domains = { ("a.partner%d.example"):format(i), ("Partner%d.Example.net"):format(i) },
			}
		end
		local policy, warnings = partners.compile(list)
		assert.is_nil(warnings and warnings[1])
		assert.equal(10000, #policy)
		for i = 1, 10000, 97 do
			assert.equal(i, policy:lookup(("partner%d.example.net"):format(i)).index)
		end
		list[10001] = { domain = "partner5000.example.net" }
		local none, err = partners.compile(list)
		assert.is_nil(none)
		assert.equal('partner 10001 (partner5000.example.net): domain "partner5000.example.net" '
			.. "already belongs to partner 5000 (partner5000.example)", err)
	end)
end)

describe("compiled partners' method lists", function()
	it("are shared by the partners of one row, and read-only", function()
		local p = assert(partners.compile({ { domain = "a.test" }, { domain = "b.test" },
			{ domain = "c.test", tls = "optional", sasl = "not_supported" } }))
		local a, b, c = p:lookup("a.test"), p:lookup("b.test"), p:lookup("c.test")
		assert.is_true(rawequal(a.methods, b.methods))
		assert.is_false(rawequal(a.methods, c.methods))
		assert.same({ "sasl_tls", "tls_dialback" }, a.methods)
		assert.same({ "tls_dialback", "tcp_dialback" }, c.methods)
		assert.has_error(function() a.methods[3] = "tcp_dialback" end, "a partner's methods are read-only")
		assert.same({ "sasl_tls", "tls_dialback" }, b.methods)
	end)
end)

describe("additional_domains refusals", function()
	-- a list whose entries are in the table's hash part, not its array part: refused in index order all the same
	local hashed = {}
	hashed[3] = "c..x"; hashed[2] = 7; hashed[1] = "A.example"
	local cases = {
		{ { "a.example", 5 }, 'entry 2: expected string, got number' },
		{ { "bad..x", foo = 1 }, 'expected a list of domain names, got a table with field "foo"' },
		{ { "ok.example", "bad..x", "x..y" }, 'entry 2: empty label in domain name' },
		{ hashed, 'entry 2: expected string, got number' },
		{ { [1] = "a.example", [3] = "b.example" }, 'expected a list of domain names, got a table with holes' },
		{ { "ok.example", [0] = "z" }, 'expected a list of domain names, got a table with key 0' },
	}
	for i, case in ipairs(cases) do
		it("names the first thing wrong, the list's shape before its entries (" .. i .. ")", function()
			local policy, err, detail = partners.compile({ { domain = "p.example", additional_domains = case[1] } })
			assert.is_nil(policy)
			assert.equal('partner 1 (p.example): field "additional_domains": ' .. case[2], err)
			assert.same({ index = 1, field = "additional_domains", message = 'field "additional_domains": ' .. case[2] }, detail)
		end)
	end

	it("keeps the entries normalised, in order, whichever part of the table holds them", function()
		local adds = {}
		adds[2] = "B.example."; adds[1] = "Bücher.example"
		local policy = assert(partners.compile({ { domain = "p.example", additional_domains = adds } }))
		assert.same({ "xn--bcher-kva.example", "b.example" }, policy:lookup("b.example").additional_domains)
	end)
end)
