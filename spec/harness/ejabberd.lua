-- A real ejabberd (Debian 23.01) peer for integration tests, on its own 127.0.0.x.
--
--   local ejabberd = require "harness.ejabberd"
--   local e = ejabberd.new(env, { hosts = { "e.test" }, users = { eve = "pw" },
--                                 starttls = "required", dialback = true, cert = "trusted" })
--   env:start()          -- starts Prosody servers and ejabberd in parallel
--
-- The peer joins env.servers, so env:start() claims its address (the hosts file then maps its
-- domains for every Prosody), env:stop() / env:cleanup() stop it and dump_logs() shows its log;
-- clients log in with `server = e` as with a Prosody server. Declare every server before the
-- first env:start(): ejabberd learns the others' addresses (SRV records) when it starts.
-- Start ~1–1.5 s (more under load); each ejabberdctl call 0.4–0.8 s (users are registered in
-- parallel, once, when it is ready); SIGTERM stops it in ~1 s.
--
-- Everything stays on the machine (see spec/harness/README.md): the config dir holds
-- ejabberd.yml, ejabberdctl.cfg, inetrc ({resolv_conf, ""}, {hosts_file, ""}, {lookup,
-- [file]}: Erlang never reads the system resolv.conf) and vm.args (the SRV records of every
-- other server of the env, injected with inet_db:add_rr, target written as an IP). No epmd:
-- ERL_DIST_PORT is set (Erlang distribution on 127.0.0.1 only, port 4370 + the last octet of the
-- claimed address, unique machine-wide like the address claim itself).
local util = require "harness.util"
local pki = require "harness.pki"
local Server = require "harness.server"

local shq = util.shq

local Ejabberd = {}
Ejabberd.__index = Ejabberd

local EJABBERDCTL = os.getenv("S2SP_EJABBERDCTL") or "/usr/sbin/ejabberdctl"

local ejabberd = { Ejabberd = Ejabberd }

--- True when ejabberd is installed (the spec marks itself pending otherwise).
function ejabberd.available()
	return util.exists(EJABBERDCTL) and util.exists("/usr/bin/erl")
end

local version_cache
--- The installed ejabberd version, e.g. "23.01" (from dpkg).
function ejabberd.version()
	if not version_cache then
		local ok, out = util.run("dpkg-query -W -f='${Version}' ejabberd")
		version_cache = ok and out:match("^(%d+%.%d+)") or "unknown"
	end
	return version_cache
end

local function random_tag()
	local s = util.read_file("/proc/sys/kernel/random/uuid") or tostring(os.time())
	return s:gsub("[^%x]", ""):sub(1, 12)
end

