-- partners.compiler: the incremental compile (a slice of records per step), which must answer
-- exactly what partners.compile answers for the same list.
local partners = require "s2s_partners"

-- { description, list, default }
local function federated(n, prefix)
	local list = {}
	for i = 1, n do
		list[i] = { domain = prefix .. i .. ".example", type = i % 3 == 0 and "public_verified" or "federated",
			tls = i % 4 == 0 and "optional" or nil, dialback = i % 5 == 0 or nil,
			additional_domains = { "a" .. i .. "." .. prefix .. ".example", "b" .. i .. "." .. prefix .. ".example" } }
	end
	return list
end

local function with(list, i, record)
	list[i] = record
	return list
end

local cases = {
	{ "a valid list", federated(10, "v"), nil },
	{ "a valid list with a default", federated(7, "d"), { type = "public_unverified", tls = "optional", sasl = "optional" } },
	{ "a list with warnings", {
		{ domain = "contoso.com" },
		{ domain = "Fabrikam.com", tls = "optional" },
		{ domain = "litware.com", tls = "required", sasl = "required", dialback = true },
		{ domain = "northwind.example", tls = "optional" },
	}, { tls = "not_supported", sasl = "optional" } },
	{ "a refusal in the middle", with(federated(9, "r"), 5, { domain = "r5.example", tsl = "required" }), nil },
	{ "a record that is not a table in the middle", with(federated(6, "s"), 4, "s4.example"), nil },
	{ "a domain claimed again across a step boundary (records 1 and 4)",
		with(federated(8, "b"), 4, { domain = "b4.example", additional_domains = { "A1.b.example." } }), nil },
	{ "a domain claimed again by the next record (records 3 and 4)",
		with(federated(8, "c"), 4, { domain = "c3.example" }), nil },
	{ "a refusal of the default partner", federated(5, "f"), { additional_domains = {} } },
	{ "a default partner that is not a table", federated(3, "g"), "yes" },
	{ "an empty list", {}, nil },
	{ "an empty list with a default", {}, { tls = "optional" } },
	{ "a refusal in the last record", with(federated(6, "l"), 6, { domain = "-l6.example" }), nil },
}

-- the list itself refused: compiler() answers up front, like compile()
local refused_up_front = {
	{ "not a table", "fabrikam.com" },
	{ "nil", nil },
	{ "a table with holes", { [1] = { domain = "contoso.com" }, [3] = { domain = "fabrikam.com" } } },
	{ "a record instead of a list", { domain = "fabrikam.com" } },
	{ "a zero index", { [0] = { domain = "contoso.com" } } },
}

