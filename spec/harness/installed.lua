-- Shared by the package install specs (spec/integration/deb_install_spec.lua,
-- rock_install_spec.lua; README "Installing"): a real Prosody that loads an installed copy of
-- the module, not the build tree, and enforces a partner rule with it.
local util = require "harness.util"

local M = {}

-- Options of a server that loads mod_s2s_partners from wherever `global_options` say (never
-- plugin = true, which points at the build tree): partner b.test, nobody else.
function M.server_opts(global_options)
	local g = { s2s_require_encryption = false, s2s_secure_auth = false }
	for k, v in pairs(global_options or {}) do g[k] = v end
	return { host = "a.test", users = { alice = "pw" }, global_options = g, vhost_modules = { "s2s_partners" },
		vhost_options = { s2s_partners = { { domain = "b.test", type = "federated" } } } }
end

-- The path a.test loaded mod_s2s_partners from (asked over the admin shell).
function M.module_path(a)
	local out = a:shell(">return prosody.hosts['a.test'].modules.s2s_partners.module.path")
	return out:match("Result: (%S+)") or out
end

-- Start a (declared with server_opts), b.test and c.test (then after_start(), if given): alice's
-- message reaches bob, and one to c.test, no partner, bounces with the module's refusal.
function M.check_enforced(env, a, after_start)
	local T = util.WAIT
	local b = env:server{ host = "b.test", users = { bob = "pw" } }
	env:server{ host = "c.test", users = { carol = "pw" } }
	env:start()
	if after_start then after_start() end
	local alice, bob = table.unpack(assert(env:client():login_many{
		{ jid = "alice@a.test", server = a }, { jid = "bob@b.test", server = b } }))
	assert(alice:send_message("bob@b.test", "installed"))
	assert(bob:expect_message{ from = "alice@a.test", body = "installed", timeout = T })
	assert(alice:send_message("carol@c.test", "refused"))
	local e = assert(alice:expect_error{ from = "carol@c.test", kind = "message", timeout = T })
	assert(e.error and tostring(e.error.text):find("c.test", 1, true), "unexpected bounce: " .. tostring(e.xml))
end

-- Run a shell command; raise with its output when it fails.
function M.sh(cmd)
	local ok, out = util.run(cmd)
	assert(ok, cmd .. "\n" .. out)
	return out
end

return M
