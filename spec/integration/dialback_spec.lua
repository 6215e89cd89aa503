-- Dialback with keys from the C core: a host running the module makes and checks its own keys,
-- and stock Prosody peers (which only relay them) still complete dialback with it both ways.
local harness = require "harness"

local T = require("harness.util").WAIT -- bound for anything that must happen (see harness README)

describe("dialback keys from the C core #integration", function()
	local env, a, alice, bob

	setup(function()
		env = harness.env()
		a = env:server{ host = "a.test", users = { alice = "alice-pw" }, plugin = true,
			global_options = { dialback_secret = "s2s-partners-spec-secret" },
			vhost_options = { s2s_partners = { { domain = "b.test", type = "federated", tls = "optional" } } } }
		-- A self-signed peer: no SASL EXTERNAL either way, so both directions use dialback.
		local b = env:dialback_only_server{ host = "b.test", users = { bob = "bob-pw" } }
		alice, bob = env:start_and_login{ { jid = "alice@a.test", server = a }, { jid = "bob@b.test", server = b } }
	end)

	teardown(function()
		if env then env:cleanup() end
	end)

	it("completes dialback from the module's host to a stock peer (our key, verified by us)", function()
		assert(alice:send_message("bob@b.test", "dialback out"))
		assert(bob:expect_message{ from = "alice@a.test", body = "dialback out", timeout = T })
		assert(a:wait_log("sent dialback key on outgoing s2s stream (s2s_partners)", { plain = true, timeout = T }))
		assert(a:wait_log("Partner b.test (b.test) authenticated outgoing by dialback over TLS", { plain = true, timeout = T }))
	end)

	it("completes dialback from a stock peer to the module's host", function()
		assert(bob:send_message("alice@a.test", "dialback in"))
		assert(alice:expect_message{ from = "bob@b.test", body = "dialback in", timeout = T })
		assert(a:wait_log("Partner b.test (b.test) authenticated incoming by dialback over TLS", { plain = true, timeout = T }))
	end)
end)
