-- A large partner list (README "Performance"): a runtime edit (the shell command waits) and a
-- config reload compile it a slice per event-loop turn, with the result compile() gives: the
-- edit saved and in force, the reloaded list in force, an invalid edit refused with the same
-- reason, federation unchanged.
--
-- Run: lua5.4 /usr/bin/busted --run=integration spec/integration/large_list_spec.lua
local harness = require "harness"

local T = harness.util.WAIT -- bound for anything that must happen (see harness README)
local N = 12000 -- config partners: more than two slices of policy.lib.lua's SLICE (5,000)

local plugin_present, plugin_dir = harness.plugin_available()

describe("a runtime edit of " .. N .. " partners #integration", function()
	if not plugin_present then
		pending("plugin not built (" .. plugin_dir .. "/mod_s2s_partners.lua missing): run `make all`")
		return
	end

	local env, a, alice, bob

	setup(function()
		local list = {}
		for i = 1, N do
			list[i] = { domain = ("p%d.example"):format(i), additional_domains = { ("q%d.example"):format(i) } }
		end
		list[N // 2] = { domain = "b.test" }
		env = harness.env()
		a = env:server{ host = "a.test", plugin = true, users = { alice = "alice-pw" },
			vhost_options = { s2s_partners = list } }
		local b = env:server{ host = "b.test", users = { bob = "bob-pw" } }
		alice, bob = env:start_and_login{ { jid = "alice@a.test", server = a }, { jid = "bob@b.test", server = b } }
	end)

	teardown(function()
		if env then env:cleanup() end
	end)

	it("compiles the edit over several event-loop turns and puts it in force", function()
		local mark = a:log_mark()
		local out = a:shell('s2s_partners:put("a.test", { domain = "new.test"; type = "federated"; description = "added at runtime" })')
		assert.matches("OK: Saved: new.test [runtime] federated", out, 1, true)
		local line = assert(a:log_contains("Compiled " .. (N + 1) .. " partner records over", { since = mark, plain = true }))
		assert.truthy(tonumber(line:match("over (%d+) event%-loop turns")) >= 3, line)
		assert.matches("added at runtime", a:shell('s2s_partners:show("a.test", "new.test")'), 1, true)
		assert(alice:send_message("bob@b.test", "still federating"))
		assert(bob:expect_message{ from = "alice@a.test", body = "still federating", timeout = T })
	end)

	it("compiles a config reload over several event-loop turns, the previous list in force until then", function()
		local list = {}
		for i = 1, N do list[i] = { domain = ("r%d.example"):format(i) } end
		list[N // 3] = { domain = "b.test" }
		local mark = a:log_mark()
		a:configure{ vhost_options = { s2s_partners = list } }
		a:reload()
		assert(a:wait_log("federation partners in force (reload)", { since = mark, timeout = T, plain = true }))
		local line = assert(a:log_contains("partner records over", { since = mark, plain = true }), a:read_log(mark):sub(1, 3000))
		assert.truthy(tonumber(line:match("over (%d+) event%-loop turns")) >= 3, line)
		assert.matches("r7.example", a:shell('s2s_partners:show("a.test", "r7.example")'), 1, true)
		assert.is_nil(a:shell('s2s_partners:show("a.test", "p7.example")'):find("federated", 1, true))
		assert(alice:send_message("bob@b.test", "after the reload"))
		assert(bob:expect_message{ from = "alice@a.test", body = "after the reload", timeout = T })
	end)

	it("refuses an invalid edit with the reason compile() gives, and saves nothing", function()
		local out = a:shell('s2s_partners:put("a.test", { domain = "d.test"; tls = "not_supported"; '
			.. 'sasl = "not_supported"; dialback = false })')
		assert.matches('runtime partner 2 (d.test): tls = "not_supported", sasl = "not_supported", dialback = false: '
			.. "SASL or dialback must be enabled.", out, 1, true)
		out = a:shell('s2s_partners:put("a.test", { domain = "r7.example" })')
		assert.matches("r7.example", out, 1, true)
		assert.is_nil(out:find("OK: Saved", 1, true), out)
		assert.is_nil(a:shell('s2s_partners:show("a.test", "d.test")'):find("tls", 1, true))
	end)
end)
