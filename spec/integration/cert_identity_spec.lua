-- Certificate identity on partner streams: SASL EXTERNAL only with a certificate that the test
-- CA signed AND that identifies the partner domain (RFC 6125, decided by the C core), in both
-- directions; dialback over TLS where the partner allows it, refusal with the reason where not.
local harness = require "harness"

local T = require("harness.util").WAIT -- bound for anything that must happen (see harness README)

describe("partner certificate identity #integration", function()
	local env, a, alice, bob, carol, dave

	setup(function()
		env = harness.env()
		a = env:server{ host = "a.test", users = { alice = "alice-pw" }, plugin = true,
			vhost_options = { s2s_partners = {
				{ domain = "b.test", type = "federated", tls = "required", sasl = "required", dialback = false },
				{ domain = "c.test", type = "federated", tls = "required", sasl = "required", dialback = false },
				{ domain = "d.test", type = "federated", tls = "required", sasl = "optional", dialback = true },
			} } }
		local b = env:server{ host = "b.test", users = { bob = "bob-pw" } }
		-- Signed by the trusted test CA, but for wrong-name.invalid: trusted, not identifying.
		local c = env:server{ host = "c.test", users = { carol = "carol-pw" }, cert = "wrong_name" }
		local d = env:server{ host = "d.test", users = { dave = "dave-pw" }, cert = "wrong_name" }
		alice, bob, carol, dave = env:start_and_login{ { jid = "alice@a.test", server = a },
			{ jid = "bob@b.test", server = b }, { jid = "carol@c.test", server = c, insecure = true },
			{ jid = "dave@d.test", server = d, insecure = true } }
	end)

	teardown(function()
		if env then env:cleanup() end
	end)

	it("uses SASL EXTERNAL both ways with a certificate that identifies the partner", function()
		assert(alice:send_message("bob@b.test", "ext out"))
		assert(bob:expect_message{ from = "alice@a.test", body = "ext out", timeout = T })
		assert(bob:send_message("alice@a.test", "ext in"))
		assert(alice:expect_message{ from = "bob@b.test", body = "ext in", timeout = T })
		assert(a:wait_log("Partner b.test (b.test) authenticated outgoing by SASL EXTERNAL over TLS", { plain = true, timeout = T }))
		assert(a:wait_log("Partner b.test (b.test) authenticated incoming by SASL EXTERNAL over TLS", { plain = true, timeout = T }))
	end)

	it("refuses to send to a partner whose trusted certificate names someone else", function()
		assert(alice:send_message("carol@c.test", "to an impostor?"))
		local e = assert(alice:expect_error{ from = "carol@c.test", kind = "message", timeout = T })
		assert.matches("SASL EXTERNAL cannot be used: the certificate of c.test does not identify it, "
			.. "and dialback is not allowed with c.test", e.xml, 1, true)
		assert(carol:expect_no_message{ from = "alice@a.test", within = 0.3 })
	end)

	it("does not accept EXTERNAL from it either", function()
		assert(carol:send_message("alice@a.test", "trust me"))
		assert(carol:expect_error{ from = "alice@a.test", kind = "message", timeout = T })
		assert(a:wait_log("Refused incoming s2s stream from c%.test: no allowed authentication method", { timeout = T }))
		assert(alice:expect_no_message{ from = "carol@c.test", within = 0.3 })
	end)

	it("falls back to dialback over TLS where the partner allows it", function()
		assert(alice:send_message("dave@d.test", "dialback instead"))
		assert(dave:expect_message{ from = "alice@a.test", body = "dialback instead", timeout = T })
		assert(a:wait_log("Partner d.test (d.test) authenticated outgoing by dialback over TLS", { plain = true, timeout = T }))
	end)
end)