--- Declare an ejabberd peer in `env` (not started; env:start() or e:start()).
-- opts:
--   hosts      list of domains it serves (required); the first is `e.host`;
--   users      { name = pw } on the first host, or { ["name@host"] = pw };
--   starttls   s2s_use_starttls: "required" (default), "optional" or false;
--   dialback   load mod_s2s_dialback (default true);
--   cert       "trusted" (default: test CA), "other_ca", "self_signed": one certificate
--              with DNS:<h> and DNS:*.<h> for every host;
--   cafile     what it trusts for s2s (s2s_cafile; default: the test CA; with cert="other_ca"
--              the other CA, so that neither side can verify the other);
--   loglevel   default "info" (the "Accepted … s2s … authentication" lines are info);
--   extra_yaml raw YAML appended to ejabberd.yml;
--   addr, c2s_port (5222).
function ejabberd.new(env, opts)
	assert(type(opts) == "table" and type(opts.hosts) == "table" and opts.hosts[1], "ejabberd: opts.hosts is required")
	local host = opts.hosts[1]
	assert(not env.by_host[host], "duplicate server " .. host)
	local dir = env.root .. "/ejabberd-" .. host
	local self = setmetatable({
		env = env,
		opts = opts,
		kind = "ejabberd",
		host = host,
		hosts = {},
		addr = opts.addr,
		c2s_port = opts.c2s_port or 5222,
		s2s_port = 5269,
		dir = dir,
		config_dir = dir .. "/etc",
		spool_dir = dir .. "/spool",
		logs_dir = dir .. "/log",
		cert_dir = dir .. "/certs",
		log_file = dir .. "/log/ejabberd.log",
		stdout_file = dir .. "/stdout.log",
		pid_path = dir .. "/ejabberd.pid",
		node = "s2sp" .. random_tag() .. "@localhost",
		cookie = "s2sp" .. random_tag(),
		users = {},
		registered = {},
	}, Ejabberd)
	for i, h in ipairs(opts.hosts) do self.hosts[i] = h end
	self.ctl = self.config_dir .. "/ejabberdctl"
	for _, d in ipairs({ self.config_dir, self.spool_dir, self.logs_dir, self.cert_dir }) do util.mkdir(d) end
	self:make_cert()
	for u, p in pairs(opts.users or {}) do self.users[u] = p end
	-- A copy of the stock script with INSTALLUSER emptied runs as root (no su to `ejabberd`).
	local script = assert(util.read_file(EJABBERDCTL), "cannot read " .. EJABBERDCTL)
	script = script:gsub("\nINSTALLUSER=[^\n]*", "\nINSTALLUSER=", 1)
	util.write_file(self.ctl, script)
	util.check("chmod 0755 " .. shq(self.ctl))
	env.servers[#env.servers + 1] = self -- env:start / stop / cleanup / dump_logs handle it
	for _, h in ipairs(self.hosts) do env.by_host[h] = self end
	return self
end

--- (Re)make the certificate: cert + key in one PEM (what ejabberd's certfiles wants).
function Ejabberd:make_cert(mode)
	mode = mode or self.opts.cert or "trusted"
	local names = {}
	for _, h in ipairs(self.hosts) do
		names[#names + 1] = h
		names[#names + 1] = "*." .. h
	end
	local out = self.cert_dir .. "/server"
	local c
	if mode == "trusted" then
		c = self.env.ca:issue{ out = out, cn = self.host, names = names }
	elseif mode == "other_ca" then
		c = self.env:other_ca():issue{ out = out, cn = self.host, names = names }
	elseif mode == "self_signed" then
		c = pki.self_signed{ out = out, cn = self.host, names = names }
	else
		error("ejabberd: unknown cert mode " .. tostring(mode))
	end
	self.cert_mode = mode
	self.pem = pki.bundle(self.cert_dir .. "/server.pem", { c.cert, c.key })
	self.client_trusted = (mode == "trusted")
	return c
end

--- Last octet of the claimed address → the Erlang distribution port (no epmd).
function Ejabberd:dist_port()
	return 4370 + tonumber(assert(self.addr, "no address yet"):match("(%d+)$"))
end

local function yaml_str(s) return '"' .. tostring(s):gsub('[\\"]', "\\%0") .. '"' end

function Ejabberd:yaml_text()
	local o = self.opts
	local starttls = o.starttls
	if starttls == nil then starttls = "required" end
	local cafile = o.cafile or (self.cert_mode == "other_ca" and self.env:other_ca().cert) or self.env.ca.cert
	local t = { "# Generated by spec/harness/ejabberd.lua; do not edit.", "hosts:" }
	for _, h in ipairs(self.hosts) do t[#t + 1] = "  - " .. yaml_str(h) end
	local modules = { "mod_roster: {}", "mod_disco: {}", "mod_ping: {}", "mod_version: {}" }
	if o.dialback ~= false then modules[#modules + 1] = "mod_s2s_dialback: {}" end
	for _, line in ipairs({
		"loglevel: " .. (o.loglevel or "info"),
		"log_rotate_count: 0",
		"hide_sensitive_log_data: false",
		"certfiles:",
		"  - " .. yaml_str(self.pem),
		"acme:",
		"  auto: false",
		"s2s_cafile: " .. yaml_str(cafile),
		"ca_file: " .. yaml_str(cafile), -- also validates its own certfiles (else: "signed by unknown CA")
		"s2s_use_starttls: " .. tostring(starttls),
		"outgoing_s2s_families: [ipv4]",
		"outgoing_s2s_ipv4_address: " .. yaml_str(self.addr),
		"outgoing_s2s_timeout: 5",
		-- SRV answers come from the inet_db cache (vm.args); 0 retries would fail every lookup.
		"s2s_dns_timeout: 1",
		"s2s_dns_retries: 1",
		"negotiation_timeout: 10",
		"auth_method: [internal]",
		"listen:",
		"  -",
		"    port: " .. self.c2s_port,
		"    ip: " .. yaml_str(self.addr),
		"    module: ejabberd_c2s",
		"    starttls: true",
		"  -",
		"    port: " .. self.s2s_port,
		"    ip: " .. yaml_str(self.addr),
		"    module: ejabberd_s2s_in",
		"modules:",
	}) do t[#t + 1] = line end
	for _, m in ipairs(modules) do t[#t + 1] = "  " .. m end
	if o.extra_yaml then t[#t + 1] = o.extra_yaml end
	return table.concat(t, "\n") .. "\n"
end

-- SRV records for every other server of the env (their hosts → their address, port 5269) and
-- for every env:add_host() name. ejabberd must not contact any other domain: for a name
-- without an SRV record it falls back to libc (getaddrinfo: /etc/hosts, then the system DNS).
function Ejabberd:vm_args_text()
	local t = {
		"-kernel inet_dist_use_interface {127,0,0,1}",
		"-env ERL_CRASH_DUMP_BYTES 0",
	}
	local seen = {}
	for _, h in ipairs(self.hosts) do seen[h] = true end
	local function srv(name, port, addr)
		if seen[name] then return end
		seen[name] = true
		t[#t + 1] = ('-eval inet_db:add_rr(\\"_xmpp-server._tcp.%s\\",in,srv,100000000,{0,0,%d,\\"%s\\"})')
			:format(name, port, addr)
	end
	for _, s in ipairs(self.env.servers) do
		if s ~= self and s.addr then
			for _, h in ipairs(s.hosts) do srv(h, s.s2s_port, s.addr) end
		end
	end
	for _, e in ipairs(self.env.hosts_entries) do
		if e[1] ~= "localhost" then srv(e[1], 5269, e[2]) end
	end
	return table.concat(t, "\n") .. "\n"
end

function Ejabberd:write_config()
	assert(self.addr, "ejabberd has no address yet")
	local c = self.config_dir
	util.write_file(c .. "/ejabberd.yml", self:yaml_text())
	util.write_file(c .. "/inetrc", table.concat({
		'{resolv_conf, ""}.',
		'{hosts_file, ""}.',
		"{lookup, [file]}.",
		'{host, {127,0,0,1}, ["localhost"]}.',
		"",
	}, "\n"))
	util.write_file(c .. "/vm.args", self:vm_args_text())
	util.write_file(c .. "/ejabberdctl.cfg", table.concat({
		"ERLANG_NODE=" .. self.node,
		"ERL_DIST_PORT=" .. self:dist_port(),
		'ERL_OPTIONS="-setcookie ' .. self.cookie .. '"',
		"EJABBERD_PID_PATH=" .. self.pid_path,
		"CONTRIB_MODULES_PATH=" .. self.dir .. "/contrib",
		"CONTRIB_MODULES_CONF_DIR=" .. self.dir .. "/contrib/conf",
		"",
	}, "\n"))
end

--- The ejabberdctl command line (a shell string) for `args` (a list of words).
function Ejabberd:ctl_cmd(args)
	return ("%s --config-dir %s --spool %s --logs %s %s"):format(shq(self.ctl), shq(self.config_dir),
		shq(self.spool_dir), shq(self.logs_dir), util.cmdline(args))
end

--- Run `ejabberdctl ARGS…` (0.4–0.8 s each); returns ok, output.
function Ejabberd:ctl(...)
	local ok, out = util.run(self:ctl_cmd({ ... }))
	return ok, out
end

--- Register users: `user` ("name" on the first host, or "name@host") now, or, without
-- arguments, every user not registered yet — one ejabberdctl call each, run in parallel.
function Ejabberd:register(user, pass)
	local accounts, cmds = util.users_to_register(self, user, pass), {}
	for i, acc in ipairs(accounts) do
		local out = ("%s/register-%d.out"):format(self.dir, i)
		cmds[i] = ("( %s >%s 2>&1 || { echo %s; cat %s; } ) &"):format(
			self:ctl_cmd({ "register", acc.name, acc.host, acc.password }), shq(out),
			shq("FAILED: register " .. acc.key), shq(out))
	end
	if #cmds == 0 then return true end
	local _, out = util.run(table.concat(cmds, " ") .. " wait")
	assert(not out:find("FAILED:", 1, true), "ejabberdctl register failed:\n" .. out)
	util.mark_registered(self, accounts)
	return true
end

-- Children of a process, from /proc.
local function children(pid)
	local out = {}
	local f = io.open(("/proc/%d/task/%d/children"):format(pid, pid), "rb")
	if f then
		for c in f:read("a"):gmatch("%d+") do out[#out + 1] = tonumber(c) end
		f:close()
	end
	return out
end

--- Start (returns at once; wait_ready() or env:start()). `ejabberdctl foreground` runs in a
-- popen child (bash), whose child is the beam (erl execs erlexec execs beam.smp).
function Ejabberd:launch()
	assert(not self.pid, self.host .. " already running")
	self.env:claim_addr(self)
	self:write_config()
	self.log_offset_at_start = self:log_size()
	os.remove(self.pid_path)
	local pidtmp = self.dir .. "/launcher.pid"
	os.remove(pidtmp)
	local cmd = ("echo $$ > %s; exec %s >>%s 2>&1 </dev/null"):format(shq(pidtmp),
		self:ctl_cmd({ "foreground" }), shq(self.stdout_file))
	self.handle = assert(util.spawn(cmd, "r"))
	self.wrapper_pid = util.poll(function()
		local s = util.read_file(pidtmp)
		return s and tonumber(s:match("%d+"))
	end, 5, 0.002)
	assert(self.wrapper_pid, "could not learn the PID of ejabberdctl for " .. self.host)
	self.env:record_pid(self.wrapper_pid, "ejabberdctl foreground " .. self.host)
	-- The beam: the wrapper's child (also written to EJABBERD_PID_PATH once ejabberd runs).
	self.pid = util.poll(function()
		if not util.alive(self.wrapper_pid) then return "dead" end
		for _, c in ipairs(children(self.wrapper_pid)) do
			local cmdline = util.read_file("/proc/" .. c .. "/cmdline") or ""
			if cmdline:find("beam", 1, true) or cmdline:find("erlexec", 1, true) or cmdline:find("/erl", 1, true) then
				return c
			end
		end
	end, 5, 0.005)
	if self.pid == "dead" or not self.pid then
		local why = self.pid == "dead" and "exited" or "has no beam child"
		self.pid = nil
		error(("ejabberd %s %s\n--- stdout:\n%s"):format(self.host, why, util.read_file(self.stdout_file) or ""))
	end
	self.env:record_pid(self.pid, "ejabberd beam " .. self.host)
	self.started_at = util.now()
	return self
end

--- Wait until c2s and s2s ports accept connections, then register pending users.
function Ejabberd:wait_ready(timeout)
	-- Listeners open before every module has created its tables (ejabberdctl register would
	-- fail with no_exists passwd): also wait for "ejabberd … is started".
	util.wait_listening(self, "ejabberd", timeout or util.WAIT, 0.02, function()
		return (util.read_file(self.stdout_file) or ""):find(" is started in the node ", 1, true) ~= nil
	end)
	-- The pid file is the authority on the beam PID once written.
	local beam = tonumber((util.read_file(self.pid_path) or ""):match("%d+") or "")
	if beam and beam ~= self.pid and util.alive(beam) then
		self.pid = beam
		self.env:record_pid(beam, "ejabberd beam " .. self.host)
	end
	self:register()
	self.ready_after = util.now() - self.started_at
	return true
end

function Ejabberd:start(timeout)
	self:launch()
	self:wait_ready(timeout)
	return self
end

function Ejabberd:running()
	return self.pid ~= nil and util.alive(self.pid)
end

--- SIGTERM to the beam without waiting (finish with stop()).
function Ejabberd:request_stop()
	if self.pid and util.alive(self.pid) then util.kill(self.pid, "TERM") end
end

--- Stop: SIGTERM to the beam, wait up to opts.timeout (default 8 s; 3 s with opts.fast), then
-- SIGKILL (beam and wrapper). Returns true when it exited by itself.
function Ejabberd:stop(opts)
	if type(opts) == "number" then opts = { timeout = opts } end
	opts = opts or {}
	if not self.pid then return true end
	local pid, wrapper = self.pid, self.wrapper_pid
	self:request_stop()
	local clean = util.poll(function() return not util.alive(pid) end, opts.timeout or (opts.fast and 3 or 8), 0.01)
	if not clean then util.kill(pid, "KILL") end
	if wrapper and util.poll(function() return not util.alive(wrapper) end, 2, 0.01) == nil then
		util.kill(wrapper, "KILL")
	end
	util.poll(function() return not util.alive(pid) end, 2, 0.01)
	if self.handle then self.handle:close() end -- reaps the wrapper
	self.handle, self.pid, self.wrapper_pid = nil, nil, nil
	util.trace("ejabberd %s stopped (%s)", self.host, clean and "clean" or "killed")
	self.env:release_addr(self)
	return clean == true
end

function Ejabberd:restart(timeout)
	self:stop()
	return self:start(timeout)
end

--- Connection details for a client of this server.
function Ejabberd:client_target()
	return { host = self.addr, port = self.c2s_port, ca_file = self.env.ca.cert, insecure = not self.client_trusted }
end

-- Log access, as for Prosody servers: log_size, read_log, log_tail, log_mark,
-- log_contains(pattern, { since, plain }), wait_log(pattern, { timeout, since, plain }).
for _, m in ipairs({ "log_size", "read_log", "log_tail", "log_mark", "log_contains", "wait_log" }) do
	Ejabberd[m] = Server[m]
end

--- s2s authentications ejabberd logged ("Accepted inbound|outbound s2s EXTERNAL|dialback
-- authentication a.test -> e.test"), from log offset `since`: list of { dir = "in"|"out",
-- method = "EXTERNAL"|"dialback", from, to, tls = true|false, line }.
function Ejabberd:s2s_auths(since)
	local found = {}
	for line in self:read_log(since):gmatch("[^\n]+") do
		local dir, method, from, to = line:match("Accepted (%a+) s2s (%a+) authentication ([^%s]+) %-> ([^%s]+)")
		if dir then
			local transport = line:match("%((%a+)|") -- "(tls|<0.123.0>)" / "(tcp|…)"
			local tls
			if transport then tls = transport:lower() == "tls" end
			found[#found + 1] = {
				dir = ({ inbound = "in", outbound = "out" })[dir] or dir,
				method = method, from = from, to = to, tls = tls,
				transport = transport, line = line,
			}
		end
	end
	return found
end

--- Wait until ejabberd logs an accepted s2s authentication matching `filter` (fields of
-- s2s_auths() records, e.g. { dir = "in", from = "a.test", to = "e.test" }); returns the record,
-- or nil, "timeout …". opts: since, timeout (default util.WAIT).
function Ejabberd:wait_s2s_auth(filter, opts)
	opts = opts or {}
	local rec = util.poll(function()
		for _, r in ipairs(self:s2s_auths(opts.since)) do
			local ok = true
			for k, v in pairs(filter) do
				if r[k] ~= v then ok = false break end
			end
			if ok then return r end
		end
	end, opts.timeout or util.WAIT, 0.02)
	if rec then return rec end
	local have = {}
	for _, r in ipairs(self:s2s_auths(opts.since)) do have[#have + 1] = r.line end
	return nil, ("timeout waiting for an accepted s2s authentication on ejabberd %s; logged:\n%s"):format(self.host,
		table.concat(have, "\n"))
end

return ejabberd
