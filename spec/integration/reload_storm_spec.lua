-- A storm of configuration reloads while messages flow (README "Reliability"): a.test's partner
-- list is rewritten and reloaded (SIGHUP) RELOADS times, valid, warning and invalid lists in
-- turn, each a random choice of b.test's domains. After each reload the policy in force must be
-- the last list that was not invalid (README "Configuration": an invalid list on reload leaves
-- the previous one in force) — never wider: alice's messages to a domain it does not allow bounce
-- at once, its domains' messages never reach her while no list in force allows them; the allowed
-- ones are delivered both ways. No Lua error, no per-stream state or memory left growing.
--
-- A message from a domain the list refuses is not waited for (it is dropped, or the remote
-- server cannot connect and bounces it, or queues it while it tries again): it is judged when
-- alice is seen to have it, against every list that was in force since it was sent. Under load
-- one can still be on its way after the next reload, under which its domain may be allowed.
--
-- Run: S2SP_PROSODY=13 lua5.4 /usr/bin/busted --run=integration spec/integration/reload_storm_spec.lua
local harness = require "harness"
local modstate = require "harness.modstate"
local util = require "harness.util"

local T = util.WAIT -- bound for anything that must happen (see harness README)
local RELOADS = 100
local DOMAINS = { "d1.b.test", "d2.b.test", "d3.b.test" }
local INVALID_LINE = "Invalid s2s_partners on reload, keeping the previous partner list in force"
local KINDS = { "valid", "warning", "invalid" }
-- A valid row and a warning row of the negotiation matrix (README), both allowing SASL EXTERNAL
-- over TLS, which b.test's trusted certificate gives; and an invalid row (no method left).
local ROWS = {
	valid = { type = "federated", tls = "required", sasl = "optional", dialback = true },
	warning = { type = "federated", tls = "optional", sasl = "optional", dialback = true },
	invalid = { type = "federated", tls = "not_supported", sasl = "not_supported", dialback = false },
}

local plugin_present, plugin_dir = harness.plugin_available()

