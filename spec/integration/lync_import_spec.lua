-- The Lync importer with a real Prosody (README "Migrating from Lync"): the snippet that
-- `prosodyctl mod_s2s_partners import` prints, put into a VirtualHost, makes the exported
-- partner federate; `--apply` makes it a runtime partner of the running server after printing
-- the changes, and applies nothing from an export with an invalid row.
local harness = require "harness"
local util = require "harness.util"

local T = util.WAIT
local FIXTURES = "spec/fixtures/lync/"

-- `prosodyctl --config <server's> mod_s2s_partners import ARGS`: exit code, stdout, stderr.
local function import(server, args)
	local err_file = server.dir .. "/import.err"
	-- prosodyctl loads the module (and its C core) itself: it gets what Prosody gets (the
	-- sanitizer runtime under `make asan`).
	local p = assert(io.popen(("%s%s --config %s mod_s2s_partners import %s 2>%s"):format(
		require("harness.server").launch_env(), server:prosody().prosodyctl, util.shq(server.config), args, util.shq(err_file))))
	local out = p:read("a")
	local ok, _, code = p:close()
	local f = io.open(err_file, "rb")
	local err = f and f:read("a") or ""
	if f then f:close() end
	return ok and 0 or code, out, err
end

describe("Lync import #integration", function()
	local env, a, b, c, alice, bob, carol

	setup(function()
		env = harness.env()
		a = env:server{ host = "a.test", users = { alice = "pw" }, plugin = true }
		b = env:server{ host = "b.test", users = { bob = "pw" } }
		c = env:server{ host = "c.test", users = { carol = "pw" }, plugin = true }
		env:start()
		local clients = env:client()
		alice, bob, carol = table.unpack(assert(clients:login_many{
			{ jid = "alice@a.test", server = a }, { jid = "bob@b.test", server = b }, { jid = "carol@c.test", server = c } }))
	end)
	teardown(function() if env then env:cleanup() end end)

	it("prints a snippet that, in the VirtualHost, federates with the exported partner", function()
		assert(alice:send_message("bob@b.test", "before"))
		assert(alice:expect_error{ from = "bob@b.test", kind = "message", timeout = T })

		local code, snippet, err = import(a, FIXTURES .. "allowed-partners.csv --host a.test")
		assert.equal(0, code, err)
		assert.matches('{ domain = "b.test"; description = "Fabrikam, Inc. (\\"B\\")";', snippet, 1, true)
		assert.matches("allowed-partners.csv:4: warning: xn--bcher-kva.test: Dialback will not operate", err, 1, true)
		a:configure{ vhost_config = snippet }
		a:restart()
		alice = assert(env:client():login{ jid = "alice@a.test", server = a })
		assert(alice:send_message("bob@b.test", "imported"))
		assert(bob:expect_message{ from = "alice@a.test", body = "imported", timeout = T })
		assert(bob:send_message("alice@a.test", "back"))
		assert(alice:expect_message{ from = "bob@b.test", body = "back", timeout = T })
		local list = a:shell("s2s_partners:list('a.test')")
		assert.matches("contoso.test", list, 1, true)
		assert.matches("xn--bcher-kva.test", list, 1, true)
	end)

	it("--apply prints the changes, then makes the partners runtime partners of the running server", function()
		local code, out, err = import(c, FIXTURES .. "allowed-partners.json --host c.test --apply")
		assert.equal(0, code, err .. out)
		assert.matches("add%s+b%.test %(line 2%)", out)
		assert.matches("add%s+contoso%.test %(line 21%)", out)
		assert.matches("Applied 3 change%(s%) to c%.test", out)
		assert(carol:send_message("bob@b.test", "applied"))
		assert(bob:expect_message{ from = "carol@c.test", body = "applied", timeout = T })

		code, out, err = import(c, FIXTURES .. "allowed-partners.txt --host c.test --apply")
		assert.equal(0, code, err .. out)
		assert.matches("unchanged%s+b%.test", out)
		assert.matches("Nothing to change on c.test", out, 1, true)

		code, out = import(c, FIXTURES .. "minimal.csv --host c.test --apply")
		assert.equal(0, code, out)
		assert.matches('edit%s+b%.test %(line 2%): type: "federated" → "public_unverified"', out)
		assert.matches('sasl: "optional" → "required"', out, 1, true)
		assert.matches("public_unverified", c:shell("s2s_partners:show('c.test', 'b.test')"), 1, true)
	end)

	it("--apply of an export with an invalid row applies nothing", function()
		local before = c:shell("s2s_partners:list('c.test')")
		local code, out, err = import(c, FIXTURES .. "invalid.csv --host c.test --apply")
		assert.equal(1, code)
		assert.equal("", out)
		assert.matches("invalid.csv:4: invalid: legacy.test:", err, 1, true)
		assert.matches("2 invalid row(s): nothing applied", err, 1, true)
		assert.equal(before, c:shell("s2s_partners:list('c.test')"))
	end)

	it("--apply refuses a domain owned by a partner of the configuration file", function()
		local code, out, err = import(a, FIXTURES .. "minimal.csv --host a.test --apply")
		assert.equal(1, code)
		assert.matches("b.test: owned by partner b.test of the configuration file (read-only at runtime)", err, 1, true)
		assert.matches("nothing applied", err, 1, true)
		assert.equal("", out)
	end)
end)
