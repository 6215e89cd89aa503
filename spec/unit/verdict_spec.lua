-- lua/verdict.lib.lua (the probe's verdict, README "Probe"), lua/probelimit.lib.lua (its rate
-- limits) and lua/proberender.lib.lua (its rows): plain Lua with the real C core, on probe
-- facts written by hand in the shape probestream.lib.lua records.
local core = require "s2s_partners"

local verdict_of = dofile("lua/verdict.lib.lua")(core)
local limits = dofile("lua/probelimit.lib.lua")
local proberender = dofile("lua/proberender.lib.lua")

local function partner(record)
	local compiled = assert(core.compile({ record }))
	return compiled:lookup(record.domain)
end

local GOOD_CERT = { chain = "valid", chain_errors = {}, identity = { { domain = "b.test", ok = true, how = "dns-id" } },
	names = { "b.test" }, days_left = 60, expired = false, server_auth = true, client_auth = true, spki_sha256 = ("cd"):rep(32) }

-- One answered connection; `changes` replace fields of it (false removes one).
local function facts(changes)
	local conn = { connected = true, connect_ms = 1, address = "192.0.2.1", port = 5269, service = "default port", target = "b.test",
		before_tls = { starttls = true, starttls_required = false, dialback = true, sasl = {}, external = false },
		tls = { ok = true, protocol = "TLSv1.3", cipher = "TLS_AES_128_GCM_SHA256", ms = 3 },
		cert = GOOD_CERT,
		after_tls = { starttls = false, dialback = true, sasl = { "EXTERNAL" }, external = true } }
	for k, v in pairs(changes or {}) do
		if v == false then conn[k] = nil else conn[k] = v end
	end
	return { domain = "b.test", host = "a.test", time = 1767225600, ms = 20, attempts = { conn }, notes = {} }
end

local function copy(t, changes)
	local out = {}
	for k, v in pairs(t) do out[k] = v end
	for k, v in pairs(changes) do out[k] = v end
	return out
end

local function entry(v, name)
	for _, m in ipairs(v.methods) do if m.name == name then return m end end
end

