-- Small helpers shared by the integration harness (Lua 5.4, luasocket only).
local socket = require "socket"

local util = {}

util.now = socket.gettime
util.sleep = socket.sleep

local T0 = socket.gettime()

--- The bound, in seconds, for anything a spec expects to happen (a server listening, a login,
-- a stanza arriving, a log line). A positive wait ends as soon as its condition holds, so the
-- bound costs nothing when things work; it is sized for a loaded 2-core machine running Prosody
-- under ASan, not for a fast one. S2SP_WAIT overrides it. Negative waits ("nothing arrives
-- within …") use their own short windows.
util.WAIT = tonumber(os.getenv("S2SP_WAIT")) or 30
local TRACE = os.getenv("S2SP_TRACE") == "1"

--- Timestamped progress line on stderr when S2SP_TRACE=1.
function util.trace(fmt, ...)
	if TRACE then io.stderr:write(("[harness %7.3f] " .. fmt .. "\n"):format(socket.gettime() - T0, ...)) end
end

--- Quote one word for /bin/sh.
function util.shq(s)
	s = tostring(s)
	if s:match("^[%w%./_=:,@+-]+$") then return s end
	return "'" .. s:gsub("'", "'\\''") .. "'"
end

--- Escape text for an XML attribute or element.
function util.xml_escape(s)
	return (tostring(s):gsub("[&<>'\"]", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ["'"] = "&apos;", ['"'] = "&quot;" }))
end

--- Build a shell command line from a list of words.
function util.cmdline(argv)
	local out = {}
	for i, a in ipairs(argv) do out[i] = util.shq(a) end
	return table.concat(out, " ")
end

--- Run a shell command; returns ok, output (stdout+stderr), exit code.
function util.run(cmd)
	local f = assert(io.popen(cmd .. " 2>&1", "r"))
	local out = f:read("a")
	local ok, _, code = f:close()
	return ok == true, out, code
end

--- Run a command, raising an error with its output on failure.
function util.check(cmd)
	local ok, out, code = util.run(cmd)
	if not ok then
		error(("command failed (exit %s): %s\n%s"):format(tostring(code), cmd, out), 2)
	end
	return out
end

function util.read_file(path)
	local f = io.open(path, "rb")
	if not f then return nil end
	local s = f:read("a")
	f:close()
	return s
end

function util.write_file(path, data, mode)
	local f = assert(io.open(path, mode or "wb"))
	assert(f:write(data))
	f:close()
	return path
end

function util.append_line(path, line)
	return util.write_file(path, line .. "\n", "ab")
end

function util.mkdir(path)
	util.check("mkdir -p " .. util.shq(path))
	return path
end

function util.rm_rf(path)
	-- Refuse anything that is not one of our temp roots or below one.
	assert(type(path) == "string" and path:match("^/tmp/s2sp%-it%.[%w]+"), "refusing to remove " .. tostring(path))
	util.run("rm -rf " .. util.shq(path))
end

function util.exists(path)
	local f = io.open(path, "rb")
	if f then f:close() return true end
	return false
end

--- Process state from /proc: "alive", "zombie" or "gone".
function util.proc_state(pid)
	local stat = util.read_file("/proc/" .. tostring(pid) .. "/stat")
	if not stat then return "gone" end
	local state = stat:match("^%d+ %b() (%a)")
	if state == "Z" or state == "X" then return "zombie" end
	return "alive"
end

function util.alive(pid)
	return pid ~= nil and util.proc_state(pid) == "alive"
end

