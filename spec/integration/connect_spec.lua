-- `connect`: a partner reached at a configured address instead of through DNS (Prosody 13), and
-- a clear warning where Prosody cannot do it (0.12).
local harness = require "harness"

local T = require("harness.util").WAIT -- bound for anything that must happen (see harness README)

describe("partner connect #integration", function()
	local env, a, b, alice, bob

	setup(function()
		env = harness.env()
		b = env:server{ host = "b.test", users = { bob = "bob-pw" } }
		env:claim_addr(b) -- b.test's real address, for the partner's connect option
		a = env:server{
			host = "a.test", users = { alice = "alice-pw" }, plugin = true,
			vhost_options = { s2s_partners = {
				{ domain = "b.test", type = "federated", connect = b.addr .. ":" .. b.s2s_port },
			} },
		}
		-- Name resolution sends b.test nowhere (nothing listens on 127.0.0.255).
		env:add_host("b.test", "127.0.0.255")
		alice, bob = env:start_and_login{ { jid = "alice@a.test", server = a }, { jid = "bob@b.test", server = b } }
	end)

	teardown(function()
		if env then env:cleanup() end
	end)

	it("connects to the configured address on Prosody 13, or says it cannot on 0.12", function()
		assert(alice:send_message("bob@b.test", "via connect"))
		if a.prosody_version:match("^0%.12") then
			assert(a:wait_log("Partner b.test has connect = \"" .. b.addr .. ":" .. b.s2s_port
				.. "\", which needs Prosody 13", { plain = true, timeout = T }))
			assert(alice:expect_error{ from = "bob@b.test", kind = "message", timeout = T })
		else
			assert(bob:expect_message{ from = "alice@a.test", body = "via connect", timeout = T })
			assert(a:wait_log("Connecting to " .. b.addr .. ":" .. b.s2s_port .. " for b.test (partner connect)",
				{ plain = true, timeout = T }))
		end
	end)
end)
