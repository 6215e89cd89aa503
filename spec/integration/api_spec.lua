-- The JSON admin API (README "Web panel and JSON API", docs/openapi.yaml) on a real Prosody with
-- `s2s_partners_web = true`: every route and every error code, over HTTPS verified against the
-- test CA, with Prosody's own logins (0.12: host admins; 13: permissions and Bearer tokens).
--
-- Run: S2SP_PROSODY=13 lua5.4 /usr/bin/busted --run=integration spec/integration/api_spec.lua
local harness = require "harness"
local https = require "https"
local json = require "dkjson"
local partners = require "s2s_partners"

local is_13 = require("harness.prosody").select().series == "13"
local T = require("harness.util").WAIT
local HTTPS_PORT, HTTP_PORT = 5281, 5280
local BASE = "/s2s_partners/api/"

local plugin_present, plugin_dir = harness.plugin_available()

describe("JSON admin API #integration", function()
	if not plugin_present then
		pending("plugin not built (" .. plugin_dir .. "/mod_s2s_partners.lua missing): run `make all`")
		return
	end

	local env, a
	local admin -- { cookie, csrf } of alice's session

	-- One request; `as` = { cookie, csrf } adds the session cookie (and the CSRF header when csrf is set).
	local function call(method, path, opts)
		opts = opts or {}
		local headers = {}
		for k, v in pairs(opts.headers or {}) do headers[k] = v end
		if opts.as then
			headers.Cookie = opts.as.cookie
			if opts.as.csrf and opts.csrf ~= false then headers["X-CSRF-Token"] = opts.as.csrf end
		end
		local body = opts.body
		if type(body) == "table" then
			body = json.encode(body)
			headers["Content-Type"] = "application/json"
		end
		local r = assert(https.request{ server = a, port = opts.port or HTTPS_PORT, plain = opts.plain, method = method,
			path = BASE .. path, headers = headers, body = body })
		r.json = r.body ~= "" and json.decode(r.body) or nil
		return r
	end

	local function login(username, password)
		local r = call("POST", "session", { body = { username = username, password = password } })
		if r.status ~= 200 then return nil, r end
		return { cookie = assert(r.headers.set_cookie):match("^([^;]+)"), csrf = r.json.csrf, jid = r.json.jid }, r
	end

	setup(function()
		env = harness.env()
		local vhost = { s2s_partners_web = true, s2s_partners = { { domain = "b.test", type = "federated" } } }
		if is_13 then -- a view-only role for viewer (README "Who may administer")
			vhost.add_permissions = { ["prosody:member"] = { "s2s_partners:view-partners" } }
		end
		a = env:server{ host = "a.test", plugin = true,
			users = { alice = "alice-pw", bob = "bob-pw", mallory = "mallory-pw", viewer = "viewer-pw" },
			global_options = { admins = { "alice@a.test" }, https_ports = { HTTPS_PORT }, http_ports = { HTTP_PORT } },
			vhost_options = vhost }
		env:start()
		assert(a:wait_log("Web panel and JSON API enabled", { plain = true, timeout = T }))
		if is_13 then -- viewer: prosody:member (alice is prosody:admin by `admins`, bob prosody:registered)
			a:shell('user:set_role("viewer@a.test", "a.test", "prosody:member")')
		end
		admin = assert(login("alice", "alice-pw"))
	end)

	teardown(function()
		if env then env:cleanup() end
	end)

	it("answers plain HTTP with no data", function()
		local r = call("GET", "partners", { port = HTTP_PORT, plain = true, as = admin })
		assert.equal(403, r.status)
		assert.equal("HTTPS only\n", r.body)
		local page = assert(https.request{ server = a, port = HTTP_PORT, plain = true, path = "/s2s_partners/" })
		assert.equal(403, page.status)
		assert.not_matches("b%.test", page.body)
	end)

	it("refuses requests without a session, and tells nothing about the partners", function()
		for _, path in ipairs{ "partners", "partners/b.test", "explain/b.test", "status", "status/b.test", "audit", "schema" } do
			local r = call("GET", path)
			assert.equal(401, r.status, path)
			assert.equal("unauthenticated", r.json.code, path)
			assert.not_matches("b%.test", r.body, path)
		end
		assert.equal(401, call("PUT", "partners/x.test", { body = {} }).status)
		assert.equal(401, call("GET", "partners", { headers = { Cookie = "s2sp_session=forged" } }).status)
	end)

	it("logs in with a Prosody account that may manage partners, with a Secure HttpOnly SameSite=Strict cookie", function()
		local _, r = login("alice@a.test", "alice-pw")
		assert.equal(200, r.status)
		assert.equal("manage", r.json.may)
		local cookie = r.headers.set_cookie
		assert.matches("; Secure", cookie, 1, true)
		assert.matches("; HttpOnly", cookie, 1, true)
		assert.matches("; SameSite=Strict", cookie, 1, true)
		assert.matches("; Path=/s2s_partners/", cookie, 1, true)
		local me = call("GET", "session", { as = admin })
		assert.equal(200, me.status)
		assert.same({ "alice@a.test", "manage", admin.csrf }, { me.json.jid, me.json.may, me.json.csrf })
		assert.matches("script%-src 'self'", me.headers.content_security_policy)
		assert.not_matches("unsafe%-inline", me.headers.content_security_policy)
	end)

	it("refuses a wrong password (401) and an account that may not view partners (403)", function()
		local _, wrong = login("alice", "not-the-password")
		assert.equal(401, wrong.status)
		assert.equal("invalid username or password", wrong.json.error)
		assert.equal(401, select(2, login("nobody", "x")).status)
		assert.equal(401, select(2, login("alice@c.test", "alice-pw")).status) -- another host's account
		local _, bob = login("bob", "bob-pw")
		assert.equal(403, bob.status)
		assert.is_nil(bob.headers.set_cookie)
		assert.not_matches("b%.test", bob.body)
		assert.equal(400, call("POST", "session", { body = { username = "alice" } }).status)
		assert.equal(415, call("POST", "session", { body = "username=alice", headers = { ["Content-Type"] = "text/plain" } }).status)
	end)

	it("rate-limits failed logins per account, even with the right password afterwards", function()
		for _ = 1, 5 do assert.equal(401, select(2, login("mallory", "guess")).status) end
		local _, r = login("mallory", "mallory-pw")
		assert.equal(429, r.status)
		assert.truthy(tonumber(r.headers.retry_after))
		-- another account from the same address is not affected
		assert.equal(200, select(2, login("alice", "alice-pw")).status)
	end)

	it("lists the partners with every field, origin, class, methods and status", function()
		local r = call("GET", "partners", { as = admin })
		assert.equal(200, r.status)
		assert.equal("a.test", r.json.host)
		local b = r.json.partners[1]
		assert.same({ "b.test", "config", "federated", "required", "optional", true, "valid", 0 },
			{ b.domain, b.origin, b.type, b.tls, b.sasl, b.dialback, b.class, b.streams_up })
		assert.same({ "sasl_tls", "tls_dialback" }, b.methods)
		for _, field in ipairs(partners.schema()) do
			if field.default ~= nil then assert.is_not_nil(b[field.name], field.name) end
		end
	end)

	it("shows one partner by any spelling, 404 for a domain that is not one", function()
		local r = call("GET", "partners/B.Test.", { as = admin })
		assert.equal(200, r.status)
		assert.equal("b.test", r.json.domain)
		local missing = call("GET", "partners/nope.test", { as = admin })
		assert.equal(404, missing.status)
		assert.equal("not_found", missing.json.code)
	end)

	it("refuses a state-changing request without the CSRF token, and saves nothing", function()
		local r = call("PUT", "partners/c.test", { as = admin, csrf = false, body = { type = "federated" } })
		assert.equal(403, r.status)
		assert.matches("CSRF", r.json.error)
		local wrong = call("PUT", "partners/c.test", { body = { type = "federated" },
			headers = { Cookie = admin.cookie, ["X-CSRF-Token"] = admin.csrf:reverse() } })
		assert.equal(403, wrong.status)
		assert.equal(404, call("GET", "partners/c.test", { as = admin }).status)
	end)

	it("adds (201), merges edits (200), removes a field with null, and audits who did it", function()
		local r = call("PUT", "partners/c.test", { as = admin,
			body = { type = "federated", description = "<script>alert(1)</script>", connection_limit = 3 } })
		assert.equal(201, r.status, r.body)
		assert.same({ "c.test", "federated", "<script>alert(1)</script>", 3, "runtime" },
			{ r.json.domain, r.json.type, r.json.description, r.json.connection_limit, r.json.origin })
		assert.same({}, r.json.warnings)
		local edit = call("PUT", "partners/C.TEST", { as = admin, body = { tls = "optional" } })
		assert.equal(200, edit.status, edit.body)
		assert.same({ "optional", "federated", 3 }, { edit.json.tls, edit.json.type, edit.json.connection_limit })
		assert.equal("SASL requires TLS", edit.json.warnings[1]:match("SASL requires TLS"))
		local unset = call("PUT", "partners/c.test", { as = admin, body = { connection_limit = json.null, tls = json.null } })
		assert.equal(200, unset.status, unset.body)
		assert.is_nil(unset.json.connection_limit)
		assert.equal("required", unset.json.tls)
		assert.same({ "domain", "description", "type" }, unset.json.set)
		local audit = call("GET", "audit?n=3", { as = admin })
		assert.equal(200, audit.status)
		assert.equal(3, #audit.json.entries)
		local newest = audit.json.entries[1]
		assert.same({ "alice@a.test", "http", "edit", "c.test" }, { newest.actor, newest.interface, newest.action, newest.domain })
		assert.matches("connection_limit: 3 → (default)", newest.changes, 1, true)
		assert.equal("add", audit.json.entries[3].action)
	end)

	it("refuses an invalid combination with 400 and the field, and keeps the stored partner", function()
		local r = call("PUT", "partners/c.test", { as = admin, body = { tls = "not_supported", sasl = "required", dialback = false } })
		assert.equal(400, r.status, r.body)
		assert.equal("invalid", r.json.code)
		assert.same({ "tls", "sasl", "dialback" }, r.json.fields)
		assert.matches("c.test", r.json.error, 1, true)
		assert.equal("required", call("GET", "partners/c.test", { as = admin }).json.tls)
		for _, bad in ipairs{ { bogus = 1 }, { connection_limit = "many" }, { type = "friends" }, { domain = "other.test" } } do
			local b = call("PUT", "partners/c.test", { as = admin, body = bad })
			assert.equal(400, b.status, b.body)
			assert.truthy(b.json.field, b.body)
		end
		local not_json = call("PUT", "partners/c.test", { as = admin, body = "{", headers = { ["Content-Type"] = "application/json" } })
		assert.equal(400, not_json.status)
		assert.equal(400, call("PUT", "partners/c.test", { as = admin, body = { 1, 2 } }).status)
	end)

	it("refuses edits of a config partner and a domain another partner has with 409", function()
		local ro = call("PUT", "partners/b.test", { as = admin, body = { description = "x" } })
		assert.equal(409, ro.status)
		assert.equal("read_only", ro.json.code)
		local taken = call("PUT", "partners/d.test", { as = admin, body = { additional_domains = { "c.test" } } })
		assert.equal(409, taken.status, taken.body)
		assert.equal("conflict", taken.json.code)
		assert.equal(409, call("DELETE", "partners/b.test", { as = admin }).status)
	end)

	it("explains any spelling of a domain", function()
		local r = call("GET", "explain/C.TEST", { as = admin })
		assert.equal(200, r.status)
		assert.same({ "c.test", "primary", "c.test" }, { r.json.domain, r.json.owner, r.json.partner.domain })
		assert.equal(#partners.methods(), #r.json.methods)
		local refused = call("GET", "explain/unlisted.test", { as = admin })
		assert.equal("refused", refused.json.owner)
		assert.matches("not a federation partner", refused.json.refused)
	end)

	it("reports the status of every partner and of one", function()
		local all = call("GET", "status", { as = admin })
		assert.equal(200, all.status)
		assert.equal(2, #all.json.partners)
		assert.equal(0, all.json.unlisted_total)
		local one = call("GET", "status/c.test", { as = admin })
		assert.equal(1, #one.json.partners)
		assert.equal("c.test", one.json.partners[1].domain)
	end)

	it("gives the schema, the methods and the negotiation matrix from the C core", function()
		local r = call("GET", "schema", { as = admin })
		assert.equal(200, r.status)
		local names = {}
		for i, f in ipairs(r.json.fields) do names[i] = f.name end
		local core_names = {}
		for i, f in ipairs(partners.schema()) do core_names[i] = f.name end
		assert.same(core_names, names)
		assert.equal(18, #r.json.matrix)
		for _, row in ipairs(r.json.matrix) do
			if row.tls == "not_supported" and row.sasl == "required" and row.dialback == false then
				assert.same({ "invalid", {} }, { row.class, row.methods })
			end
		end
	end)

	it("probes a partner's server live (README \"Probe\") and refuses a domain that is not a partner", function()
		local r = call("POST", "probe/c.test", { as = admin, body = {} })
		assert.equal(200, r.status, r.body)
		assert.equal("c.test", r.json.domain)
		assert.is_string(r.json.summary)
		local verdict
		for _, row in ipairs(r.json.rows) do if row[1] == "verdict" then verdict = row[2] end end
		assert.equal(r.json.summary, verdict)
		local refused = call("POST", "probe/unlisted.test", { as = admin, body = {} })
		assert.equal(400, refused.status)
		assert.matches("not a federation partner", refused.json.error)
		assert.equal(403, call("POST", "probe/c.test", { as = admin, csrf = false }).status)
	end)

	it("removes a runtime partner (200), then 404", function()
		assert.equal(403, call("DELETE", "partners/c.test", { as = admin, csrf = false }).status)
		local r = call("DELETE", "partners/c.test", { as = admin })
		assert.equal(200, r.status, r.body)
		assert.equal(404, call("DELETE", "partners/c.test", { as = admin }).status)
		assert.equal(404, call("GET", "partners/c.test", { as = admin }).status)
		assert.equal("remove", call("GET", "audit?n=1", { as = admin }).json.entries[1].action)
	end)

	it("answers unknown routes with 404 and a wrong method with 405", function()
		assert.equal(404, call("GET", "nothing", { as = admin }).status)
		local r = call("POST", "partners", { as = admin, body = {} })
		assert.equal(405, r.status)
		assert.equal("GET", r.headers.allow)
	end)

	it("logs out (the session is gone)", function()
		local s = assert(login("alice", "alice-pw"))
		assert.equal(403, call("DELETE", "session", { as = s, csrf = false }).status)
		local r = call("DELETE", "session", { as = s })
		assert.equal(200, r.status)
		assert.matches("Max-Age=0", r.headers.set_cookie, 1, true)
		assert.equal(401, call("GET", "partners", { as = s }).status)
		assert.equal(200, call("GET", "partners", { as = admin }).status)
	end)

	if is_13 then
		it("Prosody 13: a role with view-partners only may read but not change (403)", function()
			local viewer = assert(login("viewer", "viewer-pw"))
			assert.equal(200, call("GET", "partners", { as = viewer }).status)
			local r = call("PUT", "partners/e.test", { as = viewer, body = { type = "federated" } })
			assert.equal(403, r.status)
			assert.equal("forbidden", r.json.code)
			assert.equal(404, call("GET", "partners/e.test", { as = admin }).status)
		end)

		it("Prosody 13: a Bearer token of mod_tokenauth authenticates API requests (no CSRF: no cookie)", function()
			-- A token names the role it carries; alice (global `admins`) is prosody:operator.
			local out = a:shell('>local t = require"prosody.core.modulemanager".get_module("a.test", "tokenauth"); '
				.. 'local g = t.create_grant("alice@a.test", "alice@a.test", 3600); '
				.. 'print((t.create_token("alice@a.test", g, "prosody:operator", 3600, "api-spec")))')
			local token = assert(out:match("(secret%-token:%S+)"), out)
			local auth = { Authorization = "Bearer " .. token }
			local first = call("GET", "partners", { headers = auth })
			assert.equal(200, first.status, first.body)
			local r = call("PUT", "partners/f.test", { headers = auth, body = { type = "federated" } })
			assert.equal(201, r.status, r.body)
			assert.equal("alice@a.test", call("GET", "audit?n=1", { as = admin }).json.entries[1].actor)
			assert.equal(200, call("DELETE", "partners/f.test", { headers = auth }).status)
			assert.equal(401, call("GET", "partners", { headers = { Authorization = "Bearer secret-token:forged" } }).status)
		end)
	else
		it("Prosody 0.12: Bearer tokens are refused (401), there is no mod_tokenauth", function()
			local r = call("GET", "partners", { headers = { Authorization = "Bearer secret-token:anything" } })
			assert.equal(401, r.status)
			assert.matches("Prosody 13", r.json.error)
		end)
	end
end)

describe("docs/openapi.yaml", function()
	it("documents every route of lua/http.lib.lua", function()
		local f = assert(io.open("lua/http.lib.lua"))
		local source = f:read("a")
		f:close()
		f = assert(io.open("docs/openapi.yaml"))
		local doc = f:read("a")
		f:close()
		local n = 0
		for method, pattern in source:gmatch('{ "(%u+)", "%^api/([^"]-)%$"') do
			local path = "/" .. pattern:gsub("%(%[%^/%]%+%)", "{domain}") .. ":"
			local at = doc:find("\n  " .. path .. "\n", 1, true)
			assert.truthy(at, "docs/openapi.yaml has no path " .. path)
			local section = doc:sub(at + 1):match("^(.-)\n  /") or doc:sub(at + 1)
			assert.truthy(section:find("\n    " .. method:lower() .. ":", 1, true), path .. " " .. method)
			n = n + 1
		end
		assert.is_true(n >= 10)
	end)
end)
