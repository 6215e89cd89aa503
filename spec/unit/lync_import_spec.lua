-- The Lync importer (README "Migrating from Lync") on exports written from the documented
-- properties of Get-CsXmppAllowedPartner (spec/fixtures/lync/): partners.lync_parse in the C
-- core, lua/lync.lib.lua's mapping through partners.schema(), lua/lyncconfig.lib.lua's snippet
-- and the plain script scripts/s2s-partners-import.
local core = require "s2s_partners"
local lync = dofile("lua/lync.lib.lua")(core)
local config = dofile("lua/lyncconfig.lib.lua")(core)

local FIXTURES = "spec/fixtures/lync/"

local function read(name)
	local f = assert(io.open(FIXTURES .. name, "rb"))
	local text = f:read("a")
	f:close()
	return text
end

local function import(name) return assert(lync.import(read(name))) end

local function texts(list)
	local out = {}
	for i, n in ipairs(list) do out[i] = ("%d: %s"):format(n.line, n.text) end
	return out
end

-- The compiled partners of a list of records: what Prosody would enforce.
local function compiled(records)
	local policy = assert(core.compile(records))
	local out = {}
	for i, p in ipairs(policy:partners()) do
		out[i] = { domain = p.domain, additional_domains = p.additional_domains, type = p.type, tls = p.tls,
			sasl = p.sasl, dialback = p.dialback, connection_limit = p.connection_limit, keepalive = p.keepalive,
			connect = p.connect }
	end
	return out
end

-- The three partners every export below holds.
local EXPECTED = {
	{ domain = "b.test", additional_domains = { "corp.b.test", "mail.b.test" }, type = "federated", tls = "required",
	  sasl = "optional", dialback = true, connection_limit = 10, keepalive = true },
	{ domain = "contoso.test", additional_domains = {}, type = "public_verified", tls = "optional", sasl = "not_supported",
	  dialback = true, connection_limit = 21, keepalive = false, connect = "sip.contoso.test" },
	{ domain = "xn--bcher-kva.test", additional_domains = {}, type = "public_unverified", tls = "required",
	  sasl = "required", dialback = true, keepalive = true },
}

-- The snippet, loaded as Prosody's config loader would (plain Lua assignments).
local function load_snippet(text)
	local env = {}
	assert(load(text, "=snippet", "t", env))()
	return env.s2s_partners
end

