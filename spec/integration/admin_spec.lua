-- Runtime administration (README "Administration") on a real server: prosodyctl shell and ad-hoc commands
-- edit the partner list, edits are validated like the config, persisted, applied at once, and
-- streams the new policy no longer allows are closed.
local harness = require "harness"

local is_13 = require("harness.prosody").select().series == "13"
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
	local env, a, d, alice, carol, mallory

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
		-- d.test: a default policy for unlisted domains (explain)
		d = env:server{ host = "d.test", plugin = true, vhost_options = { s2s_partners_default = { type = "public_unverified" } } }
		alice, mallory, carol = env:start_and_login{ { jid = "alice@a.test", server = a },
			{ jid = "mallory@a.test", server = a }, { jid = "carol@c.test", server = c } }
	end)

	teardown(function()
		if env then env:cleanup() end
	end)

	-- The row of `domain` in a shell table (columns separated by two or more spaces).
	local function row(out, domain)
		for line in out:gmatch("[^\n]+") do
			if line:find("^" .. domain:gsub("%p", "%%%0") .. "  ") then
				local cells = {}
				for cell in (line .. "  "):gmatch("(.-)  +") do cells[#cells + 1] = cell end
				return cells
			end
		end
	end

	-- The value column of `field` in `s2s_partners:show` / `:explain` output.
	local function value(out, field)
		local cells = row(out, field)
		return cells and cells[2]
	end

	it("lists the config partners as read-only, as a table", function()
		local out = a:shell('s2s_partners:list("a.test")')
		assert.matches("^domain%s+additional domains%s+type%s+tls%s+sasl%s+dialback%s+origin%s+class%s+streams up", out)
		assert.same({ "b.test", "-", "federated", "required", "optional", "true", "config", "valid", "0" }, row(out, "b.test"))
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
		assert.matches("<value>h.test, i.test</value>", list.xml, 1, true)
		assert.is_nil(list.xml:find("j.test", 1, true))
	end)

	it("merges shell edits: fields not given keep their stored values; unset is explicit", function()
		local pin = ("5e"):rep(32)
		local out = a:shell(('s2s_partners:put("a.test", { domain = "m.test"; type = "federated"; pin = %q; '
			.. 'connection_limit = 2; keepalive = false; connect = "127.0.0.9"; description = "Northwind" })'):format(pin))
		assert.matches("OK: Saved: m.test [runtime] federated", out, 1, true)
		out = a:shell('s2s_partners:put("a.test", { domain = "M.Test"; description = "Northwind Traders" })')
		assert.matches("OK: Saved: m.test [runtime] federated", out, 1, true)
		out = a:shell('s2s_partners:show("a.test", "m.test")')
		assert.equal("Northwind Traders", value(out, "description"))
		assert.same({ pin, "2", "false", "127.0.0.9", "federated" },
			{ value(out, "pin"), value(out, "connection_limit"), value(out, "keepalive"), value(out, "connect"), value(out, "type") })
		assert.same({ "auto_approve", "true", "default" }, row(out, "auto_approve"))
		assert.same({ "connection_limit", "2", "set" }, row(out, "connection_limit"))
		assert.matches("OK: partner m.test (runtime)", out, 1, true)

		out = a:shell('s2s_partners:unset("a.test", "m.test", "connection_limit")')
		assert.matches("OK: Saved: m.test", out, 1, true)
		out = a:shell('s2s_partners:show("a.test", "m.test")')
		assert.same({ "connection_limit", "-", "default" }, row(out, "connection_limit"))
		assert.equal(pin, value(out, "pin"))
		assert.matches('unknown field "colour"', a:shell('s2s_partners:unset("a.test", "m.test", "colour")'), 1, true)
		assert.matches('field "domain" is required and cannot be unset',
			a:shell('s2s_partners:unset("a.test", "m.test", "domain")'), 1, true)
		assert.matches("partner b.test is defined in the configuration file and is read-only at runtime",
			a:shell('s2s_partners:unset("a.test", "b.test", "description")'), 1, true)

		out = a:shell('s2s_partners:audit("a.test", 3)')
		assert.truthy(out:find("prosodyctl shell%s+shell%s+edit%s+m%.test%s+connection_limit: 2 → %(default%)"), out)
		assert.truthy(out:find("prosodyctl shell%s+shell%s+edit%s+m%.test%s+description: Northwind → Northwind Traders"), out)
		assert.truthy(out:find("prosodyctl shell%s+shell%s+add%s+m%.test%s+description: Northwind;"), out)
		assert.matches("OK: 3 changes shown", out, 1, true)
	end)

	it("explains any spelling of a domain without touching the network", function()
		assert.matches("OK: Saved: xn--bcher-kva.test", a:shell('s2s_partners:put("a.test", { domain = "Bücher.test"; '
			.. 'additional_domains = { "books.test" }; tls = "required"; sasl = "required"; dialback = true })'), 1, true)
		local function explain(domain) return a:shell(('s2s_partners:explain("a.test", %q)'):format(domain)) end

		local out = explain("B.TEST.")
		assert.equal("primary domain of partner b.test (config)", value(out, "owner"))
		assert.equal("allowed", value(out, "SASL EXTERNAL over TLS"))
		assert.equal("allowed", value(out, "dialback over TLS"))
		assert.equal("refused: b.test requires TLS", value(out, "dialback without TLS"))
		assert.equal("approved without asking (auto_approve)", value(out, "subscription requests"))
		assert.matches("OK: b.test: partner b.test", out, 1, true)

		for _, spelling in ipairs({ "bücher.test", "XN--BCHER-KVA.test" }) do
			out = explain(spelling)
			assert.equal("xn--bcher-kva.test", value(out, "domain"), out)
			assert.equal("primary domain of partner xn--bcher-kva.test (runtime)", value(out, "owner"), out)
		end
		out = explain("Books.test")
		assert.equal("additional domain of partner xn--bcher-kva.test (runtime)", value(out, "owner"))
		-- the warning row of README "Negotiation matrix"
		assert.equal("warning: Dialback will not operate if both SASL and TLS are required.", value(out, "class"))
		assert.equal("refused: books.test requires SASL EXTERNAL: dialback will not operate if both SASL and TLS "
			.. "are required", value(out, "dialback over TLS"))

		out = explain("stranger.test")
		assert.equal("stranger.test is not a federation partner of a.test", value(out, "refused"))
		assert.matches("OK: refused: stranger.test is not a federation partner of a.test", out, 1, true)
		out = explain("bad..name")
		assert.matches("not a valid domain name", value(out, "refused"), 1, true)

		-- with a default policy, the unlisted domain gets it
		out = d:shell('s2s_partners:explain("d.test", "stranger.test")')
		assert.equal("the default policy (s2s_partners_default)", value(out, "owner"), out)
		assert.equal("public_unverified", value(out, "type"))
		assert.equal("dropped unless the local user already has the contact in the roster", value(out, "subscription requests"))
		assert.matches("OK: stranger.test: default policy", out, 1, true)
	end)

	it("registers the commands the Prosody 13 way: help and the non-interactive form", function()
		if not is_13 then
			assert.matches("OK: 0 partners", d:shell('s2s_partners:list("d.test")'), 1, true) -- 0.12: the shared environment
			return
		end
		assert.matches("Federation partners (mod_s2s_partners)", (a:shell("help")), 1, true)
		-- `help s2s_partners` cannot name a section with "_" in 13.0 (its topic pattern is %w+)
		local help = a:shell("help:s2s_partners()")
		for _, name in ipairs({ "list", "show", "put", "unset", "remove", "explain", "status", "audit" }) do
			assert.matches("s2s_partners " .. name, help, 1, true)
		end
		local out = a:shell_words("s2s_partners", "list", "a.test")
		assert.same({ "b.test", "-", "federated", "required", "optional", "true", "config", "valid", "0" }, row(out, "b.test"))
		out = a:shell_words("s2s_partners", "put", "a.test", "--domain", "n.test", "--type", "federated", "--tls", "optional",
			"--no-dialback", "--additional-domains", "n2.test", "--additional-domains", "n3.test", "--connection-limit", "4")
		assert.matches("OK: Saved: n.test +n2.test,n3.test [runtime] federated tls=optional sasl=optional dialback=false", out, 1, true)
		out = a:shell_words("s2s_partners", "show", "a.test", "n3.test")
		assert.equal("4", value(out, "connection_limit"))
		out = a:shell_words("s2s_partners", "put", "a.test", "--domain", "n.test", "--keepalive=maybe")
		assert.matches("--keepalive: expected true or false", out, 1, true)
		assert.matches("OK: Removed n.test", a:shell_words("s2s_partners", "remove", "a.test", "n.test"), 1, true)
		assert.matches("Unknown host: c.test", (a:shell_words("s2s_partners", "list", "c.test")), 1, true)
	end)

	it("persists runtime partners across a restart", function()
		a:restart()
		local out = a:shell('s2s_partners:list("a.test")')
		assert.same("runtime", row(out, "c.test")[7])
		assert.same({ "g.test", "h.test, i.test", "public_verified" }, { table.unpack(row(out, "g.test"), 1, 3) })
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
