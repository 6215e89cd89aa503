-- Per-partner status (README "Status") after real streams: accepted, refused by a.test,
-- refused by the peer, failed to connect, closed by the peer, and a flood of unlisted domains.
-- What an admin sees is checked in `s2s_partners:status(host [, domain])`'s output; the data
-- behind it (status.report(), through Prosody's global shell environment) only for what the
-- output cannot show: exact times, the attempts' method, the shape, cuts longer than a cell.
--
-- Run: S2SP_PROSODY=0.12 lua5.4 /usr/bin/busted --run=integration spec/integration/status_spec.lua
local harness = require "harness"
local rawpeer = require "rawpeer"
local json = require "dkjson"
local util = require "harness.util"

local T = util.WAIT -- bound for anything that must happen (see harness README)
local SHELL_POLL = 0.2 -- seconds between two prosodyctl shell calls while polling
local ISO_TIME = "^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$"

local plugin_present, plugin_dir = harness.plugin_available()

local PARTNERS = {
	{ domain = "b.test", type = "federated" },                 -- SASL EXTERNAL over TLS
	{ domain = "x.b.test", type = "federated", tls = "not_supported", sasl = "not_supported" }, -- b.test insists on TLS
	{ domain = "c.test", type = "federated" },                 -- runs the module and does not list a.test
	{ domain = "down.test", type = "federated" },              -- nothing listens there
}

-- Column starts of a table's header line (titles never contain two spaces in a row).
local function columns(line)
	local cols, i = {}, 1
	while true do
		local s = line:find("%S", i)
		if not s then break end
		local e = line:find("  ", s, true)
		cols[#cols + 1] = { start = s, title = line:sub(s, (e or #line + 1) - 1) }
		if not e then break end
		i = e
	end
	return cols
end

-- A table row as { [column title] = cell } ("-" is nil). The tables here are ASCII, so octet
-- offsets are display columns.
local function cells(line, cols)
	local row = {}
	for k, col in ipairs(cols) do
		local stop = cols[k + 1] and cols[k + 1].start - 1 or #line
		local cell = line:sub(col.start, stop):match("^%s*(.-)%s*$")
		if cell ~= "-" then row[col.title] = cell end
	end
	return row
end

-- `s2s_partners:status` output as data: a block per partner in order ("b.test", "default
-- policy") with `up` and its stream and attempt rows, the unlisted block, the summary line.
local function parse_status(out)
	local parsed = { order = {}, blocks = {} }
	local block, rows, cols
	for line in out:gmatch("[^\n]+") do
		local title, up = line:match("^(%S.-): (%d+) streams? up$")
		local total, shown = line:match("^Unlisted domains refused: (%d+) %(last (%d+) shown%)$")
		if title then
			block = { up = tonumber(up), streams = {}, attempts = {} }
			parsed.blocks[title], parsed.order[#parsed.order + 1] = block, title
			rows, cols = block.streams, nil
		elseif total then
			block = { total = tonumber(total), shown = tonumber(shown), attempts = {} }
			parsed.unlisted, rows, cols = block, block.attempts, nil
		elseif line == "  last attempts:" then
			rows, cols = block.attempts, nil
		elseif rows and line:match("^  ") then
			if cols then rows[#rows + 1] = cells(line, cols) else cols = columns(line) end
		elseif line:match("^OK: ") then
			parsed.summary = line
		end
	end
	return parsed
end

describe("partner status #integration", function()
	if not plugin_present then
		pending("plugin not built (" .. plugin_dir .. "/mod_s2s_partners.lua missing): run `make all`")
		return
	end

	local env, a, b, c, alice, bob, carol
	local t0 = os.time()

	setup(function()
		env = harness.env()
		a = env:server{ host = "a.test", users = { alice = "alice-pw" }, plugin = true, extra_hosts = { "d.a.test" },
			vhost_options = { s2s_partners = PARTNERS },
			host_options = { ["d.a.test"] = { s2s_partners = {},
				s2s_partners_default = { type = "public_unverified", tls = "required" } } } }
		-- Prosody's default s2s_require_encryption = true: b.test insists on TLS.
		b = env:server{ host = "b.test", users = { bob = "bob-pw" }, extra_hosts = { "x.b.test" } }
		c = env:server{ host = "c.test", users = { carol = "carol-pw" }, plugin = true,
			vhost_options = { s2s_partners = { { domain = "b.test", type = "federated" } } } }
		env:add_host("down.test", "127.0.0.255")
		alice, bob, carol = env:start_and_login{ { jid = "alice@a.test", server = a }, { jid = "bob@b.test", server = b },
			{ jid = "carol@c.test", server = c } }
	end)

	teardown(function()
		if env then env:cleanup() end
	end)

	local function args(host, domain)
		return ("%q%s"):format(host, domain and (", %q"):format(domain) or "")
	end

	-- What an admin sees: `s2s_partners:status(host [, domain])` on `server`, parsed.
	local function status(server, host, domain)
		local out = server:shell(("s2s_partners:status(%s)"):format(args(host, domain)))
		local parsed = parse_status(out)
		assert(parsed.summary, out)
		parsed.text = out
		return parsed
	end

	-- The data behind it: status.report(domain) of `host`, through Prosody's global shell environment.
	local function report(server, host, domain)
		local out = server:shell((">return require'util.json'.encode(require'core.modulemanager'.get_module(%q, "
			.. "'s2s_partners').s2s_partners_status.report(%s))"):format(host, domain and ("%q"):format(domain) or ""))
		local text = out:match("Result: (%b{})")
		assert(text, out)
		return assert(json.decode(text), text)
	end

	-- Poll a.test's status output (of `host`, default a.test) until `fn(parsed)` is true.
	local function wait_status(fn, host, domain)
		local last
		local ok = util.poll(function()
			last = status(a, host or "a.test", domain)
			return fn(last)
		end, T, SHELL_POLL)
		assert(ok, "status never matched:\n" .. (last and last.text or ""))
		return last
	end

	local function find(list, fields)
		for _, item in ipairs(list or {}) do
			local ok = true
			for k, v in pairs(fields) do
				if item[k] ~= v then ok = false break end
			end
			if ok then return item end
		end
	end

	local function entry(r, domain)
		return find(r.partners, { domain = domain })
	end

	it("lists every partner in order, with nothing up yet", function()
		local s = status(a, "a.test")
		assert.same({ "b.test", "x.b.test", "c.test", "down.test" }, s.order)
		for _, title in ipairs(s.order) do
			assert.same({ up = 0, streams = {}, attempts = {} }, s.blocks[title])
		end
		assert.same({ total = 0, shown = 0, attempts = {} }, s.unlisted)
		-- The data: plain entries in the shape the interfaces render.
		local r = report(a, "a.test")
		for i, p in ipairs(PARTNERS) do
			assert.same({ domain = p.domain, default = false, streams = {}, attempts = {} }, r.partners[i])
		end
		assert.is_nil(r.default)
		assert.same({}, r.unlisted)
		assert.equal(0, r.unlisted_total)
	end)

	it("shows an accepted stream in both directions: method, TLS, certificate, since, and the attempts", function()
		assert(alice:send_message("bob@b.test", "hello"))
		assert(bob:expect_message{ from = "alice@a.test", body = "hello", timeout = T })
		assert(bob:send_message("alice@a.test", "back"))
		assert(alice:expect_message{ from = "bob@b.test", body = "back", timeout = T })
		local s = wait_status(function(s) return s.blocks["b.test"].up == 2 end).blocks["b.test"]
		for _, direction in ipairs({ "outgoing", "incoming" }) do
			local stream = assert(find(s.streams, { direction = direction }), direction)
			assert.equal("b.test", stream.remote)
			assert.equal("sasl_tls", stream.method)
			assert.matches("^TLSv1%.[23]$", stream.tls)
			assert.equal("valid/valid", stream["certificate (chain/identity)"])
			assert.matches(ISO_TIME, stream.since)
			local attempt = assert(find(s.attempts, { direction = direction, outcome = "accepted" }), direction)
			assert.equal("b.test", attempt.remote)
			assert.equal("sasl_tls", attempt.method)
			assert.is_nil(attempt.reason)
		end
		-- Any spelling of the partner's domain gives that partner alone.
		local only = status(a, "a.test", "B.Test.")
		assert.same({ "b.test" }, only.order)
		assert.equal(2, only.blocks["b.test"].up)
		-- The data: since as a Unix time, the method of each accepted attempt.
		local e = entry(report(a, "a.test"), "b.test")
		for _, stream in ipairs(e.streams) do
			assert.is_true(stream.since >= t0 and stream.since <= os.time(), tostring(stream.since))
		end
		assert.same({ "sasl_tls", "sasl_tls" }, { e.attempts[1].method, e.attempts[2].method })
	end)

	-- alice writes to `jid` and gets an error back; then the newest attempt row of `partner`.
	local function bounced_attempt(jid, partner)
		assert(alice:send_message(jid, "to " .. jid))
		local err = assert(alice:expect_error{ from = jid, kind = "message", timeout = T })
		local attempt = wait_status(function(s) return #s.blocks[partner].attempts > 0 end).blocks[partner].attempts[1]
		assert.matches(ISO_TIME, attempt.time)
		attempt.time = nil
		return attempt, err
	end

	it("shows a refusal by a.test with its reason and text", function()
		local attempt, err = bounced_attempt("someone@x.b.test", "x.b.test")
		assert.equal("policy-violation", err.error.condition)
		assert.same({ direction = "outgoing", remote = "x.b.test", outcome = "refused", reason = "tls_not_supported",
			text = "x.b.test insists on TLS, which is not supported with it" }, attempt)
	end)

	it("shows a stream the peer refused, with the peer's error", function()
		assert.same({ direction = "outgoing", remote = "c.test", outcome = "failed",
			["peer error"] = "policy-violation: a.test is not a federation partner of c.test" },
			(bounced_attempt("carol@c.test", "c.test")))
		-- ... and c.test saw the same stream as a refused unlisted domain.
		local sc = status(c, "c.test")
		assert.equal(1, sc.unlisted.total, sc.text)
		local refused = sc.unlisted.attempts[1]
		assert.same({ time = refused.time, direction = "incoming", remote = "a.test", outcome = "refused",
			reason = "not_partner", text = "a.test is not a federation partner of c.test" }, refused)
		assert.falsy(carol:received{ kind = "message", body = "to carol@c.test" }[1])
	end)

	it("shows an outgoing connection that failed", function()
		local attempt = bounced_attempt("dave@down.test", "down.test")
		assert.truthy(attempt.text, "no text")
		attempt.text = nil -- Prosody's words for it ("connection refused")
		assert.same({ direction = "outgoing", remote = "down.test", outcome = "failed" }, attempt)
	end)

	it("shows an authenticated stream the peer closed with an error, and drops it from the streams", function()
		-- b.test's outgoing stream is a.test's incoming one (closed by id: on 13, s2s:close(from, to)
		-- closes both directions).
		local rows, listing = b:find_s2s{ remote = "a.test", dir = "out" }
		assert.equal(1, #rows, listing)
		local out = b:shell(("s2s:close(%q, nil, 'maintenance', 'reset')"):format(rows[1].id))
		assert.matches("Closed 1 s2s session", out, 1, true)
		local s = wait_status(function(s)
			return find(s.blocks["b.test"].attempts, { outcome = "closed" }) and s.blocks["b.test"].up == 1
		end).blocks["b.test"]
		assert.same({ time = s.attempts[1].time, direction = "incoming", remote = "b.test", outcome = "closed",
			["peer error"] = "reset: maintenance" }, s.attempts[1])
		assert.same({ "outgoing" }, { s.streams[1].direction, s.streams[2] })
	end)

	it("keeps one ring for the default policy, and gives it for a domain it governs", function()
		local peer = assert(rawpeer.connect(a.addr, 5269, T))
		assert(peer:open("x.test", "d.a.test"))
		assert(peer:features(T))
		assert(peer:dialback("x.test", "d.a.test", "0123456789abcdef"))
		local condition, text = peer:expect_stream_error(T)
		assert.equal("policy-violation", condition, peer:transcript())
		assert.equal("x.test requires TLS", text)
		peer:close()
		local s = wait_status(function(s)
			return s.blocks["default policy"] and #s.blocks["default policy"].attempts > 0
		end, "d.a.test")
		assert.same({ "default policy" }, s.order)
		local attempt = s.blocks["default policy"].attempts[1]
		assert.same({ time = attempt.time, direction = "incoming", remote = "x.test", outcome = "refused",
			reason = "tcp_dialback", text = "x.test requires TLS" }, attempt)
		local only = status(a, "d.a.test", "X.TEST")
		assert.same({ "default policy" }, only.order)
		assert.equal("x.test", only.blocks["default policy"].attempts[1].remote)
		-- The data: the default entry has no domain.
		local entry_data = report(a, "d.a.test", "X.TEST").partners[1]
		assert.is_true(entry_data.default)
		assert.is_nil(entry_data.domain)
	end)

	it("keeps the 50 newest refusals of unlisted domains, newest first, and counts them all", function()
		local before = status(a, "a.test").unlisted.total
		local N = 65
		for i = 1, N do
			local peer = assert(rawpeer.connect(a.addr, 5269, T))
			assert(peer:open(("flood%02d.test"):format(i), "a.test"))
			local condition = peer:expect_stream_error(T)
			assert.equal("policy-violation", condition, peer:transcript())
			peer:close()
		end
		local s = wait_status(function(s) return s.unlisted.total == before + N end)
		assert.equal(50, s.unlisted.shown)
		assert.equal(50, #s.unlisted.attempts)
		for k, attempt in ipairs(s.unlisted.attempts) do
			local domain = ("flood%02d.test"):format(N + 1 - k)
			assert.same({ time = attempt.time, direction = "incoming", remote = domain, outcome = "refused",
				reason = "not_partner", text = domain .. " is not a federation partner of a.test" }, attempt)
		end
		-- Nothing per remote domain: the partner list is all there is besides the ring.
		assert.same({ "b.test", "x.b.test", "c.test", "down.test" }, s.order)
		-- A domain's own unlisted refusals, any spelling.
		local only = status(a, "a.test", "Flood65.Test.")
		assert.same({}, only.order)
		assert.equal(1, only.unlisted.shown)
		assert.equal("flood65.test", only.unlisted.attempts[1].remote)
		assert.equal(before + N, only.unlisted.total)
		-- The data: exactly the 50 newest, and the total.
		local r = report(a, "a.test")
		assert.equal(50, #r.unlisted)
		assert.equal("flood65.test", r.unlisted[1].remote)
		assert.equal("flood16.test", r.unlisted[50].remote)
		assert.equal(before + N, r.unlisted_total)
	end)

	it("cuts what a hostile peer sends", function()
		local long = (("x"):rep(60) .. "."):rep(5) .. "test" -- 305 octets
		local peer = assert(rawpeer.connect(a.addr, 5269, T))
		assert(peer:open(long, "a.test"))
		assert.equal("policy-violation", (peer:expect_stream_error(T)), peer:transcript())
		peer:close()
		local s = wait_status(function(s) return s.unlisted.attempts[1].remote ~= "flood65.test" end)
		assert.equal(50, s.unlisted.shown)
		-- The data (a table cell is cut at 120 characters): the domain at 255 octets, the text at 200.
		local r = report(a, "a.test")
		assert.equal(long:sub(1, 255), r.unlisted[1].remote)
		assert.equal((long .. " is not a federation partner of a.test"):sub(1, 200), r.unlisted[1].text)
	end)

	-- a.test's partner list becomes `partners` (a config reload).
	local function reload_with(partners)
		local mark = a:log_mark()
		a:configure{ vhost_options = { s2s_partners = partners } }
		a:reload()
		assert(a:wait_log(("a.test:s2s_partners%%s+info%%s+%d federation partners in force %%(reload%%)"):format(#partners),
			{ since = mark, timeout = T }))
	end

	it("keeps the attempts across a policy change, forgetting only a removed partner", function()
		local kept = status(a, "a.test").blocks["b.test"]
		assert.truthy(#kept.attempts > 0)
		reload_with({ PARTNERS[1], PARTNERS[3], PARTNERS[4] })
		local s = status(a, "a.test")
		assert.same({ "b.test", "c.test", "down.test" }, s.order)
		assert.same(kept, s.blocks["b.test"])
		assert.truthy(#s.blocks["c.test"].attempts > 0)
		-- Removed and added again: back, empty.
		reload_with(PARTNERS)
		assert.same({ up = 0, streams = {}, attempts = {} }, status(a, "a.test").blocks["x.b.test"])
	end)
end)
