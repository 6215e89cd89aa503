-- Lua side of spec/harness/xmpp_driver.py: a long-lived slixmpp process fed
-- JSON lines on stdin; it answers with JSON lines appended to a file that we
-- poll. One driver holds any number of accounts (see Account below).
local util = require "harness.util"
local json = require "dkjson"

local shq = util.shq

local PYTHON = os.getenv("S2SP_PYTHON") or "/usr/bin/python3"

local function script_path()
	local src = debug.getinfo(1, "S").source:sub(2)
	return util.abspath((src:match("^(.*)/[^/]+$") or ".") .. "/xmpp_driver.py")
end

local Driver = {}

local Account = {}
Account.__index = Account

-- Account operations called on the driver itself act on its first logged-in
-- account, so a one-account client reads `c:login{…}; c:send_message(…)`.
Driver.__index = function(_, k)
	local m = Driver[k]
	if m ~= nil then return m end
	local am = Account[k]
	if type(am) == "function" then
		return function(self, ...)
			local acc = rawget(self, "default_account")
			assert(acc, "no account logged in on this client")
			return am(acc, ...)
		end
	end
end

local client = { Driver = Driver, Account = Account }

-- Extra seconds the Lua side waits beyond an operation's own timeout before
-- declaring the driver stuck.
local MARGIN = 5

function client.new(env, n, opts)
	opts = opts or {}
	local base = ("%s/client-%d"):format(env.root, n)
	local self = setmetatable({
		env = env, n = n,
		out_file = base .. ".out",
		log_file = base .. ".log",
		err_file = base .. ".stderr",
		pid_file = base .. ".pid",
		offset = 0, seq = 0, responses = {}, partial = "",
		accounts = {},
		default_timeout = opts.timeout or util.WAIT,
	}, Driver)
	util.write_file(self.out_file, "")
	local cmd = ("echo $$ > %s; exec %s %s --out %s --log %s 2>>%s >/dev/null")
		:format(shq(self.pid_file), PYTHON, shq(script_path()), shq(self.out_file), shq(self.log_file), shq(self.err_file))
	self.stdin = assert(util.spawn(cmd, "w"))
	self.stdin:setvbuf("no")
	self.pid = util.poll(function()
		local s = util.read_file(self.pid_file)
		return s and tonumber(s:match("%d+"))
	end, 5, 0.002)
	assert(self.pid, "could not start xmpp_driver.py")
	env:record_pid(self.pid, "xmpp_driver " .. n)
	local ok, err = self:call("hello", {}, 10)
	assert(ok, "xmpp_driver.py did not start: " .. tostring(err) .. "\n" .. (util.read_file(self.err_file) or ""))
	return self
end

function Driver:read_responses()
	local f = io.open(self.out_file, "rb")
	if not f then return end
	f:seek("set", self.offset)
	local data = f:read("a") or ""
	f:close()
	if data == "" then return end
	self.offset = self.offset + #data
	data = self.partial .. data
	local last = 0
	for line, pos in data:gmatch("([^\n]*)\n()") do
		last = pos - 1
		if line ~= "" then
			local msg, _, err = json.decode(line)
			if type(msg) == "table" and msg.seq then
				self.responses[msg.seq] = msg
			else
				io.stderr:write("xmpp_driver: bad line: ", line, " ", tostring(err), "\n")
			end
		end
	end
	self.partial = data:sub(last + 1)
end

--- Send one operation and wait for its answer. Returns the result table, or
-- nil and an error message (e.g. "timeout waiting for …").
function Driver:call(op, args, timeout)
	if not self.stdin then return nil, "driver has quit" end
	self.seq = self.seq + 1
	local id = self.seq
	args = args or {}
	args.seq, args.op = id, op
	local ok, err = self.stdin:write(json.encode(args), "\n")
	if not ok then return nil, "cannot write to driver: " .. tostring(err) end
	self.stdin:flush()
	local deadline = util.now() + (timeout or self.default_timeout) + MARGIN
	while true do
		self:read_responses()
		local r = self.responses[id]
		if r then
			self.responses[id] = nil
			if r.ok then return r.result == nil and true or r.result end
			return nil, r.error or "error"
		end
		if not util.alive(self.pid) then
			return nil, "xmpp_driver exited: " .. (util.read_file(self.err_file) or "")
		end
		if util.now() > deadline then return nil, "driver did not answer " .. op end
		if self.batch then coroutine.yield() else util.sleep(0.005) end -- login_many resumes us
	end
