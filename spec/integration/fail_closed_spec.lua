-- Fail closed: an invalid partner list at start-up refuses all s2s for the host (both ways, with
-- the error logged); an invalid list on reload keeps the previous policy in force; fixing the
-- config opens federation again.
local harness = require "harness"

local T = require("harness.util").WAIT -- bound for anything that must happen (see harness README)

local INVALID = { { domain = "b.test", type = "federated", tls = "not_supported", sasl = "required", dialback = false } }
local VALID = { { domain = "b.test", type = "federated" } }

describe("fail closed on an invalid partner list #integration", function()
	local env, a, alice, bob

	setup(function()
		env = harness.env()
		a = env:server{ host = "a.test", users = { alice = "alice-pw" }, plugin = true,
			global_options = { statistics = "internal" }, -- counters: stats:show()
			vhost_options = { s2s_partners = INVALID } }
		local b = env:server{ host = "b.test", users = { bob = "bob-pw" } }
		alice, bob = env:start_and_login{ { jid = "alice@a.test", server = a }, { jid = "bob@b.test", server = b } }
	end)

	teardown(function()
		if env then env:cleanup() end
	end)

	it("logs the error naming the partner, the fields and the reason", function()
		assert(a:wait_log("Invalid s2s_partners, refusing all server-to-server traffic for a.test until it is fixed: "
			.. 'partner 1 (b.test): tls = "not_supported", sasl = "required", dialback = false: '
			.. "SASL requires TLS, and TLS is not available; dialback is off and cannot be used.",
			{ plain = true, timeout = T }))
	end)

	it("refuses everything in both directions, even the domain it meant to list", function()
		assert(alice:send_message("bob@b.test", "while broken"))
		local e = assert(alice:expect_error{ from = "bob@b.test", kind = "message", timeout = T })
		assert.matches("the partner configuration of a.test is invalid", e.xml, 1, true)
		assert(bob:send_message("alice@a.test", "to a broken host"))
		assert(bob:expect_error{ from = "alice@a.test", kind = "message", timeout = T })
		assert(alice:expect_no_message{ from = "bob@b.test", within = 0.5 })
		-- Counted: the bounced stanza, and the refused incoming stream.
		assert(harness.util.poll(function()
			local stats = a:shell("stats:show('s2s_partners/')")
			return stats:find("s2s_partners/bounced", 1, true) and stats:find("reason=config_invalid", 1, true)
				and stats:find("direction=incoming reason=config_invalid", 1, true)
		end, T), a:shell("stats:show('s2s_partners/')"))
	end)

	it("opens once the config is fixed and reloaded", function()
		a:configure{ vhost_options = { s2s_partners = VALID } }
		assert(a:reload())
		assert(a:wait_log("1 federation partners in force (reload)", { plain = true, timeout = T }))
		assert(alice:send_message("bob@b.test", "fixed"))
		assert(bob:expect_message{ from = "alice@a.test", body = "fixed", timeout = T })
		assert(harness.util.poll(function()
			return a:shell("stats:show('s2s_partners/accepted')"):find("direction=outgoing method=sasl_tls", 1, true)
		end, T), a:shell("stats:show('s2s_partners/')"))
	end)

	it("keeps the last valid policy when a reload brings an invalid list", function()
		local mark = a:log_mark()
		a:configure{ vhost_options = { s2s_partners = { { domain = "b.test", type = "friends" } } } }
		assert(a:reload())
		assert(a:wait_log('Invalid s2s_partners on reload, keeping the previous partner list in force: partner 1 (b.test): '
			.. 'field "type": expected "federated", "public_verified" or "public_unverified", got "friends"',
			{ plain = true, since = mark, timeout = T }))
		assert(alice:send_message("bob@b.test", "still federating"))
		assert(bob:expect_message{ from = "alice@a.test", body = "still federating", timeout = T })
	end)
end)

describe("loading the module on a running server #integration", function()
	local env, a, alice, bob, carol

	setup(function()
		env = harness.env()
		-- a.test can load the module (plugin path, partner list) but starts without it
		a = env:server{ host = "a.test", users = { alice = "alice-pw" }, s2s_require_encryption = false,
			global_options = { plugin_paths = { (require("harness.server").plugin_paths()) } },
			vhost_options = { s2s_partners = { { domain = "b.test", type = "federated" } } } }
		local b = env:server{ host = "b.test", users = { bob = "bob-pw" } }
		local c = env:server{ host = "c.test", users = { carol = "carol-pw" } }
		alice, bob, carol = env:start_and_login{ { jid = "alice@a.test", server = a }, { jid = "bob@b.test", server = b },
			{ jid = "carol@c.test", server = c } }
	end)

	teardown(function()
		if env then env:cleanup() end
	end)

	it("resets the streams authenticated before it, so a non-partner's stream does not stay up (F8)", function()
		assert(alice:send_message("carol@c.test", "before the policy"))
		assert(carol:expect_message{ from = "alice@a.test", body = "before the policy", timeout = T })
		assert(carol:send_message("alice@a.test", "reply before"))
		assert(alice:expect_message{ from = "carol@c.test", body = "reply before", timeout = T })
		local mark = a:log_mark()
		a:shell('module:load("s2s_partners", "a.test")')
		assert(a:wait_log("Resetting a stream authenticated before the partner policy of a%.test was loaded",
			{ since = mark, timeout = T }))
		assert(harness.util.poll(function() return #a:find_s2s{ remote = "c.test" } == 0 end, T))
		-- the unlisted domain is refused both ways now; the partner still federates
		assert(alice:send_message("carol@c.test", "after the policy"))
		assert(alice:expect_error{ from = "carol@c.test", kind = "message", timeout = T })
		assert(carol:send_message("alice@a.test", "reply after"))
		assert(carol:expect_error{ from = "alice@a.test", kind = "message", timeout = T })
		assert(alice:expect_no_message{ from = "carol@c.test", within = 0.5 })
		assert(alice:send_message("bob@b.test", "partner after"))
		assert(bob:expect_message{ from = "alice@a.test", body = "partner after", timeout = T })
	end)
end)
