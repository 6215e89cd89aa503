-- Many concurrent incoming s2s streams from one process, for the `streams` benchmark: each
-- stream opens from its own domain, takes STARTTLS with a client certificate, authenticates by
-- SASL EXTERNAL (XEP-0178), restarts, and then stays open and idle. Non-blocking sockets
-- (luasocket + luasec), one coroutine per stream and one epoll (or select) loop, with at most `window`
-- negotiations in flight, so the server, not the client, is the bottleneck. No XML parser: each
-- step waits for a fixed marker (a stream's features, <proceed/>, <success/>), as rawc2s.lua does.
-- Loopback only.
local socket = require "socket"
local ssl = require "ssl"
local mime = require "mime"

local M = {}

local XMLNS_STREAM = "http://etherx.jabber.org/streams"

local function header(from, to)
	return ("<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='%s'"
		.. " xmlns:db='jabber:server:dialback' from='%s' to='%s' version='1.0'>"):format(XMLNS_STREAM, from, to)
end

-- The end of a <stream:features/> element (with children or empty).
local function features_end(buf)
	local _, e = buf:find("</stream:features>", 1, true)
	if e then return e end
	_, e = buf:find("<stream:features%s*/>")
	return e
end

local Stream = {}
Stream.__index = Stream

-- Wait (yield to the loop) until the socket is readable ("r") or writable ("w").
local function wait(s, what)
	s.want = what
	coroutine.yield()
end

function Stream:send(data)
	local i = 1
	while i <= #data do
		local n, err, last = self.sock:send(data, i)
		if n then return true end
		if err == "timeout" or err == "wantwrite" or err == "wantread" then
			i = last + 1
			wait(self, err == "wantread" and "r" or "w")
		else
			error(("%s: send: %s"):format(self.from, err))
		end
	end
end

-- Read until `find(buf)` gives the end of what is wanted; returns that text, keeps the rest.
function Stream:read_until(find, what)
	while true do
		local e = find(self.buf)
		if e then
			local text = self.buf:sub(1, e)
			self.buf = self.buf:sub(e + 1)
			return text
		end
		local data, err, partial = self.sock:receive(65536)
		data = data or partial
		if data and #data > 0 then
			self.buf = self.buf .. data
		elseif err == "timeout" or err == "wantread" then
			wait(self, "r")
		elseif err == "wantwrite" then
			wait(self, "w")
		else
			error(("%s: %s while waiting for %s; got %q"):format(self.from, tostring(err), what, self.buf:sub(-300)))
		end
	end
end

local function plain(marker)
	return function (buf)
		local _, e = buf:find(marker, 1, true)
		return e
	end
end

-- The whole negotiation of one stream (runs in its coroutine).
function Stream:negotiate(o)
	local tcp = assert(socket.tcp())
	if o.source then assert(tcp:bind(o.source, 0)) end
	tcp:settimeout(5) -- a loopback connect completes at once (the listen backlog takes it)
	assert(tcp:connect(o.addr, o.port or 5269))
	tcp:setoption("tcp-nodelay", true)
	tcp:settimeout(0)
	self.sock = tcp
	self:send(header(self.from, o.to))
	local features = self:read_until(features_end, "stream features")
	assert(features:find("<starttls", 1, true), self.from .. ": STARTTLS not offered: " .. features)
	self:send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
	local answer = self:read_until(plain("/>"), "<proceed/>")
	assert(answer:find("<proceed", 1, true), self.from .. ": no <proceed/>: " .. answer)
	self.buf = ""
	local conn = assert(ssl.wrap(tcp, o.tls))
	conn:sni(o.to)
	conn:settimeout(0)
	self.sock = conn -- wrap() took the descriptor: select on the TLS object from now on
	while true do
		local ok, err = conn:dohandshake()
		if ok then break end
		if err == "wantread" then wait(self, "r")
		elseif err == "wantwrite" then wait(self, "w")
		else error(self.from .. ": TLS handshake: " .. tostring(err)) end
	end
	self:send(header(self.from, o.to))
	features = self:read_until(features_end, "stream features after TLS")
	assert(features:find("<mechanism>EXTERNAL</mechanism>", 1, true),
		self.from .. ": SASL EXTERNAL not offered: " .. features)
	self:send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>" .. mime.b64(self.from) .. "</auth>")
	answer = self:read_until(function (buf)
		local _, e = buf:find("<success[^>]*/>")
		if not e then _, e = buf:find("</success>", 1, true) end
		if not e then _, e = buf:find("</failure>", 1, true) end
		if not e then _, e = buf:find("</stream:stream>", 1, true) end
		return e
	end, "<success/>")
	assert(answer:find("<success", 1, true), self.from .. ": SASL EXTERNAL failed: " .. answer)
	self.buf = ""
	self:send(header(self.from, o.to))
	self:read_until(features_end, "stream features after SASL")
	self.authenticated = true
end

-- Prosody's epoll binding (util.poll), when a Prosody is installed: select() takes descriptors
-- below FD_SETSIZE (1024) only, and a benchmark holding streams to several servers has more.
local epoll
for _, dir in ipairs({ "/usr/lib/prosody", "/opt/s2sp-prosody13/usr/lib/prosody" }) do
	local f = io.open(dir .. "/util/poll.so")
	if f then
		f:close()
		local loader = package.loadlib(dir .. "/util/poll.so", "luaopen_util_poll")
		local ok, lib = pcall(loader or error)
		if ok and type(lib) == "table" and lib.new then epoll = lib break end
	end
end

--- A waiter for the streams being negotiated: epoll when available, else select().
function M.waiter()
	if epoll then
		local p, reg = epoll.new(), {}
		return {
			watch = function (s)
				local fd, r, w = s.sock:getfd(), s.want ~= "w", s.want == "w"
				if reg[fd] then assert(p:set(fd, r, w)) else assert(p:add(fd, r, w)) end
				reg[fd], s.fd = s, fd
			end,
			forget = function (s)
				if s.fd and reg[s.fd] == s then p:del(s.fd); reg[s.fd] = nil end
			end,
			wait = function (_, timeout)
				-- Level-triggered: a descriptor still ready comes again at once; one round of each.
				local ready, seen = {}, {}
				local fd = p:wait(timeout)
				while fd and not seen[fd] do
					seen[fd] = true
					ready[#ready + 1] = reg[fd]
					fd = p:wait(0)
				end
				return ready
			end,
		}
	end
	return {
		watch = function () end,
		forget = function () end,
		wait = function (active, timeout)
			local rset, wset, by_sock, ready = {}, {}, {}, {}
			for s in pairs(active) do
				if s.want == "w" then wset[#wset + 1] = s.sock else rset[#rset + 1] = s.sock end
				by_sock[s.sock] = s
			end
			local r, w = socket.select(rset, wset, timeout)
			for _, sock in ipairs(r) do ready[#ready + 1] = by_sock[sock] end
			for _, sock in ipairs(w) do ready[#ready + 1] = by_sock[sock] end
			return ready
		end,
	}
end

--- Open `#o.domains` streams to o.addr (o.to: the server's domain), stream i from o.domains[i]
-- and local address o.sources[(i - 1) % #o.sources + 1]; o.tls: a luasec context (or its
-- parameters) with the client certificate; at most o.window (32) negotiating at a time; raise
-- after o.timeout (120) s. o.waiter: from M.waiter() (one is made when absent). Returns
-- { streams = list, t0, t1 (first connect, last success, in socket.gettime() s), latency = list
-- of per-stream seconds, cpu = client CPU s (os.clock) }.
function M.open_many(o)
	local window, deadline = o.window or 32, socket.gettime() + (o.timeout or 120)
	local tls = o.tls
	if type(tls) == "table" then tls = assert(ssl.newcontext(tls)) end
	local waiter = o.waiter or M.waiter()
	local opts = { addr = o.addr, port = o.port, to = o.to, tls = tls }
	local streams, active, next_i, done = {}, {}, 1, 0
	local latency = {}
	local c0, t0 = os.clock(), socket.gettime()
	local function start(i)
		local s = setmetatable({ from = o.domains[i], buf = "", i = i }, Stream)
		local so = setmetatable({ source = o.sources and o.sources[(i - 1) % #o.sources + 1] }, { __index = opts })
		s.co = coroutine.create(function () s:negotiate(so) end)
		s.started = socket.gettime()
		streams[i] = s
		active[s] = true
		return s
	end
	local function step(s)
		local ok, err = coroutine.resume(s.co)
		if not ok then error(err, 0) end
		if coroutine.status(s.co) == "dead" then
			active[s] = nil
			waiter.forget(s)
			done = done + 1
			latency[s.i] = socket.gettime() - s.started
			s.co, s.want = nil, nil
		else
			waiter.watch(s)
		end
	end
	while done < #o.domains do
		while next_i <= #o.domains and (next_i - 1 - done) < window do
			step(start(next_i))
			next_i = next_i + 1
		end
		if socket.gettime() > deadline then
			error(("raws2s: %d of %d streams authenticated before the timeout"):format(done, #o.domains))
		end
		local ready = {}
		for s in pairs(active) do
			if s.want == "r" and s.sock.dirty and s.sock:dirty() then
				ready[#ready + 1] = s -- decrypted data already buffered: the descriptor shows nothing
			end
		end
		if #ready == 0 then ready = waiter.wait(active, 0.5) end
		for _, s in ipairs(ready) do
			if active[s] then step(s) end
		end
	end
	return { streams = streams, t0 = t0, t1 = socket.gettime(), latency = latency, cpu = os.clock() - c0 }
end

--- How many of `streams` the server has closed or written to since they authenticated (an
-- idle authenticated stream gets nothing): a read that does not wait on each.
function M.count_disturbed(streams)
	local n = 0
	for _, s in ipairs(streams) do
		s.sock:settimeout(0)
		local data, err, partial = s.sock:receive(1)
		if data or (partial and #partial > 0) or (err ~= "timeout" and err ~= "wantread") then n = n + 1 end
	end
	return n
end

--- Close every stream (a stream close, then the socket).
function M.close_all(streams)
	for _, s in ipairs(streams) do
		if s.sock then
			pcall(function ()
				s.sock:settimeout(0)
				s.sock:send("</stream:stream>")
				s.sock:close()
			end)
			s.sock = nil
		end
	end
end

return M
