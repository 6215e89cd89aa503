-- policy:lookup / resolve / partners / default: which partner owns a remote domain.
local partners = require "s2s_partners"

local list = {
	{ domain = "fabrikam.com", additional_domains = { "corp.fabrikam.com", "it.fabrikam.com" }, type = "federated" },
	{ domain = "Bücher.Example", tls = "optional" },
	{ domain = "contoso.com", sasl = "required", dialback = false },
}
local default = { type = "public_unverified", tls = "required", sasl = "optional" }

describe("policy:lookup", function()
	local policy = assert(partners.compile(list, default))

	-- { remote domain as received, index of the owning partner or false }
	local cases = {
		{ "fabrikam.com", 1 },
		{ "FABRIKAM.COM", 1 },
		{ "fabrikam.com.", 1 },
		{ "Fabrikam.Com.", 1 },
		{ "corp.fabrikam.com", 1 },
		{ "IT.Fabrikam.com.", 1 },
		{ "ｆａｂｒｉｋａｍ.com", 1 },
		{ "xn--bcher-kva.example", 2 },
		{ "XN--BCHER-KVA.EXAMPLE", 2 },
		{ "bücher.example", 2 },
		{ "BÜCHER.example.", 2 },
		{ "bücher。example", 2 },
		{ "contoso.com", 3 },
		-- a subdomain or a parent is not the partner
		{ "sales.fabrikam.com", false },
		{ "x.corp.fabrikam.com", false },
		{ "com", false },
		{ "fabrikam", false },
		{ "fabrikam.co", false },
		{ "ontoso.com", false },
		{ "bucher.example", false },
		-- names that are not names
		{ "", false },
		{ ".", false },
		{ "fabrikam..com", false },
		{ ".fabrikam.com", false },
		{ "fabrikam.com..", false },
		{ "fabrikam_com", false },
		{ "user@fabrikam.com", false },
		{ "fabrikam.com\0", false },
		{ "*.fabrikam.com", false },
		{ "xn--zz.example", false },
		{ "a\255b", false },
		{ ("a"):rep(300), false },
		{ ("fabrikam.com."):rep(1000), false },
	}
	for _, case in ipairs(cases) do
		it(("finds %s for %q"):format(case[2] and "partner " .. case[2] or "no partner", case[1]), function()
			local p = policy:lookup(case[1])
			if case[2] then
				assert.equal(policy:partners()[case[2]], p)
				assert.equal(case[2], p.index)
			else
				assert.is_nil(p)
			end
		end)
	end

	it("returns the same cached table for every spelling", function()
		local p = policy:lookup("xn--bcher-kva.example")
		assert.equal("table", type(p))
		assert.equal(p, policy:lookup("Bücher.Example."))
		assert.equal(p, policy:lookup("xn--bcher-kva.example"))
	end)

	it("exposes the compiled record", function()
		local p = policy:lookup("it.fabrikam.com")
		assert.equal("fabrikam.com", p.domain)
		assert.same({ "corp.fabrikam.com", "it.fabrikam.com" }, p.additional_domains)
		assert.equal("federated", p.type)
		assert.is_true(p.auto_approve)
		assert.equal("valid", p.class)
		assert.same({ "sasl_tls", "tls_dialback" }, p.methods)
		assert.is_nil(p.message)
		assert.is_false(p.default)
		local c = policy:lookup("contoso.com")
		assert.same({ "sasl_tls" }, c.methods)
		assert.is_nil(c.connection_limit)
		assert.is_nil(c.connect)
		assert.is_nil(c.pin)
	end)

	for _, value in ipairs({ 1, true, {} }) do
		it("raises an argument error for a " .. type(value) .. " domain", function()
			assert.has_error(function()
				policy:lookup(value)
			end, ("bad argument #1 to 'lookup' (string expected, got %s)"):format(type(value)))
		end)
	end

	it("raises an argument error when not called on a policy", function()
		assert.has_error(function()
			policy.lookup({}, "fabrikam.com")
		end, "bad argument #1 to 'lookup' (s2s_partners.policy expected, got table)")
	end)
end)

