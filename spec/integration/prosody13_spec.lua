-- Prosody 0.12 and 13 together, and the version check.
--
-- `make integration` runs the whole suite twice (S2SP_PROSODY=0.12, then 13); this file adds
--   - servers of both versions federating with each other, the module on either side, by
--     SASL EXTERNAL, dialback over TLS and dialback without TLS (only in the Prosody 13 pass:
--     the servers pick their version themselves, so once is enough);
--   - the module refusing to load on a Prosody it does not support (both passes).
-- Run: S2SP_PROSODY=13 lua5.4 /usr/bin/busted --run=integration spec/integration/prosody13_spec.lua
local harness = require "harness"
local prosody = require "harness.prosody"

local T = require("harness.util").WAIT -- bound for anything that must happen (see harness README)

local plugin_present, plugin_dir = harness.plugin_available()

local run_series = prosody.select().series

local function label(sel)
	local ok, install = pcall(prosody.select, sel)
	return ok and install.label or ("Prosody " .. sel)
end

describe("mixed " .. label("0.12") .. " and " .. label("13") .. " federation #integration", function()
	if not plugin_present then
		pending("plugin not built (" .. plugin_dir .. "/mod_s2s_partners.lua missing): run `make all`")
		return
	end
	if run_series ~= "13" then
		pending("runs in the S2SP_PROSODY=13 pass")
		return
	end

	local env, a, b, d, e, f
	local alice, bob, carol, dave, erin, frank

	setup(function()
		env = harness.env()
		-- a.test: 0.12 with the module. Partners: b.test (13, EXTERNAL only), e.test (13, stock,
		-- self-signed: dialback over TLS), f.test (13, stock: dialback without TLS).
		a = env:server{
			host = "a.test", prosody = "0.12", users = { alice = "alice-pw" }, plugin = true,
			vhost_options = { s2s_partners = {
				{ domain = "b.test", type = "federated", tls = "required", sasl = "required", dialback = false },
				{ domain = "e.test", type = "federated", tls = "required", sasl = "not_supported", dialback = true },
				{ domain = "f.test", type = "federated", tls = "not_supported", sasl = "not_supported", dialback = true },
			} },
		}
		-- b.test: 13 with the module. Partners: a.test (0.12, EXTERNAL only), d.test (0.12,
		-- stock, self-signed: dialback over TLS). c.test is not a partner.
		b = env:server{
			host = "b.test", prosody = "13", users = { bob = "bob-pw" }, plugin = true,
			vhost_options = { s2s_partners = {
				{ domain = "a.test", type = "federated", tls = "required", sasl = "required", dialback = false },
				{ domain = "d.test", type = "federated", tls = "required", sasl = "not_supported", dialback = true },
			} },
		}
		local c = env:server{ host = "c.test", prosody = "0.12", users = { carol = "carol-pw" } }
		d = env:server{ host = "d.test", prosody = "0.12", users = { dave = "dave-pw" }, cert = "self_signed",
			s2s_secure_auth = false }
		e = env:server{ host = "e.test", prosody = "13", users = { erin = "erin-pw" }, cert = "self_signed",
			s2s_secure_auth = false }
		f = env:server{ host = "f.test", prosody = "13", users = { frank = "frank-pw" },
			s2s_require_encryption = false }
		env:start()
		local clients = env:client()
		alice = assert(clients:login{ jid = "alice@a.test", server = a })
		bob = assert(clients:login{ jid = "bob@b.test", server = b })
		carol = assert(clients:login{ jid = "carol@c.test", server = c })
		dave = assert(clients:login{ jid = "dave@d.test", server = d })
		erin = assert(clients:login{ jid = "erin@e.test", server = e })
		frank = assert(clients:login{ jid = "frank@f.test", server = f })
	end)

	teardown(function()
		if env then env:cleanup() end
	end)

	local function exchange(x, x_jid, y, y_jid, tag)
		assert(x:send_message(y_jid, tag .. " there"))
		assert(y:expect_message{ from = x_jid, body = tag .. " there", timeout = T })
		assert(y:send_message(x_jid, tag .. " back"))
		assert(x:expect_message{ from = y_jid, body = tag .. " back", timeout = T })
	end

	-- Both s2s streams of `server` with `remote` (out and in), as s2s:show() rows.
	local function streams(server, remote)
		local out_rows, out1 = server:find_s2s{ remote = remote, dir = "out" }
		local in_rows, out2 = server:find_s2s{ remote = remote, dir = "in" }
		assert.equal(1, #out_rows, out1)
		assert.equal(1, #in_rows, out2)
		return out_rows[1], in_rows[1], out1 .. out2
	end

	it("runs the versions it was asked for", function()
		assert.matches("^0%.12%.", a.prosody_version)
		assert.matches("^13%.0%.", b.prosody_version)
		assert.matches("^13%.0%.", f.prosody_version)
	end)

	it("federates 0.12 (module) and 13 (module) with SASL EXTERNAL both ways", function()
		exchange(alice, "alice@a.test", bob, "bob@b.test", "external")
		for _, pair in ipairs({ { a, "b.test" }, { b, "a.test" } }) do
			local out_row, in_row, out = streams(pair[1], pair[2])
			assert.equal("Succeeded", out_row.s2s_sasl, out)
			assert.matches("^TLS", out_row.secure, out)
			assert.matches("^TLS", in_row.secure, out)
		end
		assert(a:log_contains("Partner b.test (b.test) authenticated outgoing by SASL EXTERNAL over TLS", { plain = true }))
		assert(b:log_contains("Partner a.test (a.test) authenticated outgoing by SASL EXTERNAL over TLS", { plain = true }))
	end)

	it("federates 13 (module) with stock 0.12 by dialback over TLS both ways", function()
		exchange(bob, "bob@b.test", dave, "dave@d.test", "tls dialback 13-0.12")
		local out_row, in_row, out = streams(b, "d.test")
		assert.are_not.equal("Succeeded", out_row.s2s_sasl, out) -- EXTERNAL hidden: sasl not_supported
		assert.matches("^TLS", out_row.secure, out)
		assert.matches("^TLS", in_row.secure, out)
		assert(b:log_contains("Partner d.test (d.test) authenticated outgoing by dialback over TLS", { plain = true }))
		assert(b:log_contains("Partner d.test (d.test) authenticated incoming by dialback over TLS", { plain = true }))
	end)

	it("federates 0.12 (module) with stock 13 by dialback over TLS both ways", function()
		exchange(alice, "alice@a.test", erin, "erin@e.test", "tls dialback 0.12-13")
		local out_row, in_row, out = streams(a, "e.test")
		assert.are_not.equal("Succeeded", out_row.s2s_sasl, out)
		assert.matches("^TLS", out_row.secure, out)
		assert.matches("^TLS", in_row.secure, out)
		assert(a:log_contains("Partner e.test (e.test) authenticated outgoing by dialback over TLS", { plain = true }))
		assert(a:log_contains("Partner e.test (e.test) authenticated incoming by dialback over TLS", { plain = true }))
	end)

	it("federates 0.12 (module) with stock 13 by dialback without TLS both ways", function()
		exchange(alice, "alice@a.test", frank, "frank@f.test", "tcp dialback 0.12-13")
		local out_row, in_row, out = streams(a, "f.test")
		assert.does_not.match("^TLS", out_row.secure, out)
		assert.does_not.match("^TLS", in_row.secure, out)
		assert(a:log_contains("Partner f.test (f.test) authenticated outgoing by dialback without TLS", { plain = true }))
		assert(a:log_contains("Partner f.test (f.test) authenticated incoming by dialback without TLS", { plain = true }))
	end)

	it("refuses a stock 0.12 server that is not a partner of the 13 server, both ways", function()
		assert(bob:send_message("carol@c.test", "to unlisted"))
		local err = assert(bob:expect_error{ from = "carol@c.test", kind = "message", timeout = T })
		assert.equal("policy-violation", err.error and err.error.condition, err.xml)
		assert(carol:send_message("bob@b.test", "from unlisted"))
		err = assert(carol:expect_error{ from = "bob@b.test", kind = "message", timeout = T })
		assert.truthy(err.error and err.error.condition, err.xml)
		assert(bob:expect_no_message{ from = "carol@c.test", within = 0.5 })
	end)
end)

-- A test-only module that loads mod_s2s_partners through Prosody's own modulemanager while
-- prosody.version claims each of `s2sp_fake_versions`, then puts the real version back.
local FAKE_VERSION_MODULE = [[
local modulemanager = require "core.modulemanager";
local real = prosody.version;
for _, fake in ipairs(module:get_option("s2sp_fake_versions", {})) do
	prosody.version = fake;
	local ok, mod = pcall(modulemanager.load, module.host, "s2s_partners");
	prosody.version = real;
	module:log("info", "s2sp test: s2s_partners as Prosody %s: %s", fake,
		(ok and mod) and "loaded" or "not loaded");
	if ok and mod then modulemanager.unload(module.host, "s2s_partners"); end
end
]]

describe("mod_s2s_partners on an unsupported Prosody version (" .. prosody.select().label .. ") #integration", function()
	if not plugin_present then
		pending("plugin not built (" .. plugin_dir .. "/mod_s2s_partners.lua missing): run `make all`")
		return
	end

	local env, a
	local FAKES = { "0.11.13", "14.0.0" }

	setup(function()
		env = harness.env()
		local test_plugins = env.root .. "/test-plugins"
		harness.util.mkdir(test_plugins)
		harness.util.write_file(test_plugins .. "/mod_s2sp_fake_version.lua", FAKE_VERSION_MODULE)
		local plugins = harness.Server.plugin_paths()
		a = env:server{
			host = "a.test",
			s2s_require_encryption = false, s2s_secure_auth = false,
			global_options = { plugin_paths = { plugins, test_plugins } },
			vhost_modules = { "s2sp_fake_version" },
			vhost_options = {
				s2sp_fake_versions = FAKES,
				s2s_partners = { { domain = "b.test", type = "federated" } },
			},
		}
		env:start()
	end)

	teardown(function()
		if env then env:cleanup() end
	end)

	it("refuses to load, saying which versions it supports", function()
		for _, fake in ipairs(FAKES) do
			local line = assert(a:wait_log("s2sp test: s2s_partners as Prosody " .. fake .. ": ", { plain = true, timeout = T }))
			assert.matches("not loaded$", line)
			assert(a:log_contains("mod_s2s_partners supports Prosody 0.12 and 13.0, not " .. fake, { plain = true }),
				a:log_tail(30))
		end
		assert.is_nil(a:log_contains("partners in force", { plain = true }), "the policy must not have been set up")
		local out = a:shell('module:list("a.test")')
		assert.matches("s2sp_fake_version", out, 1, true)
		assert.is_nil(out:find("s2s_partners", 1, true), out)
	end)
end)
