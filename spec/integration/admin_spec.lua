-- Runtime administration (README "Administration") on a real server: prosodyctl shell and ad-hoc commands
-- edit the partner list, edits are validated like the config, persisted, applied at once, and
-- streams the new policy no longer allows are closed.
local harness = require "harness"

local T = require("harness.util").WAIT -- bound for anything that must happen (see harness README)
local XMLNS_COMMANDS = "http://jabber.org/protocol/commands"

local function command(node, action, sessionid, form)
	return ("<command xmlns='%s' node='%s' action='%s'%s>%s</command>"):format(XMLNS_COMMANDS, node, action,
		sessionid and (" sessionid='" .. sessionid .. "'") or "", form or "")
end

local function submit(fields)
	local out = { "<x xmlns='jabber:x:data' type='submit'>",
		"<field var='FORM_TYPE'><value>urn:xmpp:s2s-partners:0</value></field>" }
	for _, f in ipairs(fields) do
		local values = type(f[2]) == "table" and f[2] or { f[2] }
		out[#out + 1] = "<field var='" .. f[1] .. "'>"
		for _, v in ipairs(values) do out[#out + 1] = "<value>" .. v .. "</value>" end
		out[#out + 1] = "</field>"
	end
	out[#out + 1] = "</x>"
	return table.concat(out)
end

describe("runtime partner administration #integration", function()
	local env, a, alice, carol, mallory

	local function run_command(account, node, fields)
		local first = assert(account:iq{ to = "a.test", type = "set", payload = command(node, "execute"), timeout = T })
		if not fields then return first end
		assert.equal("result", first.type, first.xml)
		local sessionid = assert(first.xml:match("sessionid=['\"]([^'\"]+)"), first.xml)
		return assert(account:iq{ to = "a.test", type = "set", timeout = T,
			payload = command(node, "complete", sessionid, submit(fields)) })
	end

	setup(function()
		env = harness.env()
		a = env:server{
			host = "a.test", users = { alice = "alice-pw", mallory = "mallory-pw" }, plugin = true,
			global_options = { admins = { "alice@a.test" } },
			vhost_options = { s2s_partners = { { domain = "b.test", type = "federated" } } },
		}
		local c = env:server{ host = "c.test", users = { carol = "carol-pw" } }
		alice, mallory, carol = env:start_and_login{ { jid = "alice@a.test", server = a },
			{ jid = "mallory@a.test", server = a }, { jid = "carol@c.test", server = c } }
	end)

	teardown(function()
		if env then env:cleanup() end
	end)

	it("lists the config partners as read-only", function()
		local out = a:shell('s2s_partners:list("a.test")')
		assert.matches("b.test [config] federated tls=required sasl=optional dialback=true (valid)", out, 1, true)
		assert.matches("OK: 1 partners", out, 1, true)
	end)

	it("adds a partner from the shell; it applies at once", function()
		assert(alice:send_message("carol@c.test", "before"))
		assert(alice:expect_error{ from = "carol@c.test", kind = "message", timeout = T })
		local out = a:shell('s2s_partners:put("a.test", { domain = "C.TEST"; type = "federated"; description = "Contoso" })')
		assert.matches("OK: Saved: c.test [runtime] federated", out, 1, true)
		assert(alice:send_message("carol@c.test", "after"))
		assert(carol:expect_message{ from = "alice@a.test", body = "after", timeout = T })
	end)

	it("refuses an invalid edit with the reason and saves nothing", function()
		local out = a:shell('s2s_partners:put("a.test", { domain = "d.test"; tls = "not_supported"; '
			.. 'sasl = "not_supported"; dialback = false })')
		assert.matches('runtime partner 2 (d.test): tls = "not_supported", sasl = "not_supported", dialback = false: '
			.. "SASL or dialback must be enabled.", out, 1, true)
		out = a:shell('s2s_partners:put("a.test", { domain = "e.test"; tsl = "required" })')
		assert.matches('unknown field "tsl"', out, 1, true)
		local list = a:shell('s2s_partners:list("a.test")')
		assert.is_nil(list:find("d.test", 1, true))
		assert.is_nil(list:find("e.test", 1, true))
		assert.matches("OK: 2 partners", list, 1, true)
	end)

	it("keeps config partners read-only and domains unique", function()
		local out = a:shell('s2s_partners:put("a.test", { domain = "b.test"; type = "public_unverified" })')
		assert.matches("partner b.test is defined in the configuration file and is read-only at runtime", out, 1, true)
		out = a:shell('s2s_partners:put("a.test", { domain = "f.test"; additional_domains = { "B.test." } })')
		assert.matches('domain "b.test" already belongs to partner 1 (b.test)', out, 1, true)
	end)

	it("lets admins, and only admins, edit through ad-hoc commands", function()
		local denied = run_command(mallory, "urn:xmpp:s2s-partners#list")
		assert.equal("error", denied.type, denied.xml)
		assert.matches("forbidden", denied.xml, 1, true)

		local saved = run_command(alice, "urn:xmpp:s2s-partners#put", {
			{ "domain", "g.test" }, { "description", "Added over XMPP" }, { "additional_domains", { "h.test", "i.test" } },
			{ "type", "public_verified" }, { "tls", "required" }, { "sasl", "required" }, { "dialback", "1" },
		})
		assert.matches("status=['\"]completed", saved.xml)
		assert.matches("Saved: g.test +h.test,i.test [runtime] public_verified", saved.xml, 1, true)
		assert.matches("Dialback will not operate if both SASL and TLS are required.", saved.xml, 1, true)

		local invalid = run_command(alice, "urn:xmpp:s2s-partners#put", {
			{ "domain", "j.test" }, { "tls", "not_supported" }, { "sasl", "required" }, { "dialback", "0" },
		})
		assert.matches("SASL requires TLS, and TLS is not available; dialback is off and cannot be used.", invalid.xml, 1, true)

		local list = run_command(alice, "urn:xmpp:s2s-partners#list")
		assert.matches("g.test +h.test,i.test [runtime]", list.xml, 1, true)
		assert.is_nil(list.xml:find("j.test", 1, true))
	end)

	it("persists runtime partners across a restart", function()
		a:restart()
		local out = a:shell('s2s_partners:list("a.test")')
		assert.matches("c.test [runtime] federated", out, 1, true)
		assert.matches("g.test +h.test,i.test [runtime] public_verified", out, 1, true)
	end)

	it("closes existing streams when a partner is removed", function()
		local clients = env:client()
		alice = assert(clients:login{ jid = "alice@a.test", server = a })
		assert(alice:send_message("carol@c.test", "stream up"))
		assert(carol:expect_message{ from = "alice@a.test", body = "stream up", timeout = T })
		local mark = a:log_mark()
		assert.matches("OK: Removed c.test", a:shell('s2s_partners:remove("a.test", "c.test")'), 1, true)
		assert(a:wait_log("Refused outgoing s2s stream to c%.test: c%.test is not a federation partner of a%.test",
			{ since = mark, timeout = T }))
		assert(harness.util.poll(function() return #a:find_s2s{ remote = "c.test" } == 0 end, T))
		assert(alice:send_message("carol@c.test", "gone"))
		assert(alice:expect_error{ from = "carol@c.test", kind = "message", timeout = T })
	end)
end)
