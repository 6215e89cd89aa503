-- Several Prosody nodes of one domain sharing the runtime partner list on a real PostgreSQL
-- (README "Cluster"), and the same flow on SQLite with one node. The PostgreSQL server is
-- started by the test itself (spec/harness/postgres.lua) and stopped at cleanup.
-- Run: S2SP_PROSODY=0.12 lua5.4 /usr/bin/busted --run=integration spec/integration/cluster_spec.lua
local harness = require "harness"
local postgres = require "harness.postgres"
local util = require "harness.util"

local T = util.WAIT -- bound for anything that must happen (see harness README)

local function merged(a, b)
	local out = {}
	for k, v in pairs(a) do out[k] = v end
	for k, v in pairs(b) do out[k] = v end
	return out
end

-- The primary domains a node lists (first column of s2s_partners:list).
local function listed(server)
	local out, set = server:shell('s2s_partners:list("a.test")'), {}
	for domain in out:gmatch("\n([%w.-]+%.test)  ") do set[domain] = true end
	return set, out
end

describe("a cluster of two nodes on PostgreSQL #integration", function()
	local env, pg, a1, a2, alice, bob

	setup(function()
		env = harness.env()
		pg = postgres.new(env):start()
		local options = merged(pg:prosody_options(), { dialback_secret = "cluster-secret" })
		local node = { host = "a.test", plugin = true, global_options = options, vhost_options = { s2s_partners = {} } }
		a1 = env:server(merged(node, { users = { alice = "alice-pw" } }))
		a2 = env:server(merged(node, { node = "a.test#2" }))
		local b = env:server{ host = "b.test", users = { bob = "bob-pw" } }
		env:start({ a1 }) -- creates the tables and the accounts once
		env:start()
		-- alice uses node 2; b.test reaches a.test through node 1 (the hosts file)
		alice, bob = env:start_and_login{ { jid = "alice@a.test", password = "alice-pw", server = a2 },
			{ jid = "bob@b.test", server = b } }
	end)

	teardown(function()
		if env then env:cleanup() end
	end)

	it("enforces on node 2 a partner added on node 1", function()
		assert(alice:send_message("bob@b.test", "not yet"))
		assert(alice:expect_error{ from = "bob@b.test", kind = "message", timeout = T })
		assert.matches("OK: Saved: b.test [runtime] federated",
			(a1:shell('s2s_partners:put("a.test", { domain = "b.test"; type = "federated" })')), 1, true)
		assert(util.poll(function() return listed(a2)["b.test"] end, T), "node 2 never listed b.test")
		assert(alice:send_message("bob@b.test", "through node 2"))
		assert(bob:expect_message{ from = "alice@a.test", body = "through node 2", timeout = T })
		-- the audit log is shared too
		assert.truthy((a2:shell('s2s_partners:audit("a.test")')):find("prosodyctl shell%s+shell%s+add%s+b%.test"))
	end)

	it("applies edits to the stored list, so a removal stays removed", function()
		assert.matches("OK: Removed b.test", (a1:shell('s2s_partners:remove("a.test", "b.test")')), 1, true)
		-- node 2 may not have seen the removal yet: its edit still starts from the stored list
		assert.matches("OK: Saved: c.test", (a2:shell('s2s_partners:put("a.test", { domain = "c.test" })')), 1, true)
		for _, node in ipairs({ a1, a2 }) do
			assert(util.poll(function()
				local set = listed(node)
				return set["c.test"] and not set["b.test"]
			end, T), "b.test came back or c.test is missing")
		end
		-- and the closed streams: node 2's stream to b.test is refused now
		assert(util.poll(function() return #a2:find_s2s{ remote = "b.test" } == 0 end, T))
		assert(alice:send_message("bob@b.test", "removed"))
		assert(alice:expect_error{ from = "bob@b.test", kind = "message", timeout = T })
	end)

	it("lands both of two concurrent edits on two nodes", function()
		for round = 1, 3 do
			local d1, d2 = ("d%d.test"):format(round), ("e%d.test"):format(round)
			local h1 = util.spawn(a1:shell_command(('s2s_partners:put("a.test", { domain = %q })'):format(d1)), "r")
			local h2 = util.spawn(a2:shell_command(('s2s_partners:put("a.test", { domain = %q })'):format(d2)), "r")
			local out1, out2 = h1:read("a"), h2:read("a")
			h1:close(); h2:close()
			-- on PostgreSQL the nodes take turns (an advisory lock): both edits land
			local saved = {}
			for domain, out in pairs({ [d1] = out1, [d2] = out2 }) do
				assert.matches("OK: Saved: " .. domain, out, 1, true)
				saved[domain] = true
			end
			for _, node in ipairs({ a1, a2 }) do
				assert(util.poll(function()
					local set = listed(node)
					return set[d1] == saved[d1] and set[d2] == saved[d2]
				end, T), ("round %d: a saved edit is missing or a refused one was applied:\n%s\n%s\n%s"):format(round,
					out1, out2, select(2, listed(node))))
			end
		end
	end)

	it("keeps the list across a node restart", function()
		a2:restart()
		assert(util.poll(function()
			local set = listed(a2)
			return set["c.test"] and not set["b.test"]
		end, T), "node 2 did not have the stored list after a restart")
	end)
end)

describe("PostgreSQL going away #integration", function()
	local env, pg, a, alice, bob

	setup(function()
		env = harness.env()
		pg = postgres.new(env):start()
		a = env:server{ host = "a.test", plugin = true, users = { alice = "alice-pw" }, global_options = pg:prosody_options(),
			vhost_options = { s2s_partners = {} } }
		local b = env:server{ host = "b.test", users = { bob = "bob-pw" } }
		alice, bob = env:start_and_login{ { jid = "alice@a.test", server = a }, { jid = "bob@b.test", server = b } }
		assert.matches("OK: Saved", (a:shell('s2s_partners:put("a.test", { domain = "b.test"; type = "federated" })')), 1, true)
	end)

	teardown(function()
		if env then env:cleanup() end
	end)

	it("refuses edits with a clear error while it is down and enforces the last list", function()
		pg:stop()
		local out = a:shell('s2s_partners:put("a.test", { domain = "f.test" })')
		assert.matches("the runtime partner list in storage", out, 1, true)
		assert.is_nil(out:find("OK: Saved", 1, true))
		assert(alice:send_message("bob@b.test", "while the database is down"))
		assert(bob:expect_message{ from = "alice@a.test", body = "while the database is down", timeout = T })
		-- Recovery when it comes back is not asserted here: Prosody with lua-dbi-postgresql 0.7.2
		-- sometimes crashes in libpq when it reconnects after a PostgreSQL restart (README
		-- "Cluster"), which would make this spec flaky for a reason outside the module.
	end)

	it("starts with the config's partners when storage cannot be read, never writes over it, and recovers", function()
		a:restart() -- PostgreSQL is still down
		assert.is_nil(listed(a)["b.test"])
		local out = a:shell('s2s_partners:put("a.test", { domain = "g.test" })')
		assert.matches("the runtime partner list in storage", out, 1, true)
		assert(a:wait_log("could not read the runtime partner list in storage", { timeout = T }))
		local mark = a:log_mark()
		pg:start()
		-- what is stored is still the list saved before the outage
		local ok, stored = pg:psql("prosody", [[SELECT value FROM prosody WHERE host = 'a.test' AND "user" = 'runtime_partners']]
			.. [[ AND store = 's2s_partners' AND key = 'partners']])
		assert(ok, stored)
		assert.matches("b.test", stored, 1, true)
		assert.is_nil(stored:find("g.test", 1, true))
		-- and the node that never reached it puts it in force once it can (its first connection)
		assert(a:wait_log("Storage of the runtime partner list works again", { since = mark, timeout = T }))
		assert(util.poll(function() return listed(a)["b.test"] end, T), "the stored list never came into force")
		assert.matches("OK: Saved: g.test", (a:shell('s2s_partners:put("a.test", { domain = "g.test" })')), 1, true)
	end)
end)

describe("runtime partners on SQLite #integration", function()
	local env, a, alice, bob

	setup(function()
		env = harness.env()
		a = env:server{ host = "a.test", plugin = true, users = { alice = "alice-pw" }, vhost_options = { s2s_partners = {} },
			global_options = { storage = "sql", sql = { driver = "SQLite3", database = "prosody.sqlite" } } }
		local b = env:server{ host = "b.test", users = { bob = "bob-pw" } }
		alice, bob = env:start_and_login{ { jid = "alice@a.test", server = a }, { jid = "bob@b.test", server = b } }
	end)

	teardown(function()
		if env then env:cleanup() end
	end)

	it("stores, applies and keeps runtime partners", function()
		assert.matches("OK: Saved: b.test", (a:shell('s2s_partners:put("a.test", { domain = "b.test"; type = "federated" })')),
			1, true)
		a:restart()
		assert.truthy(listed(a)["b.test"])
		alice = assert(env:client():login{ jid = "alice@a.test", server = a })
		assert(alice:send_message("bob@b.test", "on sqlite"))
		assert(bob:expect_message{ from = "alice@a.test", body = "on sqlite", timeout = T })
	end)
end)
