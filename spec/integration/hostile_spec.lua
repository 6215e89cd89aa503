-- Hostile s2s peers against mod_s2s_partners (README "Negotiation matrix"): a scripted raw-socket peer
-- (spec/harness/rawpeer.lua) breaks the rules one way at a time; each attempt must end with a
-- policy-violation stream error that says why, and none of its stanzas may reach alice, a
-- logged-in local user.
--
-- Run: lua5.4 /usr/bin/busted --run=integration spec/integration/hostile_spec.lua
local harness = require "harness"
local rawpeer = require "rawpeer"

local T = require("harness.util").WAIT -- bound for anything that must happen (see harness README)
local XMLNS_TLS = "urn:ietf:params:xml:ns:xmpp-tls"
local XMLNS_DIALBACK_FEATURE = "urn:xmpp:features:dialback"

local plugin_present, plugin_dir = harness.plugin_available()

describe("hostile s2s peers #integration", function()
	if not plugin_present then
		pending("plugin not built (" .. plugin_dir .. "/mod_s2s_partners.lua missing): run `make all`")
		return
	end

	local env, a, b, alice
	local n = 0

	setup(function()
		env = harness.env()
		a = env:server{ host = "a.test", users = { alice = "alice-pw" }, plugin = true, log_level = "info",
			vhost_options = { s2s_partners = {
				{ domain = "b.test", type = "federated", tls = "optional", sasl = "optional", dialback = true },
				{ domain = "req.b.test", type = "federated", tls = "required", sasl = "optional", dialback = true },
				{ domain = "nodb.b.test", type = "federated", tls = "optional", sasl = "required", dialback = false },
				{ domain = "nosasl.b.test", type = "federated", tls = "optional", sasl = "not_supported", dialback = true },
			} } }
		-- The real servers of the partner domains (the authoritative server for dialback).
		b = env:server{ host = "b.test", users = { bob = "bob-pw" }, extra_hosts = { "req.b.test", "nodb.b.test", "nosasl.b.test" },
			s2s_require_encryption = false, s2s_secure_auth = false, log_level = "info" }
		env:start()
		alice = assert(env:client{ timeout = T }:login{ jid = "alice@a.test", server = a })
	end)

	teardown(function()
		if env then env:cleanup() end
	end)

	-- A raw stream to a.test claiming `from` (nil: no from at all).
	local function connect(from)
		local mark = a:log_mark()
		local peer = assert(rawpeer.connect(a.addr, 5269, T))
		peer.mark = mark
		assert(peer:open(from, "a.test"))
		return peer
	end

	-- A message to alice as the hostile peer would send it.
	local function message(from)
		n = n + 1
		return ("<message from='mallory@%s' to='alice@a.test' type='chat' id='h%d'><body>hostile %d</body></message>")
			:format(from or "evil.test", n, n), "hostile " .. n
	end

	-- The stream ends with policy-violation and a text matching `pattern`; a.test logged the refusal.
	-- The log line names the direction, the domain, the partner (`partner`, default `domain`) and the reason.
	local function assert_refused(peer, pattern, domain, partner)
		local condition, text = peer:expect_stream_error(T)
		assert.equal("policy-violation", condition, peer:transcript())
		assert.matches(pattern, text or "", nil, false, peer:transcript())
		local line = assert(a:wait_log("Refused incoming s2s stream from " .. domain .. ": ",
			{ plain = true, timeout = T, since = peer.mark }))
		assert.truthy(line:find(text .. " [partner " .. (partner or domain) .. ", ", 1, true), line)
		peer:close()
	end

	-- Checked at once (the refusal came after the stanza on the same stream); the last test
	-- waits once, briefly, for anything that might still arrive.
	local function assert_nothing_delivered(body)
		local got = assert(alice:received{ kind = "message", body = body })
		assert.equal(0, #got, (got[1] or {}).xml)
	end

	it("(a) refuses a peer that skips STARTTLS with a tls=required partner", function()
		local peer = connect("req.b.test")
		local features = assert(peer:features(T))
		local starttls = rawpeer.child(features, "starttls", XMLNS_TLS)
		assert.truthy(starttls and rawpeer.child(starttls, "required"), peer:transcript())
		assert.is_nil(rawpeer.child(features, "dialback", XMLNS_DIALBACK_FEATURE), peer:transcript())
		assert.same({}, rawpeer.mechanisms(features))
		local stanza, body = message("req.b.test")
		assert(peer:dialback("req.b.test", "a.test", "0123456789abcdef"))
		assert(peer:send(stanza))
		assert_refused(peer, "^req%.b%.test requires TLS$", "req.b.test")
		assert_nothing_delivered(body)
	end)

	it("(b) refuses dialback from a partner with dialback off", function()
		local peer = connect("nodb.b.test")
		local features = assert(peer:features(T))
		assert.is_nil(rawpeer.child(features, "dialback", XMLNS_DIALBACK_FEATURE), peer:transcript())
		assert.truthy(rawpeer.child(features, "starttls", XMLNS_TLS), peer:transcript())
		local stanza, body = message("nodb.b.test")
		assert(peer:dialback("nodb.b.test", "a.test", "0123456789abcdef"))
		assert(peer:send(stanza))
		assert_refused(peer, "^dialback is not allowed with nodb%.b%.test$", "nodb.b.test")
		assert_nothing_delivered(body)
	end)

	it("(c) refuses SASL EXTERNAL from a partner with sasl=not_supported, even with a valid certificate", function()
		local peer = connect("nosasl.b.test")
		assert(peer:features(T))
		-- b.test's real certificate (test CA, *.b.test): mod_saslauth alone would offer EXTERNAL.
		assert(peer:starttls{ timeout = T, certificate = b.cert, key = b.key })
		local features = assert(peer:features(T))
		assert.same({}, rawpeer.mechanisms(features))
		assert.truthy(rawpeer.child(features, "dialback", XMLNS_DIALBACK_FEATURE), peer:transcript())
		local stanza, body = message("nosasl.b.test")
		assert(peer:auth_external())
		assert(peer:send(stanza))
		assert_refused(peer, "^SASL EXTERNAL is not allowed with nosasl%.b%.test$", "nosasl.b.test")
		assert_nothing_delivered(body)
	end)

	it("(d) refuses stanzas sent before authentication", function()
		local peer = connect("b.test")
		assert(peer:features(T))
		assert(peer:starttls{ timeout = T })
		assert(peer:features(T))
		local stanza, body = message("b.test")
		assert(peer:send(stanza))
		assert_refused(peer, "^stanza sent before authentication$", "b.test")
		assert_nothing_delivered(body)
	end)

	it("(e) refuses a dialback key that the partner's real server does not confirm", function()
		local peer = connect("req.b.test")
		assert(peer:features(T))
		assert(peer:starttls{ timeout = T })
		local features = assert(peer:features(T))
		assert.truthy(rawpeer.child(features, "dialback", XMLNS_DIALBACK_FEATURE), peer:transcript())
		assert(peer:dialback("req.b.test", "a.test", "0123456789abcdef0123456789abcdef"))
		-- a.test asks b.test (authoritative for req.b.test), which denies the key.
		local result = assert(peer:expect("result", "jabber:server:dialback", T))
		assert.equal("invalid", result.attr.type, peer:transcript())
		local stanza, body = message("req.b.test")
		peer:send(stanza)
		assert_refused(peer, "^req%.b%.test could not prove its identity", "req.b.test")
		assert_nothing_delivered(body)
	end)

	it("(e) refuses SASL EXTERNAL without a valid certificate for the claimed partner", function()
		local peer = connect("b.test")
		assert(peer:features(T))
		-- A certificate for b.test from a CA that a.test does not trust.
		local cert = env:other_ca():issue{ out = env.root .. "/mallory-b", cn = "b.test", names = { "b.test" } }
		assert(peer:starttls{ timeout = T, certificate = cert.cert, key = cert.key })
		local features = assert(peer:features(T))
		assert.same({}, rawpeer.mechanisms(features))
		local stanza, body = message("b.test")
		assert(peer:auth_external())
		assert(peer:send(stanza))
		assert_refused(peer, "^SASL EXTERNAL attempted by b%.test, but its certificate is not valid for it", "b.test")
		assert_nothing_delivered(body)
	end)

	it("(f) refuses an unlisted domain as soon as it says who it is", function()
		local peer = connect("evil.test")
		local _, err = peer:features(T)
		assert.matches("stream error", err or "", nil, true, peer:transcript())
		local condition, text = peer:expect_stream_error(T)
		assert.equal("policy-violation", condition, peer:transcript())
		assert.equal("evil.test is not a federation partner of a.test", text)
		assert(a:wait_log("Refused incoming s2s stream from evil.test: ", { plain = true, timeout = T, since = peer.mark }))
		peer:close()
		-- The refusal inside s2s-stream-features leaves mod_s2s nothing to complain about.
		assert.is_nil(a:log_contains("No stream features to offer", { plain = true }))
	end)

	it("(f) refuses dialback for an unlisted domain on an anonymous stream", function()
		local peer = connect(nil)
		assert(peer:features(T))
		local stanza, body = message("evil.test")
		assert(peer:dialback("evil.test", "a.test", "0123456789abcdef"))
		assert(peer:send(stanza))
		assert_refused(peer, "^evil%.test is not a federation partner of a%.test$", "evil.test", "none")
		assert_nothing_delivered(body)
	end)

	it("(g) offers an anonymous stream TLS as required and no EXTERNAL, and refuses its authentication", function()
		local peer = connect(nil)
		local features = assert(peer:features(T))
		local starttls = rawpeer.child(features, "starttls", XMLNS_TLS)
		assert.truthy(starttls and rawpeer.child(starttls, "required"), peer:transcript())
		-- Even with b.test's valid certificate, an anonymous stream gets no EXTERNAL.
		assert(peer:starttls{ timeout = T, certificate = b.cert, key = b.key })
		features = assert(peer:features(T))
		assert.same({}, rawpeer.mechanisms(features))
		local stanza, body = message("b.test")
		assert(peer:auth_external("b.test"))
		assert(peer:send(stanza))
		assert_refused(peer, "^the remote server did not say which domain it is$", "(unknown domain)", "none")
		assert_nothing_delivered(body)
	end)

	it("(g) refuses dialback without TLS on an anonymous stream for a tls=required partner", function()
		local peer = connect(nil)
		assert(peer:features(T))
		local stanza, body = message("req.b.test")
		assert(peer:dialback("req.b.test", "a.test", "0123456789abcdef"))
		assert(peer:send(stanza))
		assert_refused(peer, "^req%.b%.test requires TLS$", "req.b.test")
		assert_nothing_delivered(body)
	end)

	it("checks a second domain on an authenticated stream against that domain's own policy", function()
		local peer = connect("b.test")
		assert(peer:features(T))
		-- b.test's real certificate: EXTERNAL is offered and succeeds for b.test.
		assert(peer:starttls{ timeout = T, certificate = b.cert, key = b.key })
		local features = assert(peer:features(T))
		assert.truthy(rawpeer.mechanisms(features).EXTERNAL, peer:transcript())
		assert(peer:auth_external())
		assert(peer:expect("success", "urn:ietf:params:xml:ns:xmpp-sasl", T))
		assert(peer:restart())
		assert(peer:features(T))
		local ok_stanza, ok_body = message("b.test")
		assert(peer:send(ok_stanza))
		assert(alice:expect_message{ from = "mallory@b.test", body = ok_body, timeout = T })
		-- Now dialback for nodb.b.test (dialback off) on the same stream: that domain alone is
		-- refused (db:result type=error, XEP-0220 §2.4); the stream stays up for b.test.
		assert(peer:dialback("nodb.b.test", "a.test", "0123456789abcdef"))
		local result = assert(peer:expect("result", "jabber:server:dialback", T))
		assert.equal("error", result.attr.type, peer:transcript())
		local err = assert(rawpeer.child(result, "error"), peer:transcript())
		assert.truthy(rawpeer.child(err, "policy-violation", "urn:ietf:params:xml:ns:xmpp-stanzas"), peer:transcript())
		assert.equal("dialback is not allowed with nodb.b.test",
			rawpeer.child(err, "text", "urn:ietf:params:xml:ns:xmpp-stanzas").text)
		assert(a:wait_log("Refused incoming s2s stream from nodb.b.test: dialback is not allowed with nodb.b.test",
			{ plain = true, timeout = T }))
		local still_stanza, still_body = message("b.test")
		assert(peer:send(still_stanza))
		assert(alice:expect_message{ from = "mallory@b.test", body = still_body, timeout = T })
		-- A stanza from the refused domain anyway: Prosody closes the stream (not authorized for it).
		local stanza, body = message("nodb.b.test")
		assert(peer:send(stanza))
		assert.equal("not-authorized", (peer:expect_stream_error(T)))
		assert_nothing_delivered(body)
	end)

	it("delivered no hostile stanza at all", function()
		assert(alice:expect_none{ kind = "message", within = 0.3 })
	end)

	it("still federates with the real partner server afterwards", function()
		local bob_client = env:client{ timeout = T }
		local bob = assert(bob_client:login{ jid = "bob@b.test", password = "bob-pw", server = b })
		assert(bob:send_message("alice@a.test", "real bob"))
		assert(alice:expect_message{ from = "bob@b.test", body = "real bob", timeout = T })
	end)
end)
