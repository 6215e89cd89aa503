-- The module's metrics (README "Logging and metrics") as mod_http_openmetrics exports them, scraped
-- from a real /metrics endpoint after real accepted and refused streams: the `partner` label of
-- the refused / accepted counters and the `streams` gauges, through stream ends and policy changes.
--
-- Run: S2SP_PROSODY=0.12 lua5.4 /usr/bin/busted --run=integration spec/integration/metrics_spec.lua
local harness = require "harness"
local rawpeer = require "rawpeer"
local http = require "socket.http"
local util = require "harness.util"
local openmetrics = require "harness.openmetrics"

local T = util.WAIT -- bound for anything that must happen (see harness README)
local HTTP_PORT = 5280
local SCRAPE_POLL = 0.1 -- seconds between two scrapes while polling

local plugin_present, plugin_dir = harness.plugin_available()

local PREFIX = "prosody_mod_s2s_partners__"
local A_PARTNERS = {
	{ domain = "b.test", type = "federated" },
	{ domain = "x.b.test", type = "federated", tls = "not_supported", sasl = "not_supported" }, -- b.test insists on TLS
}
local DEFAULT = { type = "federated", tls = "required" }

local parse = openmetrics.parse

describe("metrics with partner labels #integration", function()
	if not plugin_present then
		pending("plugin not built (" .. plugin_dir .. "/mod_s2s_partners.lua missing): run `make all`")
		return
	end

	local env, a, b, alice, bob, dora

	setup(function()
		env = harness.env()
		a = env:server{ host = "a.test", extra_hosts = { "d.a.test" }, plugin = true,
			users = { alice = "alice-pw", ["dora@d.a.test"] = "dora-pw" },
			-- HTTP on a.test's own 127.0.0.x only (`interfaces`); the scraper comes from that address.
			modules = { "http_openmetrics" },
			global_options = { statistics = "internal", http_ports = { HTTP_PORT }, openmetrics_allow_cidr = "127.0.0.0/8" },
			vhost_options = { s2s_partners = A_PARTNERS },
			host_options = { ["d.a.test"] = { s2s_partners = {}, s2s_partners_default = DEFAULT } } }
		-- Prosody's default s2s_require_encryption = true: b.test insists on TLS.
		b = env:server{ host = "b.test", users = { bob = "bob-pw" }, extra_hosts = { "x.b.test" } }
		alice, bob, dora = env:start_and_login{ { jid = "alice@a.test", server = a }, { jid = "bob@b.test", server = b },
			{ jid = "dora@d.a.test", password = "dora-pw", server = a } }
	end)

	teardown(function()
		if env then env:cleanup() end
	end)

	local function scrape()
		local body, code = http.request(("http://%s:%d/metrics"):format(a.addr, HTTP_PORT))
		assert(body and code == 200, ("GET /metrics: %s %s"):format(tostring(code), tostring(body)))
		return parse(body), body
	end

	-- The value of the sample `name` (without PREFIX) whose labels are exactly `labels`, or nil.
	local function value(samples, name, labels)
		return openmetrics.value(samples, PREFIX .. name, labels)
	end

	-- No gauge is ever negative (README "Logging and metrics").
	local function assert_never_negative(samples)
		for _, s in ipairs(samples) do
			if s.name == PREFIX .. "streams" then assert.is_true(s.value >= 0, s.name) end
		end
	end

	-- Scrape until every { name, labels, value } of `expected` holds; fail with the last scrape.
	-- Returns the samples of that scrape, checked for negative gauges.
	local function wait_values(expected)
		local body
		local ok = util.poll(function()
			local samples
			samples, body = scrape()
			for _, e in ipairs(expected) do
				if value(samples, e[1], e[2]) ~= e[3] then return false end
			end
			return true
		end, T, SCRAPE_POLL)
		assert(ok, "metrics never matched; last scrape:\n" .. tostring(body))
		local samples = parse(body)
		assert_never_negative(samples)
		return samples
	end

	local function streams(host, partner, direction)
		return { host = host, partner = partner, direction = direction }
	end

	-- Apply `changes` to a.test's options and reload; wait until `host` has `n` partners in force.
	local function reload_with(changes, host, n)
		local mark = a:log_mark()
		a:configure(changes)
		a:reload()
		assert(a:wait_log(("%s:s2s_partners%%s+info%%s+%d federation partners in force %%(reload%%)"):format(
			(host:gsub("%.", "%%.")), n), { since = mark, timeout = T }))
	end

	it("counts accepted streams by partner and gauges the streams up", function()
		assert(alice:send_message("bob@b.test", "hello"))
		assert(bob:expect_message{ from = "alice@a.test", body = "hello", timeout = T })
		assert(bob:send_message("alice@a.test", "back"))
		assert(alice:expect_message{ from = "bob@b.test", body = "back", timeout = T })
		wait_values{
			{ "accepted_total", { host = "a.test", direction = "outgoing", method = "sasl_tls", partner = "b.test" }, 1 },
			{ "accepted_total", { host = "a.test", direction = "incoming", method = "sasl_tls", partner = "b.test" }, 1 },
			{ "streams", streams("a.test", "b.test", "outgoing"), 1 },
			{ "streams", streams("a.test", "b.test", "incoming"), 1 },
		}
	end)

	it("labels refusals with the partner, 'default' or 'none', never the remote domain", function()
		assert(alice:send_message("someone@x.b.test", "refused"))
		assert(alice:expect_error{ from = "someone@x.b.test", kind = "message", timeout = T })
		-- An unlisted domain (refused as soon as it says who it is), and one under d.a.test's
		-- default policy (tls = required) asking for dialback without TLS.
		for _, case in ipairs({ { "evil.test", "a.test" }, { "x.test", "d.a.test" } }) do
			local peer = assert(rawpeer.connect(a.addr, 5269, T))
			assert(peer:open(case[1], case[2]))
			if peer:features(T) then peer:dialback(case[1], case[2], "0123456789abcdef") end
			assert.equal("policy-violation", (peer:expect_stream_error(T)), peer:transcript())
			peer:close()
		end
		local samples = wait_values{
			{ "refused_total", { host = "a.test", direction = "outgoing", reason = "tls_not_supported", partner = "x.b.test" }, 1 },
			{ "refused_total", { host = "a.test", direction = "incoming", reason = "not_partner", partner = "none" }, 1 },
			{ "refused_total", { host = "d.a.test", direction = "incoming", reason = "tcp_dialback", partner = "default" }, 1 },
		}
		for _, s in ipairs(samples) do
			assert.is_nil(s.labels.partner and (s.labels.partner:match("evil") or s.labels.partner:match("^x%.test")), s.name)
		end
	end)

	it("gauges a stream under the default policy, and moves it when a policy change makes it a partner's", function()
		assert(bob:send_message("dora@d.a.test", "default"))
		assert(dora:expect_message{ from = "bob@b.test", body = "default", timeout = T })
		wait_values{
			{ "accepted_total", { host = "d.a.test", direction = "incoming", method = "sasl_tls", partner = "default" }, 1 },
			{ "streams", streams("d.a.test", "default", "incoming"), 1 },
		}
		reload_with({ host_options = { ["d.a.test"] = { s2s_partners = { { domain = "b.test", type = "federated" } },
			s2s_partners_default = DEFAULT } } }, "d.a.test", 1)
		wait_values{
			{ "streams", streams("d.a.test", "default", "incoming"), 0 },
			{ "streams", streams("d.a.test", "b.test", "incoming"), 1 },
			{ "streams", streams("a.test", "b.test", "outgoing"), 1 },
		}
	end)

	it("takes a stream off its gauge when it ends", function()
		-- b.test's outgoing streams are a.test's and d.a.test's incoming ones (closed by id: on 13,
		-- s2s:close(from, to) closes both directions).
		for _, remote in ipairs({ "a.test", "d.a.test" }) do
			local rows, listing = b:find_s2s{ remote = remote, dir = "out" }
			assert.equal(1, #rows, listing)
			assert.matches("Closed 1 s2s session", b:shell(("s2s:close(%q)"):format(rows[1].id)), 1, true)
		end
		wait_values{
			{ "streams", streams("a.test", "b.test", "incoming"), 0 },
			{ "streams", streams("d.a.test", "b.test", "incoming"), 0 },
			{ "streams", streams("a.test", "b.test", "outgoing"), 1 },
		}
	end)

	it("drops the streams a policy change closes from the gauges", function()
		reload_with({ vhost_options = { s2s_partners = { A_PARTNERS[2] } } }, "a.test", 1)
		wait_values{
			{ "streams", streams("a.test", "b.test", "outgoing"), 0 },
			{ "streams", streams("a.test", "b.test", "incoming"), 0 },
			-- counters keep counting what happened
			{ "accepted_total", { host = "a.test", direction = "outgoing", method = "sasl_tls", partner = "b.test" }, 1 },
		}
	end)
end)
