-- A host's partner policy cannot be bypassed through another local host (README "Security
-- model"). a.test has the module and one partner, b.test; the same Prosody also serves a MUC
-- component (muc.a.test) and a VirtualHost without the module (open.a.test). A raw peer proves
-- the unlisted c.test with a real dialback key (c.test's own server confirms it) or a
-- certificate from the CA every server trusts: only policy may refuse it.
--
-- Run: lua5.4 /usr/bin/busted --run=integration spec/integration/security_spec.lua
local harness = require "harness"
local rawpeer = require "rawpeer"

local T = harness.util.WAIT -- bound for anything that must happen (see harness README)
local QUIET = 1 -- window in which nothing may reach alice (after the refusal was logged)
local SECRET = "s2s-partners-security-spec"
local XMLNS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"

local plugin_present, plugin_dir = harness.plugin_available()

describe("the partner policy of a.test through other local hosts #integration", function()
	if not plugin_present then
		pending("plugin not built (" .. plugin_dir .. "/mod_s2s_partners.lua missing): run `make all`")
		return
	end

	local env, a, alice
	local n = 0

	setup(function()
		env = harness.env()
		a = env:server{ host = "a.test", users = { alice = "alice-pw" }, plugin = true,
			extra_hosts = { "open.a.test" },
			-- open.a.test has no partner list of its own: it does not load the module.
			host_options = { ["open.a.test"] = { modules_enabled = {} } },
			vhost_options = { s2s_partners = { { domain = "b.test", type = "federated", tls = "optional",
				sasl = "optional", dialback = true } } },
			global_options = { statistics = "internal" }, -- counters: stats:show()
			extra_config = { 'Component "muc.a.test" "muc"' } }
		-- The authoritative servers of the domains the raw peer proves, with a known secret.
		for _, host in ipairs({ "b.test", "c.test" }) do
			env:server{ host = host, s2s_require_encryption = false, s2s_secure_auth = false,
				global_options = { dialback_secret = SECRET } }
		end
		env:start()
		alice = assert(env:client{ timeout = T }:login{ jid = "alice@a.test", server = a })
	end)

	teardown(function()
		if env then env:cleanup() end
	end)

	-- What a hostile peer sends alice once authenticated: a chat message, a subscription
	-- request and an IQ to her full JID.
	local function hostile_stanzas(from)
		n = n + 1
		local body = "hostile " .. n
		return {
			("<message from='mallory@%s' to='alice@a.test' type='chat' id='m%d'><body>%s</body></message>")
				:format(from, n, body),
			("<presence from='mallory@%s' to='alice@a.test' type='subscribe' id='p%d'/>"):format(from, n),
			("<iq from='mallory@%s/x' to='%s' type='set' id='i%d'><query xmlns='jabber:iq:private'/></iq>")
				:format(from, alice.full_jid, n),
		}, body
	end

	-- A raw stream to `to` on a.test's address, authenticated by dialback as `from`, with the key
	-- from's authoritative server will confirm. Returns the peer once the key is "valid".
	local function dialback_peer(from, to, dialback_to)
		local peer = assert(rawpeer.connect(a.addr, 5269, T))
		assert(peer:open(from, to))
		assert(peer:features(T))
		assert(peer:dialback_as(from, SECRET, dialback_to))
		return peer
	end

	local function expect_valid(peer) assert(peer:expect_dialback_valid(T)) end

	-- Nothing of what `peer` sent as `from` reached alice, and a.test said why.
	local function assert_refused(peer, from, mark)
		local stanzas, body = hostile_stanzas(from)
		for _, xml in ipairs(stanzas) do assert(peer:send(xml)) end
		for _, kind in ipairs({ "message", "presence", "iq" }) do
			assert(a:wait_log(("Refused %s from mallory@%s"):format(kind, from), { since = mark, timeout = T }))
		end
		assert(alice:expect_no_message{ from = "mallory@" .. from, body = body, within = QUIET })
		assert(alice:expect_none{ kind = "presence", from = "mallory@" .. from, within = 0.1 })
		assert(alice:expect_none{ kind = "iq", from = "mallory@" .. from .. "/x", within = 0.1 })
	end

	it("delivers what a listed partner sends on a stream it authenticated to a.test (control)", function()
		local peer = dialback_peer("b.test", "a.test")
		expect_valid(peer)
		local stanzas, body = hostile_stanzas("b.test")
		for _, xml in ipairs(stanzas) do assert(peer:send(xml)) end
		assert(alice:expect_message{ from = "mallory@b.test", body = body, timeout = T })
		assert(alice:expect_roster_push("mallory@b.test", T)) -- a federated partner: approved at once
		assert(alice:expect{ kind = "iq", from = "mallory@b.test/x", timeout = T })
		peer:close()
	end)

	-- Streams authenticated by dialback through another local host: its own rules let the
	-- domain in (its own traffic is its business), but none of it reaches alice.
	for _, case in ipairs({
		{ "an unlisted domain", "c.test", "the MUC component", "muc.a.test" },
		{ "an unlisted domain", "c.test", "a VirtualHost without the module", "open.a.test" },
		{ "a listed partner", "b.test", "the MUC component", "muc.a.test" }, -- never passed a.test's policy
	}) do
		local who, from, through, to = case[1], case[2], case[3], case[4]
		it(("drops what %s authenticated through %s sends alice"):format(who, through), function()
			local mark = a:log_mark()
			local peer = dialback_peer(from, to)
			expect_valid(peer)
			assert_refused(peer, from, mark)
			local stats = a:shell("stats:show('s2s_partners/delivery_refused')")
			assert.truthy(stats:find("kind=message reason=not_authenticated_here", 1, true), stats)
			peer:close()
		end)
	end

	it("drops what an unlisted domain authenticated by SASL EXTERNAL to the component sends", function()
		local mark = a:log_mark()
		local cert = env.ca:issue{ out = env.root .. "/mallory-c", cn = "c.test", names = { "c.test" } }
		local peer = assert(rawpeer.connect(a.addr, 5269, T))
		assert(peer:open("c.test", "muc.a.test"))
		assert(peer:features(T))
		assert(peer:starttls{ timeout = T, certificate = cert.cert, key = cert.key })
		local features = assert(peer:features(T))
		assert.truthy(rawpeer.mechanisms(features).EXTERNAL, peer:transcript())
		assert(peer:auth_external())
		assert(peer:expect("success", XMLNS_SASL, T), peer:transcript())
		assert(peer:restart())
		assert(peer:features(T))
		assert_refused(peer, "c.test", mark)
		peer:close()
	end)

	it("refuses a stream to a.test that asks dialback for another local host", function()
		local mark = a:log_mark()
		local peer = dialback_peer("b.test", "a.test", "muc.a.test")
		local condition, text = peer:expect_stream_error(T)
		assert.equal("policy-violation", condition, peer:transcript())
		assert.matches("stream negotiation addressed to muc.a.test", text, 1, true)
		assert(a:wait_log("Refused incoming s2s stream from b.test", { since = mark, plain = true, timeout = T }))
	end)
end)

describe("bidirectional streams (XEP-0288) on a.test #integration", function()
	if not plugin_present then
		pending("plugin not built")
		return
	end

	local env, a, p, alice, bob

	setup(function()
		env = harness.env()
		a = env:server{ host = "a.test", users = { alice = "alice-pw" }, plugin = true, modules = { "s2s_bidi" },
			vhost_options = {
				s2s_partners = { { domain = "p.test" },
					{ domain = "q.test", tls = "required", sasl = "required", dialback = false } },
				s2s_partners_default = { tls = "optional", dialback = true },
			} }
		p = env:server{ host = "p.test", users = { bob = "bob-pw" }, s2s_require_encryption = false,
			s2s_secure_auth = false }
		env:server{ host = "m.test", s2s_require_encryption = false, s2s_secure_auth = false,
			global_options = { dialback_secret = SECRET } }
		env:start()
		local clients = env:client{ timeout = T }
		alice = assert(clients:login{ jid = "alice@a.test", server = a })
		bob = assert(clients:login{ jid = "bob@p.test", server = p })
	end)

	teardown(function()
		if env then env:cleanup() end
	end)

	it("never lets a stream declared from one domain and authenticated as another carry its stanzas", function()
		local mark = a:log_mark()
		local peer = assert(rawpeer.connect(a.addr, 5269, T))
		assert(peer:open("p.test", "a.test"))
		assert(peer:features(T))
		assert(peer:send("<bidi xmlns='urn:xmpp:bidi'/>"))
		assert(peer:dialback_as("m.test", SECRET))
		local condition, text = peer:expect_stream_error(T)
		assert.equal("policy-violation", condition, peer:transcript())
		assert.matches("bidirectional stream declared p.test", text, 1, true)
		assert(a:wait_log("Refused incoming s2s stream from m.test", { since = mark, plain = true, timeout = T }))
		-- alice's message goes to the real p.test.
		assert(alice:send_message("bob@p.test", "for bob only"))
		assert(bob:expect_message{ from = "alice@a.test", body = "for bob only", timeout = T })
		assert.is_nil(peer:transcript():find("for bob only", 1, true))
	end)

	it("refuses at once a stream with no allowed method although bidi is still offered", function()
		-- q.test allows only SASL EXTERNAL; an untrusted certificate leaves it nothing but <bidi/>.
		local cert = env:other_ca():issue{ out = env.root .. "/q-untrusted", cn = "q.test", names = { "q.test" } }
		local peer = assert(rawpeer.connect(a.addr, 5269, T))
		assert(peer:open("q.test", "a.test"))
		assert(peer:features(T))
		assert(peer:starttls{ timeout = T, certificate = cert.cert, key = cert.key })
		local condition, text = peer:expect_stream_error(T)
		assert.equal("policy-violation", condition, peer:transcript())
		assert.matches("no allowed authentication method is available to q.test", text, 1, true)
	end)
end)

describe("an authentication mechanism partner policy does not know (F10) #integration", function()
	local env, a, alice

	setup(function()
		env = harness.env()
		local server = require "harness.server"
		a = env:server{ host = "a.test", users = { alice = "alice-pw" }, plugin = true,
			global_options = { plugin_paths = { (server.plugin_paths()), harness.util.abspath("spec/fixtures/plugins") } },
			vhost_modules = { "s2sp_test_auth" },
			vhost_options = { s2s_partners = { { domain = "b.test", type = "federated", tls = "optional" } } } }
		alice = env:start_and_login{ { jid = "alice@a.test", server = a } }
	end)

	teardown(function()
		if env then env:cleanup() end
	end)

	it("is refused, although the partner allows dialback", function()
		local peer = assert(rawpeer.connect(a.addr, 5269, T))
		assert(peer:open("b.test", "a.test"))
		assert(peer:features(T))
		local mark = a:log_mark()
		assert(peer:send("<test-auth xmlns='urn:s2sp:test'/>"))
		local condition, text = peer:expect_stream_error(T)
		assert.equal("policy-violation", condition, peer:transcript())
		assert.equal("authentication by x-test is not a method partner policy allows", text)
		assert(a:wait_log("Refused incoming s2s stream from b%.test: authentication by x%-test", { since = mark, timeout = T }))
		peer:send(("<message from='bob@b.test' to='alice@a.test' type='chat'><body>via x-test</body></message>"))
		assert(alice:expect_no_message{ from = "bob@b.test", within = 0.5 })
		peer:close()
	end)
end)