describe("probe verdict", function()
	it("a trusted server: SASL EXTERNAL first, dialback over TLS possible too", function()
		local v = verdict_of(partner{ domain = "b.test" }, facts())
		assert.is_true(v.ok)
		assert.equal("sasl_tls", v.outgoing)
		assert.is_true(entry(v, "tls_dialback").possible)
		assert.is_false(entry(v, "tcp_dialback").allowed)
		assert.equal("not allowed: b.test requires TLS", entry(v, "tcp_dialback").why)
		assert.same({}, v.fixes)
		assert.equal("b.test: outgoing streams can authenticate by SASL EXTERNAL over TLS", v.summary)
	end)

	it("tls = required and no STARTTLS: names the fix", function()
		local v = verdict_of(partner{ domain = "b.test" }, facts{ before_tls = { starttls = false, dialback = true, sasl = {} },
			tls = false, cert = false, after_tls = false })
		assert.is_false(v.ok)
		assert.same({ "tls = required but the server does not offer STARTTLS: set tls = optional or ask the partner to enable TLS" },
			v.fixes)
		assert.matches("^b.test: no allowed method can succeed outgoing: tls = required", v.summary)
		-- the same server under tls = optional: dialback without TLS
		local ok = verdict_of(partner{ domain = "b.test", tls = "optional" }, facts{ before_tls = { starttls = false,
			dialback = true, sasl = {} }, tls = false, cert = false, after_tls = false })
		assert.equal("tcp_dialback", ok.outgoing)
	end)

	it("an untrusted certificate: dialback over TLS; with sasl required and no dialback the fix says what to change", function()
		local untrusted = copy(GOOD_CERT, { chain = "invalid", chain_errors = { "self-signed certificate" } })
		local after = { dialback = true, sasl = {}, external = false }
		local v = verdict_of(partner{ domain = "b.test" }, facts{ cert = untrusted, after_tls = after })
		assert.equal("tls_dialback", v.outgoing)
		assert.equal("its certificate is not trusted by this host (self-signed certificate)", entry(v, "sasl_tls").why)
		local strict = verdict_of(partner{ domain = "b.test", sasl = "required", dialback = false },
			facts{ cert = untrusted, after_tls = after })
		assert.is_false(strict.ok)
		assert.same({ "ask the partner for a certificate from a CA this host trusts, or add its CA to this host's ssl cafile; "
			.. "or allow dialback (dialback = true, sasl = optional)" }, strict.fixes)
	end)

	it("expired, wrong name, EXTERNAL refused: each says why", function()
		local p = partner{ domain = "b.test", dialback = false }
		local expired = verdict_of(p, facts{ cert = copy(GOOD_CERT, { expired = true, days_left = -400, chain = "invalid" }) })
		assert.equal("its certificate expired 400 days ago", entry(expired, "sasl_tls").why)
		local wrong = verdict_of(p, facts{ cert = copy(GOOD_CERT, { names = { "x.test" },
			identity = { { domain = "b.test", ok = false } } }) })
		assert.equal("its certificate does not name b.test (it names x.test)", entry(wrong, "sasl_tls").why)
		local failed = verdict_of(p, facts{ auth = { sasl_external = { outcome = "failure", condition = "not-authorized" } } })
		assert.equal("SASL EXTERNAL failed: not-authorized", entry(failed, "sasl_tls").why)
		assert.is_false(failed.ok)
		local success = verdict_of(p, facts{ auth = { sasl_external = { outcome = "success" } } })
		assert.equal("SASL EXTERNAL succeeded", entry(success, "sasl_tls").why)
	end)

	it("a pin that does not match blocks every TLS method and gives the key to pin", function()
		local v = verdict_of(partner{ domain = "b.test", pin = ("ab"):rep(32) }, facts{ cert = copy(GOOD_CERT, { pin = "mismatch" }) })
		assert.is_false(v.ok)
		assert.same({ "if the partner changed its key, set pin = \"" .. ("cd"):rep(32) .. "\"; otherwise ask the partner" }, v.fixes)
	end)

	it("a server that requires TLS under tls = not_supported, and one without dialback", function()
		local v = verdict_of(partner{ domain = "b.test", tls = "not_supported", sasl = "not_supported" },
			facts{ before_tls = { starttls = true, starttls_required = true, dialback = true, sasl = {} } })
		assert.same({ "set tls = optional or required (the server requires TLS)" }, v.fixes)
		local nodb = verdict_of(partner{ domain = "b.test", sasl = "not_supported" }, facts{ after_tls = { dialback = false,
			sasl = { "EXTERNAL" }, external = true } })
		assert.is_false(nodb.ok)
		assert.matches("^ask the partner to enable dialback", nodb.fixes[1])
	end)

	it("nothing answered: names the last error and where to look", function()
		local f = facts()
		f.attempts[1] = { address = "192.0.2.1", port = 5269, error = "connection failed: connection refused" }
		local v = verdict_of(partner{ domain = "b.test" }, f)
		assert.is_false(v.ok)
		assert.equal("the server could not be reached", entry(v, "sasl_tls").why)
		assert.matches("^nothing answered %(connection failed: connection refused%): check the partner's DNS", v.fixes[1])
	end)

	it("warns about a certificate close to expiry or without clientAuth, and reads explain's incoming offer", function()
		local explained = { rows = { { "incoming offer", "STARTTLS" } }, usable = { "sasl_tls" } }
		local v = verdict_of(partner{ domain = "b.test" }, facts{ cert = copy(GOOD_CERT, { days_left = 5, client_auth = false }) },
			explained)
		assert.same({ "its certificate expires in 5 days", "its certificate has no clientAuth extended key usage: servers that "
			.. "check it refuse SASL EXTERNAL when the partner connects to them" }, v.warnings)
		assert.same({ offer = "STARTTLS", accepted = { "sasl_tls" }, certificate = "trusted here" }, v.incoming)
	end)

	it("renders as field / value rows, long values continued on more rows", function()
		local f = facts()
		local p = partner{ domain = "b.test" }
		local result = { facts = f, verdict = verdict_of(p, f), partner = p }
		local rows = proberender.rows(result)
		local by = {}
		for _, r in ipairs(rows) do
			assert.is_true(#r.value <= 100, r.value)
			by[r.field] = by[r.field] or r.value
		end
		assert.equal("valid", by["certificate chain"])
		assert.equal("by SASL EXTERNAL over TLS", by.outgoing)
		assert.equal("b.test: outgoing streams can authenticate by SASL EXTERNAL over TLS", by.verdict)
	end)
end)

describe("probe rate limits", function()
	it("one probe per domain per 10 s, 3 per admin per minute, the shell per domain only", function()
		local l = limits.new()
		assert.is_true(l:take("alice@a.test", "b.test", 100))
		l:done()
		local ok, err = l:take("bob@a.test", "b.test", 103)
		assert.is_nil(ok)
		assert.equal("probe refused: b.test was probed 3 s ago; one probe per domain every 10 s (try again in 7 seconds)", err)
		assert.is_true(l:take("bob@a.test", "b.test", 110))
		l:done()
		assert.is_true(l:take("alice@a.test", "c.test", 111)); l:done()
		assert.is_true(l:take("alice@a.test", "d.test", 112)); l:done()
		ok, err = l:take("alice@a.test", "e.test", 113)
		assert.is_nil(ok)
		assert.equal("probe refused: alice@a.test already ran 3 probes in the last 60 s (try again in 47 seconds)", err)
		assert.is_true(l:take(nil, "e.test", 113)); l:done() -- the shell
		assert.is_true(l:take("alice@a.test", "f.test", 160)); l:done()
	end)

	it("bounds probes in flight and the names it keeps", function()
		local l = limits.new{ in_flight = 2, max_keys = 5 }
		assert.is_true(l:take(nil, "a1.test", 0))
		assert.is_true(l:take(nil, "a2.test", 0))
		assert.matches("2 probes are already running", select(2, l:take(nil, "a3.test", 0)))
		l:done(); l:done()
		assert.is_true(l:take(nil, "a3.test", 0)); l:done()
		assert.is_true(l:take(nil, "a4.test", 0)); l:done()
		assert.is_true(l:take(nil, "a5.test", 0)); l:done()
		assert.matches("too many recent probes", select(2, l:take(nil, "a6.test", 0)))
		assert.is_true(l:take(nil, "a6.test", 10)) -- the old entries have expired
	end)
end)
