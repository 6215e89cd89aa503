-- A scripted raw-socket s2s peer for hostile-peer tests: it speaks just enough XMPP to open a
-- stream, read features, start TLS and send whatever a test tells it to, and it reports exactly
-- what the server answered (elements, stream errors, close). Loopback only.
local socket = require "socket"
local ssl = require "ssl"
local lxp = require "lxp"

local rawpeer = {}
local Peer = {}
Peer.__index = Peer

local NS_SEP = "\1"
local XMLNS_STREAM = "http://etherx.jabber.org/streams"
local XMLNS_STREAMS_ERR = "urn:ietf:params:xml:ns:xmpp-streams"

local function split_name(qname)
	local ns, name = qname:match("^(.-)\1(.*)$")
	if not ns then return nil, qname end
	return ns, name
end

-- A fresh expat parser that turns the stream into a queue of top-level elements.
function Peer:new_parser()
	local depth, stack = 0, {}
	self.queue = {}
	local queue = self.queue
	self.parser = lxp.new({
		StartElement = function (_, qname, attr)
			local ns, name = split_name(qname)
			depth = depth + 1
			if depth == 1 then
				self.stream_attr = {}
				for k, v in pairs(attr) do
					if type(k) == "string" then self.stream_attr[k] = v end
				end
				self.stream_open = true
				return
			end
			local el = { name = name, xmlns = ns, attr = {}, tags = {}, text = "" }
			for k, v in pairs(attr) do
				if type(k) == "string" then el.attr[k] = v end
			end
			if #stack > 0 then table.insert(stack[#stack].tags, el) end
			stack[#stack + 1] = el
		end,
		EndElement = function ()
			depth = depth - 1
			if depth == 0 then
				self.stream_closed = true
				return
			end
			local el = table.remove(stack)
			if #stack == 0 then queue[#queue + 1] = el end
		end,
		CharacterData = function (_, data)
			if #stack > 0 then stack[#stack].text = stack[#stack].text .. data end
		end,
	}, NS_SEP)
end

--- Connect to addr:port (127.0.0.x only).
function rawpeer.connect(addr, port, timeout)
	assert(addr:match("^127%.0%.0%.%d+$"), "raw peers connect to loopback only")
	local sock = assert(socket.tcp())
	sock:settimeout(timeout or 5)
	local ok, err = sock:connect(addr, port or 5269)
	if not ok then return nil, err end
	local self = setmetatable({ sock = sock, closed = false }, Peer)
	self:new_parser()
	return self
end

function Peer:send(data)
	local ok, err = self.sock:send(data)
	if not ok then self.closed = true end
	return ok, err
end

--- Send a stream header; `from` may be nil (an anonymous stream).
function Peer:open(from, to)
	self.from, self.to = from, to
	local from_attr = from and (" from='" .. from .. "'") or ""
	return self:send(("<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='%s'"
		.. " xmlns:db='jabber:server:dialback' to='%s'%s version='1.0'>"):format(XMLNS_STREAM, to, from_attr))
end

-- Feed whatever arrives within `deadline` into the parser; false once the connection is gone.
function Peer:pump(deadline)
	local remaining = deadline - socket.gettime()
	if remaining <= 0 then return true end
	self.sock:settimeout(math.min(remaining, 0.2))
	local data, err, partial = self.sock:receive(4096)
	data = data or partial
	if data and #data > 0 then
		local ok, perr = self.parser:parse(data)
		if not ok then error("raw peer: unparsable data from server: " .. tostring(perr)) end
	end
	if err == "closed" then
		self.closed = true
		return false
	end
	return true
end

--- The next top-level element (table with name, xmlns, attr, tags, text), or nil, "closed" | "timeout".
function Peer:read(timeout)
	local deadline = socket.gettime() + (timeout or 5)
	while true do
		if #self.queue > 0 then return table.remove(self.queue, 1) end
		if self.closed or self.stream_closed then return nil, "closed" end
		if socket.gettime() >= deadline then return nil, "timeout" end
		self:pump(deadline)
	end
end

--- Read elements until one named `name` (optionally in `xmlns`) arrives; stream errors end the wait.
function Peer:expect(name, xmlns, timeout)
	local deadline = socket.gettime() + (timeout or 5)
	while true do
		local el, err = self:read(deadline - socket.gettime())
		if not el then return nil, err end
		if el.name == name and (not xmlns or el.xmlns == xmlns) then return el end
		if el.name == "error" and el.xmlns == XMLNS_STREAM then
			self.stream_error = el
			return nil, "stream error: " .. rawpeer.stream_error_condition(el)
		end
	end
end

--- Wait for the server's stream error (and the end of the stream); returns condition, text.
function Peer:expect_stream_error(timeout)
	local deadline = socket.gettime() + (timeout or 5)
	if self.stream_error then return rawpeer.stream_error_condition(self.stream_error) end
	while true do
		local el, err = self:read(deadline - socket.gettime())
		if not el then return nil, err end
		if el.name == "error" and el.xmlns == XMLNS_STREAM then
			self.stream_error = el
			return rawpeer.stream_error_condition(el)
		end
		self.received = self.received or {}
		table.insert(self.received, el)
	end
end

function rawpeer.child(el, name, xmlns)
	for _, t in ipairs(el.tags) do
		if t.name == name and (not xmlns or t.xmlns == xmlns) then return t end
	end
end

--- condition, text of a <stream:error/> element.
function rawpeer.stream_error_condition(el)
	local condition, text
	for _, t in ipairs(el.tags) do
		if t.xmlns == XMLNS_STREAMS_ERR then
			if t.name == "text" then text = t.text else condition = t.name end
		end
	end
	return condition, text
end

--- After <features/> offered STARTTLS: negotiate TLS (certificate not verified) and reopen.
function Peer:starttls(opts)
	opts = opts or {}
	self:send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
	local proceed, err = self:expect("proceed", "urn:ietf:params:xml:ns:xmpp-tls", opts.timeout)
	if not proceed then return nil, err end
	local params = { mode = "client", protocol = "any", verify = "none", options = { "all" } }
	if opts.certificate then
		params.certificate, params.key = opts.certificate, opts.key
	end
	local conn, werr = ssl.wrap(self.sock, params)
	if not conn then return nil, werr end
	conn:settimeout(opts.timeout or 5)
	local ok, herr = conn:dohandshake()
	if not ok then return nil, herr end
	self.sock = conn
	self:new_parser()
	self:open(self.from, self.to)
	return true
end

function Peer:close()
	if not self.closed then
		pcall(self.sock.send, self.sock, "</stream:stream>")
		pcall(self.sock.close, self.sock)
		self.closed = true
	end
end

return rawpeer
