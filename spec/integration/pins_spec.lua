-- Per-partner key pins (SHA-256 of the SPKI) on real s2s streams: a partner whose certificate
-- matches a pin federates; one whose certificate matches none is refused although the test CA
-- trusts it; a pinned partner cannot fall back to a stream without TLS.
local harness = require "harness"
local partners = require "s2s_partners"

local T = require("harness.util").WAIT -- bound for anything that must happen (see harness README)

local read = harness.util.read_file

describe("partner key pins #integration", function()
	local env, a, alice, bob, carol, dave

	setup(function()
		env = harness.env()
		local b = env:server{ host = "b.test", users = { bob = "bob-pw" } }
		local c = env:server{ host = "c.test", users = { carol = "carol-pw" } }
		local d = env:server{ host = "d.test", users = { dave = "dave-pw" } }
		local b_pin = assert(partners.spki_sha256(read(b.cert)))
		local c_pin = assert(partners.spki_sha256(read(c.cert)))
		-- A pin with colons, as operators copy it from `openssl ... -fingerprint`.
		local b_pin_colons = b_pin:upper():gsub("(%x%x)", "%1:"):sub(1, -2)
		a = env:server{
			host = "a.test", users = { alice = "alice-pw" }, plugin = true,
			vhost_options = { s2s_partners = {
				{ domain = "b.test", type = "federated", pin = { ("0"):rep(64), b_pin_colons } },
				-- Pinned to b.test's key: c.test's own (CA-trusted) certificate matches none.
				{ domain = "c.test", type = "federated", pin = b_pin },
				-- TLS optional: without the pin, TCP dialback would be allowed.
				{ domain = "d.test", type = "federated", tls = "optional", pin = c_pin },
			} },
		}
		d:configure{ cert = "self_signed" }
		alice, bob, carol, dave = env:start_and_login{ { jid = "alice@a.test", server = a },
			{ jid = "bob@b.test", server = b }, { jid = "carol@c.test", server = c }, { jid = "dave@d.test", server = d } }
	end)

	teardown(function()
		if env then env:cleanup() end
	end)

	it("federates with a partner whose key matches one of its pins, both ways", function()
		assert(alice:send_message("bob@b.test", "pinned hello"))
		assert(bob:expect_message{ from = "alice@a.test", body = "pinned hello", timeout = T })
		assert(bob:send_message("alice@a.test", "pinned reply"))
		assert(alice:expect_message{ from = "bob@b.test", body = "pinned reply", timeout = T })
	end)

	it("refuses a trusted certificate that matches no pin, and tells the sender", function()
		assert(alice:send_message("carol@c.test", "to the wrong key"))
		local e = assert(alice:expect_error{ from = "carol@c.test", kind = "message", timeout = T })
		assert.matches("matches none of its pinned keys", e.xml, 1, true)
		assert(a:wait_log("Refused outgoing s2s stream to c%.test: the certificate of c%.test matches none", { timeout = T }))
		assert(carol:expect_no_message{ from = "alice@a.test", within = 0.5 })
	end)

	it("refuses an incoming stream from a pinned partner with the wrong key", function()
		assert(carol:send_message("alice@a.test", "from the wrong key"))
		assert(carol:expect_error{ from = "alice@a.test", kind = "message", timeout = T })
		assert(a:wait_log("Refused incoming s2s stream from c%.test: the certificate of c%.test matches none", { timeout = T }))
		assert(alice:expect_no_message{ from = "carol@c.test", within = 0.5 })
	end)

	it("refuses a pinned partner whose key does not match even where dialback would be allowed", function()
		assert(dave:send_message("alice@a.test", "self-signed, not pinned"))
		assert(dave:expect_error{ from = "alice@a.test", kind = "message", timeout = T })
		assert(a:wait_log("s2s stream from d%.test: .*pinned keys", { timeout = T }))
		assert(alice:expect_no_message{ from = "dave@d.test", within = 0.5 })
	end)
end)

describe("pins and limits added at runtime apply to the streams already up #integration", function()
	local env, a, alice, bob

	setup(function()
		env = harness.env()
		a = env:server{ host = "a.test", users = { alice = "alice-pw" }, plugin = true, vhost_options = { s2s_partners = {} } }
		local b = env:server{ host = "b.test", users = { bob = "bob-pw" } }
		alice, bob = env:start_and_login{ { jid = "alice@a.test", server = a }, { jid = "bob@b.test", server = b } }
		assert.matches("OK: Saved", (a:shell('s2s_partners:put("a.test", { domain = "b.test"; type = "federated" })')), 1, true)
	end)

	teardown(function()
		if env then env:cleanup() end
	end)

	local function streams_up()
		assert(alice:send_message("bob@b.test", "out"))
		assert(bob:expect_message{ from = "alice@a.test", body = "out", timeout = T })
		assert(bob:send_message("alice@a.test", "in"))
		assert(alice:expect_message{ from = "bob@b.test", body = "in", timeout = T })
		assert(harness.util.poll(function() return #a:find_s2s{ remote = "b.test" } == 2 end, T))
	end

	it("closes the streams beyond a lowered connection_limit", function()
		streams_up()
		local mark = a:log_mark()
		assert.matches("OK: Saved", (a:shell('s2s_partners:put("a.test", { domain = "b.test"; connection_limit = 1 })')), 1, true)
		assert(a:wait_log("s2s stream .*b%.test: connection limit reached for b%.test %(1 streams%)", { since = mark, timeout = T }))
		assert(harness.util.poll(function() return #a:find_s2s{ remote = "b.test" } == 1 end, T))
	end)

	it("closes the streams whose certificate matches none of a pin added since", function()
		assert.matches("OK: Saved", (a:shell('s2s_partners:unset("a.test", "b.test", "connection_limit")')), 1, true)
		streams_up()
		local mark = a:log_mark()
		assert.matches("OK: Saved", (a:shell(('s2s_partners:put("a.test", { domain = "b.test"; pin = %q })'):format(("0"):rep(64)))),
			1, true)
		assert(a:wait_log("b%.test has pinned keys, and this stream did not present a matching certificate", { since = mark, timeout = T }))
		assert(harness.util.poll(function() return #a:find_s2s{ remote = "b.test" } == 0 end, T))
		assert(alice:send_message("bob@b.test", "after the pin"))
		assert(alice:expect_error{ from = "bob@b.test", kind = "message", timeout = T })
		assert(bob:expect_no_message{ from = "alice@a.test", within = 0.5 })
	end)
end)