--- PIDs of live processes whose command line contains `needle` (plain).
function util.pids_matching(needle)
	local lfs = require "lfs"
	local found = {}
	for entry in lfs.dir("/proc") do
		local pid = tonumber(entry)
		if pid then
			local cmd = util.read_file("/proc/" .. entry .. "/cmdline")
			if cmd and cmd:find(needle, 1, true) and util.alive(pid) then found[#found + 1] = pid end
		end
	end
	return found
end

function util.kill(pid, sig)
	return (util.run(("kill -%s %d"):format(sig or "TERM", pid)))
end

--- Poll `fn` until it returns a truthy value or `timeout` seconds pass.
-- Returns fn's values, or nil, "timeout" at the deadline.
function util.poll(fn, timeout, interval)
	local deadline = util.now() + (timeout or util.WAIT)
	interval = interval or 0.02
	while true do
		local r = table.pack(fn())
		if r[1] then return table.unpack(r, 1, r.n) end
		if util.now() >= deadline then return nil, "timeout" end
		util.sleep(interval)
	end
end

--- True when a TCP connection to addr:port is accepted.
function util.port_open(addr, port)
	local s = socket.tcp()
	s:settimeout(0.2)
	local ok = s:connect(addr, port)
	s:close()
	return ok == 1
end

--- True when nothing listens on addr:port (and we could bind it ourselves).
function util.port_free(addr, port)
	local s = socket.tcp()
	s:setoption("reuseaddr", true)
	local ok = s:bind(addr, port)
	s:close()
	return ok == 1
end

local function is_ident(k)
	return type(k) == "string" and k:match("^[%a_][%w_]*$") and not ({
		["and"] = 1, ["break"] = 1, ["do"] = 1, ["else"] = 1, ["elseif"] = 1, ["end"] = 1,
		["false"] = 1, ["for"] = 1, ["function"] = 1, ["goto"] = 1, ["if"] = 1, ["in"] = 1,
		["local"] = 1, ["nil"] = 1, ["not"] = 1, ["or"] = 1, ["repeat"] = 1, ["return"] = 1,
		["then"] = 1, ["true"] = 1, ["until"] = 1, ["while"] = 1,
	})[k]
end

local function serialize(v, indent)
	local t = type(v)
	if t == "string" then return ("%q"):format(v) end
	if t == "number" then
		if math.type(v) == "integer" then return tostring(v) end
		return ("%.17g"):format(v)
	end
	if t == "boolean" or t == "nil" then return tostring(v) end
	if t ~= "table" then error("cannot serialise a " .. t) end
	local inner = indent .. "\t"
	local parts = {}
	local n = #v
	for i = 1, n do parts[#parts + 1] = inner .. serialize(v[i], inner) end
	local keys = {}
	for k in pairs(v) do
		if not (math.type(k) == "integer" and k >= 1 and k <= n) then keys[#keys + 1] = k end
	end
	table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
	for _, k in ipairs(keys) do
		local key = is_ident(k) and k or ("[" .. serialize(k, "") .. "]")
		parts[#parts + 1] = inner .. key .. " = " .. serialize(v[k], inner)
	end
	if #parts == 0 then return "{}" end
	return "{\n" .. table.concat(parts, ";\n") .. ";\n" .. indent .. "}"
end

--- Serialise a Lua value (nil, boolean, number, string, table) as Lua source,
-- e.g. for Prosody config files. Keys are sorted, so output is stable.
function util.serialize(v)
	return serialize(v, "")
end

--- Absolute path of the current directory.
function util.cwd()
	return require "lfs".currentdir()
end

--- Absolute form of a path (relative to the current directory).
function util.abspath(p)
	if p:sub(1, 1) == "/" then return p end
	return util.cwd() .. "/" .. p
end

-- At-exit hooks. Finalizers run in reverse order of creation when the Lua
-- state closes, and the io library closes a popen handle in its finalizer by
-- waiting for the child; so the sentinel that runs the hooks is re-created
-- after every popen (util.spawn), to run before those handles are closed.
-- Old sentinels stay referenced (never collected early); the first one
-- finalized at exit runs the hooks.
local exit_hooks, sentinels, exited = {}, {}, false
local function run_exit_hooks()
	if exited then return end
	exited = true
	for i = #exit_hooks, 1, -1 do pcall(exit_hooks[i]) end
end
local function arm()
	sentinels[#sentinels + 1] = setmetatable({}, { __gc = run_exit_hooks })
end
arm()

function util.at_exit(fn)
	exit_hooks[#exit_hooks + 1] = fn
end

--- io.popen(cmd, mode) for a long-lived child, keeping the at-exit hooks
-- ahead of the new handle's finalizer.
function util.spawn(cmd, mode)
	local h, err = io.popen(cmd, mode)
	arm()
	return h, err
end

--- The accounts of a server (fields users, registered, host) still to register, after adding
-- `user` / `pass` when given: a list of { key = "name" or "name@host", name =, host =, password = }.
-- The caller registers them, then marks them with util.mark_registered.
function util.users_to_register(server, user, pass)
	if user then
		server.users[user] = pass
		server.registered[user] = nil
	end
	local list = {}
	for u, p in pairs(server.users) do
		if not server.registered[u] then
			local name, host = u:match("^([^@]+)@(.+)$")
			list[#list + 1] = { key = u, name = name or u, host = host or server.host, password = p }
		end
	end
	return list
end

function util.mark_registered(server, list)
	for _, account in ipairs(list) do server.registered[account.key] = true end
end

--- Do both the s2s and c2s ports of a server (fields addr, s2s_port, c2s_port) accept TCP?
function util.ports_open(server)
	return util.port_open(server.addr, server.s2s_port) and util.port_open(server.addr, server.c2s_port)
end

--- Wait until a started server (fields pid, addr, s2s_port, c2s_port, stdout_file, host and a
-- log_tail method) listens on both ports and `extra()` (optional) holds; raise with its stdout
-- and log tail when it exits or the timeout passes. `label` names it in the error.
function util.wait_listening(server, label, timeout, interval, extra)
	local ok = util.poll(function()
		if not util.alive(server.pid) then return "dead" end
		return util.ports_open(server) and (extra == nil or extra())
	end, timeout, interval)
	if ok == true then return true end
	local why = ok == "dead" and "exited" or ("not listening after " .. timeout .. " s")
	error(("%s %s (%s) %s\n--- stdout:\n%s\n--- log tail:\n%s"):format(label, server.host, server.addr, why,
		util.read_file(server.stdout_file) or "", server:log_tail(30)))
end

return util
