-- public_unverified strangers (README "Partner types", "Security model"): no stanza of any kind
-- from a contact who is not in the user's roster reaches the user, except what answers the
-- user's own stanzas (errors bouncing them, results of the user's requests).
--
-- Run: lua5.4 /usr/bin/busted --run=integration spec/integration/unverified_spec.lua
local harness = require "harness"
local rawpeer = require "rawpeer"

local T = harness.util.WAIT -- bound for anything that must happen (see harness README)
local SECRET = "s2s-partners-unverified-spec"
local AFTER = 0.2 -- "nothing arrived" window after the drop was logged (the drop is synchronous)

local plugin_present, plugin_dir = harness.plugin_available()

describe("public_unverified strangers #integration", function()
	if not plugin_present then
		pending("plugin not built (" .. plugin_dir .. "/mod_s2s_partners.lua missing): run `make all`")
		return
	end

	local env, a, alice, ulf, hostile
	local n = 0

	setup(function()
		env = harness.env()
		a = env:server{ host = "a.test", users = { alice = "alice-pw" }, plugin = true,
			global_options = { statistics = "internal" }, -- counters: stats:show()
			vhost_options = { s2s_partners = { { domain = "pu.test", type = "public_unverified", tls = "optional",
				dialback = true } } } }
		-- pu.test's real server; a raw peer proves pu.test with its dialback secret, for what a
		-- stock server would not forward for its users (subscription answers nobody asked for).
		local pu = env:server{ host = "pu.test", users = { ulf = "ulf-pw" }, s2s_require_encryption = false,
			global_options = { dialback_secret = SECRET } }
		env:start()
		local accounts = assert(env:client{ timeout = T }:login_many{
			{ jid = "alice@a.test", server = a }, { jid = "ulf@pu.test", server = pu } })
		alice, ulf = accounts[1], accounts[2]
	end)

	teardown(function()
		if hostile then hostile:close() end
		if env then env:cleanup() end
	end)

	-- A stream to a.test authenticated as pu.test (what a hostile pu.test server could send).
	local function send_as_server(xml)
		if not hostile then
			hostile = assert(rawpeer.connect(a.addr, 5269, T))
			assert(hostile:open("pu.test", "a.test"))
			assert(hostile:features(T))
			assert(hostile:dialback_as("pu.test", SECRET))
			assert(hostile:expect_dialback_valid(T))
		end
		return hostile:send(xml:gsub("<(%w+) ", "<%1 from='ulf@pu.test/raw' ", 1))
	end

	-- ulf sends `xml` (with %s for a unique id) to alice; a.test logs the drop; alice gets nothing.
	local function assert_dropped(kind, xml, raw)
		n = n + 1
		local id = "u" .. n
		local mark = a:log_mark()
		if raw then assert(send_as_server(xml:format(id))) else assert(ulf:send_raw(xml:format(id))) end
		assert(a:wait_log(("Dropping %s from ulf@pu.test"):format(kind), { since = mark, timeout = T }))
		assert(alice:expect_none{ from = "ulf@pu.test", within = AFTER })
		assert(alice:expect_none{ id = id, within = 0.05 })
	end

	for _, ptype in ipairs({ "error", "unsubscribed", "subscribed", "unavailable", "probe" }) do
		it("drops a stranger's presence of type " .. ptype, function()
			local extra = ptype == "error" and "<error type='cancel'><gone xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>" or ""
			-- A stock server forwards no subscription answer its user was never asked for.
			local raw = ptype == "subscribed" or ptype == "unsubscribed"
			assert_dropped("presence", ("<presence to='alice@a.test' type='" .. ptype .. "' id='%s'><status>spam</status>"
				.. extra .. "</presence>"), raw)
		end)
	end

	it("drops a stranger's available presence to alice's full JID", function()
		assert_dropped("presence", "<presence to='" .. alice.full_jid .. "' id='%s'><status>spam</status></presence>")
	end)

	for _, mtype in ipairs({ "error", "headline", "groupchat", "normal", "chat" }) do
		it("drops a stranger's message of type " .. mtype, function()
			local extra = mtype == "error" and "<error type='cancel'><gone xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>" or ""
			assert_dropped("message", ("<message to='alice@a.test' type='" .. mtype .. "' id='%s'><body>spam</body>"
				.. extra .. "</message>"))
		end)
	end

	for _, itype in ipairs({ "get", "set", "result", "error" }) do
		it("drops a stranger's unsolicited IQ of type " .. itype .. " to alice's full JID", function()
			assert_dropped("iq", ("<iq to='" .. alice.full_jid .. "' type='" .. itype .. "' id='%s'>"
				.. "<query xmlns='jabber:iq:version'/></iq>"))
		end)
	end

	it("still shows alice the bounce of her own message to a stranger's server (control)", function()
		assert(alice:send_message{ to = "nobody@pu.test", body = "anyone there?", id = "own-1" })
		local err = assert(alice:expect_error{ from = "nobody@pu.test", kind = "message", id = "own-1", timeout = T })
		assert.equal("service-unavailable", err.error.condition, err.xml)
	end)

	it("still gives alice the answer to her own request to a stranger (control)", function()
		local r = assert(alice:iq{ to = ulf.full_jid, type = "get", payload = "<query xmlns='jabber:iq:version'/>",
			timeout = T })
		assert.equal("result", r.type, r.xml)
		-- The same id again is no answer to anything: one answer per request.
		assert_dropped("iq", "<iq to='" .. alice.full_jid .. "' type='result' id='%s'/>")
	end)

	-- The rule's hooks are there only while a partner has the type (README "Performance"): taken
	-- away by a reload that leaves no public_unverified partner, back with the next that has one.
	it("stops and starts applying the rule as reloads take the type away and bring it back", function()
		local listed = { domain = "pu.test", tls = "optional", dialback = true }
		listed.type = "federated"
		a:configure{ vhost_options = { s2s_partners = { listed } } }
		a:reload()
		assert(a:wait_log("federation partners in force (reload)", { timeout = T, plain = true }))
		assert(ulf:send_message{ to = "alice@a.test", body = "a federated stranger", id = "fed-1" })
		assert(alice:expect_message{ from = "ulf@pu.test", body = "a federated stranger", timeout = T })
		listed.type = "public_unverified"
		local mark = a:log_mark()
		a:configure{ vhost_options = { s2s_partners = { listed } } }
		a:reload()
		assert(a:wait_log("federation partners in force (reload)", { since = mark, timeout = T, plain = true }))
		assert_dropped("message", "<message to='alice@a.test' type='chat' id='%s'><body>spam again</body></message>")
	end)

	it("counts every drop", function()
		local stats = a:shell("stats:show('s2s_partners/dropped')")
		for _, kind in ipairs({ "message", "iq", "presence" }) do
			assert.truthy(stats:find("partner_type=public_unverified kind=" .. kind, 1, true), stats)
		end
	end)
end)
