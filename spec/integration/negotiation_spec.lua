-- The negotiation matrix of README "Negotiation matrix" against real Prosody peers, both directions.
--
-- a.test runs mod_s2s_partners and lists one partner domain per (row, peer kind); three stock
-- Prosody 0.12 peers serve those domains as VirtualHosts:
--   trusted    certificates from the test CA, trusts a.test      → SASL EXTERNAL possible both ways
--   untrusted  certificates from another CA, does not trust a.test → dialback over TLS at best
--   notls      s2s_allow_encryption = false                      → dialback without TLS at best
-- A message goes each way for every domain; the outcome predicted from the row and the kind
-- (expected() below) must be what happens: delivered and authenticated by exactly that method
-- (the plugin logs it), or refused with a policy-violation that says why and nothing delivered.
-- The observed outcomes are written to build/results/negotiation.md for the README
-- (scripts/update-readme-results.sh).
--
-- Run: lua5.4 /usr/bin/busted --run=integration spec/integration/negotiation_spec.lua
local harness = require "harness"
local rawpeer = require "rawpeer"
local util = harness.util

local T = require("harness.util").WAIT -- bound for anything that must happen (see harness README)

-- Every valid and warning row of README "Negotiation matrix" (the invalid ones are never applied: compile_spec).
local ROWS = {
	{ "R", "R", true }, { "R", "R", false }, { "O", "R", true }, { "O", "R", false }, { "N", "R", true },
	{ "R", "O", true }, { "R", "O", false }, { "O", "O", true }, { "O", "O", false }, { "N", "O", true },
	{ "R", "N", true }, { "O", "N", true }, { "N", "N", true },
}
local WORD = { R = "required", O = "optional", N = "not_supported" }
local KINDS = { "trusted", "untrusted", "notls" }
local DIRECTIONS = { "outgoing", "incoming" }
local METHOD_NAME = { -- as logged by the plugin
	sasl_tls = "SASL EXTERNAL over TLS", tls_dialback = "dialback over TLS", tcp_dialback = "dialback without TLS",
}
local SHORT = { sasl_tls = "SASL over TLS", tls_dialback = "TLS dialback", tcp_dialback = "TCP dialback" }

local function row_id(row) return (row[1] .. row[2] .. (row[3] and "t" or "f")):lower() end
local function row_label(row) return ("tls=%s sasl=%s dialback=%s"):format(row[1], row[2], tostring(row[3])) end
local function domain_of(row, kind) return row_id(row) .. "." .. kind .. ".test" end

-- README "Negotiation matrix": the methods a row allows.
local function allows(row, method)
	local t, s, d = row[1], row[2], row[3]
	if method == "sasl_tls" then return t ~= "N" and s ~= "N" end
	if method == "tls_dialback" then return d and t ~= "N" and not (t == "R" and s == "R") end
	if method == "tcp_dialback" then return d and t ~= "R" end
end

-- The method a stock peer of `kind` ends up with against a.test for `row` (both directions are
-- symmetric here), or nil and a Lua pattern the refusal text must match.
local function expected(row, kind)
	local t, s = row[1], row[2]
	local function dialback(method, why)
		if allows(row, method) then return method end
		return nil, why
	end
	if kind == "notls" then
		if t == "R" then return nil, "requires TLS" end
		return dialback("tcp_dialback", "dialback")
	end
	if t == "N" then return dialback("tcp_dialback", "dialback") end
	if kind == "trusted" and s ~= "N" then return "sasl_tls" end
	if kind == "trusted" then return dialback("tls_dialback", "dialback") end
	return dialback("tls_dialback", "EXTERNAL") -- untrusted: no EXTERNAL either way
end

local plugin_present, plugin_dir = harness.plugin_available()

