-- A real PostgreSQL server for a test, from Debian's `postgresql` package: initdb in the env's
-- temp root, run as the unprivileged `postgres` user, listening only on a Unix socket in that
-- directory (no TCP at all), trust authentication for that socket. Stopped by PID at cleanup
-- (env:cleanup kills whatever names the env's root), also when a test fails.
--
--   local pg = postgres.new(env)      -- initdb (once per env)
--   pg:start()                        -- waits until it accepts connections
--   server{ global_options = pg:prosody_options() }
--   pg:stop()                         -- fast shutdown, waits until it is gone
local util = require "harness.util"

local shq = util.shq

local M = {}
local Pg = {}
Pg.__index = Pg

local function bindir()
	local _, out = util.run("ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1")
	out = (out or ""):match("^%s*(.-)%s*$")
	assert(out ~= "", "PostgreSQL server binaries not found (Debian package postgresql)")
	return out
end

-- Run `argv` as the postgres user (setpriv execs it: the PID is the program's own).
local function as_postgres(cmd)
	return "setpriv --reuid=postgres --regid=postgres --init-groups " .. cmd
end

function M.new(env, opts)
	opts = opts or {}
	local self = setmetatable({ env = env, bin = bindir(), dir = env.root .. "/" .. (opts.name or "postgres") }, Pg)
	self.data, self.socket_dir, self.log = self.dir .. "/data", self.dir .. "/sock", self.dir .. "/postgres.log"
	self.database = opts.database or "prosody"
	-- The postgres user must reach its directory inside the env's root (mode 0700 by mktemp).
	util.check("chmod 0711 " .. shq(env.root))
	util.mkdir(self.socket_dir)
	util.check(("chown -R postgres:postgres %s"):format(shq(self.dir)))
	local ok, out = util.run(as_postgres(("%s/initdb -D %s -A trust -U prosody -E UTF8 --no-sync"):format(self.bin, shq(self.data))))
	assert(ok, "initdb failed: " .. tostring(out))
	return self
end

--- Start the server; returns self once it accepts connections (bounded by util.WAIT).
function Pg:start()
	assert(not self.pid, "postgres already running")
	local pidtmp = self.dir .. "/launcher.pid"
	os.remove(pidtmp)
	local cmd = ("echo $$ > %s; exec %s >>%s 2>&1 </dev/null"):format(shq(pidtmp),
		as_postgres(("%s/postgres -D %s -k %s -c listen_addresses= -c fsync=off -c synchronous_commit=off")
			:format(self.bin, shq(self.data), shq(self.socket_dir))), shq(self.log))
	self.handle = assert(util.spawn(cmd, "r"))
	self.pid = assert(util.poll(function()
		local s = util.read_file(pidtmp)
		return s and tonumber(s:match("%d+"))
	end, util.WAIT, 0.01), "could not learn the PID of postgres")
	self.env:record_pid(self.pid, "postgres")
	assert(util.poll(function()
		return (util.run(("%s/pg_isready -q -h %s -d postgres -U prosody"):format(self.bin, shq(self.socket_dir))))
	end, util.WAIT, 0.05), "postgres did not accept connections: " .. tostring(util.read_file(self.log)))
	if not self.created then
		assert(self:psql("postgres", ("CREATE DATABASE %s"):format(self.database)))
		self.created = true
	end
	return self
end

--- Run one SQL statement with psql; returns ok, output.
function Pg:psql(database, sql)
	return util.run(("%s/psql -X -q -v ON_ERROR_STOP=1 -h %s -U prosody -d %s -c %s"):format(self.bin,
		shq(self.socket_dir), shq(database), shq(sql)))
end

--- Stop the server (fast shutdown) and wait until the process is gone.
function Pg:stop()
	if not self.pid then return end
	util.kill(self.pid, "INT")
	assert(util.poll(function() return not util.alive(self.pid) end, util.WAIT, 0.05), "postgres did not stop")
	if self.handle then self.handle:close() end
	self.pid, self.handle = nil, nil
end

--- Prosody options for storage on this server (mod_storage_sql, lua-dbi-postgresql).
function Pg:prosody_options()
	return { storage = "sql", sql = { driver = "PostgreSQL", database = self.database, username = "prosody",
		host = self.socket_dir } }
end

return M
