-- Per-partner status (README "Status") after real streams: accepted, refused by a.test,
-- refused by the peer, failed to connect, closed by the peer, and a flood of unlisted domains.
--
-- Run: S2SP_PROSODY=0.12 lua5.4 /usr/bin/busted --run=integration spec/integration/status_spec.lua
local harness = require "harness"
local rawpeer = require "rawpeer"
local json = require "dkjson"
local util = require "harness.util"

local T = util.WAIT -- bound for anything that must happen (see harness README)
local SHELL_POLL = 0.2 -- seconds between two prosodyctl shell calls while polling

local plugin_present, plugin_dir = harness.plugin_available()

local PARTNERS = {
	{ domain = "b.test", type = "federated" },                 -- SASL EXTERNAL over TLS
	{ domain = "x.b.test", type = "federated", tls = "not_supported", sasl = "not_supported" }, -- b.test insists on TLS
	{ domain = "c.test", type = "federated" },                 -- runs the module and does not list a.test
	{ domain = "down.test", type = "federated" },              -- nothing listens there
}

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

	-- status.report(domain) of `host` on `server`, through Prosody's global shell environment.
	local function report(server, host, domain)
		local out = server:shell((">return require'util.json'.encode(require'core.modulemanager'.get_module(%q, "
			.. "'s2s_partners').s2s_partners_status.report(%s))"):format(host, domain and ("%q"):format(domain) or ""))
		local text = out:match("Result: (%b{})")
		assert(text, out)
		return assert(json.decode(text), text)
	end

	local function entry(r, domain)
		for _, e in ipairs(r.partners) do
			if e.domain == domain then return e end
		end
	end

	-- Poll a.test's report until `fn(report)` is true; returns the report.
	local function wait_report(fn, host, domain)
		local last
		local ok = util.poll(function()
			last = report(a, host or "a.test", domain)
			return fn(last)
		end, T, SHELL_POLL)
		assert(ok, "report never matched: " .. json.encode(last or {}))
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

	it("lists every partner in order, with nothing up yet", function()
		local r = report(a, "a.test")
		assert.equal(#PARTNERS, #r.partners)
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
		local r = wait_report(function(r)
			local e = entry(r, "b.test")
			return e and find(e.streams, { direction = "incoming" }) and find(e.streams, { direction = "outgoing" })
		end)
		local e = entry(r, "b.test")
		for _, direction in ipairs({ "outgoing", "incoming" }) do
			local s = find(e.streams, { direction = direction })
			assert.equal("b.test", s.remote)
			assert.equal("sasl_tls", s.method)
			assert.matches("^TLSv1%.[23]$", s.tls)
			assert.equal("valid", s.cert_chain)
			assert.equal("valid", s.cert_identity)
			assert.is_true(s.since >= t0 and s.since <= os.time(), tostring(s.since))
			local attempt = find(e.attempts, { direction = direction, outcome = "accepted" })
			assert.truthy(attempt, json.encode(e.attempts))
			assert.equal("b.test", attempt.remote)
			assert.equal("sasl_tls", attempt.method)
			assert.is_nil(attempt.reason)
		end
		-- Any spelling of the partner's domain gives that partner alone.
		local only = report(a, "a.test", "B.Test.")
		assert.equal(1, #only.partners)
		assert.equal("b.test", only.partners[1].domain)
		assert.equal(2, #only.partners[1].streams)
	end)

	-- alice writes to `jid` and gets an error back; the newest attempt of `partner` then, without its time.
	local function bounced_attempt(jid, partner)
		assert(alice:send_message(jid, "to " .. jid))
		local err = assert(alice:expect_error{ from = jid, kind = "message", timeout = T })
		local attempt = wait_report(function(r) return #entry(r, partner).attempts > 0 end)
		attempt = entry(attempt, partner).attempts[1]
		assert.is_true(attempt.time >= t0 and attempt.time <= os.time(), tostring(attempt.time))
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
			peer_error = "policy-violation: a.test is not a federation partner of c.test" },
			(bounced_attempt("carol@c.test", "c.test")))
		-- ... and c.test saw the same stream as a refused unlisted domain.
		local rc = report(c, "c.test")
		local refused = assert(find(rc.unlisted, { remote = "a.test" }), json.encode(rc))
		assert.equal("not_partner", refused.reason)
		assert.equal("a.test is not a federation partner of c.test", refused.text)
		assert.equal("incoming", refused.direction)
		assert.falsy(carol:received{ kind = "message", body = "to carol@c.test" }[1])
	end)

	it("shows an outgoing connection that failed", function()
		local attempt = bounced_attempt("dave@down.test", "down.test")
		assert.truthy(attempt.text and attempt.text ~= "", json.encode(attempt))
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
		local r = wait_report(function(r)
			return find(entry(r, "b.test").attempts, { outcome = "closed" })
				and not find(entry(r, "b.test").streams, { direction = "incoming" })
		end)
		local attempt = entry(r, "b.test").attempts[1]
		assert.same({ time = attempt.time, direction = "incoming", remote = "b.test", outcome = "closed",
			peer_error = "reset: maintenance" }, attempt)
		assert.truthy(find(entry(r, "b.test").streams, { direction = "outgoing" }))
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
		local r = wait_report(function(r) return r.default and #r.default.attempts > 0 end, "d.a.test")
		assert.same({}, r.partners)
		assert.same({ time = r.default.attempts[1].time, direction = "incoming", remote = "x.test", outcome = "refused",
			reason = "tcp_dialback", text = "x.test requires TLS" }, r.default.attempts[1])
		local only = report(a, "d.a.test", "X.TEST")
		assert.equal(1, #only.partners)
		assert.is_true(only.partners[1].default)
		assert.is_nil(only.partners[1].domain)
		assert.equal("x.test", only.partners[1].attempts[1].remote)
	end)

	it("keeps the 50 newest refusals of unlisted domains, newest first, and counts them all", function()
		local before = report(a, "a.test").unlisted_total
		local N = 65
		for i = 1, N do
			local peer = assert(rawpeer.connect(a.addr, 5269, T))
			assert(peer:open(("flood%02d.test"):format(i), "a.test"))
			local condition = peer:expect_stream_error(T)
			assert.equal("policy-violation", condition, peer:transcript())
			peer:close()
		end
		local r = wait_report(function(r) return r.unlisted_total == before + N end)
		assert.equal(50, #r.unlisted)
		for k, attempt in ipairs(r.unlisted) do
			local domain = ("flood%02d.test"):format(N + 1 - k)
			assert.same({ time = attempt.time, direction = "incoming", remote = domain, outcome = "refused",
				reason = "not_partner", text = domain .. " is not a federation partner of a.test" }, attempt)
		end
		-- Nothing per remote domain: the partner list is all there is besides the ring.
		assert.equal(#PARTNERS, #r.partners)
		-- A domain's own unlisted refusals.
		local only = report(a, "a.test", "Flood65.Test.")
		assert.same({}, only.partners)
		assert.equal(1, #only.unlisted)
		assert.equal(before + N, only.unlisted_total)
	end)

	it("cuts what a hostile peer sends", function()
		local long = (("x"):rep(60) .. "."):rep(5) .. "test" -- 305 octets
		local peer = assert(rawpeer.connect(a.addr, 5269, T))
		assert(peer:open(long, "a.test"))
		assert.equal("policy-violation", (peer:expect_stream_error(T)), peer:transcript())
		peer:close()
		local r = wait_report(function(r) return r.unlisted[1].remote ~= "flood65.test" end)
		assert.equal(long:sub(1, 255), r.unlisted[1].remote)
		assert.equal((long .. " is not a federation partner of a.test"):sub(1, 200), r.unlisted[1].text)
		assert.equal(50, #r.unlisted)
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
		local kept = entry(report(a, "a.test"), "b.test").attempts
		assert.truthy(#kept > 0)
		reload_with({ PARTNERS[1], PARTNERS[3], PARTNERS[4] })
		local r = report(a, "a.test")
		assert.same({ "b.test", "c.test", "down.test" }, { r.partners[1].domain, r.partners[2].domain, r.partners[3].domain })
		assert.same(kept, entry(r, "b.test").attempts)
		assert.truthy(#entry(r, "c.test").attempts > 0)
		assert.truthy(find(entry(r, "b.test").streams, { direction = "outgoing" }))
		-- Removed and added again: back, empty.
		reload_with(PARTNERS)
		assert.same({}, entry(report(a, "a.test"), "x.b.test").attempts)
	end)
end)
