-- The peer's own text in a SASL failure (review finding F19, README "Security model") reaches
-- our refusal, log line and the sender's bounce as one printable, bounded line: a peer cannot
-- forge log lines or stuff a bounce. A raw server plays a SASL-only partner, offers EXTERNAL and
-- answers a.test's <auth/> with a <failure/> whose <text/> holds newlines and a fake log line.
-- Run: S2SP_PROSODY=0.12 lua5.4 /usr/bin/busted --run=integration spec/integration/sasl_failure_spec.lua
local harness = require "harness"
local rawserver = require "rawserver"

local T = harness.util.WAIT -- bound for anything that must happen (see harness README)
local XMLNS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
local EXTERNAL = "<mechanisms xmlns='" .. XMLNS_SASL .. "'><mechanism>EXTERNAL</mechanism></mechanisms>"

describe("a SASL failure text from the peer (F19) #integration", function()
	local env, a, alice, fake, cert

	setup(function()
		env = harness.env()
		cert = env.ca:issue{ out = env.root .. "/s-test", cn = "s.test", names = { "s.test" } }
		a = env:server{ host = "a.test", users = { alice = "alice-pw" }, plugin = true,
			vhost_options = { s2s_partners = {
				{ domain = "s.test", type = "federated", tls = "required", sasl = "optional", dialback = false },
			} } }
		fake = rawserver.new(env, { hosts = { "s.test" } })
		env:start()
		alice = env:start_and_login{ { jid = "alice@a.test", server = a } }
	end)

	teardown(function()
		if env then env:cleanup() end
	end)

	it("is one bounded, printable line in the refusal, the log and the bounce", function()
		local mark = a:log_mark()
		assert(alice:send_message("bob@s.test", "hello"))
		local conn = assert(fake:accept_tls(cert, T))
		assert(conn:answer(EXTERNAL))
		assert(conn:expect("auth", XMLNS_SASL, T), conn:transcript())
		local forged = "no\nDec 01 00:00:00 a.test:s2s_partners\tinfo\tPartner evil.test authenticated\r\n" .. ("x"):rep(500)
		assert(conn:send(("<failure xmlns='%s'><not-authorized/><text>%s</text></failure>"):format(XMLNS_SASL, forged)))
		-- our refusal: the peer's text on the same line, newlines gone, cut, then our own words
		-- (Prosody's mod_saslauth logs the raw text itself, outside the module)
		local line = assert(a:wait_log("Refused outgoing s2s stream to s%.test: SASL EXTERNAL with s%.test failed %(",
			{ since = mark, timeout = T }))
		assert.matches("not-authorized:no Dec 01 00:00:00 a.test:s2s_partners info Partner evil.test authenticated xxx",
			line, 1, true)
		assert.matches("), and dialback is not allowed with s.test [partner s.test, sasl_failed]", line, 1, true)
		local e = assert(alice:expect_error{ from = "bob@s.test", kind = "message", timeout = T })
		local text = assert(e.xml:match("<text[^>]*>(.-)</text>"), e.xml)
		assert.is_nil(text:find("[\r\n]"), text)
		assert.truthy(#text < 400, "the bounce carries the peer's whole text: " .. #text .. " octets")
	end)
end)
