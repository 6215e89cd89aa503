-- Integration test harness for mod_s2s_partners: real Prosody servers on
-- 127.0.0.x, a test CA, and slixmpp clients driven over JSON lines.
-- See spec/harness/README.md for the API.
local util = require "harness.util"
local pki = require "harness.pki"
local Server = require "harness.server"
local client = require "harness.client"
local lfs = require "lfs"

local harness = { util = util, pki = pki, Server = Server }

local CLAIM_DIR = "/tmp/s2sp-claims"
local ROOT_PREFIX = "/tmp/s2sp-it."

local MY_PID = tonumber((util.read_file("/proc/self/stat") or ""):match("^(%d+)"))
harness.pid = MY_PID

local Env = {}
Env.__index = Env
harness.Env = Env

local live_envs = {} -- every env not yet cleaned up, in creation order

--- Create a test environment: a unique temp root under /tmp with a test CA,
-- a hosts file and a resolv.conf that keeps every lookup on the machine.
-- opts.keep (or S2SP_KEEP=1): leave the temp root in place at cleanup.
function harness.env(opts)
	opts = opts or {}
	local root = util.check("mktemp -d " .. ROOT_PREFIX .. "XXXXXXXX"):gsub("%s+$", "")
	assert(root:sub(1, #ROOT_PREFIX) == ROOT_PREFIX, "mktemp gave " .. root)
	local self = setmetatable({
		root = root,
		keep = opts.keep or os.getenv("S2SP_KEEP") == "1",
		servers = {},
		by_host = {},
		clients = {},
		hosts_entries = {},
		pids_file = root .. "/pids",
		hosts_file = root .. "/hosts",
		resolv_conf = root .. "/resolv.conf",
		claims = {},
		n_clients = 0,
	}, Env)
	util.write_file(root .. "/owner", tostring(MY_PID) .. "\n")
	util.write_file(self.pids_file, "")
	-- libunbound: hosts file for names, and only 127.0.0.1 as a nameserver
	-- (nothing listens on 53 there, so nothing ever leaves the machine).
	util.write_file(self.resolv_conf, "nameserver 127.0.0.1\n")
	self:write_hosts()
	self.ca = pki.new_ca(root .. "/ca", "s2sp-test-ca")
	live_envs[#live_envs + 1] = self
	util.trace("env %s created", root)
	return self
end

function Env:write_hosts()
	local out = { "127.0.0.1 localhost" }
	for _, e in ipairs(self.hosts_entries) do out[#out + 1] = e[2] .. " " .. e[1] end
	util.write_file(self.hosts_file, table.concat(out, "\n") .. "\n")
end

--- Map a name to an address in the hosts file every server of this env uses
-- (servers read it at start). addr must be 127.0.0.x.
function Env:add_host(name, addr)
	assert(addr:match("^127%.0%.0%.%d+$"), "addresses must be 127.0.0.x, got " .. tostring(addr))
	for _, e in ipairs(self.hosts_entries) do
		if e[1] == name then e[2] = addr; self:write_hosts(); return end
	end
	self.hosts_entries[#self.hosts_entries + 1] = { name, addr }
	self:write_hosts()
end

--- Record a PID we started, for cleanup and for scripts/kill-test-processes.sh.
function Env:record_pid(pid, what)
	util.append_line(self.pids_file, ("%d %s"):format(pid, what or ""))
end

-- Addresses are claimed machine-wide (mkdir is atomic) so that concurrent
-- test runs never pick the same 127.0.0.x.
local function claim_path(addr) return CLAIM_DIR .. "/" .. addr end

local function try_claim(addr)
	lfs.mkdir(CLAIM_DIR)
	local p = claim_path(addr)
	if lfs.mkdir(p) then
		util.write_file(p .. "/owner", tostring(MY_PID) .. "\n")
		return true
	end
	-- Stale claim of a dead run?
	local owner = tonumber((util.read_file(p .. "/owner") or ""):match("%d+") or "")
	if owner and owner ~= MY_PID and not util.alive(owner) then
		os.remove(p .. "/owner")
		lfs.rmdir(p)
		if lfs.mkdir(p) then
			util.write_file(p .. "/owner", tostring(MY_PID) .. "\n")
			return true
		end
	end
	return false
end

local function addr_usable(addr, ports)
	for _, port in ipairs(ports) do
		if not util.port_free(addr, port) then return false end
	end
	return true
end

local function release_claim(addr)
	local p = claim_path(addr)
	local owner = tonumber((util.read_file(p .. "/owner") or ""):match("%d+") or "")
	if owner == MY_PID then
		os.remove(p .. "/owner")
		lfs.rmdir(p)
	end
end

function Env:claim_addr(server)
	if self.claims[server] then return server.addr end
	local ports = { server.s2s_port, server.c2s_port }
	if server.addr then
		assert(server.addr:match("^127%.0%.0%.%d+$"), "addresses must be 127.0.0.x")
		assert(try_claim(server.addr), "address " .. server.addr .. " is claimed by another test run")
		assert(addr_usable(server.addr, ports), "ports of " .. server.addr .. " are in use")
	else
		for i = 2, 254 do
			local addr = "127.0.0." .. i
			if try_claim(addr) then
				if addr_usable(addr, ports) then
					server.addr = addr
					break
				end
				release_claim(addr)
			end
		end
		assert(server.addr, "no free 127.0.0.x address")
	end
	self.claims[server] = server.addr
	if not server.opts.node then -- peers find a cluster through its first node
		for _, h in ipairs(server.hosts) do self:add_host(h, server.addr) end
	end
	return server.addr
end

function Env:release_addr(server)
	local addr = self.claims[server]
	if addr then
		self.claims[server] = nil
		release_claim(addr)
	end
end

--- Declare a server (not started). Addresses are claimed at start, in
-- declaration order (127.0.0.2, .3, … when free), unless opts.addr is given.
function Env:server(opts)
	local name = opts.node or opts.host
	assert(not self.by_host[name], "duplicate server " .. tostring(name))
	local s = Server.new(self, opts)
	self.servers[#self.servers + 1] = s
	self.by_host[name] = s
	return s
end

--- Declare a server with a self-signed certificate that trusts no CA of this env: SASL
-- EXTERNAL is impossible with it either way, so its streams use dialback.
function Env:dialback_only_server(opts)
	local bundle = self.root .. "/nothing-trusted.pem"
	if not util.exists(bundle) then util.write_file(bundle, util.read_file(self:other_ca().cert)) end
	opts.cert, opts.cafile = "self_signed", bundle
	return self:server(opts)
end

--- A second CA that no server trusts (for "other_ca" certificates).
function Env:other_ca()
	if not self.untrusted_ca then
		self.untrusted_ca = pki.new_ca(self.root .. "/other-ca", "s2sp-untrusted-ca")
	end
	return self.untrusted_ca
end

--- Start the given servers (default: every declared server that is not
-- running) concurrently and wait until all listen. Addresses of all
-- declared servers are claimed first so every hosts file is complete.
function Env:start(list, timeout)
	list = list or self.servers
	for _, s in ipairs(self.servers) do self:claim_addr(s) end
	local started = {}
	for _, s in ipairs(list) do
		if not s.pid then
			s:launch()
			started[#started + 1] = s
		end
	end
	for _, s in ipairs(started) do
		s:wait_ready(timeout)
		util.trace("%s ready on %s after %.3f s", s.host, s.addr, s.ready_after)
	end
	return self
end

--- Stop servers concurrently (default: all); opts as for server:stop().
function Env:stop(list, opts)
	list = list or self.servers
	for _, s in ipairs(list) do s:request_stop() end
	for _, s in ipairs(list) do s:stop(opts) end
end

--- A client driver process (xmpp_driver.py); holds any number of accounts.
function Env:client(opts)
	self.n_clients = self.n_clients + 1
	local c = client.new(self, self.n_clients, opts)
	self.clients[#self.clients + 1] = c
	return c
end

--- Start the servers, then log in every { jid = …, server = … } of `accounts` at once on one
-- client driver. Returns the accounts in the same order (asserting every login succeeded).
function Env:start_and_login(accounts)
	self:start()
	local list = assert(self:client():login_many(accounts))
	return table.unpack(list, 1, #accounts)
end

--- Stop every client and server of this env and remove its temp root.
function Env:cleanup()
	if self.cleaned then return end
	self.cleaned = true
	util.trace("cleanup of %s", self.root)
	for _, c in ipairs(self.clients) do pcall(c.quit, c) end
	local ok, err = pcall(self.stop, self, nil, { fast = true })
	if not ok then io.stderr:write("harness: stop failed: ", tostring(err), "\n") end
	-- Belt and braces: anything recorded that still runs, and any process
	-- whose command line names our root (e.g. under a wrapper such as
	-- S2SP_PROSODY="strace … prosody"), gets SIGKILL.
	for line in (util.read_file(self.pids_file) or ""):gmatch("[^\n]+") do
		local pid = tonumber(line:match("^%d+"))
		if pid and util.alive(pid) then util.kill(pid, "KILL") end
	end
	for _, pid in ipairs(util.pids_matching(self.root .. "/")) do util.kill(pid, "KILL") end
	for _, s in ipairs(self.servers) do self:release_addr(s) end
	if self.keep then
		io.stderr:write("harness: kept ", self.root, "\n")
	else
		util.rm_rf(self.root)
	end
	for i, e in ipairs(live_envs) do
		if e == self then table.remove(live_envs, i) break end
	end
	util.trace("cleanup of %s done", self.root)
end

--- Print the tail of every server log (for debugging a failure).
function Env:dump_logs(n)
	for _, s in ipairs(self.servers) do
		io.stderr:write(("---- %s (%s) log tail ----\n%s\n"):format(s.host, tostring(s.addr), s:log_tail(n or 40)))
	end
	for _, c in ipairs(self.clients) do
		io.stderr:write(("---- client %d log tail ----\n%s\n"):format(c.n, c:log_tail(n or 40)))
	end
end

--- Clean up every env created in this process (also runs at exit).
function harness.cleanup_all()
	for i = #live_envs, 1, -1 do
		local e = live_envs[i]
		local ok, err = pcall(e.cleanup, e)
		if not ok then io.stderr:write("harness: cleanup failed: ", tostring(err), "\n") end
		live_envs[i] = nil
	end
	harness.default = nil
end

-- Also clean up when the Lua state closes (busted exits with
-- os.exit(code, true)), in case a spec forgot its teardown.
util.at_exit(harness.cleanup_all)

-- Shortcuts on a default env, created on first use.
function harness.default_env()
	if not harness.default or harness.default.cleaned then harness.default = harness.env() end
	return harness.default
end
function harness.server(opts) return harness.default_env():server(opts) end
function harness.client(opts) return harness.default_env():client(opts) end
function harness.start(list, timeout) return harness.default_env():start(list, timeout) end

harness.plugin_available = Server.plugin_available

return harness
