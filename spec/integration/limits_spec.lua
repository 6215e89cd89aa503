-- connection_limit and keepalive on real s2s streams.
local harness = require "harness"

local T = require("harness.util").WAIT -- bound for anything that must happen (see harness README)

describe("partner connection_limit #integration", function()
	local env, a, alice, bob, sue

	setup(function()
		env = harness.env()
		a = env:server{
			host = "a.test", users = { alice = "alice-pw" }, plugin = true,
			vhost_options = { s2s_partners = {
				{ domain = "b.test", additional_domains = { "sub.b.test" }, type = "federated", connection_limit = 2 },
			} },
		}
		local b = env:server{ host = "b.test", extra_hosts = { "sub.b.test" },
			users = { bob = "bob-pw", ["sue@sub.b.test"] = "sue-pw" } }
		alice, bob, sue = env:start_and_login{ { jid = "alice@a.test", server = a }, { jid = "bob@b.test", server = b },
			{ jid = "sue@sub.b.test", password = "sue-pw", server = b } }
	end)

	teardown(function()
		if env then env:cleanup() end
	end)

	it("allows streams up to the limit, counting both directions", function()
		assert(alice:send_message("bob@b.test", "one"))
		assert(bob:expect_message{ from = "alice@a.test", body = "one", timeout = T })
		assert(bob:send_message("alice@a.test", "two"))
		assert(alice:expect_message{ from = "bob@b.test", body = "two", timeout = T })
	end)

	it("refuses one more stream with the partner (another of its domains) and bounces its stanzas", function()
		assert(alice:send_message("sue@sub.b.test", "three"))
		local e = assert(alice:expect_error{ from = "sue@sub.b.test", kind = "message", timeout = T })
		assert.matches("connection limit reached for b.test (2 streams)", e.xml, 1, true)
		assert(sue:expect_no_message{ from = "alice@a.test", within = 0.5 })
	end)

	it("keeps the streams within the limit working", function()
		assert(alice:send_message("bob@b.test", "still here"))
		assert(bob:expect_message{ from = "alice@a.test", body = "still here", timeout = T })
	end)
end)

describe("connection_limit of the default policy #integration", function()
	local env, a, alice, dave, erin

	setup(function()
		env = harness.env()
		a = env:server{
			host = "a.test", users = { alice = "alice-pw" }, plugin = true,
			vhost_options = { s2s_partners = {}, s2s_partners_default = { type = "federated", connection_limit = 1 } },
		}
		local d = env:server{ host = "d.test", users = { dave = "dave-pw" } }
		local e = env:server{ host = "e.test", users = { erin = "erin-pw" } }
		alice, dave, erin = env:start_and_login{ { jid = "alice@a.test", server = a }, { jid = "dave@d.test", server = d },
			{ jid = "erin@e.test", server = e } }
	end)

	teardown(function()
		if env then env:cleanup() end
	end)

	it("limits each unlisted domain on its own", function()
		assert(alice:send_message("dave@d.test", "one"))
		assert(dave:expect_message{ from = "alice@a.test", body = "one", timeout = T })
		-- d.test's own stream to a.test would be its second one (what d.test's Prosody tells
		-- dave about the refused stream is its own wording)
		local mark = a:log_mark()
		assert(dave:send_message("alice@a.test", "two"))
		assert(dave:expect_error{ from = "alice@a.test", kind = "message", timeout = T })
		assert(a:wait_log("Refused incoming s2s stream from d%.test: connection limit reached for d%.test %(1 streams%)",
			{ since = mark, timeout = T }))
		assert(alice:expect_no_message{ from = "dave@d.test", within = 0.5 })
		-- another unlisted domain has a limit of its own
		assert(alice:send_message("erin@e.test", "three"))
		assert(erin:expect_message{ from = "alice@a.test", body = "three", timeout = T })
	end)
end)

