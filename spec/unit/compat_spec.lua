-- lua/compat.lib.lua (Prosody 0.12 / 13.0 differences) and the version check at the top of
-- lua/mod_s2s_partners.lua, run as plain Lua with a stub `module`.
local compat = dofile("lua/compat.lib.lua")

local MESSAGE = "mod_s2s_partners supports Prosody 0.12 and 13.0, not "

describe("compat.series", function()
	it("gives the release series of release version strings", function()
		local cases = {
			["0.12.0"] = "0.12", ["0.12.3"] = "0.12", ["0.12.10"] = "0.12", ["0.12"] = "0.12",
			["13.0.0"] = "13.0", ["13.0.1"] = "13.0", ["13.0"] = "13.0", ["13.0 nightly build 7 (2025-05-01)"] = "13.0",
			["0.11.13"] = "0.11", ["13.1.0"] = "13.1", ["14.0.0"] = "14.0", ["0.9.14"] = "0.9", ["013.00.1"] = "13.0",
		}
		for version, series in pairs(cases) do
			assert.equal(series, compat.series(version), version)
		end
	end)

	it("gives nil for anything that is not a release number", function()
		for _, version in ipairs({ "unknown", "hg:0123456789ab", "trunk nightly build 42", "13", "13.0rc1", "0.12.x",
			"", " 0.12.3", "v13.0.1" }) do
			assert.is_nil(compat.series(version), version)
		end
		assert.is_nil(compat.series(nil))
		assert.is_nil(compat.series(13.0))
	end)
end)

describe("compat.check_version", function()
	it("accepts Prosody 0.12.x and 13.0.x", function()
		for version, series in pairs({ ["0.12.3"] = "0.12", ["0.12.0"] = "0.12", ["0.12.4"] = "0.12", ["13.0.0"] = "13.0",
			["13.0.1"] = "13.0", ["13.0.2"] = "13.0", ["13.0"] = "13.0" }) do
			local got, err = compat.check_version(version)
			assert.equal(series, got, version)
			assert.is_nil(err)
		end
	end)

	it("refuses every other version with a clear message naming it", function()
		for _, version in ipairs({ "0.11.13", "0.10.2", "0.13.0", "13.1.0", "14.0.0", "12.0.0", "unknown",
			"hg:0123456789ab", "trunk nightly build 42", "13.0rc1" }) do
			local got, err = compat.check_version(version)
			assert.is_nil(got, version)
			assert.equal(MESSAGE .. version, err)
		end
	end)

	it("says 'an unknown version' when there is no version", function()
		assert.equal(MESSAGE .. "an unknown version", select(2, compat.check_version(nil)))
		assert.equal(MESSAGE .. "an unknown version", select(2, compat.check_version("")))
	end)

	-- The versions of the Prosody installations the integration suite runs, read from their
	-- prosody.version files (never from `prosody --version`, which starts a server).
	it("accepts the installed Prosody 0.12 and 13 (when installed)", function()
		local prefix13 = os.getenv("S2SP_PROSODY13_PREFIX") or "/opt/s2sp-prosody13"
		for _, file in ipairs({ "/usr/lib/prosody/prosody.version", prefix13 .. "/usr/lib/prosody/prosody.version" }) do
			local f = io.open(file)
			if f then
				local version = f:read("a"):gsub("%s*$", "")
				f:close()
				assert.truthy(compat.check_version(version), file .. ": " .. version)
			end
		end
	end)
end)