-- The partner list of one reload: `kind` rows for the domains of `set`; an invalid list has one
-- invalid record more.
local function partner_list(kind, set)
	local list = {}
	for _, d in ipairs(DOMAINS) do
		if set[d] then
			local row = { domain = d }
			for k, v in pairs(ROWS[kind == "invalid" and "valid" or kind]) do row[k] = v end
			list[#list + 1] = row
		end
	end
	if kind == "invalid" then
		local row = { domain = "broken.test" }
		for k, v in pairs(ROWS.invalid) do row[k] = v end
		list[#list + 1] = row
	end
	return list
end

describe(RELOADS .. " configuration reloads under traffic #integration", function()
	if not plugin_present then
		pending("plugin not built (" .. plugin_dir .. "/mod_s2s_partners.lua missing): run `make all`")
		return
	end

	local env, a, alice, bobs, bob_list = nil, nil, nil, {}, {}

	setup(function()
		env = harness.env()
		a = env:server{ host = "a.test", users = { alice = "alice-pw" }, plugin = true, log_level = "info",
			vhost_options = { s2s_partners = partner_list("valid", {}) } }
		local users = {}
		for _, d in ipairs(DOMAINS) do users["bob@" .. d] = "bob-pw" end
		local b = env:server{ host = "b.test", extra_hosts = DOMAINS, users = users, log_level = "info",
			s2s_require_encryption = false, s2s_secure_auth = false }
		env:start()
		local logins = { { jid = "alice@a.test", server = a } }
		for i, d in ipairs(DOMAINS) do logins[i + 1] = { jid = "bob@" .. d, server = b } end
		local accounts = assert(env:client{ timeout = T }:login_many(logins))
		alice = accounts[1]
		for i, d in ipairs(DOMAINS) do bobs[d], bob_list[i] = accounts[i + 1], accounts[i + 1] end
	end)

	teardown(function()
		if env then env:cleanup() end
	end)

	-- Rewrite the config with `list`, reload, and wait until a.test has dealt with it.
	local function reload(kind, list)
		local mark = a:log_mark()
		a:configure{ vhost_options = { s2s_partners = list } }
		a:signal("HUP")
		local line = kind == "invalid" and INVALID_LINE or "federation partners in force (reload)"
		assert(a:wait_log(line, { plain = true, since = mark, timeout = T }))
	end

	it("keeps the last list that was not invalid in force, never a wider one, and leaks nothing", function()
		local mark, rss_before = a:log_mark(), modstate.rss(a)
		local state_before = assert(modstate.read(a))
		math.randomseed(18)
		local allowed, figures = {}, { delivered = 0, bounced = 0, forbidden_in = 0 }
		local forbidden_bodies = {} -- what must never reach b.test's users
		-- What b.test's users sent alice that a list in force then did not allow, not yet seen to
		-- arrive: body -> { domain = d, allowed = whether any list in force since allowed d }.
		local undecided = {}
		local function in_force(list)
			for _, u in pairs(undecided) do u.allowed = u.allowed or list[u.domain] end
		end
		-- What alice has now was delivered under a list in force since it was sent.
		local function judge_arrivals()
			for _, msg in ipairs(assert(alice:received{ kind = "message" })) do
				local u = undecided[msg.body or ""]
				if u then
					assert.truthy(u.allowed, "delivered although not allowed: " .. tostring(msg.body))
					undecided[msg.body] = nil
				end
			end
		end
		local started = util.now()
		for i = 1, RELOADS do
			local kind, set = KINDS[(i - 1) % #KINDS + 1], {}
			for _, d in ipairs(DOMAINS) do set[d] = math.random() < 0.5 end
			-- In flight while a.test reloads: what neither the old nor the new list allows must not arrive.
			local before = allowed
			for _, d in ipairs(DOMAINS) do
				local flight = ("flight %d %s"):format(i, d)
				assert(bobs[d]:send_message("alice@a.test", flight))
				assert(alice:send_message("bob@" .. d, flight))
				if not before[d] then undecided[flight] = { domain = d, allowed = false } end
			end
			reload(kind, partner_list(kind, set))
			if kind ~= "invalid" then allowed = set end
			in_force(allowed)
			for _, d in ipairs(DOMAINS) do
				if not before[d] and not allowed[d] then forbidden_bodies[("flight %d %s"):format(i, d)] = true end
			end
			-- Both ways, for every domain, sent at once; then each outcome.
			for _, d in ipairs(DOMAINS) do
				local out, back = ("out %d %s"):format(i, d), ("in %d %s"):format(i, d)
				assert(alice:send_message{ to = "bob@" .. d, body = out, id = ("o%d-%s"):format(i, d) })
				assert(bobs[d]:send_message("alice@a.test", back))
				if not allowed[d] then
					forbidden_bodies[out] = true
					undecided[back] = { domain = d, allowed = false }
				end
			end
			for _, d in ipairs(DOMAINS) do
				local out, back = ("out %d %s"):format(i, d), ("in %d %s"):format(i, d)
				if allowed[d] then
					assert(bobs[d]:expect_message{ from = "alice@a.test", body = out, timeout = T })
					assert(alice:expect_message{ from = "bob@" .. d, body = back, timeout = T })
					figures.delivered = figures.delivered + 2
				else
					local err = assert(alice:expect_error{ from = "bob@" .. d, id = ("o%d-%s"):format(i, d), timeout = T })
					assert.equal("policy-violation", err.error.condition, err.xml)
					figures.bounced = figures.bounced + 1
					figures.forbidden_in = figures.forbidden_in + 1
				end
			end
			judge_arrivals()
		end
		local elapsed = util.now() - started
		-- Nothing a forbidden domain sent reached alice while it was forbidden, nothing forbidden
		-- reached b.test's users (checked at the end, on the inboxes).
		judge_arrivals()
		for _, account in ipairs(bob_list) do
			for _, msg in ipairs(assert(account:received{ kind = "message" })) do
				assert.is_nil(forbidden_bodies[msg.body or ""], "delivered although not allowed: " .. tostring(msg.body))
			end
		end
		local state = assert(modstate.wait(a, function(s) return s.pending == 0 and s.dead == 0 end))
		local rss_after = modstate.rss(a)
		assert.same({}, modstate.log_problems(a, mark, { INVALID_LINE }))
		-- At most one stream each way per domain is ever recorded; the heap does not grow with reloads.
		assert.truthy(state.tracked <= 2 * #DOMAINS, util.serialize(state))
		assert.truthy(state.mem < state_before.mem + 4096, ("Lua heap %d -> %d KiB"):format(state_before.mem, state.mem))
		-- RSS says nothing under the sanitizers of `make asan` (freed memory stays in quarantine)
		if not (os.getenv("S2SP_PROSODY_ENV") or ""):find("libasan", 1, true) then
			assert.truthy(rss_after < rss_before + 32 * 1024, ("RSS %d -> %d KiB"):format(rss_before, rss_after))
		end
		io.stderr:write(("reload_storm_spec: %d reloads in %.1f s; %d messages delivered, %d bounced, %d forbidden "
			.. "ones sent to alice, none delivered while forbidden; RSS %d -> %d KiB; Lua heap %d -> %d KiB; streams tracked %d -> %d\n")
			:format(RELOADS, elapsed, figures.delivered, figures.bounced, figures.forbidden_in, rss_before, rss_after,
				state_before.mem, state.mem, state_before.tracked, state.tracked))
	end)
end)
