-- Which Prosody a test server runs: the system package (Prosody 0.12.3 on Debian 12) or
-- Prosody 13 unpacked by scripts/install-prosody13.sh into S2SP_PROSODY13_PREFIX
-- (default /opt/s2sp-prosody13).
--
-- A selection is a version ("0.12", "13", "13.0.1", …: the installed Prosody of that series),
-- "system" (prosody / prosodyctl on PATH, whatever version) or a launcher command (e.g.
-- "strace -f prosody", with S2SP_PROSODYCTL for prosodyctl). Env-wide: S2SP_PROSODY;
-- per server: env:server{ prosody = "13" }. The version is read from the installation's
-- prosody.version (never from `prosody --version`, which starts a server).
local util = require "harness.util"

local M = {}

M.prefix13 = os.getenv("S2SP_PROSODY13_PREFIX") or "/opt/s2sp-prosody13"

local cache = {}
-- Installations announced so far in this process. Kept in the Lua registry: busted reloads
-- the harness for every spec file (insulation), and the line is wanted once per run.
local registry = debug.getregistry()
registry.s2sp_prosody_announced = registry.s2sp_prosody_announced or {}
local announced = registry.s2sp_prosody_announced

-- Absolute path of a command on PATH, or nil.
local function which(cmd)
	local ok, out = util.run("command -v " .. util.shq(cmd))
	out = ok and out and out:match("^%s*(/%S+)")
	return out
end

-- CFG_SOURCEDIR of a Prosody launcher script (where prosody.version lives).
local function source_dir(launcher)
	local text = launcher and util.read_file(launcher)
	return text and text:match("\nCFG_SOURCEDIR%s*=%s*'([^']+)'")
end

local function read_version(source)
	local v = source and util.read_file(source .. "/prosody.version")
	return v and v:match("^%s*(.-)%s*$") or "unknown"
end

-- "0.12.3" → "0.12", "13.0.1" / "13" → "13" (Prosody numbers releases 0.x, then 13, 14, …).
function M.series(version)
	local major, minor = tostring(version):match("^(%d+)%.?(%d*)")
	if not major then return nil end
	if major == "0" then return minor ~= "" and "0." .. minor or nil end
	return major
end

local function describe(name, prosody, prosodyctl, launcher)
	local source = source_dir(launcher)
	local version = read_version(source)
	return {
		name = name,                -- the selection
		prosody = prosody,          -- shell words for prosody / prosodyctl
		prosodyctl = prosodyctl,
		source = source,            -- CFG_SOURCEDIR (modules, core, util)
		version = version,          -- e.g. "13.0.1"
		series = M.series(version), -- e.g. "13"
		label = "Prosody " .. version,
	}
end

local function system()
	local p = which("prosody")
	return p and describe("system", "prosody", "prosodyctl", p)
end

local function prefix13()
	local p = M.prefix13 .. "/bin/prosody"
	if not util.exists(p) then return nil end
	return describe("13", util.shq(p), util.shq(M.prefix13 .. "/bin/prosodyctl"), p)
end

local function find(sel)
	if sel == "system" then
		return assert(system(), "no prosody on PATH (scripts/install-deps.sh installs it)")
	end
	local want = M.series(sel)
	if want and sel:match("^[%d.]+$") then
		local candidates = {}
		for _, c in ipairs({ system() or false, prefix13() or false }) do
			if c then candidates[#candidates + 1] = c end
		end
		for _, c in ipairs(candidates) do
			if c.series == want then
				c.name = sel
				return c
			end
		end
		local seen = {}
		for _, c in ipairs(candidates) do seen[#seen + 1] = c.version .. " (" .. c.prosody .. ")" end
		error(("S2SP_PROSODY / prosody = %q: no Prosody %s installed (found: %s); "
			.. "`sudo sh scripts/install-prosody13.sh` puts Prosody 13 in %s")
			:format(sel, want, #seen > 0 and table.concat(seen, ", ") or "none", M.prefix13), 0)
	end
	-- A launcher command, possibly behind a wrapper: find the script for the version.
	local launcher
	for word in sel:gmatch("%S+") do
		if word:match("prosody$") then launcher = word:find("/", 1, true) and word or which(word) end
	end
	return describe(sel, sel, os.getenv("S2SP_PROSODYCTL") or "prosodyctl", launcher)
end

--- The installation for a selection (default: S2SP_PROSODY, else "system"). Cached.
function M.select(sel)
	local from_env = os.getenv("S2SP_PROSODY")
	if from_env == "" then from_env = nil end
	sel = tostring(sel or from_env or "system")
	if not cache[sel] then cache[sel] = find(sel) end
	return cache[sel]
end

--- Print the Prosody a run uses, once per installation and process (to stderr, next to
-- busted's output).
function M.announce(install)
	local key = install.prosody
	if announced[key] then return end
	announced[key] = true
	io.stderr:write(("harness: %s (%s)\n"):format(install.label, install.prosody))
end

return M