describe("compat.is_13 / compat.require", function()
	it("tells 13 and later from 0.12", function()
		assert.is_true(compat.is_13("13.0.1"))
		assert.is_true(compat.is_13("14.0.0"))
		assert.is_false(compat.is_13("0.12.3"))
		assert.is_false(compat.is_13("unknown"))
	end)

	it("requires the prosody.-prefixed name on 13 and the plain name on 0.12", function()
		package.loaded["prosody.s2sp_test_lib"] = { which = "prefixed" }
		package.loaded["s2sp_test_lib"] = { which = "plain" }
		assert.equal("prefixed", compat.require("s2sp_test_lib", "13.0.1").which)
		assert.equal("plain", compat.require("s2sp_test_lib", "0.12.3").which)
		package.loaded["prosody.s2sp_test_lib"] = nil
		assert.equal("plain", compat.require("s2sp_test_lib", "13.0.1").which) -- falls back
		package.loaded["s2sp_test_lib"] = nil
	end)
end)

describe("compat.peer_certificate", function()
	local cert = { pem = function() return "PEM" end }

	it("uses conn:ssl_peercertificate() (Prosody 13)", function()
		local conn = { ssl_peercertificate = function() return cert end,
			socket = function() error("13 path must not use the socket") end }
		assert.equal(cert, compat.peer_certificate({ conn = conn }))
		assert.is_nil(compat.peer_certificate({ conn = { ssl_peercertificate = function() return nil, "not-implemented" end } }))
	end)

	it("uses conn:socket():getpeercertificate() (Prosody 0.12)", function()
		local sock = { getpeercertificate = function() return cert end }
		assert.equal(cert, compat.peer_certificate({ conn = { socket = function() return sock end } }))
		assert.is_nil(compat.peer_certificate({ conn = { socket = function() return {} end } })) -- plain TCP
	end)

	it("gives nil without a connection", function()
		assert.is_nil(compat.peer_certificate({}))
		assert.is_nil(compat.peer_certificate(nil))
	end)
end)

describe("compat.chain_errors", function()
	it("flattens the per-depth tables of 0.12 and 13, depth 0 first", function()
		assert.same({ "certificate has expired", "self signed certificate", "unable to get issuer" },
			compat.chain_errors({ cert_chain_errors = { [2] = { "unable to get issuer" },
				[1] = { "certificate has expired", "self signed certificate" } } }))
	end)

	it("takes the single string of 13", function()
		assert.same({ "no matching DANE TLSA records" }, compat.chain_errors({ cert_chain_errors = "no matching DANE TLSA records" }))
	end)

	it("gives an empty list without errors", function()
		assert.same({}, compat.chain_errors({}))
		assert.same({}, compat.chain_errors(nil))
	end)
end)

describe("mod_s2s_partners.lua on an unsupported Prosody", function()
	local PAST = "past the version check"

	-- Load the plugin's main file as Prosody would, with a stub module API that serves
	-- compat.lib.lua and stops at the first other thing the plugin does.
	local function load_plugin(version)
		local calls = {}
		local stub = setmetatable({}, { __index = function(_, name)
			return function(_, arg)
				calls[#calls + 1] = name .. "(" .. tostring(arg) .. ")"
				if name == "require" and arg == "compat" then return dofile("lua/compat.lib.lua") end
				error(PAST, 0)
			end
		end })
		local env = setmetatable({ module = stub, prosody = { version = version } }, { __index = _G })
		local chunk = assert(loadfile("lua/mod_s2s_partners.lua", "t", env))
		local ok, err = pcall(chunk)
		return ok, err, calls
	end

	it("errors with a clear message before hooking anything", function()
		for _, version in ipairs({ "0.11.13", "13.1.0", "hg:0123456789ab" }) do
			local ok, err, calls = load_plugin(version)
			assert.is_false(ok)
			assert.equal(MESSAGE .. version, err)
			assert.same({ "require(compat)" }, calls)
		end
	end)

	it("goes on loading on 0.12.x and 13.0.x", function()
		for _, version in ipairs({ "0.12.3", "13.0.1" }) do
			local ok, err, calls = load_plugin(version)
			assert.is_false(ok)
			assert.equal(PAST, err, version)
			assert.equal("require(compat)", calls[1])
			assert.equal(2, #calls)
		end
	end)
end)
