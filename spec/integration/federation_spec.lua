-- Federation between real Prosody 0.12 servers on 127.0.0.x, first with stock
-- Prosody, then with mod_s2s_partners on a.test.
-- Run: lua5.4 /usr/bin/busted --run=integration spec/integration/federation_spec.lua
local harness = require "harness"

-- Generous for a loopback round trip (they take milliseconds), short enough
-- that a lost stanza fails the spec quickly.
local T = require("harness.util").WAIT -- bound for anything that must happen (see harness README)

describe("stock Prosody federation #integration", function()
	local env, a, b, alice, bob

	setup(function()
		env = harness.env()
		a = env:server{ host = "a.test", users = { alice = "alice-pw" } }
		b = env:server{ host = "b.test", users = { bob = "bob-pw" } }
		env:start()
		local clients = env:client()
		alice = assert(clients:login{ jid = "alice@a.test", password = "alice-pw", server = a })
		bob = assert(clients:login{ jid = "bob@b.test", password = "bob-pw", server = b })
	end)

	teardown(function()
		if env then env:cleanup() end
	end)

	it("delivers a message from a.test to b.test and back", function()
		assert(alice:send_message("bob@b.test", "hello bob"))
		local m = assert(bob:expect_message{ from = "alice@a.test", body = "hello bob", timeout = T })
		assert.equal("chat", m.type)
		assert(bob:send_message("alice@a.test", "hello alice"))
		assert(alice:expect_message{ from = "bob@b.test", body = "hello alice", timeout = T })
	end)

	it("authenticated both s2s streams with SASL EXTERNAL (trusted certificates)", function()
		for _, pair in ipairs({ { a, "b.test" }, { b, "a.test" } }) do
			local server, remote = pair[1], pair[2]
			for _, dir in ipairs({ "out", "in" }) do
				local rows, out = server:find_s2s{ remote = remote, dir = dir }
				assert.equal(1, #rows, ("one %s stream %s→%s expected:\n%s"):format(dir, server.host, remote, out))
				assert.equal("Succeeded", rows[1].s2s_sasl, out)
				assert.equal("Valid", rows[1].cert, out)
				assert.matches("^TLS", rows[1].secure, out)
			end
		end
	end)

	it("carries subscriptions, roster state and status notes across servers", function()
		assert(alice:subscribe("bob@b.test"))
		assert(bob:expect_presence{ from = "alice@a.test", type = "subscribe", timeout = T })
		assert(bob:subscribed("alice@a.test"))
		assert(alice:expect_presence{ from = "bob@b.test", type = "subscribed", timeout = T })
		-- Once subscribed, a.test probes b.test and alice gets bob's presence.
		assert(alice:expect_presence{ from = "bob@b.test", type = "available", timeout = T })
		local roster = assert(alice:roster())
		assert.equal("to", roster["bob@b.test"].subscription)
		assert(bob:send_presence{ status = "in a meeting" })
		assert.equal("in a meeting", (assert(alice:expect_status("bob@b.test", T))))
	end)

	it("answers an IQ across servers", function()
		local r = assert(alice:version("b.test", T))
		assert.equal("result", r.type)
		assert.matches("jabber:iq:version", r.xml, 1, true)
	end)

	it("can close all s2s streams and federate again", function()
		a:shell("s2s:closeall()")
		assert(harness.util.poll(function() return #a:s2s_sessions() == 0 end, T))
		assert(alice:send_message("bob@b.test", "after closeall"))
		assert(bob:expect_message{ from = "alice@a.test", body = "after closeall", timeout = T })
	end)
end)

describe("stock Prosody federation with an untrusted certificate #integration", function()
	local env, a, b, alice, bob

	setup(function()
		env = harness.env()
		a = env:server{ host = "a.test", users = { alice = "alice-pw" } }
		b = env:server{ host = "b.test", users = { bob = "bob-pw" }, cert = "self_signed" }
		env:start()
		local clients = env:client()
		alice = assert(clients:login{ jid = "alice@a.test", password = "alice-pw", server = a })
		bob = assert(clients:login{ jid = "bob@b.test", password = "bob-pw", server = b })
	end)

	teardown(function()
		if env then env:cleanup() end
	end)

	it("authenticates b.test (untrusted) to a.test by dialback over TLS", function()
		-- The stream b.test → a.test is the one where a.test must verify b.test's
		-- certificate; a.test → b.test still uses EXTERNAL (a.test's cert is trusted).
		assert(bob:send_message("alice@a.test", "over dialback"))
		assert(alice:expect_message{ from = "bob@b.test", body = "over dialback", timeout = T })
		local rows, out = b:find_s2s{ remote = "a.test", dir = "out" }
		assert.equal(1, #rows, out)
		assert.are_not.equal("Succeeded", rows[1].s2s_sasl, out)
		assert.equal("Completed", rows[1].dialback, out)
		assert.matches("^TLS", rows[1].secure, out)
		rows, out = a:find_s2s{ remote = "b.test", dir = "in" }
		assert.equal(1, #rows, out)
		assert.are_not.equal("Succeeded", rows[1].s2s_sasl, out)
		assert.are_not.equal("Valid", rows[1].cert, out)
	end)

	it("still authenticates a.test (trusted) to b.test with SASL EXTERNAL", function()
		assert(alice:send_message("bob@b.test", "over external"))
		assert(bob:expect_message{ from = "alice@a.test", body = "over external", timeout = T })
		local rows, out = a:find_s2s{ remote = "b.test", dir = "out" }
		assert.equal(1, #rows, out)
		assert.equal("Succeeded", rows[1].s2s_sasl, out)
	end)
end)

local plugin_present, plugin_dir = harness.plugin_available()

describe("mod_s2s_partners on a.test #integration", function()
	if not plugin_present then
		pending("plugin not built (" .. plugin_dir .. "/mod_s2s_partners.lua missing): run `make all`")
		return
	end

	local env, a, alice, bob, carol

	setup(function()
		env = harness.env()
		a = env:server{
			host = "a.test", users = { alice = "alice-pw" },
			plugin = true, -- also sets s2s_require_encryption = false, s2s_secure_auth = false
			vhost_options = { s2s_partners = { { domain = "b.test", type = "federated" } } },
		}
		local b = env:server{ host = "b.test", users = { bob = "bob-pw" } }
		local c = env:server{ host = "c.test", users = { carol = "carol-pw" } }
		env:start()
		local clients = env:client()
		alice = assert(clients:login{ jid = "alice@a.test", password = "alice-pw", server = a })
		bob = assert(clients:login{ jid = "bob@b.test", password = "bob-pw", server = b })
		carol = assert(clients:login{ jid = "carol@c.test", password = "carol-pw", server = c })
	end)

	teardown(function()
		if env then env:cleanup() end
	end)

	it("lets messages pass both ways with a listed partner", function()
		assert(alice:send_message("bob@b.test", "partner hello"))
		assert(bob:expect_message{ from = "alice@a.test", body = "partner hello", timeout = T })
		assert(bob:send_message("alice@a.test", "partner reply"))
		assert(alice:expect_message{ from = "bob@b.test", body = "partner reply", timeout = T })
	end)

	it("bounces a message to an unlisted domain back to the sender", function()
		assert(alice:send_message("carol@c.test", "to unlisted"))
		local e = assert(alice:expect_error{ from = "carol@c.test", kind = "message", timeout = T })
		assert.truthy(e.error and e.error.condition, e.xml)
		assert(carol:expect_no_message{ from = "alice@a.test", within = 0.5 })
	end)

	it("refuses a message from an unlisted domain with an error to its sender", function()
		assert(carol:send_message("alice@a.test", "from unlisted"))
		local e = assert(carol:expect_error{ from = "alice@a.test", kind = "message", timeout = T })
		assert.truthy(e.error and e.error.condition, e.xml)
		assert(alice:expect_no_message{ from = "carol@c.test", within = 0.5 })
	end)
end)
