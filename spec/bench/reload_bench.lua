-- Reload of a large partner list in a running Prosody (README "Performance"): the longest
-- event-loop stall while the list is put in force, measured inside the server by a timer's
-- lateness (spec/bench/mod_bench_lag.lua), with messages flowing both ways, and a check that
-- every one of them reaches exactly its addressee.
--
--   lua5.4 spec/bench/reload_bench.lua
--   S2SP_BENCH_RELOAD_PARTNERS (100000)  partners of a.test (3 additional domains each), b.test among them
--   S2SP_BENCH_RELOAD_REPEATS  (3)       measurements per case
--
-- Servers (spec/harness): a.test runs the module and the stall meter, b.test is a plain peer
-- (partner of a.test, type federated, in the middle of the list). Clients are raw sockets
-- (spec/bench/rawc2s.lua): alice@a.test sends to bob@b.test and dave@b.test to alice, one message
-- each way every STEP seconds, from before each reload until after it is done; carol@a.test and
-- eve@b.test are logged in and must receive nothing. Each received message is read back (its
-- id, from, to): misrouted = one that reached another account than its addressee, came from
-- another sender, arrived twice or was never sent; lost = sent and never received; bounced =
-- an error came back (b.test stays a partner in every list, so none is expected). alice and
-- frank@d1.b.test (another VirtualHost of b.test's server) also write to each other: d1.b.test
-- is a partner in every other list only, so its messages sent once a reload is done must be
-- delivered or refused as that list says (README "Administration": streams the new policy no
-- longer allows are closed; the sender gets an error).
--
-- Cases, each measured REPEATS times:
--   changed    the config file rewritten with a changed list (1% of the partners replaced, every
--              description changed), then SIGHUP (`prosodyctl reload`): what an operator does
--   unchanged  SIGHUP with the same file
--   runtime    an admin edit over the shell (`s2s_partners:put` of a new runtime partner, then
--              `s2s_partners:remove` of it): the runtime path (README "Administration")
--   prosody    the module unloaded from a.test (`module:unload` over the shell), same file,
--              SIGHUP: Prosody's own share (config parse, its own config-reloaded handlers), the
--              floor of the reload cases
-- The meter also times, inside the server: Prosody's parse of the config file, all
-- config-reloaded handlers, the module's policy.load and the C core's compile() within it (wall
-- and process CPU time: on a busy machine wall time also counts other processes' turns).
-- The module's share of a config reload's stall is its handlers' time beyond Prosody's own (the
-- reload without the module): the parse of the file comes first and is Prosody's (the same work
-- with or without the module; its CPU time is shown, as a larger heap makes it somewhat slower).
-- Past the handlers, the module's share is the longest stall of a turn that ran its code (a
-- compiler step of the sliced load) other than the parse's, whatever else ran in that turn.
-- A runtime edit parses nothing: its whole stall is the module's.
-- Exit status 1 when a target (TARGETS) is missed.
package.path = "spec/?.lua;spec/harness/?.lua;" .. package.path
local harness = require "harness"
local socket = require "socket"
local util = harness.util
local rawc2s = dofile("spec/bench/rawc2s.lua")
local bench = dofile("spec/bench/common.lua")

local N = tonumber(os.getenv("S2SP_BENCH_RELOAD_PARTNERS")) or 100000
local REPEATS = tonumber(os.getenv("S2SP_BENCH_RELOAD_REPEATS")) or 3
local STEP = 0.01     -- seconds between two messages of one direction
local LEAD = 0.3      -- seconds of traffic before each reload
local TAIL = 0.5      -- seconds of traffic after it is done
local TARGETS = {
	stall_ms = 100,   -- the module's share of the longest stall of a reload or runtime edit (issue 17)
	misrouted = 0, lost = 0, bounced = 0, against_policy = 0,
}

local function out(fmt, ...) print(fmt:format(...)) end

