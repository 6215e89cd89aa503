-- Ad-hoc commands (README "Administration") driven by a real client library: slixmpp sends each
-- step and reads the replies with its XEP-0050 / XEP-0004 stanza classes, as a client that
-- renders the forms would. Both Prosody versions; on 13 also a user granted
-- s2s_partners:manage-partners with add_permissions.
-- Run: S2SP_PROSODY=0.12 lua5.4 /usr/bin/busted --run=integration spec/integration/adhoc_spec.lua
local harness = require "harness"
local prosody = require "harness.prosody"

local T = require("harness.util").WAIT -- bound for anything that must happen (see harness README)
local NS = "urn:xmpp:s2s-partners#"
local is_13 = prosody.select().series == "13"

local PIN_A, PIN_B = ("ab"):rep(32), ("0c"):rep(32)

local function field(form, var)
	for _, f in ipairs(form.fields) do if f.var == var then return f end end
end

local function note(r, kind)
	for _, n in ipairs(r.notes or {}) do if n.type == kind then return n.text end end
end

-- The fields of a form as { var, values } pairs, as a client submits what it was shown; `changes`
-- replaces some values.
local function as_shown(form, changes)
	local out = {}
	for _, f in ipairs(form.fields) do
		if f.type ~= "fixed" then
			local v = changes[f.var]
			if v == nil then v = f.values end
			out[#out + 1] = { f.var, v }
		end
	end
	return out
end

describe("ad-hoc partner administration #integration", function()
	local env, a, alice, mallory, dana

	-- Execute `node`, then submit each form in `steps` (a list of field lists or functions of
	-- the previous reply returning one). Returns every reply.
	local function run(account, node, steps)
		local replies = { assert(account:command{ to = "a.test", node = NS .. node, timeout = T }) }
		for i, step in ipairs(steps or {}) do
			local last = replies[#replies]
			assert.equal("result", last.type, last.xml)
			assert.equal("executing", last.status, last.xml)
			local fields = type(step) == "function" and step(last) or step
			replies[#replies + 1] = assert(account:command{ to = "a.test", node = NS .. node, sessionid = last.sessionid,
				action = i == #steps and "complete" or "next", fields = fields, timeout = T })
		end
		return replies[#replies], replies
	end

	local function show(domain)
		local r = run(alice, "show", { { { "domain", domain } } })
		assert.equal("completed", r.status, r.xml)
		local values = {}
		for _, f in ipairs(r.forms[1].fields) do values[f.var] = table.concat(f.values, "\n") end
		return values, r
	end

	local function audit_count()
		local r = run(alice, "audit", { { { "n", "1000" } } })
		assert.equal("completed", r.status, r.xml)
		return #r.forms[1].items, r.forms[1].items
	end

	setup(function()
		env = harness.env()
		local vhost = { s2s_partners = { { domain = "b.test", type = "federated", description = "Fabrikam" } } }
		if is_13 then vhost.add_permissions = { ["prosody:member"] = { "s2s_partners:manage-partners" } } end
		a = env:server{
			host = "a.test", users = { alice = "alice-pw", mallory = "mallory-pw", dana = "dana-pw" }, plugin = true,
			global_options = { admins = { "alice@a.test" } }, vhost_options = vhost,
		}
		env:start()
		if is_13 then
			assert.matches("prosody:member", a:shell('user:set_role("dana@a.test", "prosody:member")'), 1, true)
		end
		alice, mallory, dana = env:start_and_login{ { jid = "alice@a.test", server = a },
			{ jid = "mallory@a.test", server = a }, { jid = "dana@a.test", server = a } }
	end)

	teardown(function()
		if env then env:cleanup() end
	end)

	it("lists partners as a reported/item table", function()
		local r = run(alice, "list")
		assert.equal("completed", r.status, r.xml)
		local form = assert(r.forms[1], r.xml)
		assert.equal("result", form.type)
		assert.same({ "domain", "additional_domains", "type", "tls", "sasl", "dialback", "origin", "class", "streams" },
			form.reported)
		assert.equal(1, #form.items)
		local b = form.items[1]
		assert.same({ "b.test", "", "federated", "required", "optional", "true", "config", "valid", "0" },
			{ b.domain, b.additional_domains, b.type, b.tls, b.sasl, b.dialback, b.origin, b.class, b.streams })
		assert.equal("1 partners", note(r, "info"))
	end)

	it("adds a partner with every field through the two-stage form", function()
		local r, replies = run(alice, "put", {
			{ { "domain", "G.test" } },
			function (stage2)
				local form = stage2.forms[1]
				-- every record field, typed, in schema order
				local vars = {}
				for _, f in ipairs(form.fields) do if f.var ~= "FORM_TYPE" then vars[#vars + 1] = f.var end end
				assert.same({ "domain", "description", "additional_domains", "type", "tls", "sasl", "dialback",
					"connection_limit", "keepalive", "connect", "auto_approve", "pin" }, vars)
				assert.equal("list-single", field(form, "type").type)
				assert.same({ "federated", "public_verified", "public_unverified" }, field(form, "type").options)
				assert.same({ "required", "optional", "not_supported" }, field(form, "tls").options)
				assert.equal("boolean", field(form, "dialback").type)
				assert.equal("text-multi", field(form, "additional_domains").type)
				assert.equal("text-multi", field(form, "pin").type)
				assert.equal("text-single", field(form, "connection_limit").type)
				assert.same({ "g.test" }, field(form, "domain").values)
				assert.same({ "public_unverified" }, field(form, "type").values) -- defaults of a new partner
				return {
					{ "domain", "g.test" }, { "description", "Contoso & partners" }, { "additional_domains", { "h.test", "I.test" } },
					{ "type", "public_verified" }, { "tls", "required" }, { "sasl", "optional" }, { "dialback", "1" },
					{ "connection_limit", "3" }, { "keepalive", "0" }, { "connect", "127.0.0.9:5270" }, { "auto_approve", "0" },
					{ "pin", { PIN_A, PIN_B:upper() } },
				}
			end,
		})
		assert.equal("completed", r.status, r.xml)
		assert.matches("Saved: g.test +h.test,i.test [runtime] public_verified", note(r, "info"), 1, true)
		assert.equal(3, #replies)
		local v = show("i.test") -- any of its domains
		assert.same({ "g.test", "Contoso & partners", "h.test\ni.test", "public_verified", "required", "optional", "1",
			"3", "0", "127.0.0.9:5270", "0", PIN_A .. "\n" .. PIN_B, "runtime", "valid" },
			{ v.domain, v.description, v.additional_domains, v.type, v.tls, v.sasl, v.dialback, v.connection_limit,
				v.keepalive, v.connect, v.auto_approve, v.pin, v.origin, v.class })
		assert.equal("SASL EXTERNAL over TLS\ndialback over TLS", v.methods)
	end)

	it("edits one field in two stages and keeps every other field, pin included", function()
		local before = audit_count()
		local r = run(alice, "put", {
			{ { "domain", "g.test" } },
			function (stage2)
				local form = stage2.forms[1]
				assert.same({ PIN_A, PIN_B }, field(form, "pin").values) -- pre-filled
				assert.same({ "3" }, field(form, "connection_limit").values)
				return as_shown(form, { description = { "Contoso Ltd" } })
			end,
		})
		assert.equal("completed", r.status, r.xml)
		local v = show("g.test")
		assert.equal("Contoso Ltd", v.description)
		assert.same({ PIN_A .. "\n" .. PIN_B, "3", "0", "127.0.0.9:5270", "0", "h.test\ni.test" },
			{ v.pin, v.connection_limit, v.keepalive, v.connect, v.auto_approve, v.additional_domains })
		-- a client that sends back only the field it changed
		r = run(alice, "put", { { { "domain", "g.test" } }, { { "tls", "optional" } } })
		assert.equal("completed", r.status, r.xml)
		assert.matches("SASL requires TLS", note(r, "warn"), 1, true)
		v = show("g.test")
		assert.same({ "optional", "Contoso Ltd", PIN_A .. "\n" .. PIN_B, "3" }, { v.tls, v.description, v.pin, v.connection_limit })
		local after, items = audit_count()
		assert.equal(before + 2, after)
		assert.equal("edit", items[1].action)
		assert.equal("alice@a.test", items[1].actor)
		assert.equal("adhoc", items[1].interface)
		assert.matches("tls: (default) → optional", items[1].changes, 1, true)
	end)

	it("refuses an invalid edit with the validator's message and saves nothing", function()
		local before, stored = audit_count(), show("g.test")
		local r = run(alice, "put", { { { "domain", "g.test" } },
			{ { "tls", "not_supported" }, { "sasl", "required" }, { "dialback", "0" } } })
		assert.equal("completed", r.status, r.xml)
		assert.equal('runtime partner 1 (g.test): tls = "not_supported", sasl = "required", dialback = false: '
			.. "SASL requires TLS, and TLS is not available; dialback is off and cannot be used.", note(r, "error"))
		r = run(alice, "put", { { { "domain", "g.test" } }, { { "connection_limit", "many" } } })
		assert.matches('field "connection_limit": expected an integer >= 1, got "many"', note(r, "error"), 1, true)
		assert.same(stored, (show("g.test")))
		assert.equal(before, audit_count())
	end)

	it("keeps config partners read-only", function()
		local r = run(alice, "put", { { { "domain", "B.TEST" } } })
		assert.equal("completed", r.status, r.xml)
		assert.equal("partner b.test is defined in the configuration file and is read-only at runtime", note(r, "error"))
	end)

	it("removes a partner only after confirmation", function()
		local r = run(alice, "remove", { { { "domain", "g.test" } }, function (confirm)
			assert.matches("g.test +h.test,i.test [runtime]", field(confirm.forms[1], "partner").values[1], 1, true)
			assert.equal("boolean", field(confirm.forms[1], "confirm").type)
			return { { "confirm", "0" } }
		end })
		assert.equal("Not removed: g.test is unchanged", note(r, "info"))
		assert.equal("g.test", (show("g.test")).domain)
		r = run(alice, "remove", { { { "domain", "g.test" } }, { { "confirm", "1" } } })
		assert.equal("Removed g.test", note(r, "info"))
		local gone = run(alice, "show", { { { "domain", "g.test" } } })
		assert.equal("g.test is not a federation partner of a.test", note(gone, "error"))
		local _, items = audit_count()
		assert.equal("remove", items[1].action)
	end)

	it("explains a domain and shows status and audit to admins", function()
		local r = run(alice, "explain", { { { "domain", "B.Test." } } })
		assert.equal("b.test: partner b.test", note(r, "info"))
		local rows = {}
		for _, item in ipairs(r.forms[1].items) do rows[item.field] = item.value end
		assert.equal("primary domain of partner b.test (config)", rows.owner)
		assert.equal("allowed", rows["SASL EXTERNAL over TLS"])
		assert.equal("refused: b.test requires TLS", rows["dialback without TLS"])
		r = run(alice, "status", { { { "domain", "" } } })
		assert.equal("completed", r.status, r.xml)
		assert.matches("b.test: 0 streams up", note(r, "info"), 1, true)
	end)

	it("refuses non-admins everything, partner or not", function()
		for _, node in ipairs({ "list", "show", "put", "remove", "explain", "status", "audit" }) do
			local r = assert(mallory:command{ to = "a.test", node = NS .. node, timeout = T })
			assert.equal("error", r.type, r.xml)
			assert.equal("forbidden", r.error.condition, r.xml)
		end
		-- a session id guessed or stolen from an admin is no way in either
		local first = run(alice, "show")
		local r = assert(mallory:command{ to = "a.test", node = NS .. "show", sessionid = first.sessionid,
			action = "complete", fields = { { "domain", "b.test" } }, timeout = T })
		assert.equal("error", r.type, r.xml)
		assert.equal("forbidden", r.error.condition, r.xml)
	end)

	it("lets a user whose role is granted s2s_partners:manage-partners edit (Prosody 13)", function()
		if not is_13 then
			local r = assert(dana:command{ to = "a.test", node = NS .. "list", timeout = T })
			assert.equal("forbidden", r.error and r.error.condition, r.xml) -- 0.12: the host's admins only
			return
		end
		local r = run(dana, "put", { { { "domain", "k.test" } }, { { "type", "federated" } } })
		assert.equal("completed", r.status, r.xml)
		assert.matches("Saved: k.test [runtime] federated", note(r, "info"), 1, true)
		local _, items = audit_count()
		assert.equal("dana@a.test", items[1].actor)
	end)
end)
