-- The Debian package (README "Installing"): `make deb`'s package installed with dpkg, loaded
-- by the system Prosody (0.12) from /usr/lib/prosody/modules-extra, enforcing a partner rule;
-- its importer script works; then it is purged and leaves nothing. Needs root and
-- dpkg-buildpackage; runs with the system Prosody only, and never touches an installation that
-- was there before.
local harness = require "harness"
local installed = require "harness.installed"

local PACKAGE = "prosody-mod-s2s-partners"
local DIR = "/usr/lib/prosody/modules-extra"

local function is_installed()
	local p = io.popen("dpkg-query -W -f='${Status}' " .. PACKAGE .. " 2>/dev/null")
	local status = p:read("a")
	p:close()
	return status:find("ok installed", 1, true) ~= nil
end

local function usable()
	local p = io.popen("id -u; command -v dpkg-buildpackage; command -v dh")
	local out = p:read("a")
	p:close()
	return out:match("^0\n") and out:find("dpkg-buildpackage", 1, true) and out:find("/dh\n", 1, true)
		and require("harness.prosody").select().series == "0.12" and not is_installed()
end

local describe_if = usable() and describe or pending

describe_if("Debian package #integration", function()
	local env

	setup(function()
		installed.sh("make -s deb")
		installed.sh("dpkg -i build/deb/" .. PACKAGE .. "_*_*.deb")
	end)
	teardown(function()
		if env then env:cleanup() end
		if is_installed() then os.execute("dpkg --purge " .. PACKAGE .. " >/dev/null") end
	end)

	it("installs a module the system Prosody loads from " .. DIR .. " and that enforces the partner list", function()
		assert.is_true(is_installed())
		env = harness.env()
		local a = env:server(installed.server_opts{ plugin_paths = { DIR } })
		installed.check_enforced(env, a)
		assert.equal(DIR .. "/mod_s2s_partners/mod_s2s_partners.lua", installed.module_path(a))
	end)

	it("installs the importer script, which finds the installed module", function()
		local out = installed.sh("cd / && s2s-partners-import " .. os.getenv("PWD") .. "/spec/fixtures/lync/minimal.csv 2>/dev/null")
		assert.matches('{ domain = "b.test"; type = "public_unverified";', out, 1, true)
	end)

	it("is purged without leaving files behind", function()
		installed.sh("dpkg --purge " .. PACKAGE)
		assert.is_false(is_installed())
		assert.is_nil(io.open(DIR .. "/mod_s2s_partners/mod_s2s_partners.lua"))
		assert.is_nil(io.open("/usr/bin/s2s-partners-import"))
	end)
end)