end

function Driver:log_tail(n)
	local all = {}
	for line in (util.read_file(self.log_file) or ""):gmatch("[^\n]+") do all[#all + 1] = line end
	return table.concat(all, "\n", math.max(1, #all - (n or 20) + 1))
end

--- Log in. opts: jid, password (default: from the server's users), server
-- (a harness server: address, port, CA and certificate trust come from it)
-- or host/port/ca_file/insecure, name (account key, default the jid),
-- resource, timeout (default util.WAIT), presence (send initial presence, default
-- true), roster (fetch the roster first, default true).
-- Returns an Account, or nil and an error.
function Driver:login(opts, password, server)
	if type(opts) == "string" then opts = { jid = opts, password = password, server = server } end
	local args = {
		jid = opts.jid, password = opts.password, resource = opts.resource,
		presence = opts.presence ~= false, roster = opts.roster ~= false,
		timeout = opts.timeout or util.WAIT,
	}
	local s = opts.server
	if s then
		local t = s:client_target()
		args.host, args.port, args.ca_file, args.insecure = t.host, t.port, t.ca_file, t.insecure
		if not args.password and args.jid then -- from the server's opts.users
			local node, host = args.jid:match("^([^@/]+)@([^/]+)")
			args.password = s.users[(host == s.host) and node or (node .. "@" .. tostring(host))]
		end
	end
	if opts.host then args.host = opts.host end
	if opts.port then args.port = opts.port end
	if opts.ca_file then args.ca_file = opts.ca_file end
	if opts.insecure ~= nil then args.insecure = opts.insecure end
	assert(args.jid and args.password and args.host, "login: jid, password and server (or host) are required")
	args.account = opts.name or args.jid
	local r, err = self:call("login", args, args.timeout)
	util.trace("login %s: %s", args.jid, r and r.jid or err)
	if not r then return nil, ("login %s failed: %s"):format(args.jid, err) end
	local acc = setmetatable({ driver = self, name = args.account, jid = args.jid, full_jid = r.jid }, Account)
	self.accounts[args.account] = acc
	self.default_account = self.default_account or acc
	return acc
end

--- Disconnect every account and end the driver process.
function Driver:quit()
	if not self.stdin then return true end
	self:call("quit", {}, 3)
	pcall(self.stdin.close, self.stdin) -- EOF also makes the driver exit
	self.stdin = nil
	if util.poll(function() return not util.alive(self.pid) end, 3, 0.01) == nil then
		util.kill(self.pid, "KILL")
	end
	return true
end

-- Account operations -------------------------------------------------------

function Account:call(op, args, timeout)
	args = args or {}
	args.account = self.name
	return self.driver:call(op, args, timeout)
end

local function describe(kind, f)
	local parts = { kind }
	if f.type then parts[#parts + 1] = "type " .. f.type end
	if f.from then parts[#parts + 1] = "from " .. f.from end
	if f.body then parts[#parts + 1] = ("with body %q"):format(f.body) end
	if f.id then parts[#parts + 1] = "id " .. f.id end
	return table.concat(parts, " ")
end

--- Wait for a received stanza matching a filter; consumes it.
-- filter: kind ("message"|"presence"|"iq"), type, not_type, from (bare JID
-- matches any resource), body, body_contains, status, id, timeout.
-- Returns the stanza record { kind, type, from, to, id, body, status, show,
-- error = { condition, text, type } | nil, xml } or nil, "timeout waiting for …".
function Account:expect(filter)
	local timeout = filter.timeout or self.driver.default_timeout
	local r, err = self:call("expect", { filter = filter, timeout = timeout }, timeout)
	if r then return r end
	if err == "timeout" then
		return nil, ("timeout waiting for %s at %s"):format(describe(filter.kind or "stanza", filter), self.jid)
	end
	return nil, err
end

--- Check that no matching stanza arrives within `within` seconds (default 1);
-- looks at stanzas already received too. Returns true, or nil and the XML of
-- the unexpected stanza.
function Account:expect_none(filter)
	local within = filter.within or 1
	local r, err = self:call("expect_none", { filter = filter, within = within }, within)
	if r then return true end
	return nil, err
end

--- Every stanza received and not consumed yet (optionally filtered).
function Account:received(filter)
	return self:call("received", { filter = filter or {} })
end

function Account:clear()
	return self:call("clear", {})
end

--- send_message{ to, body, type = "chat", id } or send_message(to, body, type).
function Account:send_message(o, body, mtype)
	if type(o) ~= "table" then o = { to = o, body = body, type = mtype } end
	return self:call("send_message", { to = o.to, body = o.body, type = o.type or "chat", id = o.id })
end

--- expect_message{ from, body, type, timeout } or expect_message(from, body, timeout).
-- Error messages (type="error") never match; use expect_error.
function Account:expect_message(o, body, timeout)
	if type(o) ~= "table" then o = { from = o, body = body, timeout = timeout } end
	local f = { kind = "message", from = o.from, body = o.body, body_contains = o.body_contains,
		type = o.type, not_type = "error", timeout = o.timeout, id = o.id }
	return self:expect(f)
end

--- expect_no_message{ from, body, within } or expect_no_message(from, body, within).
function Account:expect_no_message(o, body, within)
	if type(o) ~= "table" then o = { from = o, body = body, within = within } end
	return self:expect_none({ kind = "message", from = o.from, body = o.body, not_type = "error", within = o.within })
end

--- Wait for an error stanza (type="error"): expect_error{ from, kind, id, timeout }
-- or expect_error(from, timeout). Returns the record; record.error has
-- condition, text and type (read from the raw XML, so conditions slixmpp does
-- not know, such as policy-violation, are reported too).
function Account:expect_error(o, timeout)
	if type(o) ~= "table" then o = { from = o, timeout = timeout } end
	local r, err = self:expect({ kind = o.kind, type = "error", from = o.from, id = o.id, timeout = o.timeout })
	if not r then return nil, err end
	return r
end

--- send_presence{ to, type, status, show, priority } (all optional).
function Account:send_presence(o)
	o = o or {}
	return self:call("send_presence", { to = o.to, type = o.type, status = o.status, show = o.show, priority = o.priority })
end

function Account:subscribe(to) return self:send_presence{ to = to, type = "subscribe" } end
function Account:subscribed(to) return self:send_presence{ to = to, type = "subscribed" } end
function Account:unsubscribe(to) return self:send_presence{ to = to, type = "unsubscribe" } end
function Account:unsubscribed(to) return self:send_presence{ to = to, type = "unsubscribed" } end

--- expect_presence{ from, type = "available"|"unavailable"|"subscribe"|…, timeout }
-- or expect_presence(from, type, timeout). type defaults to any non-error type.
function Account:expect_presence(o, ptype, timeout)
	if type(o) ~= "table" then o = { from = o, type = ptype, timeout = timeout } end
	return self:expect({ kind = "presence", from = o.from, type = o.type,
		not_type = (o.type == nil) and "error" or nil, status = o.status, timeout = o.timeout })
end

function Account:expect_no_presence(o, ptype, within)
	if type(o) ~= "table" then o = { from = o, type = ptype, within = within } end
	return self:expect_none({ kind = "presence", from = o.from, type = o.type,
		not_type = (o.type == nil) and "error" or nil, within = o.within })
end

--- Wait for an available presence from `from` and return its status text
-- (false when it has no <status/>), plus the record.
function Account:expect_status(from, timeout)
	local r, err = self:expect_presence{ from = from, type = "available", timeout = timeout }
	if not r then return nil, err end
	return r.status or false, r
end

--- Wait for a roster push (iq type="set", jabber:iq:roster) about `jid`; returns the
-- pushed item { jid, subscription, ask } and the record, or nil and an error.
function Account:expect_roster_push(jid, timeout)
	local r, err = self:expect({ kind = "iq", type = "set", roster_jid = jid, timeout = timeout })
	if not r then return nil, err end
	for _, item in ipairs(r.roster_items or {}) do
		if item.jid == jid then return item, r end
	end
	return nil, "no roster item for " .. jid .. " in " .. tostring(r.xml)
end

--- The roster: list of { jid, name, subscription, ask, groups }; also indexed by jid.
function Account:roster(timeout)
	local r, err = self:call("roster_get", { timeout = timeout or util.WAIT }, timeout or util.WAIT)
	if not r then return nil, err end
	local items = r.items or {}
	for _, it in ipairs(items) do items[it.jid] = it end
	return items
end

function Account:roster_add(jid, name, groups)
	return self:call("roster_set", { jid = jid, name = name, groups = groups })
end

function Account:roster_remove(jid)
	return self:call("roster_set", { jid = jid, remove = true })
end

--- iq{ to, type = "get", payload = "<query xmlns='jabber:iq:version'/>", timeout }.
-- Returns the response record (type "result" or "error", error, xml), or nil
-- and "timeout waiting for iq …".
function Account:iq(o)
	local timeout = o.timeout or self.driver.default_timeout
	local r, err = self:call("iq", { to = o.to, type = o.type or "get", payload = o.payload, timeout = timeout }, timeout)
	if r then return r end
	if err == "timeout" then return nil, ("timeout waiting for iq result from %s"):format(tostring(o.to)) end
	return nil, err
end

--- One ad-hoc command step (XEP-0050): command{ to, node, action = "execute", sessionid,
-- fields = { { var, value or { values } }, ... } (a submitted form), timeout }. Returns the reply
-- as slixmpp reads it: { type, status, sessionid, actions, notes = { { type, text } },
-- forms = { { type, title, fields = { { var, type, label, required, options, values } },
-- reported = { var, ... }, items = { { var = value } } } }, error, xml }, or nil, err.
function Account:command(o)
	local timeout = o.timeout or self.driver.default_timeout
	local form = ""
	if o.fields then
		local out = { "<x xmlns='jabber:x:data' type='submit'>" }
		for _, f in ipairs(o.fields) do
			out[#out + 1] = ("<field var='%s'>"):format(util.xml_escape(f[1]))
			for _, v in ipairs(type(f[2]) == "table" and f[2] or { f[2] }) do
				out[#out + 1] = "<value>" .. util.xml_escape(tostring(v)) .. "</value>"
			end
			out[#out + 1] = "</field>"
		end
		out[#out + 1] = "</x>"
		form = table.concat(out)
	end
	local payload = ("<command xmlns='http://jabber.org/protocol/commands' node='%s' action='%s'%s>%s</command>")
		:format(util.xml_escape(o.node), o.action or "execute",
			o.sessionid and (" sessionid='" .. util.xml_escape(o.sessionid) .. "'") or "", form)
	local r, err = self:call("command", { to = o.to, payload = payload, timeout = timeout }, timeout)
	if r then return r end
	if err == "timeout" then return nil, ("timeout waiting for command %s at %s"):format(o.node, tostring(o.to)) end
	return nil, err
end

--- Software version query (XEP-0092).
function Account:version(to, timeout)
	return self:iq{ to = to, type = "get", payload = "<query xmlns='jabber:iq:version'/>", timeout = timeout }
end

--- Send raw XML on the stream.
function Account:send_raw(xml)
	return self:call("send_raw", { xml = xml })
end

function Account:logout()
	local r, err = self:call("logout", {})
	self.driver.accounts[self.name] = nil
	if self.driver.default_account == self then self.driver.default_account = nil end
	return r, err
end

--- Log in several accounts at once (the driver handles them concurrently).
-- list: login opts as for login(). Returns a list of Accounts in the same
-- order, or nil and the first error. The logins share the servers' CPU (a TLS handshake and
-- a SCRAM exchange each), so each one's bound grows with the batch: util.WAIT plus
-- LOGIN_EACH seconds for every other login of the batch, unless opts.timeout says otherwise.
local LOGIN_EACH = 1
function Driver:login_many(list)
	local pending = {}
	local bound = util.WAIT + LOGIN_EACH * (#list - 1)
	for i, opts in ipairs(list) do
		if opts.timeout == nil then opts = setmetatable({ timeout = bound }, { __index = opts }) end
		-- Each login runs in its own coroutine: call() yields while it waits.
		pending[i] = coroutine.create(function() return self:login(opts) end)
	end
	local results, errs = {}, {}
	local waiting = true
	self.batch = true -- call() yields instead of sleeping while it waits
	for i, co in ipairs(pending) do
		local ok, r, err = coroutine.resume(co)
		if not ok then error(r) end
		if coroutine.status(co) == "dead" then results[i], errs[i] = r, err end
	end
	while waiting do
		waiting = false
		self:read_responses()
		for i, co in ipairs(pending) do
			if coroutine.status(co) == "suspended" then
				local ok, r, err = coroutine.resume(co)
				if not ok then error(r) end
				if coroutine.status(co) == "dead" then results[i], errs[i] = r, err else waiting = true end
			end
		end
		if waiting then util.sleep(0.005) end
	end
	self.batch = nil
	for i = 1, #list do
		if not results[i] then return nil, errs[i] or "login failed" end
	end
	return results
end

return client
