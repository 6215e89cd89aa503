-- Stream negotiation addressed to another local host (review finding F3, README "Security
-- model"): Prosody hands a stream-level element to hosts[element.to], so an outgoing stream's
-- <stream:features to='muc.a.test'> would be negotiated by the component's modules, which do
-- not load the module, and a SASL <success to='muc.a.test'/> would authenticate a.test's
-- stream without a.test's checks (for a SASL-only partner: no trusted certificate needed).
-- A raw server plays p.test with a certificate nobody trusts and tries exactly that.
-- Run: S2SP_PROSODY=0.12 lua5.4 /usr/bin/busted --run=integration spec/integration/misaddressed_spec.lua
local harness = require "harness"
local rawserver = require "rawserver"

local T = harness.util.WAIT -- bound for anything that must happen (see harness README)
local XMLNS_STREAM = "http://etherx.jabber.org/streams"

describe("outgoing negotiation addressed to another local host (F3) #integration", function()
	local env, a, alice, fake, cert

	setup(function()
		env = harness.env()
		cert = env:other_ca():issue{ out = env.root .. "/p-test", cn = "p.test", names = { "p.test" } }
		a = env:server{ host = "a.test", users = { alice = "alice-pw" }, plugin = true,
			vhost_options = { s2s_partners = {
				{ domain = "p.test", type = "federated", tls = "required", sasl = "required", dialback = false },
			} },
			extra_config = { 'Component "muc.a.test" "muc"' } }
		fake = rawserver.new(env, { hosts = { "p.test" } })
		env:start()
		alice = env:start_and_login{ { jid = "alice@a.test", server = a } }
	end)

	teardown(function()
		if env then env:cleanup() end
	end)

	it("refuses the stream: the component never negotiates on a.test's stream, nothing is sent", function()
		local mark = a:log_mark()
		assert(alice:send_message("bob@p.test", "only for a proven p.test"))
		local conn = assert(fake:accept_tls(cert, T))
		-- features "to" the component, offering EXTERNAL; then success "to" it if asked
		assert(conn:send(("<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='%s'"
			.. " from='p.test' to='a.test' id='raw-2' version='1.0'><stream:features to='muc.a.test'>"
			.. "<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>EXTERNAL</mechanism></mechanisms>"
			.. "</stream:features>"):format(XMLNS_STREAM)))
		local auth = conn:expect("auth", "urn:ietf:params:xml:ns:xmpp-sasl", 2)
		if auth then
			conn:send("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl' to='muc.a.test'/>")
		end
		assert(a:wait_log("Refused outgoing s2s stream to p%.test: stream negotiation addressed to muc%.a%.test",
			{ since = mark, timeout = T }))
		local e = assert(alice:expect_error{ from = "bob@p.test", kind = "message", timeout = T })
		assert.matches("policy-violation", e.xml, 1, true)
		assert.is_nil(auth, "a.test (or its component) asked for SASL on the misaddressed features")
		assert.is_nil(conn:transcript():find("only for a proven p.test", 1, true), "alice's message reached the peer")
		assert.is_nil(a:log_contains("authenticated outgoing", { since = mark, plain = true }))
	end)
end)
