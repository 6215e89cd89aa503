-- lua/policy.lib.lua's load path with a stub `module` (README "Performance"): a large list is
-- compiled once per change and not logged partner by partner, and what the load says about
-- partners is the same for a short list as before.
local core = require "s2s_partners"

-- Outside Prosody: no caller here can wait, so every compile runs in one go (policy.lib.lua's
-- sliced compile needs Prosody's util.async; spec/integration/large_list_spec.lua runs it).
package.preload["util.async"] = package.preload["util.async"] or function()
	return { ready = function() return false end }
end

local function stub(options)
	local m = { host = "a.test", lines = {}, timers = {} }
	function m.log(_, level, fmt, ...) m.lines[#m.lines + 1] = { level = level, text = fmt:format(...) } end
	function m.get_option(_, name, default)
		local v = options[name]
		if v == nil then return default end
		return v
	end
	function m.get_option_boolean(self, name, default) return self:get_option(name, default) end
	function m.get_option_set(self, name, default)
		local list = self:get_option(name, default)
		return { empty = function() return #list == 0 end }
	end
	function m.set_status() end
	function m.hook_global() end
	function m.add_timer(_, _, fn) m.timers[#m.timers + 1] = fn end
	function m.matching(level, pattern)
		local out = {}
		for _, l in ipairs(m.lines) do
			if l.level == level and l.text:find(pattern) then out[#out + 1] = l.text end
		end
		return out
	end
	return m
end

local function partners(n, fields)
	local list = {}
	for i = 1, n do
		local r = { domain = "p" .. i .. ".example" }
		for k, v in pairs(fields or {}) do r[k] = v end
		list[i] = r
	end
	return list
end

-- The policy library loaded with `options` as the config; compile calls counted.
local function load_policy(options, runtime)
	local m = stub(options)
	local counting = setmetatable({ compiles = 0 }, { __index = core })
	function counting.compile(...)
		counting.compiles = counting.compiles + 1
		return core.compile(...)
	end
	_G.module = m
	local policy = dofile("lua/policy.lib.lua")(counting)
	_G.module = nil
	policy.runtime = runtime or {}
	local saved = _G.module
	_G.module = m
	local ok, err = policy.load("start")
	_G.module = saved
	return policy, m, counting, ok, err
end

describe("policy.load", function()
	it("compiles the config file's list with runtime partners once, and refuses a list with a hole as before", function()
		local policy, _, counting, ok = load_policy({ s2s_partners = partners(3) }, { { domain = "rt.example" } })
		assert.is_true(ok)
		assert.equal(1, counting.compiles)
		assert.equal(4, #policy.compiled)
		assert.equal(3, policy.from_config)
		assert.is_true(policy.is_from_config(policy.compiled:lookup("p3.example")))
		assert.is_false(policy.is_from_config(policy.compiled:lookup("rt.example")))

		local holed = partners(3)
		holed[2] = nil
		local _, _, _, ok2, err = load_policy({ s2s_partners = holed }, { { domain = "rt.example" } })
		assert.is_nil(ok2)
		assert.matches("(entry 2 is nil)", err, 1, true)
		local _, _, _, ok3, err3 = load_policy({ s2s_partners = { { domain = "a.example" }, x = 1 } },
			{ { domain = "rt.example" } })
		assert.is_nil(ok3)
		assert.matches("a table with field", err3, 1, true)
	end)

	it("puts a changed runtime list in force with the same config list, nothing of the previous one left", function()
		local config = partners(3)
		local policy, m = load_policy({ s2s_partners = config }, { { domain = "rt1.example" }, { domain = "rt2.example" } })
		assert.equal(5, #policy.compiled)
		_G.module = m
		policy.runtime = { { domain = "rt3.example" } }
		assert.is_true(policy.load("edit"))
		assert.equal(4, #policy.compiled)
		assert.is_nil(policy.compiled:lookup("rt2.example"))
		assert.truthy(policy.compiled:lookup("rt3.example"))
		local ok, err = policy.check({ { domain = "p2.example" } })
		assert.is_nil(ok)
		assert.matches("^runtime partner 1", err)
		policy.runtime = {}
		assert.is_true(policy.load("edit"))
		assert.equal(3, #policy.compiled)
		_G.module = nil
	end)

	it("names a runtime partner's error as before", function()
		local _, _, _, ok, err = load_policy({ s2s_partners = partners(2) }, { { domain = "p1.example" } })
		assert.is_nil(ok)
		assert.matches("^runtime partner 1", err)
	end)

	it("warns about Prosody's global options partner by partner for a few, in one line for many", function()
		local few = partners(3, { tls = "optional", sasl = "not_supported" })
		few[4] = { domain = "strict.example" }
		local _, m = load_policy({ s2s_partners = few, s2s_require_encryption = true, s2s_secure_auth = true })
		assert.equal(3, #m.matching("warn", "has tls = \"optional\" but s2s_require_encryption is on"))
		assert.same({}, m.matching("warn", "strict.example has tls"))
		assert.equal(4, #m.matching("warn", "allows dialback but s2s_secure_auth is on"))

		local many = partners(5000)
		for i = 4000, 4011 do many[i].tls = "optional" end -- a warning row of the matrix too
		local _, m2 = load_policy({ s2s_partners = many, s2s_require_encryption = true, s2s_secure_auth = true })
		local lines = m2.matching("warn", "s2s_require_encryption is on")
		assert.same({ "12 partners have tls other than \"required\" but s2s_require_encryption is on: Prosody will "
			.. "refuse their unencrypted streams; set s2s_require_encryption = false (the module enforces tls = "
			.. "required itself) (the first: p4000.example, p4001.example, p4002.example, p4003.example, "
			.. "p4004.example, …)" }, lines)
		local db = m2.matching("warn", "s2s_secure_auth is on")
		assert.equal(1, #db)
		assert.matches("^5000 partners allow dialback", db[1])
		-- compile warnings (warning rows: SASL requires TLS): the first five, then a count
		local w = m2.matching("warn", "^partner %d+ %(p%d+%.example%): SASL requires TLS")
		assert.equal(5, #w)
		assert.same({ "… and 7 more warnings like these, about other partners (12 in all)" },
			m2.matching("warn", "more warnings"))
	end)

	it("notes the valid rows with a message, and writes per-partner debug lines only for short lists", function()
		local list = partners(3, { tls = "not_supported", sasl = "not_supported" })
		local _, m = load_policy({ s2s_partners = list })
		assert.equal(3, #m.matching("info", "^Partner p%d%.example: "))
		assert.equal(3, #m.matching("debug", "^Partner p%d%.example %("))

		local _, m2 = load_policy({ s2s_partners = partners(1001) })
		assert.same({}, m2.matching("debug", "^Partner "))
	end)

	it("finds partners by their records over several ticks for a long list, and not for a superseded policy", function()
		local list = partners(25000)
		list[3].connect, list[24999].connect = "h1.example", "h2.example:5270"
		local policy, m = load_policy({ s2s_partners = list })
		local found
		_G.module = m
		policy.find_later(function(r) return r.connect ~= nil end, function(p) return p.connect ~= nil end,
			function(f) found = f end)
		assert.is_nil(found)
		assert.equal(1, #m.timers)
		assert.equal(0, m.timers[1]()) -- records 10001-20000
		assert.is_nil(found)
		assert.is_nil(m.timers[1]()) -- the rest: done
		assert.same({ "p3.example", "p24999.example" }, { found[1].domain, found[2].domain })

		found = nil
		policy.find_later(function(r) return r.connect ~= nil end, function(p) return p.connect ~= nil end,
			function(f) found = f end)
		policy.load("reload") -- another policy in force: the first search stops
		assert.is_nil(m.timers[2]())
		assert.is_nil(found)
		_G.module = nil

		local small, ms = load_policy({ s2s_partners = partners(10, { connect = "h.example" }) })
		_G.module = ms
		small.find_later(function(r) return r.connect ~= nil end, function(p) return p.connect ~= nil end,
			function(f) found = f end)
		_G.module = nil
		assert.equal(10, #found) -- a short list at once
		assert.same({}, ms.timers)
	end)
end)