describe("policy:resolve", function()
	it("returns the partner when there is one", function()
		local policy = assert(partners.compile(list, default))
		assert.equal(policy:lookup("corp.fabrikam.com"), policy:resolve("CORP.fabrikam.com."))
	end)

	it("returns the default partner for unlisted and invalid domains", function()
		local policy = assert(partners.compile(list, default))
		local d = policy:default()
		assert.equal(d, policy:resolve("sales.fabrikam.com"))
		assert.equal(d, policy:resolve("not a domain"))
		assert.same({
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
			default = true,
		}, d)
	end)

	it("returns nil for unlisted domains without a default", function()
		local policy = assert(partners.compile(list))
		assert.is_nil(policy:default())
		assert.is_nil(policy:resolve("sales.fabrikam.com"))
		assert.equal(3, policy:resolve("contoso.com").index)
	end)

	it("treats an empty default record as the defaults of README 'Partner record'", function()
		local policy = assert(partners.compile({}, {}))
		assert.equal("required", policy:resolve("anyone.example").tls)
		assert.is_true(policy:resolve("anyone.example").default)
	end)
end)

describe("policy:partners", function()
	it("lists the partners in config order, in a fresh list each time", function()
		local policy = assert(partners.compile(list, default))
		local all = policy:partners()
		assert.equal(3, #all)
		assert.equal(#policy, #all)
		assert.same({ "fabrikam.com", "xn--bcher-kva.example", "contoso.com" }, { all[1].domain, all[2].domain, all[3].domain })
		all[1] = nil
		assert.equal("fabrikam.com", policy:partners()[1].domain)
		assert.are_not.equal(all, policy:partners())
		assert.equal(policy:partners()[2], policy:lookup("bücher.example"))
	end)
end)

describe("a partner's table", function()
	it("is the same table for every call that returns that partner, whichever call builds it", function()
		local policy = assert(partners.compile(list, default))
		local fabrikam = policy:lookup("corp.fabrikam.com")
		assert.equal(fabrikam, policy:lookup("fabrikam.com"))
		assert.equal(fabrikam, policy:resolve("IT.Fabrikam.com."))
		local all = policy:partners()
		assert.equal(fabrikam, all[1])
		-- built by partners() first, then looked up
		assert.equal(all[3], policy:lookup("contoso.com"))
		assert.equal(all[2], policy:resolve("bücher.example"))
		assert.equal(policy:default(), policy:resolve("nobody.example"))
		assert.equal(policy:default(), policy:default())
	end)

	it("has every field of the record, normalised, with its defaults", function()
		local policy = assert(partners.compile({
			{ domain = "A.Example", additional_domains = { "B.Example." }, connect = "Host.Example:5270",
				connection_limit = 2, pin = ("AB"):rep(32), description = "d" },
		}))
		local p = policy:lookup("b.example")
		assert.same({ "b.example" }, p.additional_domains)
		assert.same({ ("ab"):rep(32) }, p.pin)
		assert.equal("a.example", p.domain)
		assert.equal("host.example:5270", p.connect)
		assert.equal("host.example", p.connect_host)
		assert.equal(5270, p.connect_port)
		assert.equal(2, p.connection_limit)
		assert.equal("d", p.description)
		assert.equal(1, p.index)
		assert.is_false(p.default)
		assert.equal("valid", p.class)
		assert.is_nil(policy:lookup("a.example").message)
	end)

	it("is still listed by partners() once the policy is closed", function()
		local policy = assert(partners.compile(list, default))
		do
			local closing <close> = policy -- luacheck: ignore 211
		end
		assert.equal("contoso.com", policy:partners()[3].domain)
		assert.equal("public_unverified", policy:default().type)
	end)
end)

describe("policy:types", function()
	it("names the types of the partners and of the default partner, in a fresh table each time", function()
		local policy = assert(partners.compile(list, default))
		-- fabrikam federated, the other two public_unverified by default, as is the default partner
		assert.same({ federated = true, public_unverified = true }, policy:types())
		local types = policy:types()
		types.public_verified = true
		assert.same({ federated = true, public_unverified = true }, policy:types())
		assert.same({ public_verified = true }, assert(partners.compile({}, { type = "public_verified" })):types())
		assert.same({ public_verified = true, public_unverified = true },
			assert(partners.compile({ { domain = "a.example", type = "public_verified" } }, {})):types())
		assert.same({}, assert(partners.compile({})):types())
	end)
end)

describe("policy:count_where", function()
	local policy = assert(partners.compile(list, default))

	it("counts the listed partners by tls, sasl and dialback, not the default partner", function()
		assert.equal(2, policy:count_where("tls", "required"))
		assert.equal(1, policy:count_where("tls", "optional"))
		assert.equal(0, policy:count_where("tls", "not_supported"))
		assert.equal(2, policy:count_where("sasl", "optional"))
		assert.equal(1, policy:count_where("sasl", "required"))
		assert.equal(2, policy:count_where("dialback", true))
		assert.equal(1, policy:count_where("dialback", false))
		assert.equal(0, assert(partners.compile({}, default)):count_where("tls", "required"))
		assert.is_true(math.type(policy:count_where("tls", "required")) == "integer")
	end)

	it("counts nobody for a value no partner can have", function()
		assert.equal(0, policy:count_where("tls", "Required"))
		assert.equal(0, policy:count_where("tls", true))
		assert.equal(0, policy:count_where("sasl", nil))
		assert.equal(0, policy:count_where("dialback", "true"))
	end)

	it("refuses any other field", function()
		assert.has_error(function()
			policy:count_where("type", "federated")
		end, 'bad argument #1 to \'count_where\' (cannot count partners by field "type" (tls, sasl or dialback))')
		assert.has_error(function() policy:count_where(nil, "required") end)
	end)

	it("agrees with the partners themselves", function()
		local big = {}
		local values = { "required", "optional", "not_supported" }
		for i = 1, 300 do
			local tls, sasl = values[i % 2 + 1], values[i % 3 + 1]
			if tls == "optional" and sasl == "required" then sasl = "optional" end
			big[i] = { domain = "p" .. i .. ".example", tls = tls, sasl = sasl, dialback = sasl == "not_supported" or i % 5 ~= 0 }
		end
		local compiled = assert(partners.compile(big))
		for _, field in ipairs({ "tls", "sasl", "dialback" }) do
			local counts = {}
			for _, p in ipairs(compiled:partners()) do counts[p[field]] = (counts[p[field]] or 0) + 1 end
			for value, count in pairs(counts) do assert.equal(count, compiled:count_where(field, value)) end
		end
	end)
end)

describe("a closed policy", function()
	it("refuses lookups instead of answering from freed memory", function()
		local policy = assert(partners.compile(list, default))
		do
			local closing <close> = policy -- luacheck: ignore 211
		end
		assert.has_error(function()
			policy:lookup("fabrikam.com")
		end, "calling 'lookup' on bad self (policy is closed)")
		assert.has_error(function()
			policy:resolve("fabrikam.com")
		end, "calling 'resolve' on bad self (policy is closed)")
		assert.equal("s2s_partners.policy (3 partners, default, closed)", tostring(policy))
	end)
end)

describe("a policy of 10,000 partners", function()
	local n = 10000
	local big = {}
	for i = 1, n do
		big[i] = {
			domain = ("p%d.example"):format(i),
			additional_domains = { ("xmpp.p%d.example"):format(i), ("bücher%d.example"):format(i) },
		}
	end
	local policy = assert(partners.compile(big))

	it("finds every partner by every domain", function()
		local missed = 0
		for i = 1, n do
			local p = policy:lookup(("p%d.example"):format(i))
			if not p or p.index ~= i
				or policy:lookup(("xmpp.p%d.example"):format(i)) ~= p
				or policy:lookup(("bücher%d.example"):format(i)) ~= p
				or policy:lookup(partners.normalize(("bücher%d.example"):format(i))) ~= p then
				missed = missed + 1
			end
		end
		assert.equal(0, missed)
	end)

	it("finds nobody for names that are not in it", function()
		local found = 0
		for i = n + 1, 2 * n do
			if policy:lookup(("p%d.example"):format(i)) then
				found = found + 1
			end
		end
		assert.equal(0, found)
	end)
end)