describe("Lync import: Export-Csv", function()
	local cases = {
		{ file = "allowed-partners.csv", encoding = "UTF-8 (BOM)", lines = { 2, 3, 4 } },
		{ file = "allowed-partners-type.csv", encoding = "ASCII", lines = { 3, 4, 5 }, note = "#TYPE" },
		{ file = "allowed-partners-culture.csv", encoding = "UTF-8 (BOM)", lines = { 2, 3, 4 }, note = "-UseCulture" },
		{ file = "allowed-partners-unicode.csv", encoding = "UTF-16LE", lines = { 2, 3, 4 } },
	}
	for _, case in ipairs(cases) do
		it(case.file .. " gives the three partners, each at its line", function()
			local r = import(case.file)
			assert.equal("csv", r.format)
			assert.equal(case.encoding, r.encoding)
			assert.same({}, r.errors)
			assert.same(EXPECTED, compiled(r.records))
			assert.same(case.lines, r.lines)
			assert.equal('Fabrikam, Inc. ("B")', r.records[1].description)
			if case.note then assert.matches(case.note, table.concat(texts(r.notes), "\n"), 1, true) end
		end)
	end

	it("decodes UTF-16LE text (a U-label domain and description)", function()
		local r = import("allowed-partners-unicode.csv")
		assert.equal("bücher.test", r.records[3].domain)
		assert.equal("Bücher GmbH", r.records[3].description)
	end)

	it("reports the default combination of Lync (TLS and SASL required, dialback) as a warning row", function()
		local r = import("allowed-partners.csv")
		assert.same({ "4: xn--bcher-kva.test: Dialback will not operate if both SASL and TLS are required." }, texts(r.warnings))
	end)

	it("fills missing columns with Lync's defaults, says so, and ignores unknown columns with a note", function()
		local r = import("minimal.csv")
		assert.same({ { domain = "b.test", type = "public_unverified", tls = "required", sasl = "required", dialback = true,
			keepalive = true } }, r.records)
		local notes = table.concat(texts(r.notes), "\n")
		assert.matches('2: "Notes" ignored: not a partner property', notes, 1, true)
		for _, property in ipairs{ "PartnerType", "TlsNegotiation", "SaslNegotiation", "SupportDialbackNegotiation",
			"EnableKeepAlive" } do
			assert.matches(property .. " not given", notes, 1, true)
		end
		assert.equal(1, #r.warnings)
	end)

	it("refuses rows whose AdditionalDomains is a .NET type name, with the export command that works", function()
		local r = import("raw-export.csv")
		assert.same({}, r.records)
		assert.equal(3, #r.errors)
		for i, e in ipairs(r.errors) do
			assert.equal(i + 2, e.line)
			assert.matches('AdditionalDomains is the type name "System.Collections.Generic.List`1[System.String]"', e.text, 1, true)
			assert.matches(lync.EXPORT_COMMAND, e.text, 1, true)
		end
		assert.matches("Microsoft.Rtc.Management.Xmpp.XmppPartnerDomains", (select(2, next(
			assert(lync.import('"Domain","AdditionalDomains"\n"a.test","Microsoft.Rtc.Management.Xmpp.XmppPartnerDomains"\n')).errors
		))).text, 1, true)
	end)

	it("reports every invalid row with its line and the validator's message, and keeps only valid rows", function()
		local r = import("invalid.csv")
		assert.same({
			'4: legacy.test: tls = "not_supported", sasl = "required", dialback = false: SASL requires TLS, and TLS is not '
				.. "available; dialback is off and cannot be used.",
			'5: PartnerType "Partner" is none of Federated, PublicVerified, PublicUnverified',
		}, texts(r.errors))
	end)

	it("names a duplicate domain at the line of its second row", function()
		local r = assert(lync.import("Domain\nb.test\nc.test\nB.TEST.\n"))
		assert.same({ 4 }, { r.errors[1].line })
		assert.equal(1, #r.errors)
		assert.equal(2, #r.records)
	end)

	it("follows RFC 4180: quotes, doubled quotes, line breaks and delimiters inside a field, LF line ends", function()
		local r = assert(lync.import('Domain,Description\nb.test,"one, ""two""\nthree"\n\nc.test,plain\n'))
		assert.same({ 'one, "two"\nthree', "plain" }, { r.records[1].description, r.records[2].description })
		assert.same({ 2, 5 }, r.lines)
	end)

	it("reads header names in any case", function()
		local r = assert(lync.import("DOMAIN;partnertype;TLSNEGOTIATION\nb.test;federated;notsupported\n"))
		assert.same({ "federated", "not_supported" }, { r.records[1].type, r.records[1].tls })
	end)

	it("fails with the line of a syntax error, or of an undecodable file", function()
		assert.same({ nil, "line 2: a quoted field is not closed" }, { lync.import('Domain\n"b.test\n') })
		assert.same({ nil, "line 2: text after the closing quote of a field" }, { lync.import('Domain\n"b.test"x\n') })
		assert.matches("UTF-16 but has an odd number", select(2, lync.import("\255\254a")), 1, true)
		assert.matches("neither UTF-8", select(2, lync.import("Domain\n\233.test\n")), 1, true)
	end)

	it("writes a prosody.cfg.lua snippet that loads and compiles to the same partners", function()
		for _, file in ipairs{ "allowed-partners.csv", "allowed-partners-unicode.csv", "minimal.csv" } do
			local r = import(file)
			local text = config.snippet(r, { source = file, host = "a.test" })
			assert.matches('-- warning: line %d+: ', text)
			assert.same(compiled(r.records), compiled(load_snippet(text)))
		end
	end)

	it("keeps a hostile description inside its string and comment lines on one line", function()
		local r = assert(lync.import('Domain,Description,x\nb.test,"a\nb"" }; os.exit() --",y\n'))
		local text = config.snippet(r, { source = "evil\nos.exit()", host = 'a"\n' })
		for line in text:gmatch("[^\n]+") do
			assert.is_truthy(line:match("^%-%-") or line:match("^s2s_partners = {$") or line:match("^\t") or line == "}")
		end
		assert.equal('a\nb" }; os.exit() --', load_snippet(text)[1].description)
	end)
end)

describe("scripts/s2s-partners-import", function()
	local function run(args)
		local p = io.popen("S2SP_MODULE_DIR=build/plugins/mod_s2s_partners scripts/s2s-partners-import " .. args .. " 2>/dev/null")
		local out = p:read("a")
		local _, _, code = p:close()
		return code, out
	end

	it("prints the snippet of a valid export", function()
		local code, out = run(FIXTURES .. "allowed-partners.csv --host a.test")
		assert.equal(0, code)
		assert.same(compiled(import("allowed-partners.csv").records), compiled(load_snippet(out)))
	end)

	it("prints nothing and fails when a row is invalid", function()
		assert.same({ 1, "" }, { run(FIXTURES .. "invalid.csv") })
	end)

	it("refuses --apply and unknown options", function()
		assert.same({ 2, "" }, { run(FIXTURES .. "allowed-partners.csv --host a.test --apply") })
		assert.same({ 2, "" }, { run("--bogus") })
	end)
end)
