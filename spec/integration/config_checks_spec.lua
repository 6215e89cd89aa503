-- Configuration mistakes that used to load silently, now refused and fail closed like any other
-- invalid partner configuration (README "Administration"): a partner list with a hole (a nil, as
-- an undefined variable leaves in a table constructor) or stray keys, and an empty
-- dialback_secret. A permissive s2s_partners_default does not let anyone in meanwhile.
local harness = require "harness"

local T = require("harness.util").WAIT -- bound for anything that must happen (see harness README)

local STRICT = '{ domain = "strict.test", type = "federated", tls = "required", sasl = "required", dialback = false }'
local PERMISSIVE = { tls = "optional", dialback = true }
local AT_START = "refusing all server-to-server traffic for a.test until it is fixed: "
local LIST_PROBLEM = "partners: expected a list of partner records, got "

-- alice (on the host running the module) and bob may not exchange anything, either way.
local function assert_refused_both_ways(alice, bob)
	assert(bob:send_message("alice@a.test", "to a closed host"))
	assert(bob:expect_error{ from = "alice@a.test", kind = "message", timeout = T })
	assert(alice:expect_no_message{ from = bob.jid, within = 0.5 })
	assert(alice:send_message(bob.jid, "from a closed host"))
	local e = assert(alice:expect_error{ from = bob.jid, kind = "message", timeout = T })
	assert.matches("the partner configuration of a.test is invalid", e.xml, 1, true)
end

describe("a partner list with holes or stray keys #integration", function()
	local env, a, alice, bob

	setup(function()
		env = harness.env()
		a = env:server{ host = "a.test", users = { alice = "alice-pw" }, plugin = true,
			vhost_options = { s2s_partners_default = PERMISSIVE },
			-- typo_var is not defined: the list is { [2] = STRICT }, strict.test is not at 1
			vhost_config = { "s2s_partners = { typo_var, " .. STRICT .. " }" } }
		local strict = env:server{ host = "strict.test", users = { bob = "bob-pw" } }
		alice, bob = env:start_and_login{ { jid = "alice@a.test", server = a }, { jid = "bob@strict.test", server = strict } }
	end)

	teardown(function()
		if env then env:cleanup() end
	end)

	it("is refused at start with an error naming the hole", function()
		assert(a:wait_log("Invalid s2s_partners, " .. AT_START .. LIST_PROBLEM .. "a table with holes (entry 1 is nil)",
			{ plain = true, timeout = T }))
		assert.is_nil(a:log_contains("federation partners in force", { plain = true }))
	end)

	it("refuses strict.test both ways, whatever the default policy says", function()
		assert_refused_both_ways(alice, bob)
		assert(a:wait_log("Refused incoming s2s stream from strict.test", { plain = true, timeout = T }))
	end)

	it("opens once the hole is gone, and keeps that policy when a reload brings a stray key", function()
		a:configure{ vhost_config = { "s2s_partners = { " .. STRICT .. " }" } }
		assert(a:reload())
		assert(a:wait_log("1 federation partners in force (reload)", { plain = true, timeout = T }))
		assert(bob:send_message("alice@a.test", "listed"))
		assert(alice:expect_message{ from = "bob@strict.test", body = "listed", timeout = T })

		local mark = a:log_mark()
		a:configure{ vhost_config = { "s2s_partners = { " .. STRICT .. ", domain = \"other.test\" }" } }
		assert(a:reload())
		assert(a:wait_log("Invalid s2s_partners on reload, keeping the previous partner list in force: "
			.. LIST_PROBLEM .. 'a table with field "domain"', { plain = true, since = mark, timeout = T }))
		assert(alice:send_message("bob@strict.test", "still listed"))
		assert(bob:expect_message{ from = "alice@a.test", body = "still listed", timeout = T })
	end)
end)

describe("an empty dialback_secret #integration", function()
	local env, a, alice, bob

	setup(function()
		env = harness.env()
		a = env:server{ host = "a.test", users = { alice = "alice-pw" }, plugin = true,
			global_options = { dialback_secret = "" },
			vhost_options = { s2s_partners_default = PERMISSIVE } }
		-- A self-signed peer trusting nothing: no SASL EXTERNAL either way, only dialback.
		local b = env:dialback_only_server{ host = "b.test", users = { bob = "bob-pw" } }
		alice, bob = env:start_and_login{ { jid = "alice@a.test", server = a }, { jid = "bob@b.test", server = b } }
	end)

	teardown(function()
		if env then env:cleanup() end
	end)

	it("is refused at load with a clear error naming the option", function()
		assert(a:wait_log("Invalid dialback_secret, " .. AT_START
			.. "dialback_secret: expected a non-empty string, got an empty string", { plain = true, timeout = T }))
		assert(a:wait_log("Invalid dialback_secret: expected a non-empty string, got an empty string; "
			.. "this host makes and confirms no dialback keys until it is fixed", { plain = true, timeout = T }))
	end)

	it("refuses all s2s traffic (federation does not open wider), without Lua errors", function()
		assert_refused_both_ways(alice, bob)
		assert.is_nil(a:log_contains("empty dialback secret", { plain = true }))
		assert.is_nil(a:log_contains("sent dialback key", { plain = true }))
	end)

	it("completes dialback both ways once a reload brings a usable secret", function()
		a:configure{ global_options = { dialback_secret = "s2s-partners-spec-secret" } }
		assert(a:reload())
		assert(a:wait_log("dialback_secret is usable again", { plain = true, timeout = T }))
		assert(a:wait_log("0 federation partners in force (reload)", { plain = true, timeout = T }))
		assert(alice:send_message("bob@b.test", "dialback out"))
		assert(bob:expect_message{ from = "alice@a.test", body = "dialback out", timeout = T })
		assert(a:wait_log("sent dialback key on outgoing s2s stream (s2s_partners)", { plain = true, timeout = T }))
		-- b.test's own key, confirmed by b.test over our outgoing stream (the message itself is
		-- then dropped by the default policy's public_unverified contact rules).
		assert(bob:send_message("alice@a.test", "dialback in"))
		assert(a:wait_log("Partner b.test (default policy) authenticated incoming by dialback over TLS",
			{ plain = true, timeout = T }))
	end)
end)
