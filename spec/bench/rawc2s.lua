-- A lean raw-socket c2s client for the end-to-end benchmark: STARTTLS (luasec), SASL PLAIN,
-- resource binding, then raw writes of pre-built stanzas and a counter of received messages.
-- No XML parser: the login steps wait for fixed markers, and received messages are counted by
-- their closing tag. It costs a few µs of CPU per message, well below a server's ~50 µs, so it
-- is never the bottleneck (the benchmark reports its CPU next to the servers').
local socket = require "socket"
local ssl = require "ssl"
local mime = require "mime"

local M = {}
local Client = {}
Client.__index = Client

local function header(domain)
	return ("<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
		.. "xmlns:stream='http://etherx.jabber.org/streams' to='%s' version='1.0'>"):format(domain)
end

-- Read until `marker` appears in what was read since the last call; returns the text.
function Client:read_until(marker, timeout)
	local deadline = socket.gettime() + (timeout or 10)
	local buf = self.pending or ""
	while not buf:find(marker, 1, true) do
		if socket.gettime() > deadline then
			error(("rawc2s %s: timeout waiting for %s; got %q"):format(self.jid, marker, buf:sub(-300)))
		end
		self.conn:settimeout(0.2)
		local data, err, partial = self.conn:receive(4096)
		data = data or partial
		if data and #data > 0 then
			buf = buf .. data
		elseif err ~= "timeout" and err ~= "wantread" then
			error(("rawc2s %s: %s while waiting for %s; got %q"):format(self.jid, tostring(err), marker, buf:sub(-300)))
		end
	end
	local _, e = buf:find(marker, 1, true)
	self.pending = buf:sub(e + 1)
	return buf:sub(1, e)
end

function Client:send(data)
	self.conn:settimeout(10)
	local ok, err = self.conn:send(data)
	assert(ok, "rawc2s send: " .. tostring(err))
end

--- Log in: { addr, port, user, domain, password, resource, count }. Returns a connected client
-- that counts the received stanzas named `count` ("message", the default, or "presence").
function M.login(o)
	local self = setmetatable({ jid = o.user .. "@" .. o.domain, received = 0, tail = "",
		closing = "</" .. (o.count or "message") .. ">" }, Client)
	local tcp = assert(socket.tcp())
	tcp:settimeout(10)
	assert(tcp:connect(o.addr, o.port))
	tcp:setoption("tcp-nodelay", true)
	self.conn = tcp
	self:send(header(o.domain))
	self:read_until("</stream:features>")
	self:send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
	self:read_until("<proceed")
	self:read_until(">")
	-- The benchmark measures the servers, not certificate checking on the client side.
	local conn = assert(ssl.wrap(tcp, { mode = "client", protocol = "any", verify = "none",
		options = { "all" } }))
	conn:sni(o.domain)
	conn:settimeout(10)
	assert(conn:dohandshake())
	self.conn, self.pending = conn, ""
	self:send(header(o.domain))
	self:read_until("</stream:features>")
	self:send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>"
		.. mime.b64("\0" .. o.user .. "\0" .. o.password) .. "</auth>")
	local answer = self:read_until("/>")
	assert(answer:find("<success", 1, true), "rawc2s: SASL PLAIN failed: " .. answer)
	self:send(header(o.domain))
	self:read_until("</stream:features>")
	self:send("<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>"
		.. (o.resource or "bench") .. "</resource></bind></iq>")
	self:read_until("</iq>")
	if o.presence then self:send("<presence/>") end
	self.pending = ""
	return self
end

--- Read what is available without blocking; counts the closing tags (across read boundaries).
function Client:drain()
	local closing = self.closing
	self.conn:settimeout(0)
	while true do
		local data, err, partial = self.conn:receive(65536)
		data = data or partial
		if data and #data > 0 then
			local s = self.tail .. data
			local _, n = s:gsub(closing, "")
			self.received = self.received + n
			self.tail = s:sub(-(#closing - 1))
			if s:sub(-#closing) == closing then self.tail = "" end
		end
		if err then
			if err ~= "timeout" and err ~= "wantread" then error("rawc2s " .. self.jid .. ": " .. err) end
			return
		end
	end
end

--- Wait until `count` messages have been received in total (or `timeout` s); returns the count.
function Client:wait_received(count, timeout)
	local deadline = socket.gettime() + (timeout or 10)
	while self.received < count and socket.gettime() < deadline do
		self:drain()
		if self.received < count and not self.conn:dirty() then
			socket.select({ self.conn }, nil, 0.05)
		end
	end
	return self.received
end

--- Send the stanzas of `list` (strings) from `self` while draining `receiver`, `batch` (100) per
-- write and at most `window` in flight; returns when the receiver has them all (or raises after
-- `timeout`). With batch = window = 1, one stanza at a time: the same reads and writes every run.
function Client:pump(list, receiver, window, timeout, batch)
	local target = receiver.received + #list
	local deadline = socket.gettime() + (timeout or 60)
	local i = 1
	batch = batch or 100
	while receiver.received < target do
		if socket.gettime() > deadline then
			error(("rawc2s: %d of %d messages received before the timeout"):format(
				receiver.received - (target - #list), #list))
		end
		local in_flight = (i - 1) - (receiver.received - (target - #list))
		if i <= #list and in_flight < window then
			local j = math.min(#list, i + batch - 1)
			self:send(table.concat(list, "", i, j))
			i = j + 1
		else
			if not receiver.conn:dirty() then socket.select({ receiver.conn }, nil, 0.05) end
		end
		receiver:drain()
	end
end

function Client:close()
	pcall(function()
		self.conn:settimeout(1)
		self.conn:send("</stream:stream>")
		self.conn:close()
	end)
end

return M
