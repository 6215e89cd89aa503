-- lua/texttable.lib.lua and lua/render.lib.lua (what the shell and the ad-hoc commands show),
-- run as plain Lua with the real C core and a `module` that only loads sibling libraries.
local core = require "s2s_partners"

local function load_render()
	_G.module = { require = function(_, name) return dofile("lua/" .. name .. ".lib.lua") end }
	local render = dofile("lua/render.lib.lua")(core)
	_G.module = nil
	return render
end

local texttable = dofile("lua/texttable.lib.lua")

describe("texttable", function()
	local columns = { { key = "a", title = "first" }, { key = "b", title = "b" }, { key = "c", title = "last" } }

	it("aligns columns on the widest cell, in code points", function()
		local lines = texttable.lines(columns, { { a = "bücher.test", b = "x", c = "end" }, { a = "b.test", b = "long value" } })
		assert.same({
			"first        b           last",
			"bücher.test  x           end",
			"b.test       long value  -",
		}, lines)
	end)

	it("keeps every row on one line whatever a cell holds", function()
		local hostile = "evil\n\r\0text" .. ("x"):rep(300)
		local lines = texttable.lines(columns, { { a = hostile, b = true, c = 42 } })
		assert.equal(2, #lines)
		assert.is_nil(lines[2]:find("[%c]"))
		assert.matches("^evil   text", lines[2])
		assert.matches("…  true  42$", lines[2])
		assert.equal("-", texttable.cell(""))
	end)
end)

describe("render", function()
	local render = load_render()
	local compiled = assert(core.compile({
		{ domain = "b.test", type = "federated", pin = ("ab"):rep(32), connection_limit = 2 },
		{ domain = "c.test", additional_domains = { "d.test" }, tls = "required", sasl = "required", dialback = true,
			description = "Contoso" },
	}))
	local b, c = compiled:lookup("b.test"), compiled:lookup("c.test")

	it("describes a partner on one line", function()
		assert.equal("c.test +d.test [runtime] public_unverified tls=required sasl=required dialback=true (warning) — Contoso",
			render.describe(c, "runtime"))
	end)

	it("lists partners with their streams up", function()
		local rows = render.list_rows({ b, c }, function() return "config" end, { ["c.test"] = 3 })
		assert.same({ domain = "c.test", additional_domains = "d.test", type = "public_unverified", tls = "required",
			sasl = "required", dialback = "true", origin = "config", class = "warning", streams = "3" }, rows[2])
		assert.equal("0", rows[1].streams)
	end)

	it("shows every schema field, marking what is stored and what is a default", function()
		local rows = render.show_rows(b, "runtime", { domain = "b.test", type = "federated", pin = ("ab"):rep(32) })
		local by = {}
		for _, r in ipairs(rows) do by[r.field] = r end
		for _, field in ipairs(core.schema()) do assert.truthy(by[field.name], field.name) end
		assert.same({ field = "pin", value = ("ab"):rep(32), source = "set" }, by.pin)
		assert.same({ field = "tls", value = "required", source = "default" }, by.tls)
		assert.equal("true", by.auto_approve.value) -- derived from the type
		assert.equal("SASL EXTERNAL over TLS, dialback over TLS", by.methods.value)
		assert.equal("config", render.show_rows(b, "config", nil)[4].source) -- the config file is the source
	end)

	it("summarises audit changes field by field", function()
		assert.equal("tls: (default) → optional; pin: ab → (default)",
			render.changes({ domain = "x", pin = { "ab" } }, { domain = "x", tls = "optional" }))
		assert.equal("type: federated; connection_limit: 2", render.changes(nil, { domain = "x", type = "federated",
			connection_limit = 2 }))
		local rows = render.audit_rows({ { time = 0, actor = "alice@a.test", interface = "adhoc", action = "remove",
			domain = "x", before = { domain = "x", tls = "optional" }, warnings = {} } })
		assert.same({ time = "1970-01-01T00:00:00Z", actor = "alice@a.test", interface = "adhoc", action = "remove",
			domain = "x", changes = "tls: optional" }, rows[1])
	end)
end)