describe("negotiation matrix (README 'Negotiation matrix') with stock Prosody peers #integration", function()
	if not plugin_present then
		pending("plugin not built (" .. plugin_dir .. "/mod_s2s_partners.lua missing): run `make all`")
		return
	end

	local env, a, alice
	local peers, users = {}, {} -- kind -> server; domain -> account
	local results = {} -- domain -> direction -> observed outcome text
	local raw_results = {} -- row id -> method -> observed outcome text
	local started

	setup(function()
		started = util.now()
		env = harness.env()
		local partners = {}
		local hosts = {}
		for _, kind in ipairs(KINDS) do hosts[kind] = {} end
		for _, row in ipairs(ROWS) do
			for _, kind in ipairs(KINDS) do
				local d = domain_of(row, kind)
				partners[#partners + 1] = { domain = d, type = "federated",
					tls = WORD[row[1]], sasl = WORD[row[2]], dialback = row[3] }
				table.insert(hosts[kind], d)
			end
		end
		a = env:server{ host = "a.test", users = { alice = "alice-pw" }, plugin = true, log_level = "info",
			vhost_options = { s2s_partners = partners } }
		local function peer(kind, opts)
			opts.host = kind .. ".test"
			opts.extra_hosts = hosts[kind]
			opts.users = {}
			for _, d in ipairs(hosts[kind]) do opts.users["u@" .. d] = "pw" end
			-- Stock settings that leave every per-partner choice to a.test.
			opts.s2s_require_encryption, opts.s2s_secure_auth = false, false
			opts.log_level = "info"
			peers[kind] = env:server(opts)
		end
		peer("trusted", {})
		peer("untrusted", { cert = "other_ca", cafile = env:other_ca().cert })
		peer("notls", { global_options = { s2s_allow_encryption = false } })
		env:start()
		local clients = env:client{ timeout = T }
		local logins, order = { { jid = "alice@a.test", server = a } }, {}
		for _, kind in ipairs(KINDS) do
			for _, d in ipairs(hosts[kind]) do
				logins[#logins + 1] = { jid = "u@" .. d, server = peers[kind] }
				order[#order + 1] = d
			end
		end
		local accounts = assert(clients:login_many(logins))
		alice = accounts[1]
		for i, d in ipairs(order) do users[d] = accounts[i + 1] end
		util.trace("negotiation: %d accounts logged in after %.1f s", #accounts, util.now() - started)
		-- One message each way per domain, all at once; the its below check the outcomes.
		for d, u in pairs(users) do
			assert(alice:send_message("u@" .. d, "out " .. d))
			assert(u:send_message("alice@a.test", "in " .. d))
		end
	end)

	teardown(function()
		if env then env:cleanup() end
		-- The table for the README: whatever was observed, even when a row failed.
		local out = { ("Observed with Prosody %s on a.test (the module) and on the peers."):format(
				a and a.prosody_version or "(not started)"), "",
			"| tls | sasl | dialback | peer | outgoing (a.test → peer) | incoming (peer → a.test) |",
			"|---|---|---|---|---|---|" }
		for _, row in ipairs(ROWS) do
			for _, kind in ipairs(KINDS) do
				local r = results[domain_of(row, kind)] or {}
				out[#out + 1] = ("| %s | %s | %s | %s | %s | %s |"):format(row[1], row[2], tostring(row[3]), kind,
					r.outgoing or "not run", r.incoming or "not run")
			end
		end
		out[#out + 1] = ""
		out[#out + 1] = "Methods a row does not allow, attempted by a scripted peer (spec/harness/rawpeer.lua) claiming "
			.. "the row's domain of the trusted kind:"
		out[#out + 1] = ""
		out[#out + 1] = "| tls | sasl | dialback | attempted method | outcome |"
		out[#out + 1] = "|---|---|---|---|---|"
		for _, row in ipairs(ROWS) do
			for _, method in ipairs({ "sasl_tls", "tls_dialback", "tcp_dialback" }) do
				if not allows(row, method) then
					out[#out + 1] = ("| %s | %s | %s | %s | %s |"):format(row[1], row[2], tostring(row[3]), SHORT[method],
						(raw_results[row_id(row)] or {})[method] or "not run")
				end
			end
		end
		util.mkdir("build/results")
		-- Whole file at once (rename): another run of this spec may write it at the same time.
		local tmp = ("build/results/negotiation.md.%d.tmp"):format(harness.pid or 0)
		util.write_file(tmp, table.concat(out, "\n") .. "\n")
		assert(os.rename(tmp, "build/results/negotiation.md"))
		util.trace("negotiation suite: %.1f s", util.now() - (started or util.now()))
	end)

	it("gave every peer VirtualHost its TLS context (one certificate names them all)", function()
		for _, kind in ipairs(KINDS) do
			local server = peers[kind]
			for _, host in ipairs(server.hosts) do
				assert.truthy(server:log_contains(host .. ":tls\tinfo\tCertificates loaded", { plain = true }),
					kind .. ": no TLS context for " .. host)
			end
			assert.is_nil(server:log_contains("Error creating context", { plain = true }))
		end
	end)

	-- Check one (row, kind, direction); returns the outcome text for the results table.
	local function check(row, kind, direction)
		local d = domain_of(row, kind)
		local peer_user, jid = users[d], "u@" .. d
		local method, why = expected(row, kind)
		local sender, receiver, from, body
		if direction == "outgoing" then
			sender, receiver, from, body = alice, peer_user, "alice@a.test", "out " .. d
		else
			sender, receiver, from, body = peer_user, alice, jid, "in " .. d
		end
		local to = direction == "outgoing" and jid or "alice@a.test"
		if method then
			assert(receiver:expect_message{ from = from, body = body, timeout = T })
			local line = assert(a:wait_log(("Partner %s (%s) authenticated %s by "):format(d, d, direction),
				{ plain = true, timeout = T }))
			local used
			for m, name in pairs(METHOD_NAME) do
				if line:find("by " .. name, 1, true) then used = m end
			end
			assert.equal(METHOD_NAME[method], METHOD_NAME[used], line)
			return SHORT[used]
		end
		-- Refused: the sender gets an error naming the reason, a.test logs the refusal.
		local e = assert(sender:expect_error{ from = to, kind = "message", timeout = T })
		local text = e.error and e.error.text or ""
		assert.matches(why, text, nil, false, e.xml)
		if direction == "outgoing" then
			assert.equal("policy-violation", e.error.condition, e.xml)
		else
			assert.matches("policy%-violation", text, nil, false, e.xml) -- the peer's bounce quotes our stream error
		end
		local line = assert(a:wait_log(("Refused %s s2s stream %s %s: "):format(direction,
			direction == "outgoing" and "to" or "from", d), { plain = true, timeout = T }))
		assert.truthy(line:find("[partner " .. d .. ", ", 1, true), line) -- direction, domain, partner, reason
		local got = assert(receiver:received{ kind = "message", from = from, not_type = "error" })
		assert.equal(0, #got, "delivered although refused: " .. ((got[1] or {}).xml or ""))
		return "refused: " .. text:gsub("^Server%-to%-server connection failed: ", ""):gsub("|", "/")
	end

	for _, row in ipairs(ROWS) do
		for _, kind in ipairs(KINDS) do
			local method, why = expected(row, kind)
			for _, direction in ipairs(DIRECTIONS) do
				local what = method and ("by " .. SHORT[method]) or ("refused (" .. why .. ")")
				it(("%s, %s peer, %s: %s"):format(row_label(row), kind, direction, what), function()
					local d = domain_of(row, kind)
					results[d] = results[d] or {}
					local ok, outcome = pcall(check, row, kind, direction)
					results[d][direction] = ok and outcome or "FAILED"
					if not ok then error(outcome, 0) end
				end)
			end
		end
	end

	it("agrees with s2s:show() on TLS and SASL EXTERNAL for every accepted stream", function()
		local rows, out = a:s2s_sessions()
		local by = {}
		for _, r in ipairs(rows) do by[r.remote .. " " .. r.dir] = r end
		for _, row in ipairs(ROWS) do
			for _, kind in ipairs(KINDS) do
				local method = expected(row, kind)
				local d = domain_of(row, kind)
				for _, dir in ipairs({ "out", "in" }) do
					local r = by[d .. " " .. dir]
					if method then
						assert.truthy(r, ("no %s stream with %s:\n%s"):format(dir, d, out))
						if method == "tcp_dialback" then
							assert.does_not.match("^TLS", r.secure, r.line)
						else
							assert.matches("^TLS", r.secure, nil, false, r.line)
						end
						assert.equal(method == "sasl_tls", r.s2s_sasl == "Succeeded", r.line)
					else
						assert.is_nil(r, r and r.line)
					end
				end
			end
		end
	end)

	-- The disallowed methods of each row, tried by a raw peer claiming the row's trusted-kind
	-- domain (with that domain's real certificate, so EXTERNAL fails only by policy).
	local function attempt(row, method)
		local d = domain_of(row, "trusted")
		local peer = assert(rawpeer.connect(a.addr, 5269, T))
		assert(peer:open(d, "a.test"))
		local features = assert(peer:features(T))
		local starttls = rawpeer.child(features, "starttls", "urn:ietf:params:xml:ns:xmpp-tls")
		if method ~= "tcp_dialback" then
			if row[1] == "N" then
				-- TLS is neither offered nor accepted: the method cannot even start.
				assert.is_nil(starttls, peer:transcript())
				local ok, err = peer:starttls{ timeout = T }
				assert.is_nil(ok, peer:transcript())
				assert.equal("failure", err, peer:transcript())
				peer:close()
				return "STARTTLS refused (`<failure/>`)"
			end
			local trusted = peers.trusted
			assert(peer:starttls{ timeout = T, certificate = trusted.cert, key = trusted.key })
			features = assert(peer:features(T))
		end
		local why
		if method == "sasl_tls" then
			assert.same({}, rawpeer.mechanisms(features))
			assert(peer:auth_external())
			why = "^SASL EXTERNAL is not allowed with " .. d:gsub("%p", "%%%0") .. "$"
		elseif method == "tcp_dialback" and row[1] == "R" then
			assert(peer:dialback(d, "a.test", "0123456789abcdef")) -- skipping STARTTLS
			why = "^" .. d:gsub("%p", "%%%0") .. " requires TLS$"
		else
			assert.is_nil(rawpeer.child(features, "dialback", "urn:xmpp:features:dialback"), peer:transcript())
			assert(peer:dialback(d, "a.test", "0123456789abcdef"))
			if not row[3] then
				why = "^dialback is not allowed with "
			else
				why = " requires SASL EXTERNAL: dialback will not operate if both SASL and TLS are required$"
			end
		end
		local condition, text = peer:expect_stream_error(T)
		peer:close()
		assert.equal("policy-violation", condition, peer:transcript())
		assert.matches(why, text or "", nil, false, peer:transcript())
		return ("`%s`: %s"):format(condition, text)
	end

	for _, row in ipairs(ROWS) do
		for _, method in ipairs({ "sasl_tls", "tls_dialback", "tcp_dialback" }) do
			if not allows(row, method) then
				it(("%s: refuses %s attempted by a scripted peer"):format(row_label(row), SHORT[method]), function()
					local id = row_id(row)
					raw_results[id] = raw_results[id] or {}
					local ok, outcome = pcall(attempt, row, method)
					raw_results[id][method] = ok and outcome or "FAILED"
					if not ok then error(outcome, 0) end
				end)
			end
		end
	end

	it("delivered nothing else, and refused cleanly", function()
		assert(alice:expect_no_message{ within = 0.3 })
		-- Refusals inside s2s-stream-features leave mod_s2s nothing to complain about.
		assert.is_nil(a:log_contains("No stream features to offer", { plain = true }))
		for d, u in pairs(users) do
			local got = assert(u:received{ kind = "message", not_type = "error" })
			assert.equal(0, #got, d .. ": " .. ((got[1] or {}).xml or ""))
		end
	end)
end)

describe("Prosody's global options that override partner rules #integration", function()
	if not plugin_present then
		pending("plugin not built (" .. plugin_dir .. "/mod_s2s_partners.lua missing): run `make all`")
		return
	end

	local env, a

	setup(function()
		env = harness.env()
		a = env:server{ host = "a.test", plugin = true, log_level = "info",
			s2s_require_encryption = true, s2s_secure_auth = true,
			vhost_options = { s2s_partners = {
				{ domain = "plain.test", tls = "optional", sasl = "optional", dialback = true },
				{ domain = "strict.test", tls = "required", sasl = "required", dialback = false },
			} } }
		env:start()
	end)

	teardown(function()
		if env then env:cleanup() end
	end)

	it("warns at start about s2s_require_encryption for a partner with tls other than required", function()
		local line = assert(a:wait_log("Partner plain.test has tls = \"optional\" but s2s_require_encryption is on",
			{ plain = true, timeout = T }))
		assert.matches("%swarn%s", line)
		assert.is_nil(a:log_contains("Partner strict.test has tls", { plain = true }))
	end)

	it("warns at start about s2s_secure_auth for a partner that allows dialback", function()
		local line = assert(a:wait_log("Partner plain.test allows dialback but s2s_secure_auth is on",
			{ plain = true, timeout = T }))
		assert.matches("%swarn%s", line)
		assert.is_nil(a:log_contains("Partner strict.test allows dialback", { plain = true }))
	end)
end)