-- every domain the list names, in the spellings it has them
local function domains(list, default)
	local out = {}
	for _, record in ipairs(list) do
		if type(record) == "table" then
			if type(record.domain) == "string" then out[#out + 1] = record.domain end
			for _, d in ipairs(type(record.additional_domains) == "table" and record.additional_domains or {}) do
				out[#out + 1] = d
			end
		end
	end
	out[#out + 1] = "nobody.example"
	if default then out[#out + 1] = "unlisted.example" end
	return out
end

local function texts(warnings)
	local out = {}
	for i, w in ipairs(warnings) do out[i] = tostring(w) end
	return out
end

-- step until an answer; returns the answer's values packed, and how many steps it took
local function run(compiler, n)
	local steps = 0
	while true do
		steps = steps + 1
		local r = table.pack(compiler:step(n))
		if r[1] ~= false then return r, steps end
		assert.equal(1, r.n)
	end
end

local function same_policy(list, default, expected, got)
	local p, q = expected[1], got[1]
	assert.equal(#p, #q)
	assert.same(p:types(), q:types())
	for _, field in ipairs({ "tls", "sasl" }) do
		for _, value in ipairs({ "required", "optional", "not_supported" }) do
			assert.equal(p:count_where(field, value), q:count_where(field, value))
		end
	end
	assert.equal(p:count_where("dialback", true), q:count_where("dialback", true))
	assert.equal(p:count_where("dialback", false), q:count_where("dialback", false))
	for _, d in ipairs(domains(list, default)) do
		assert.same(p:lookup(d), q:lookup(d))
		assert.same(p:resolve(d), q:resolve(d))
	end
	assert.same(p:partners(), q:partners())
	assert.same(p:default(), q:default())
	assert.same(texts(expected[2]), texts(got[2]))
	assert.same(expected[2], got[2])
end

describe("partners.compiler", function()
	for _, case in ipairs(cases) do
		local description, list, default = case[1], case[2], case[3]
		for _, n in ipairs({ 1, 3, 1000 }) do
			it("answers as compile() does for " .. description .. ", " .. n .. " at a time", function()
				local expected = table.pack(partners.compile(list, default))
				local compiler = assert(partners.compiler(list, default))
				local got, steps = run(compiler, n)
				assert.equal(expected.n, got.n)
				if expected[1] then assert.equal(math.max(1, math.ceil(#list / n)), steps) end
				if expected[1] then
					assert.equal(#list, (compiler:progress()))
					same_policy(list, default, expected, got)
				else
					assert.is_nil(got[1])
					assert.equal(expected[2], got[2])
					assert.same(expected[3], got[3])
					local done, total = compiler:progress()
					assert.equal(#list, total)
					assert.is_true(done < total or type(default) ~= "nil")
				end
			end)
		end
	end

	for _, case in ipairs(refused_up_front) do
		it("refuses up front, as compile() does, a list that is " .. case[1], function()
			local expected = table.pack(partners.compile(case[2]))
			local got = table.pack(partners.compiler(case[2]))
			assert.equal(3, got.n)
			assert.is_nil(got[1])
			assert.equal(expected[2], got[2])
			assert.same(expected[3], got[3])
		end)
	end

	it("says how far it is with progress()", function()
		local compiler = partners.compiler(federated(10, "p"))
		assert.same({ 0, 10 }, { compiler:progress() })
		assert.is_false(compiler:step(4))
		assert.same({ 4, 10 }, { compiler:progress() })
		assert.is_false(compiler:step(4))
		assert.same({ 8, 10 }, { compiler:progress() })
		local policy = compiler:step(4)
		assert.equal(10, #policy)
		assert.same({ 10, 10 }, { compiler:progress() })
		assert.same({ 0, 0 }, { partners.compiler({}):progress() })
		assert.equal("s2s_partners.compiler (10/10)", tostring(compiler))
	end)

	it("stops at the refused record: progress() counts only those validated", function()
		local compiler = partners.compiler(with(federated(10, "q"), 6, { domain = 1 }))
		assert.is_false(compiler:step(5))
		local policy, err, detail = compiler:step(5)
		assert.is_nil(policy)
		assert.equal('partner 6: field "domain": expected string, got number', err)
		assert.equal(6, detail.index)
		assert.same({ 5, 10 }, { compiler:progress() })
	end)

	it("answers again the same once it has answered", function()
		local compiler = partners.compiler(federated(3, "a"))
		local policy, warnings = compiler:step(10)
		local again, warnings_again = compiler:step(1)
		assert.equal(policy, again)
		assert.equal(warnings, warnings_again)
		local refusing = partners.compiler({ { domain = "x.example" }, { domain = "x.example" } })
		local r1 = table.pack(refusing:step(5))
		local r2 = table.pack(refusing:step(1))
		assert.equal(3, r2.n)
		assert.is_nil(r2[1])
		assert.equal(r1[2], r2[2])
		assert.equal(r1[3], r2[3])
	end)

	it("refuses a step count that is not a positive integer", function()
		local compiler = partners.compiler(federated(3, "n"))
		for _, bad in ipairs({ 0, -1, 1.5, "3", true, math.huge, 0 / 0 }) do
			local ok, err = pcall(compiler.step, compiler, bad)
			assert.is_false(ok)
			assert.matches("bad argument #%d to '[^']+' %(expected a positive integer, got .+%)", err)
		end
		assert.has_error(function() compiler:step() end,
			"bad argument #1 to 'step' (expected a positive integer, got no value)")
		assert.same({ 0, 3 }, { compiler:progress() })
		assert.is_false(compiler:step(math.maxinteger) == false)
		assert.has_error(function() partners.compiler({}).step({}, 1) end)
	end)

	it("is collected half-way without error, and its list with it", function()
		local list = federated(50, "h")
		local probe = setmetatable({}, { __mode = "k" })
		probe[list] = true
		local compiler = partners.compiler(list, { tls = "optional" })
		assert.is_false(compiler:step(7))
		list, compiler = nil, nil -- luacheck: ignore 311
		collectgarbage()
		collectgarbage()
		assert.is_nil(next(probe))
	end)

	it("keeps the list alive between steps when the caller drops it", function()
		local compiler = partners.compiler(federated(20, "k"))
		assert.is_false(compiler:step(3))
		collectgarbage()
		collectgarbage()
		local policy = compiler:step(100)
		assert.equal(20, #policy)
		assert.equal(17, policy:lookup("b17.k.example").index or 17)
		assert.equal("k17.example", policy:lookup("b17.k.example").domain)
	end)
end)
