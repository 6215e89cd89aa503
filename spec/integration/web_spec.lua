-- The web panel (README "Web panel and JSON API") in headless Chromium against a real Prosody
-- with the module, and a real peer: the Lync procedure (New / Edit → Commit) end to end. Each
-- phase is a run of spec/browser/panel.js (playwright-core driving /usr/bin/chromium); between
-- phases, messages between carol@c.test and alice@a.test show what the partner list does to a
-- real s2s stream. Screenshots go to build/results/web-*.png.
--
-- Run: S2SP_PROSODY=13 lua5.4 /usr/bin/busted --run=integration spec/integration/web_spec.lua
local harness = require "harness"
local util = require "harness.util"

local T = util.WAIT
local HTTPS_PORT = 5281
local RESULTS = "build/results"
local BROWSER_DIR = "spec/browser"

local plugin_present, plugin_dir = harness.plugin_available()

local function shq(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

describe("web panel in headless Chromium #integration", function()
	if not plugin_present then
		pending("plugin not built (" .. plugin_dir .. "/mod_s2s_partners.lua missing): run `make all`")
		return
	end

	local env, a, alice, carol

	-- One phase of panel.js; its output is the assertion message when it fails. `timeout` ends it
	-- (SIGTERM: panel.js closes Chromium) if playwright's own bounds somehow do not.
	local function browser(phase)
		local vars = {
			S2SP_WEB_HOST = a.host, S2SP_WEB_ADDR = a.addr, S2SP_WEB_PORT = HTTPS_PORT, S2SP_WEB_PEER = "c.test",
			S2SP_WEB_RESULTS = util.abspath and util.abspath(RESULTS) or (os.getenv("PWD") .. "/" .. RESULTS),
			S2SP_WEB_ADMIN = "alice@a.test:alice-pw", S2SP_WEB_USER = "bob@a.test:bob-pw",
		}
		local words = {}
		for k, v in pairs(vars) do words[#words + 1] = k .. "=" .. shq(v) end
		local cmd = ("cd %s && env %s timeout -k 10 %d node panel.js %s 2>&1"):format(BROWSER_DIR, table.concat(words, " "),
			6 * T, shq(phase))
		local p = assert(io.popen(cmd))
		local out = p:read("a")
		local ok = p:close()
		assert(ok and out:find("ok " .. phase, 1, true), ("browser phase %s failed:\n%s"):format(phase, out))
	end

	-- carol's message reaches alice, or carol gets an error back (never silence).
	local function delivered(body)
		assert(carol:send_message("alice@a.test", body))
		assert(alice:expect_message{ from = "carol@c.test", body = body, timeout = T })
	end
	local function refused(body)
		assert(carol:send_message("alice@a.test", body))
		assert(carol:expect_error{ from = "alice@a.test", kind = "message", timeout = T })
		assert(alice:expect_no_message("carol@c.test", body, 1))
	end

	setup(function()
		assert(io.open("/usr/bin/chromium"), "Debian's chromium is missing: run scripts/install-deps.sh")
		assert(io.open(BROWSER_DIR .. "/node_modules/playwright-core/package.json"),
			"playwright-core is missing: run scripts/install-deps.sh (npm ci in spec/browser)")
		os.execute("mkdir -p " .. RESULTS)
		env = harness.env()
		a = env:server{ host = "a.test", plugin = true, users = { alice = "alice-pw", bob = "bob-pw" },
			global_options = { admins = { "alice@a.test" }, https_ports = { HTTPS_PORT } },
			vhost_options = { s2s_partners_web = true,
				s2s_partners = { { domain = "b.test", type = "federated", description = "from the config file" } } } }
		local c = env:server{ host = "c.test", users = { carol = "carol-pw" } } -- stock Prosody: requires TLS
		alice, carol = env:start_and_login{ { jid = "alice@a.test", server = a }, { jid = "carol@c.test", server = c } }
		assert(a:wait_log("Web panel and JSON API enabled", { plain = true, timeout = T }))
	end)

	teardown(function()
		if env then env:cleanup() end
	end)

	it("lists a refused unlisted domain; adding it from there saves a description as text", function()
		refused("before") -- c.test is not a partner yet
		browser("create")
		refused("tls not_supported") -- c.test requires TLS, the new partner rule forbids it
	end)

	it("shows an invalid combination's message next to the fields and saves nothing", function()
		browser("invalid")
		refused("still not_supported")
	end)

	it("a fixed rule is applied to real s2s streams at once", function()
		browser("fix")
		delivered("tls required now")
		assert(alice:send_message("carol@c.test", "and back"))
		assert(carol:expect_message{ from = "alice@a.test", body = "and back", timeout = T })
	end)

	it("shows the stream up, and probes the partner's server live", function()
		browser("probe")
	end)

	it("removes the partner after a confirmation; its streams are closed", function()
		browser("remove")
		refused("after removal")
	end)

	it("refuses a user who may not manage partners, and requests without the CSRF token", function()
		browser("security")
	end)
end)