-- The partner list as config text: `rev` changes every description and replaces 1% of the
-- partners (those whose number ends in the revision's two digits) by new domains; TOGGLED is a
-- partner in odd revisions only (so in the last of REPEATS = 3 and in the cases after it).
local TOGGLED = "d1.b.test"
local function toggled_in(rev) return rev % 2 == 1 end
local function partners_text(rev)
	local lines, mid = { "s2s_partners = {" }, N // 2
	local r = rev % 100
	if toggled_in(rev) then lines[2] = ("{ domain = '%s'; type = 'federated' };"):format(TOGGLED) end
	for i = 1, N do
		if i == mid then
			lines[#lines + 1] = ("{ domain = 'b.test'; type = 'federated'; description = 'the peer, rev %d'; "
				.. "additional_domains = { 'b1.test', 'b2.test', 'b3.test' } };"):format(rev)
		else
			local d = (rev > 0 and i % 100 == r) and ("r%d-%d"):format(rev, i) or ("p%d"):format(i)
			lines[#lines + 1] = ("{ domain = '%s.example'; description = 'partner %d rev %d'; additional_domains = "
				.. "{ '%s-a.example', '%s-b.example', '%s-c.example' } };"):format(d, i, rev, d, d, d)
		end
	end
	lines[#lines + 1] = "}"
	return table.concat(lines, "\n")
end

-- A receiving account: every <message/> opening tag read from its stream, as { id, from, to, type }.
local function receiver(client, jid)
	return { client = client, jid = jid, buf = "", got = {} }
end

local function bare(j) return j and (j:match("^([^/]+)") or j) end

local function attr(tag, name)
	return tag:match("%s" .. name .. "='([^']*)'") or tag:match("%s" .. name .. "=\"([^\"]*)\"")
end

local function drain(r)
	local conn = r.client.conn
	conn:settimeout(0)
	while true do
		local data, err, partial = conn:receive(65536)
		data = data or partial
		if data and #data > 0 then r.buf = r.buf .. data end
		if err then
			if err ~= "timeout" and err ~= "wantread" then error("rawc2s " .. r.jid .. ": " .. err) end
			break
		end
	end
	local pos = 1
	while true do
		local s, e = r.buf:find("<message[%s>][^>]*>", pos)
		if not s then break end
		local tag = r.buf:sub(s, e)
		r.got[#r.got + 1] = { id = attr(tag, "id"), from = bare(attr(tag, "from")), to = bare(attr(tag, "to")),
			type = attr(tag, "type") }
		pos = e + 1
	end
	-- keep an incomplete opening tag for the next read
	local rest = r.buf:sub(pos)
	local open = rest:find("<m[^>]*$") or rest:find("<$")
	r.buf = open and rest:sub(open) or ""
end

local function main(env)
	local plugins = harness.Server.plugin_paths()
	local list0 = partners_text(0)
	local a = env:server{ host = "a.test", users = { alice = "pw", carol = "pw" }, plugin = true, log_level = "info",
		modules = { "bench_lag" }, s2s_require_encryption = false, s2s_secure_auth = false,
		global_options = { plugin_paths = { plugins, util.abspath("spec/bench") } }, vhost_config = list0 }
	local b = env:server{ host = "b.test", extra_hosts = { TOGGLED }, log_level = "info",
		users = { bob = "pw", dave = "pw", eve = "pw", ["frank@" .. TOGGLED] = "pw" },
		s2s_require_encryption = false, s2s_secure_auth = false }
	local t_start = util.now()
	env:start()
	out("Reload: Prosody %s, a.test %s with %d partners (3 additional domains each, config file %.1f MB), "
		.. "b.test %s (peer); %d-core; ready in %.1f s", a.prosody_version or "?", a.addr, N, #list0 / 1e6, b.addr,
		tonumber(util.check("nproc"):match("%d+")), util.now() - t_start)
	out("  one message every %d ms each way (alice@a.test -> bob@b.test, dave@b.test -> alice@a.test) from %.1f s "
		.. "before each reload to %.1f s after it; %d measurements per case", STEP * 1e3, LEAD, TAIL, REPEATS)

	local clients = {}
	local function login(server, user, domain)
		local t = server:client_target()
		domain = domain or server.host
		local c = rawc2s.login{ addr = t.host, port = t.port, user = user, domain = domain, password = "pw",
			presence = true }
		clients[#clients + 1] = c
		return receiver(c, user .. "@" .. domain)
	end
	local seq = 0
	local sent = {} -- id -> { to, from, t, toggled }
	local accounts
	local function send(from, to, id)
		sent[id] = { to = to.jid, from = from.jid, t = util.now(),
			toggled = to.jid:sub(-#TOGGLED) == TOGGLED or from.jid:sub(-#TOGGLED) == TOGGLED }
		from.client:send(("<message to='%s' type='chat' id='%s'><body>reload bench %s</body></message>")
			:format(to.jid, id, id))
	end

	local alice, carol, bob, dave, eve, frank
	local function connect_all()
		alice, carol = login(a, "alice"), login(a, "carol")
		bob, dave, eve = login(b, "bob"), login(b, "dave"), login(b, "eve")
		frank = login(b, "frank", TOGGLED)
		accounts = { alice, carol, bob, dave, eve, frank }
		-- warm-up: both s2s streams up before anything is measured
		local id = "warm" .. seq
		seq = seq + 1
		send(alice, bob, id .. "o")
		send(dave, alice, id .. "i")
		assert(util.poll(function()
			for _, r in ipairs(accounts) do drain(r) end
			return #bob.got > 0 and #alice.got > 0
		end, 20, 0.02), "warm-up messages not delivered")
	end
	connect_all()

	-- Messages to and from b.test must all be delivered; those of TOGGLED sent SETTLE s after a
	-- reload was done must follow the list then in force (delivered when it is a partner, refused
	-- when not); before that, either. Every received one must be its addressee's.
	local SETTLE = 0.3
	local totals = { sent = 0, delivered = 0, misrouted = 0, lost = 0, bounced = 0,
		toggled = 0, toggled_delivered = 0, toggled_refused = 0, toggled_lost = 0, against_policy = 0 }
	local function check_delivery(t_done, allowed)
		-- wait until every message sent is accounted for, then judge every received one
		local function counted()
			local n = 0
			for _, r in ipairs(accounts) do drain(r); n = n + #r.got end
			return n
		end
		local expected = 0
		for _ in pairs(sent) do expected = expected + 1 end
		util.poll(function() return counted() >= expected end, 10, 0.05)
		local outcome, f = {}, { sent = 0, delivered = 0, misrouted = 0, lost = 0, bounced = 0,
			toggled = 0, toggled_delivered = 0, toggled_refused = 0, toggled_lost = 0, against_policy = 0 }
		for _, r in ipairs(accounts) do
			for _, m in ipairs(r.got) do
				local s = m.id and sent[m.id]
				if m.type == "error" then
					if s and not outcome[m.id] then outcome[m.id] = "refused" else f.misrouted = f.misrouted + 1 end
				elseif not s or outcome[m.id] or s.to ~= r.jid or m.to ~= r.jid or m.from ~= s.from then
					f.misrouted = f.misrouted + 1
				else
					outcome[m.id] = "delivered"
				end
			end
			r.got = {}
		end
		for id, s in pairs(sent) do
			local o = outcome[id]
			if s.toggled then
				f.toggled = f.toggled + 1
				local key = o == "delivered" and "toggled_delivered" or o == "refused" and "toggled_refused" or "toggled_lost"
				f[key] = f[key] + 1
				if t_done and s.t > t_done + SETTLE and o ~= (allowed and "delivered" or "refused")
					and not (not allowed and o == nil and s.from:sub(-#TOGGLED) == TOGGLED) then
					-- (a message from a refused domain may also go unanswered: it reached nobody)
					f.against_policy = f.against_policy + 1
				end
			else
				f.sent = f.sent + 1
				if o == "delivered" then f.delivered = f.delivered + 1
				elseif o == "refused" then f.bounced = f.bounced + 1
				else f.lost = f.lost + 1 end
			end
		end
		sent = {}
		for k, v in pairs(f) do totals[k] = totals[k] + v end
		return f
	end
	check_delivery()

	local function report_of(text)
		local line = text:match("(max=[^\n]*)")
		assert(line, "no report from the stall meter: " .. text)
		local r = { max = tonumber(line:match("max=([%d.]+)")), ticks = tonumber(line:match(" n=(%d+)")),
			module_late = tonumber(line:match("module_late=([%d.]+)")) }
		for _, k in ipairs({ "late", "parse", "parse_cpu", "handlers", "load", "compile", "load_cpu", "compile_cpu" }) do
			local v = line:match(" " .. k .. "=(%S+)")
			r[k] = {}
			for x in (v or ""):gmatch("[%d.]+") do r[k][#r[k] + 1] = tonumber(x) end
		end
		return r
	end

	-- Traffic from LEAD s before `trigger()` until TAIL s after `done()` is true (at most 60 s);
	-- TOGGLED is a partner after it when `allowed`.
	local function measure(trigger, done, allowed)
		assert(a:shell("> bench_lag.start()"):find("measuring", 1, true), "stall meter not loaded")
		local t0, fired, t_done = util.now(), false, nil
		local next_poll = 0
		while true do
			local t = util.now()
			seq = seq + 1
			send(alice, bob, "o" .. seq)
			send(dave, alice, "i" .. seq)
			send(alice, frank, "f" .. seq)
			send(frank, alice, "g" .. seq)
			for _, r in ipairs(accounts) do drain(r) end
			if not fired and t - t0 >= LEAD then trigger(); fired = true end
			if fired and not t_done and t >= next_poll then
				if done() then t_done = util.now() end
				next_poll = util.now() + 0.05
			end
			if t_done and t - t_done >= TAIL then break end
			assert(t - t0 < 60, "the reload did not finish within 60 s")
			socket.sleep(math.max(0, STEP - (util.now() - t)))
		end
		local r = report_of(a:shell("> bench_lag.report()"))
		r.delivery = check_delivery(t_done, allowed)
		return r
	end

	-- SIGHUP (`prosodyctl reload`); done once the meter's last config-reloaded handler has run
	-- and, with the module, once the module has put the new list in force (a large list compiles
	-- over several event-loop turns after the handlers: README "Performance")
	local module_on = true
	local function sighup()
		local mark
		return function()
			mark = a:log_mark()
			a:signal("HUP")
		end, function()
			return a:log_contains("bench_lag: config reloaded", { since = mark, plain = true })
				and (not module_on or a:log_contains("federation partners in force (reload)", { since = mark, plain = true }))
		end
	end

	local function shell_edit(cmd, expect)
		local pipe
		return function() pipe = io.popen(a:shell_command(cmd)) end, function()
			local o = pipe:read("a")
			pipe:close()
			assert(o:find(expect, 1, true), ("shell %s: %s"):format(cmd, o))
			return true
		end
	end

	local results = {}
	local rev = 0
	local function run(case, label, make)
		results[case] = { label = label, list = {} }
		for i = 1, REPEATS do
			local trigger, done = make(i)
			results[case].list[i] = measure(trigger, done, toggled_in(rev) or not module_on)
		end
	end

	run("changed", "config reload, list changed", function()
		rev = rev + 1
		a:configure{ vhost_config = partners_text(rev) }
		return sighup()
	end)
	run("unchanged", "config reload, list unchanged", function() return sighup() end)
	local edit = 0
	run("runtime", "runtime edit (shell put / remove)", function(i)
		if i % 2 == 1 then
			edit = edit + 1
			return shell_edit(("s2s_partners:put(%q, { domain = %q })"):format("a.test", "rt" .. edit .. ".example"), "rt")
		end
		return shell_edit(("s2s_partners:remove(%q, %q)"):format("a.test", "rt" .. edit .. ".example"), "rt")
	end)

	-- Prosody's own share: the same process, config file and reloads, the module unloaded (a
	-- config reload loads no module that is not loaded, on 0.12 and 13)
	local unloaded = a:shell(("module:unload(%q, %q)"):format("s2s_partners", "a.test"))
	assert(not a:shell(("module:list(%q)"):format("a.test")):find("s2s_partners", 1, true),
		"the module still runs on a.test: " .. unloaded)
	module_on = false
	check_delivery(nil, true)
	run("prosody", "config reload, no module (Prosody's own)", function() return sighup() end)

	out("")
	out("  %-40s %-16s %-16s %-16s %-16s %-16s %-16s %-16s %s", "case (ms, median [min-max])", "longest stall",
		"Prosody parse", "parse CPU", "all handlers", "module load", "C compile", "load CPU", "compile CPU")
	local function col(list, key)
		local v = {}
		for _, r in ipairs(list) do
			local x = r[key]
			if type(x) == "table" then for _, y in ipairs(x) do v[#v + 1] = y end
			elseif x then v[#v + 1] = x end
		end
		if #v == 0 then return "-" end
		local st = bench.stats(v)
		return ("%.0f [%.0f-%.0f]"):format(st.median, st.min, st.max)
	end
	for _, case in ipairs({ "changed", "unchanged", "runtime", "prosody" }) do
		local r = results[case]
		out("  %-40s %-16s %-16s %-16s %-16s %-16s %-16s %-16s %s", r.label, col(r.list, "max"), col(r.list, "parse"),
			col(r.list, "parse_cpu"), col(r.list, "handlers"), col(r.list, "load"), col(r.list, "compile"),
			col(r.list, "load_cpu"), col(r.list, "compile_cpu"))
	end

	-- The module's share: of a config reload, its config-reloaded handlers' time beyond Prosody's
	-- own handlers (the same reload without the module; the parse before them is Prosody's and
	-- the same with or without the module); of a runtime edit, the whole stall (no parse).
	local failed = {}
	local function median(case, key)
		local v = {}
		for _, r in ipairs(results[case].list) do
			for _, x in ipairs(r[key]) do v[#v + 1] = x end
		end
		return bench.stats(v).median or 0
	end
	local own_handlers, own_stall = median("prosody", "handlers"), bench.stats((function()
		local v = {}
		for _, r in ipairs(results.prosody.list) do v[#v + 1] = r.max end
		return v
	end)()).median
	out("")
	out("  Prosody's own reload of this config file (no module): longest stall %.0f ms, its parse %.0f ms, its "
		.. "config-reloaded handlers %.0f ms (medians)", own_stall, median("prosody", "parse"), own_handlers)
	-- Prosody's own second stall: its collector freeing the previous config's tables after the
	-- parse (README "Performance"), in whichever turn comes next, the module's or not
	local own_second = 0
	for _, r in ipairs(results.prosody.list) do own_second = math.max(own_second, r.late[2] or 0) end
	out("  Prosody alone, the longest stall besides the parse's (its collector after the parse), worst of %d: %.0f ms",
		REPEATS, own_second)
	out("  module's share of the longest stall (a config reload: its handler's part, or the longest stall of a turn "
		.. "that ran its code, besides the parse's), worst of %d:", REPEATS)
	for _, case in ipairs({ "changed", "unchanged", "runtime" }) do
		local share, stall = 0, 0
		for _, r in ipairs(results[case].list) do
			stall = math.max(stall, r.max)
			-- a config reload: the module's part of the config-reloaded handlers, or the longest
			-- stall of a turn that ran its code besides the parse's (the compile's slices come
			-- after it; whatever else ran in such a turn, Prosody's collector, counts as the module's)
			share = math.max(share, case == "runtime" and r.max
				or math.max((r.handlers[1] or 0) - own_handlers, r.module_late))
		end
		local ok = share < TARGETS.stall_ms
		if not ok then failed[#failed + 1] = results[case].label .. " stall" end
		out("    %-40s %6.0f ms (longest stall %.0f ms, C compile CPU %.0f ms); target < %d ms: %s", results[case].label,
			share, stall, median(case, "compile_cpu"), TARGETS.stall_ms, ok and "ok" or "MISSED")
	end
	local function verdict(k) return ("%d (target %d): %s"):format(totals[k], TARGETS[k],
		totals[k] == TARGETS[k] and "ok" or "MISSED") end
	out("  messages to and from b.test: %d sent during the measurements, %d delivered to their addressee; lost %s; "
		.. "bounced %s", totals.sent, totals.delivered, verdict("lost"), verdict("bounced"))
	out("  messages to and from %s (a partner in odd revisions of the list only): %d sent, %d delivered, %d refused, "
		.. "%d unanswered; %s s after a reload, against the list then in force: %s", TOGGLED, totals.toggled,
		totals.toggled_delivered, totals.toggled_refused, totals.toggled_lost, SETTLE, verdict("against_policy"))
	out("  misrouted (received by another account than the addressee, or twice, or never sent): %s", verdict("misrouted"))
	for _, k in ipairs({ "misrouted", "lost", "bounced", "against_policy" }) do
		if totals[k] ~= TARGETS[k] then failed[#failed + 1] = k .. " messages" end
	end
	for _, c in ipairs(clients) do c:close() end
	return failed
end

bench.run("reload bench", main)