describe("partner keepalive #integration", function()
	local env, a, alice, bob, carol

	setup(function()
		env = harness.env()
		a = env:server{
			host = "a.test", users = { alice = "alice-pw" }, plugin = true,
			-- Idle streams reach the read timeout after a second.
			global_options = { network_settings = { nagle = false, read_timeout = 1 } },
			vhost_options = { s2s_partners = {
				{ domain = "b.test", type = "federated", keepalive = false },
				{ domain = "c.test", type = "federated" }, -- keepalive = true by default
			} },
		}
		local b = env:server{ host = "b.test", users = { bob = "bob-pw" } }
		local c = env:server{ host = "c.test", users = { carol = "carol-pw" } }
		alice, bob, carol = env:start_and_login{ { jid = "alice@a.test", server = a }, { jid = "bob@b.test", server = b },
			{ jid = "carol@c.test", server = c } }
	end)

	teardown(function()
		if env then env:cleanup() end
	end)

	it("closes an idle stream with a partner without keepalive, and keeps the other one", function()
		local mark = a:log_mark()
		assert(alice:send_message("bob@b.test", "then silence"))
		assert(bob:expect_message{ from = "alice@a.test", body = "then silence", timeout = T })
		assert(alice:send_message("carol@c.test", "then whitespace"))
		assert(carol:expect_message{ from = "alice@a.test", body = "then whitespace", timeout = T })
		assert(a:wait_log("Closing idle stream with b%.test %(keepalive is off for it%)", { since = mark, timeout = T }))
		assert(harness.util.poll(function()
			return #a:find_s2s{ remote = "b.test", dir = "out" } == 0
		end, T))
		-- c.test got whitespace keepalives instead: its stream is still up after b.test's closed.
		assert.equal(1, #a:find_s2s{ remote = "c.test", dir = "out" })
		assert.is_nil(a:log_contains("Closing idle stream with c.test", { since = mark, plain = true }))
	end)
end)

describe("connection_limit cannot be dodged by adding the domain to another domain's streams (F9) #integration", function()
	local rawpeer = require "rawpeer"
	local SECRET = "s2s-partners-limits-spec"
	local env, a

	setup(function()
		env = harness.env()
		a = env:server{ host = "a.test", plugin = true, vhost_options = { s2s_partners = {
			{ domain = "b.test", type = "federated", tls = "optional", connection_limit = 2 },
			{ domain = "c.test", type = "federated", tls = "optional" },
		} } }
		-- the authoritative servers of the domains the raw peers prove, with a known secret
		for _, host in ipairs({ "b.test", "c.test" }) do
			env:server{ host = host, s2s_require_encryption = false, s2s_secure_auth = false,
				global_options = { dialback_secret = SECRET } }
		end
		env:start()
	end)

	teardown(function()
		if env then env:cleanup() end
	end)

	-- A raw stream to a.test authenticated by dialback as c.test, then asking for b.test too.
	local function stream_then_b()
		local peer = assert(rawpeer.connect(a.addr, 5269, T))
		assert(peer:open("c.test", "a.test"))
		assert(peer:features(T))
		assert(peer:dialback_as("c.test", SECRET))
		assert(peer:expect_dialback_valid(T))
		assert(peer:dialback_as("b.test", SECRET))
		return peer
	end

	it("counts the stream when the limited partner's domain joins it", function()
		-- b.test's two streams: a.test's own to b.test (it verifies the keys on it) and this one
		local first = stream_then_b()
		assert(first:expect_dialback_valid(T))
		local mark = a:log_mark()
		local second = stream_then_b()
		-- this one would be b.test's third: refused, whatever c.test did on it first
		local condition, text = second:expect_stream_error(T)
		assert.equal("policy-violation", condition, second:transcript())
		assert.equal("connection limit reached for b.test (2 streams)", text)
		assert(a:wait_log("connection limit reached for b%.test", { since = mark, timeout = T }))
		first:close()
	end)
end)
