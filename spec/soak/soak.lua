-- Soak (README "Reliability"; `make soak`, SOAK_MINUTES, default 10): a.test runs the module
-- with the partners of spec/soak/plan.lua on three peer servers over loopback — Prosody 0.12
-- (p12.test), Prosody 13 (p13.test), ejabberd (e.test) — hosting 49 domains. In rounds until the
-- time is up: messages and directed presence both ways with every domain, a subscription cycle
-- both ways, and between rounds streams closed (s2s:closeall), a runtime partner put or removed
-- (prosodyctl shell s2s_partners:put / remove) and, every other round, a reload (SIGHUP).
-- Every outcome is checked against the policy (spec/soak/traffic.lua); at the end the metrics
-- (/metrics) must account for every refusal, and no Prosody log may show a Lua error.
-- Writes the report, the samples and a plot to S2SP_SOAK_OUT (default bench/results/soak).
-- Exit status 1 when anything did not match.
--
--   lua5.4 spec/soak/soak.lua        (from the repository root; S2SP_PROSODY: a.test's Prosody)
package.path = "spec/?.lua;spec/harness/?.lua;" .. package.path
local harness = require "harness"
local ejabberd = require "harness.ejabberd"
local modstate = require "harness.modstate"
local openmetrics = require "harness.openmetrics"
local http = require "socket.http"
local plan = require "soak.plan"
local traffic = require "soak.traffic"
local report = require "soak.report"
local util = harness.util

local MINUTES = tonumber(os.getenv("SOAK_MINUTES")) or 10
local OUT = os.getenv("S2SP_SOAK_OUT") or "bench/results/soak"
local T = util.WAIT
local PW = "soak-pw"
local HTTP_PORT = 5280
local PREFIX = "prosody_mod_s2s_partners__"

local env = harness.env()
local domains, partners = plan.domains()
local users, extra = plan.users(domains, PW), plan.extra_hosts(domains)
local peer_opts = { s2s_require_encryption = false, s2s_secure_auth = false, log_level = "warn" }
local a = env:server{ host = "a.test", users = { alice = PW }, plugin = true, log_level = "info",
	modules = { "http_openmetrics" },
	global_options = { statistics = "internal", http_ports = { HTTP_PORT }, openmetrics_allow_cidr = "127.0.0.0/8" },
	vhost_options = { s2s_partners = partners } }
local servers = { a = a }
for _, v in ipairs({ "12", "13" }) do
	local o = { host = "p" .. v .. ".test", prosody = v == "12" and "0.12" or "13", extra_hosts = extra["p" .. v],
		users = users["p" .. v] }
	for k, val in pairs(peer_opts) do o[k] = val end
	servers["p" .. v] = env:server(o)
end
local e_hosts = { "e.test" }
for _, h in ipairs(extra.e) do e_hosts[#e_hosts + 1] = h end
servers.e = ejabberd.new(env, { hosts = e_hosts, users = users.e })

local function scrape()
	local body, code = http.request(("http://%s:%d/metrics"):format(a.addr, HTTP_PORT))
	assert(body and code == 200, "GET /metrics: " .. tostring(code))
	return openmetrics.parse(body)
end

-- Streams of a.test with `remote`, from s2s:show.
local function streams_with(remote)
	return #a:find_s2s{ remote = remote }
end

local function run()
	env:start()
	local accounts = {}
	for _, peer in ipairs({ "p12", "p13", "e" }) do
		local logins = {}
		for jid in pairs(users[peer]) do logins[#logins + 1] = { jid = jid, password = PW, server = servers[peer] } end
		if peer == "e" then logins[#logins + 1] = { jid = "alice@a.test", password = PW, server = a } end
		for _, acc in ipairs(assert(env:client{ timeout = T }:login_many(logins))) do accounts[acc.jid] = acc end
	end
	local alice = accounts["alice@a.test"]
	local subs = {}
	for _, d in ipairs(domains) do
		if d.class == "allowed" and d.partner.type == "public_unverified" then assert(alice:roster_add("bob@" .. d.domain)) end
		if d.subs then subs[#subs + 1] = d end
	end
	local on = {} -- toggled domains now put as runtime partners
	local ctx = { alice = alice, domains = domains, forbidden = {}, tally = {},
		account = function (jid) return assert(accounts[jid], jid) end,
		dropped_subscribes = function ()
			return openmetrics.sum(scrape(), PREFIX .. "dropped_total", { partner_type = "public_unverified", kind = "subscribe" })
		end,
		class_of = function (d)
			if d.class == "toggled" then return on[d.domain] and "allowed" or "unlisted" end
			return d.class
		end }
	local toggles, allowed = {}, {}
	for _, d in ipairs(domains) do
		if d.class == "toggled" then toggles[#toggles + 1] = d end
		if d.class == "allowed" then allowed[#allowed + 1] = d end
	end
	local metrics_before, mark = scrape(), {}
	for name, s in pairs(servers) do if s.kind ~= "ejabberd" and s.kind ~= "rawserver" then mark[name] = s:log_mark() end end
	local samples, failure = {}, nil
	local started = util.now()
	local deadline = started + MINUTES * 60
	local r, edits, reloads, closes = 0, 0, 0, 0
	math.randomseed(18)
	while util.now() < deadline and not failure do
		r = r + 1
		local t0, sent0 = util.now(), report.total(ctx.tally, "sent")
		local ok, why = traffic.round(ctx, r)
		if ok then ok, why = traffic.subscriptions(ctx, subs[(r - 1) % #subs + 1]) end
		if not ok then failure = ("round %d: %s"):format(r, why) break end
		-- Between rounds: streams closed, an admin edit, a reload every other round.
		for _ = 1, 2 do
			local d = allowed[math.random(#allowed)].domain
			a:shell(("s2s:closeall(%q)"):format(d))
			closes = closes + 1
			assert(util.poll(function() return streams_with(d) == 0 end, T, 0.2), "streams with " .. d .. " stay")
		end
		local toggle = toggles[(r - 1) % #toggles + 1]
		local d = toggle.domain
		if on[d] then
			assert(a:shell(("s2s_partners:remove(%q, %q)"):format("a.test", d)):find("emoved", 1, true))
			on[d] = nil
			assert(util.poll(function() return streams_with(d) == 0 end, T, 0.2), "streams with " .. d .. " stay")
		else
			local out = a:shell(("s2s_partners:put(%q, { domain = %q; type = %q })"):format("a.test", d, toggle.type))
			assert(not out:find("rror"), out)
			on[d] = true
		end
		edits = edits + 1
		if r % 2 == 0 then
			local m = a:log_mark()
			a:signal("HUP")
			assert(a:wait_log("federation partners in force (reload)", { plain = true, since = m, timeout = T }))
			reloads = reloads + 1
		end
		local state = assert(modstate.read(a))
		samples[#samples + 1] = { t = util.now() - started, round = r, rss_a = modstate.rss(a),
			rss_p12 = modstate.rss(servers.p12), rss_p13 = modstate.rss(servers.p13), heap = state.mem,
			tracked = state.tracked, pending = state.pending, dead = state.dead, unlisted = state.unlisted,
			stanzas = report.total(ctx.tally, "sent") - sent0, seconds = util.now() - t0 }
	end
	-- Nothing alice sent to a domain the policy refuses reached its user.
	for _, d in ipairs(domains) do
		if d.class ~= "allowed" then
			for _, m in ipairs(assert(ctx.account("bob@" .. d.domain):received{ kind = "message", from = "alice@a.test" })) do
				if m.type ~= "error" and d.class ~= "toggled" then -- a toggled domain is allowed at times
					failure = failure or ("delivered to " .. d.domain .. " although refused: " .. tostring(m.body))
				end
			end
		end
	end
	-- Records of streams closed moments ago may wait for Prosody to let go of the session (a
	-- close timer); once traffic stops they must all go.
	local settled_at = util.now()
	local settled = modstate.wait(a, function(st) return st.dead == 0 and st.pending == 0 end)
	local metrics_after = scrape()
	local function delta(name, labels)
		return openmetrics.sum(metrics_after, PREFIX .. name, labels) - openmetrics.sum(metrics_before, PREFIX .. name, labels)
	end
	local tally = ctx.tally
	local function sent(name) return tally[name] and tally[name].sent or 0 end
	local accounting = {
		{ "bounced (not_partner)", delta("bounced_total", { reason = "not_partner" }),
			sent("unlisted message out (bounced)") + sent("unlisted presence out (bounced)") },
		{ "dropped (public_unverified, message)", delta("dropped_total", { partner_type = "public_unverified", kind = "message" }),
			sent("stranger message in (dropped)") },
		{ "dropped (public_unverified, subscribe)",
			delta("dropped_total", { partner_type = "public_unverified", kind = "subscribe" }), sent("subscription in (dropped)") },
		{ "refused streams, incoming, not_partner", delta("refused_total", { direction = "incoming", reason = "not_partner" }) },
		{ "refused streams, outgoing, tls_not_supported",
			delta("refused_total", { direction = "outgoing", reason = "tls_not_supported" }) },
		{ "refused streams, policy_changed", delta("refused_total", { reason = "policy_changed" }) },
	}
	local problems = {}
	for name, s in pairs(servers) do
		if mark[name] then
			for _, line in ipairs(modstate.log_problems(s, mark[name])) do problems[#problems + 1] = name .. ": " .. line end
		end
	end
	local e_errors = select(2, (util.read_file(servers.e.log_file) or ""):gsub("%[error%]", ""))
	return report.write(OUT, { minutes = MINUTES, rounds = r, edits = edits, reloads = reloads, closes = closes,
		domains = domains, tally = tally, accounting = accounting, samples = samples, problems = problems,
		ejabberd_errors = e_errors, failure = failure, prosody = a.prosody_version,
		settled = settled and { state = settled, after = util.now() - settled_at },
		elapsed = util.now() - started })
end

local ok, result = xpcall(run, debug.traceback)
if not ok then
	io.stderr:write("soak: ", tostring(result), "\n")
	env:dump_logs(30)
end
env:cleanup()
os.exit(ok and result and 0 or 1)
