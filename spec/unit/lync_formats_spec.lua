-- The Lync importer's other two formats (README "Migrating from Lync"): the console's
-- Format-List output and ConvertTo-Json, on spec/fixtures/lync/ and small inline exports.
local core = require "s2s_partners"
local lync = dofile("lua/lync.lib.lua")(core)

local function read(name)
	local f = assert(io.open("spec/fixtures/lync/" .. name, "rb"))
	local text = f:read("a")
	f:close()
	return text
end

-- What the CSV export of the same partners gives (spec/unit/lync_import_spec.lua checks it).
local function same_as_csv(r)
	local csv = assert(lync.import(read("allowed-partners.csv")))
	local want, got = assert(core.compile(csv.records)):partners(), assert(core.compile(r.records)):partners()
	assert.equal(#want, #got)
	for i, p in ipairs(want) do
		for _, k in ipairs{ "domain", "additional_domains", "type", "tls", "sasl", "dialback", "connection_limit",
			"keepalive", "connect", "description" } do
			assert.same(p[k], got[i][k], k)
		end
	end
end

-- The fixture `name` read as `format`: the three partners, at `lines`.
local function fixture(name, format, lines)
	local r = assert(lync.import(read(name)))
	assert.equal(format, r.format)
	assert.same({}, r.errors)
	assert.same(lines, r.lines)
	same_as_csv(r)
	return r
end

describe("Lync import: Format-List", function()
	it("reads the console's blocks, joins a wrapped value and splits {a, b} lists", function()
		local r = fixture("allowed-partners.txt", "list", { 3, 16, 28 })
		assert.equal('Fabrikam, Inc. ("B")', r.records[1].description)
	end)

	it("refuses a list cut short by $FormatEnumerationLimit", function()
		local r = assert(lync.import("Domain            : b.test\nAdditionalDomains : {a.test, b.test, c.test, d.test...}\n"))
		assert.equal(1, r.errors[1].line)
		assert.matches("AdditionalDomains is cut short", r.errors[1].text, 1, true)
		assert.matches(lync.EXPORT_COMMAND, r.errors[1].text, 1, true)
	end)

	it("names the line that is not \"Property : Value\"", function()
		assert.same({ nil, "line 3: expected \"Property : Value\"" },
			{ lync.import("Domain : b.test\n\nPS C:\\> exit\n") })
	end)
end)

describe("Lync import: ConvertTo-Json", function()
	it("reads an array of partner objects, each at the line of its '{'", function()
		local r = fixture("allowed-partners.json", "json", { 2, 21, 37 })
		assert.matches('"Element" ignored', r.notes[1].text, 1, true)
	end)

	it("reads a single object, true / false, numbers and \\u escapes", function()
		local r = assert(lync.import('{ "Domain": "b\\u00fccher.test", "EnableKeepAlive": false, "ConnectionLimit": 3,'
			.. ' "TlsNegotiation": "Optional", "SaslNegotiation": "Optional", "ProxyFqdn": null }'))
		assert.same({ domain = "bücher.test", type = "public_unverified", tls = "optional", sasl = "optional",
			dialback = true, connection_limit = 3, keepalive = false }, r.records[1])
	end)

	it("refuses enumerations written as numbers (Windows PowerShell 5.1), with the export command", function()
		local r = assert(lync.import('[{ "Domain": "b.test", "PartnerType": 0 }]'))
		assert.equal(1, r.errors[1].line)
		assert.matches("PartnerType is the number 0", r.errors[1].text, 1, true)
		assert.matches(lync.EXPORT_COMMAND, r.errors[1].text, 1, true)
	end)

	it("names the line of a syntax error", function()
		assert.same({ nil, "line 2: expected ',' or '}'" }, { lync.import('{ "Domain": "b.test"\n "x": 1 }') })
		assert.same({ nil, "line 1: text after the JSON value" }, { lync.import('{} {}') })
		assert.same({ nil, "line 1: nested too deeply" }, { lync.import('{"a":' .. ("["):rep(100)) })
		assert.same({ nil, "line 1: a bad \\u escape (or \\u0000) in a string" }, { lync.import('{"a":"\\ud800"}') })
	end)

	it("reads a format named by --format whatever the text looks like", function()
		assert.same({ nil, "line 1: expected a partner object or an array of them" }, { lync.import("Domain\nb.test\n", "json") })
		assert.equal("csv", assert(lync.import("Domain : b.test\n", "csv")).format)
	end)
end)
