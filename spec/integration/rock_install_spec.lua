-- The rockspec (README "Installing"), with the Prosody this run selects (0.12 or 13):
-- `luarocks make` into a temporary tree, and `prosodyctl install` from a local rocks directory
-- (plugin_server) into the server's installer_plugin_path, each give a module that Prosody
-- loads from there and that enforces the partner list. Everything lives under the harness's
-- temporary root. Needs luarocks.
local harness = require "harness"
local installed = require "harness.installed"
local util = require "harness.util"

local ROCKSPEC = "packaging/mod_s2s_partners-scm-1.rockspec"

local function usable()
	local p = io.popen("command -v luarocks; command -v luarocks-admin")
	local out = p:read("a")
	p:close()
	return select(2, out:gsub("\n", "")) == 2
end

-- A local rocks server in dir: a source rock of the working tree (Makefile, module, lua,
-- scripts), its rockspec pointing at a file:// tarball, and the manifest.
local function rocks_server(dir)
	local src, q = dir .. "/src/mod_s2s_partners", util.shq
	installed.sh(("mkdir -p %s %s/rocks && cp -r Makefile module lua scripts %s/"):format(q(src), q(dir), q(src)))
	installed.sh(("tar -C %s -czf %s/source.tar.gz mod_s2s_partners"):format(q(dir .. "/src"), q(dir)))
	local f = assert(io.open(ROCKSPEC))
	local spec = f:read("a"):gsub('url = "[^"]*",', ('url = "file://%s/source.tar.gz", dir = "mod_s2s_partners",'):format(dir))
	f:close()
	f = assert(io.open(dir .. "/rocks/mod_s2s_partners-scm-1.rockspec", "w"))
	f:write(spec)
	f:close()
	installed.sh(("cd %s/rocks && luarocks --lua-version=5.4 pack mod_s2s_partners-scm-1.rockspec && "
		.. "rm mod_s2s_partners-scm-1.rockspec && luarocks-admin --lua-version=5.4 make-manifest ."):format(q(dir)))
	return dir .. "/rocks"
end

local describe_if = usable() and describe or pending

describe_if("LuaRocks #integration", function()
	local env
	before_each(function() env = harness.env() end)
	after_each(function() if env then env:cleanup() end env = nil end)

	it("luarocks make into a tree gives a module Prosody loads from share/lua/5.4", function()
		local tree = env.root .. "/tree"
		installed.sh(("luarocks --lua-version=5.4 make --tree=%s %s"):format(util.shq(tree), ROCKSPEC))
		local dir = tree .. "/share/lua/5.4"
		local a = env:server(installed.server_opts{ plugin_paths = { dir } })
		installed.check_enforced(env, a)
		assert.equal(dir .. "/mod_s2s_partners/mod_s2s_partners.lua", installed.module_path(a))
	end)

	it("prosodyctl install from a local rocks directory gives a module Prosody loads from its installer path", function()
		local custom = env.root .. "/custom"
		local a = env:server(installed.server_opts{ plugin_server = rocks_server(env.root .. "/rockserver"),
			installer_plugin_path = custom })
		installed.check_enforced(env, a, function ()
			-- started without the module (it is not installed yet: Prosody logs the error)
			installed.sh(("%s --config %s install mod_s2s_partners"):format(a:prosody().prosodyctl, util.shq(a.config)))
			a:restart()
		end)
		assert.equal(custom .. "/share/lua/5.4/mod_s2s_partners/mod_s2s_partners.lua", installed.module_path(a))
	end)
end)
