-- One real Prosody server (0.12 or 13, see harness/prosody.lua) run in the foreground
-- for integration tests. Created through env:server(opts) (see harness.lua); not started
-- until server:start() / env:start().
local util = require "harness.util"
local prosody = require "harness.prosody"

local shq = util.shq

local Server = {}
Server.__index = Server


-- Global modules every test server loads (on top of Prosody's autoloaded
-- presence, message, iq, offline, c2s, s2s, s2s_auth_certs, posix).
local BASE_MODULES = { "roster", "saslauth", "tls", "dialback", "disco", "ping", "version", "admin_shell" }

--- Plugin directory (the parent of mod_s2s_partners/), overridable like .busted.
function Server.plugin_paths()
	local dir = util.abspath(os.getenv("S2SP_PLUGIN_DIR") or "build/plugins/mod_s2s_partners"):gsub("/+$", "")
	return dir:match("^(.*)/[^/]+$"), dir
end

--- True when the built plugin is present (build/plugins/mod_s2s_partners/mod_s2s_partners.lua).
function Server.plugin_available()
	local _, dir = Server.plugin_paths()
	return util.exists(dir .. "/mod_s2s_partners.lua"), dir
end

-- opts: see README.md. `env` is the owning environment.
function Server.new(env, opts)
	assert(type(opts) == "table" and type(opts.host) == "string", "server: opts.host is required")
	local host = opts.host
	-- opts.node names a second (third…) node serving the same host (a cluster on shared
	-- storage): its own directory and address, and no entry in the hosts file.
	local dir = env.root .. "/" .. (opts.node or host)
	local self = setmetatable({
		env = env,
		opts = opts,
		host = host,
		name = opts.node or host,
		hosts = { host },
		addr = opts.addr,
		c2s_port = opts.c2s_port or 5222,
		s2s_port = 5269, -- peers find us through the hosts file + the default port
		dir = dir,
		config = dir .. "/prosody.cfg.lua",
		log_file = dir .. "/prosody.log",
		stdout_file = dir .. "/stdout.log",
		data_dir = dir .. "/data",
		cert_dir = dir .. "/certs",
		pidfile = dir .. "/prosody.pid",
		admin_socket = dir .. "/admin.sock",
		users = {},
		registered = {},
		pid = nil,
	}, Server)
	for _, h in ipairs(opts.extra_hosts or {}) do self.hosts[#self.hosts + 1] = h end
	util.mkdir(self.data_dir)
	util.mkdir(self.cert_dir)
	self:make_cert()
	for user, pass in pairs(opts.users or {}) do self.users[user] = pass end
	return self
end

--- (Re)make this server's certificate. mode: "trusted" (default: signed by the
-- env's test CA), "self_signed", "other_ca" (signed by a CA nobody trusts),
-- "expired" (test CA, validity in 2020) or "wrong_name" (test CA, names
-- wrong-name.invalid). A running server needs reload() to pick it up.
function Server:make_cert(mode)
	mode = mode or self.opts.cert or "trusted"
	local names = {}
	for _, h in ipairs(self.hosts) do
		names[#names + 1] = h
		names[#names + 1] = "*." .. h
	end
	local out = self.cert_dir .. "/" .. self.host
	local ca = self.env.ca
	local c
	if mode == "trusted" then
		c = ca:issue{ out = out, cn = self.host, names = names }
	elseif mode == "expired" then
		c = ca:issue{ out = out, cn = self.host, names = names, not_before = "20200101000000Z", not_after = "20200201000000Z" }
	elseif mode == "wrong_name" then
		c = ca:issue{ out = out, cn = "wrong-name.invalid", names = { "wrong-name.invalid", "*.wrong-name.invalid" } }
	elseif mode == "other_ca" then
		c = self.env:other_ca():issue{ out = out, cn = self.host, names = names }
	elseif mode == "self_signed" then
		c = require "harness.pki".self_signed{ out = out, cn = self.host, names = names }
	else
		error("unknown cert mode " .. tostring(mode))
	end
	self.cert_mode = mode
	self.cert, self.key = c.cert, c.key
	-- Clients trust this file; for a certificate that does not chain to the
	-- test CA they connect without verification (see client:login).
	self.client_trusted = (mode == "trusted")
	return c
end

local function lines(t)
	return type(t) == "table" and table.concat(t, "\n") or (t or "")
end

local function options_text(opts)
	local out = {}
	local keys = {}
	for k in pairs(opts or {}) do keys[#keys + 1] = k end
	table.sort(keys)
	for _, k in ipairs(keys) do out[#out + 1] = k .. " = " .. util.serialize(opts[k]) end
	return table.concat(out, "\n")
end

--- Text of the Prosody config file for the current options.
function Server:config_text()
	local o = self.opts
	local env = self.env
	local modules = {}
	for _, m in ipairs(BASE_MODULES) do modules[#modules + 1] = m end
	for _, m in ipairs(o.modules or {}) do modules[#modules + 1] = m end
	local vhost_modules = {}
	for _, m in ipairs(o.vhost_modules or {}) do vhost_modules[#vhost_modules + 1] = m end
	local g = {
		run_as_root = true,
		pidfile = self.pidfile,
		data_path = self.data_dir,
		certificates = self.cert_dir,
		admin_socket = self.admin_socket,
		log = { { levels = { min = o.log_level or "debug" }, to = "file", filename = self.log_file } },
		interfaces = { self.addr },
		local_interfaces = { self.addr },
		c2s_ports = { self.c2s_port },
		s2s_ports = { self.s2s_port },
		c2s_direct_tls_ports = {},
		s2s_direct_tls_ports = {},
		legacy_ssl_ports = {},
		http_ports = {},
		https_ports = {},
		component_ports = {},
		use_ipv6 = false,
		network_settings = { nagle = false },
		unbound = { resolvconf = env.resolv_conf, hoststxt = env.hosts_file },
		ssl = { cafile = o.cafile or env.ca.cert },
		authentication = "internal_hashed",
		storage = "internal",
		allow_registration = false,
		modules_enabled = modules,
	}
	if o.s2s_require_encryption ~= nil then g.s2s_require_encryption = o.s2s_require_encryption end
	if o.s2s_secure_auth ~= nil then g.s2s_secure_auth = o.s2s_secure_auth end
	if o.plugin then
		local paths = Server.plugin_paths()
		g.plugin_paths = { paths }
		vhost_modules[#vhost_modules + 1] = "s2s_partners"
		-- Required on servers running the plugin (it enforces TLS itself per partner).
		if o.s2s_require_encryption == nil then g.s2s_require_encryption = false end
		if o.s2s_secure_auth == nil then g.s2s_secure_auth = false end
	end
	for k, v in pairs(o.global_options or {}) do g[k] = v end
	local text = {
		"-- Generated by spec/harness/server.lua for " .. self.host .. "; do not edit.",
		options_text(g),
		lines(o.global_config),
		"",
	}
	for _, h in ipairs(self.hosts) do
		local vo = { ssl = { certificate = self.cert, key = self.key } }
		if #vhost_modules > 0 then vo.modules_enabled = vhost_modules end
		for k, v in pairs(o.vhost_options or {}) do vo[k] = v end
		for k, v in pairs((o.host_options or {})[h] or {}) do vo[k] = v end -- per-VirtualHost overrides
		text[#text + 1] = ("VirtualHost %q"):format(h)
		text[#text + 1] = options_text(vo)
		text[#text + 1] = lines(o.vhost_config)
		text[#text + 1] = ""
	end
	text[#text + 1] = lines(o.extra_config) -- e.g. Component sections
	return table.concat(text, "\n") .. "\n"
end

--- Write the config file (called by start(); call again after changing opts,
-- then reload()).
function Server:write_config()
	assert(self.addr, "server has no address yet")
	util.write_file(self.config, self:config_text())
	return self.config
end

--- Merge option changes into the server's options and rewrite its config.
-- Use with reload() (or restart()) to apply them.
function Server:configure(changes)
	for k, v in pairs(changes) do self.opts[k] = v end
	if changes.cert then self:make_cert(changes.cert) end
	if self.addr then self:write_config() end
	return self
end

--- The Prosody installation this server runs (opts.prosody, else S2SP_PROSODY, else the
-- system's): { prosody, prosodyctl, version, series, label } (see harness/prosody.lua).
function Server:prosody()
	return prosody.select(self.opts.prosody)
end

local function ctl(self, args)
	return self:prosody().prosodyctl .. " --config " .. shq(self.config) .. " " .. args
end

--- Register a user now (`user` may be "name" for the main host or
-- "name@host" for an extra host), or, without arguments, every user from
-- opts.users / earlier calls not registered yet (done by launch()).
function Server:register(user, pass)
	local accounts, cmds = util.users_to_register(self, user, pass), {}
	for i, acc in ipairs(accounts) do
		cmds[i] = ctl(self, "register " .. shq(acc.name) .. " " .. shq(acc.host) .. " " .. shq(acc.password))
	end
	if #cmds > 0 then util.check(table.concat(cmds, " && ")) end
	util.mark_registered(self, accounts)
end

--- `env VAR=value … ` for S2SP_PROSODY_ENV (whitespace-separated assignments, e.g. the
-- sanitizer runtime of `make asan`): given to Prosody processes only, never to the test
-- process's other children (clients, openssl, ejabberd), which it would only slow down.
function Server.launch_env()
	local words = {}
	for w in (os.getenv("S2SP_PROSODY_ENV") or ""):gmatch("%S+") do
		assert(w:match("^[%a_][%w_]*="), "S2SP_PROSODY_ENV: not an assignment: " .. w)
		words[#words + 1] = shq(w)
	end
	if #words == 0 then return "" end
	return "env " .. table.concat(words, " ") .. " "
end

--- Start the server (returns at once; use wait_ready() or env:start()).
function Server:launch()
	assert(not self.pid, self.host .. " already running")
	self.env:claim_addr(self)
	self:write_config()
	self:register()
	self.log_offset_at_start = self:log_size()
	local pidtmp = self.dir .. "/launcher.pid"
	os.remove(pidtmp)
	-- `exec` makes the popen child Prosody itself, so $$ is its PID and
	-- closing the handle reaps it (no orphans, no zombies).
	local install = self:prosody()
	prosody.announce(install)
	self.prosody_version = install.version
	local cmd = ("echo $$ > %s; exec %s%s -F --config %s >>%s 2>&1 </dev/null")
		:format(shq(pidtmp), Server.launch_env(), install.prosody, shq(self.config), shq(self.stdout_file))
	self.handle = assert(util.spawn(cmd, "r"))
	local pid = util.poll(function()
		local s = util.read_file(pidtmp)
		return s and tonumber(s:match("%d+"))
	end, 5, 0.002)
	assert(pid, "could not learn the PID of prosody for " .. self.host)
	self.pid = pid
	self.env:record_pid(pid, "prosody " .. self.host)
	self.started_at = util.now()
	return self
end

-- Does the admin socket (what `prosodyctl shell` talks to) accept a connection? Prosody binds
-- it while it loads its modules, not always before the c2s and s2s ports: a shell command sent
-- once only the ports answer can find nobody there. (What is sent once it is bound waits for the
-- rest of the start, which Prosody finishes before it serves any connection.)
local function admin_socket_open(server)
	local ok, unix = pcall(require, "socket.unix")
	if not ok then return true end -- cannot tell: the ports have to do
	local sock = (unix.stream or unix)()
	local connected = sock:connect(server.admin_socket)
	sock:close()
	return connected ~= nil
end

--- Wait until the c2s and s2s ports accept TCP connections, and the admin socket connections.
function Server:wait_ready(timeout)
	util.wait_listening(self, self:prosody().label, timeout or util.WAIT, 0.01, function () return admin_socket_open(self) end)
	self.ready_after = util.now() - self.started_at
	return true
end

function Server:start(timeout)
	self:launch()
	self:wait_ready(timeout)
	return self
end

function Server:running()
	return self.pid ~= nil and util.alive(self.pid)
end

--- Send a signal (name without SIG, e.g. "HUP").
function Server:signal(sig)
	assert(self.pid, self.host .. " is not running")
	return util.kill(self.pid, sig)
end

--- Reload the config (SIGHUP). Unless `wait` is false, waits for Prosody to
-- log the reload and then for an admin shell round trip, so the reload
-- (handled synchronously in Prosody's loop) is complete on return.
function Server:reload(wait)
	local mark = self:log_size()
	self:signal("HUP")
	if wait ~= false then
		local ok, err = self:wait_log("Reloading configuration", { since = mark, timeout = util.WAIT, plain = true })
		assert(ok, err)
		self:shell("server:version()")
	end
	return true
end

--- Ask to stop (SIGTERM) without waiting; finish with stop().
function Server:request_stop()
	if self.pid and util.alive(self.pid) then
		self.stop_mark = self.stop_mark or self:log_size()
		util.kill(self.pid, "TERM")
	end
end

--- Stop: SIGTERM, wait up to opts.timeout seconds (default 8) for the
-- process to exit, then SIGKILL. With opts.fast, SIGKILL as soon as Prosody
-- has logged "Shutdown complete" (sessions closed, data written): Prosody
-- otherwise lingers ~1 s closing its last sockets. Returns true when it
-- exited by itself (or after "Shutdown complete").
function Server:stop(opts)
	if type(opts) == "number" then opts = { timeout = opts } end
	opts = opts or {}
	if not self.pid then return true end
	local pid = self.pid
	self:request_stop()
	local mark = self.stop_mark or 0
	local clean = util.poll(function()
		if not util.alive(pid) then return true end
		if opts.fast and self:log_contains("Shutdown complete", { since = mark, plain = true }) then
			util.kill(pid, "KILL")
			return true
		end
	end, opts.timeout or 8, 0.01)
	if not clean then util.kill(pid, "KILL") end
	util.poll(function() return not util.alive(pid) end, 2, 0.01)
	if self.handle then self.handle:close() end -- reaps the process
	self.handle, self.pid, self.stop_mark = nil, nil, nil
	util.trace("%s stopped (%s)", self.host, clean and "clean" or "killed")
	self.env:release_addr(self)
	return clean == true
end

function Server:restart(timeout)
	self:stop()
	return self:start(timeout)
end

--- Remove stored data (accounts, rosters, offline messages). The server must
-- be stopped; accounts from opts.users are registered again at start.
function Server:wipe_data()
	assert(not self.pid, "wipe_data: stop " .. self.host .. " first")
	util.check("rm -rf " .. shq(self.data_dir) .. " && mkdir -p " .. shq(self.data_dir))
	self.registered = {}
end

--- The command line of `prosodyctl --config FILE shell '<cmd>'` (to run it in the background).
function Server:shell_command(cmd)
	return ctl(self, "shell " .. shq(cmd)) .. " 2>&1"
end

--- Run `prosodyctl --config FILE shell '<cmd>'`; returns its output (and ok).
function Server:shell(cmd)
	local ok, out = util.run(ctl(self, "shell " .. shq(cmd)))
	return out, ok
end

--- Run `prosodyctl --config FILE shell WORD...` (the non-interactive form of Prosody 13:
-- `shell s2s_partners list example.com`); returns its output (and ok).
function Server:shell_words(...)
	local words = {}
	for i, w in ipairs({ ... }) do words[i] = shq(w) end
	local ok, out = util.run(ctl(self, "shell " .. table.concat(words, " ")))
	return out, ok
end

local DEFAULT_S2S_COLUMNS = "id host dir remote secure cert s2s_sasl dialback"

--- The s2s streams as reported by `s2s:show(nil, colspec)` in the admin
-- shell. Returns a list of rows keyed by column name (default columns: id,
-- host, dir, remote, secure, cert, s2s_sasl, dialback), with `dir`
-- normalised to "out" / "in" / "both" (raw arrow in `dir_arrow`), plus the
-- raw output. s2s_sasl "Succeeded" means the stream authenticated with SASL
-- EXTERNAL; the Dialback column is unreliable for incoming streams.
function Server:s2s_sessions(colspec)
	colspec = colspec or DEFAULT_S2S_COLUMNS
	local keys = {}
	for k in colspec:gmatch("%S+") do keys[#keys + 1] = k end
	local out = self:shell(("s2s:show(nil, %q)"):format(colspec))
	local rows = {}
	for line in out:gmatch("[^\n]+") do
		if line:find("|", 1, true) then
			local cells = {}
			for cell in (line .. "|"):gmatch("([^|]*)|") do cells[#cells + 1] = cell:match("^%s*(.-)%s*$") end
			if cells[1] ~= "Session ID" and cells[1] ~= "" then
				local row = { line = line }
				for i, k in ipairs(keys) do row[k] = cells[i] end
				if row.dir then
					row.dir_arrow = row.dir
					row.dir = ({ ["-->"] = "out", ["<--"] = "in", ["<->"] = "both" })[row.dir] or row.dir
				end
				rows[#rows + 1] = row
			end
		end
	end
	return rows, out
end

--- Rows of s2s_sessions() matching every field of `filter` (e.g. { remote = "b.test", dir = "out" }).
function Server:find_s2s(filter, colspec)
	local found = {}
	local rows, out = self:s2s_sessions(colspec)
	for _, row in ipairs(rows) do
		local ok = true
		for k, v in pairs(filter or {}) do
			if row[k] ~= v then ok = false break end
		end
		if ok then found[#found + 1] = row end
	end
	return found, out
end

function Server:log_size()
	local f = io.open(self.log_file, "rb")
	if not f then return 0 end
	local size = f:seek("end")
	f:close()
	return size
end

--- Log text (from byte offset `since`, default the whole file).
function Server:read_log(since)
	local f = io.open(self.log_file, "rb")
	if not f then return "" end
	f:seek("set", since or 0)
	local s = f:read("a")
	f:close()
	return s
end

function Server:log_tail(n)
	local all = {}
	for line in self:read_log():gmatch("[^\n]+") do all[#all + 1] = line end
	return table.concat(all, "\n", math.max(1, #all - (n or 20) + 1))
end

--- A byte offset in the log, to pass as `since` to log_contains / wait_log.
function Server:log_mark()
	return self:log_size()
end

local function find_line(text, pattern, plain)
	for line in text:gmatch("[^\n]+") do
		if line:find(pattern, 1, plain) then return line end
	end
end

--- The first log line matching the Lua pattern (opts.plain for a plain
-- string; opts.since = a log_mark()), or nil.
function Server:log_contains(pattern, opts)
	opts = opts or {}
	return find_line(self:read_log(opts.since), pattern, opts.plain)
end

--- Wait until a log line matches; returns the line, or nil, "timeout …".
-- opts: timeout (default util.WAIT), since, plain.
function Server:wait_log(pattern, opts)
	if type(opts) == "number" then opts = { timeout = opts } end
	opts = opts or {}
	local line = util.poll(function() return self:log_contains(pattern, opts) end, opts.timeout or util.WAIT, 0.02)
	if line then return line end
	return nil, ("timeout waiting for log line %q on %s"):format(pattern, self.host)
end

--- Connection details for a client of this server.
function Server:client_target()
	return { host = self.addr, port = self.c2s_port, ca_file = self.env.ca.cert, insecure = not self.client_trusted }
end

return Server
