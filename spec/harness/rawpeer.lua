-- A scripted raw-socket s2s peer for hostile-peer tests: it speaks just enough XMPP to open a
-- stream, read features, start TLS and send whatever a test tells it to, and it reports exactly
-- what the server answered (elements, stream errors, close). Loopback only.
local socket = require "socket"
local ssl = require "ssl"
local lxp = require "lxp"
local util = require "harness.util"
local tlsflight = require "harness.tlsflight"

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
	self.stream_open, self.stream_closed = false, false -- of the stream this parser reads
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
	sock:settimeout(timeout or util.WAIT)
	local ok, err = sock:connect(addr, port or 5269)
	if not ok then return nil, err end
	return rawpeer.wrap(sock)
end

--- A peer on a connected socket (rawserver.lua wraps the connections it accepts).
function rawpeer.wrap(sock, class)
	local self = setmetatable({ sock = sock, closed = false }, class or Peer)
	self:new_parser()
	return self
end

rawpeer.Peer = Peer

function Peer:send(data)
	self.log = self.log or {}
	self.log[#self.log + 1] = ">> " .. data
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

-- Feed whatever arrives before `deadline` into the parser; false once the connection is gone.
-- (receive(n) would wait for all n bytes: wait for readability, then take what is there.)
function Peer:pump(deadline)
	local remaining = deadline - socket.gettime()
	if remaining <= 0 then return true end
	local buffered = self.sock.dirty and self.sock:dirty() -- TLS records already decrypted
	if not buffered then
		local readable = socket.select({ self.sock }, nil, math.min(remaining, 0.5))
		if not readable or not readable[1] then return true end
	end
	self.sock:settimeout(0)
	local data, err, partial = self.sock:receive(65536)
	self.sock:settimeout(5)
	data = data or partial
	if data and #data > 0 then
		self.log = self.log or {}
		self.log[#self.log + 1] = "<< " .. data
		local ok, perr = self.parser:parse(data)
		if not ok then error("raw peer: unparsable data from server: " .. tostring(perr) .. ": " .. data) end
	end
	if err == "closed" then
		self.closed = true
		return false
	end
	return true
end

--- The next top-level element (table with name, xmlns, attr, tags, text), or nil, "closed" | "timeout".
function Peer:read(timeout)
	local deadline = socket.gettime() + (timeout or util.WAIT)
	while true do
		if #self.queue > 0 then return table.remove(self.queue, 1) end
		if self.closed or self.stream_closed then return nil, "closed" end
		if socket.gettime() >= deadline then return nil, "timeout" end
		self:pump(deadline)
	end
end

--- Read elements until one named `name` (optionally in `xmlns`) arrives; stream errors end the wait.
function Peer:expect(name, xmlns, timeout)
	local deadline = socket.gettime() + (timeout or util.WAIT)
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
	local deadline = socket.gettime() + (timeout or util.WAIT)
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
-- opts: certificate, key, timeout; partial (stop in the middle of the handshake, see below).
function Peer:starttls(opts)
	opts = opts or {}
	self:send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
	local answer, err = self:read(opts.timeout)
	if not answer then return nil, err end
	if answer.name == "error" and answer.xmlns == XMLNS_STREAM then
		self.stream_error = answer
		return nil, "stream error: " .. rawpeer.stream_error_condition(answer)
	elseif answer.name ~= "proceed" then
		return nil, answer.name -- <failure/>: TLS refused
	end
	local params = { mode = "client", protocol = "any", verify = "none", options = { "all" } }
	if opts.certificate then
		params.certificate, params.key = opts.certificate, opts.key
	end
	if opts.partial then
		-- Mid-handshake: our ClientHello sent, the server's answer read, nothing more.
		assert(self.sock:send(tlsflight.first(params)))
		if not tlsflight.whole_record(tlsflight.read_record(self.sock, opts.timeout)) then
			return nil, "no answer to the ClientHello"
		end
		return true
	end
	local conn, werr = ssl.wrap(self.sock, params)
	if not conn then return nil, werr end
	conn:settimeout(opts.timeout or util.WAIT)
	local ok, herr = conn:dohandshake()
	if not ok then return nil, herr end
	self.sock = conn
	self:new_parser()
	self:open(self.from, self.to)
	return true
end

--- Restart the stream (after SASL <success/>): a fresh parser and a new header.
function Peer:restart()
	self:new_parser()
	return self:open(self.from, self.to)
end

--- Everything sent (">> ") and received ("<< ") so far, for assertion messages.
function Peer:transcript()
	return table.concat(self.log or {}, "\n")
end

--- Wait for the server's stream header and <stream:features/>; returns the features element.
function Peer:features(timeout)
	return self:expect("features", XMLNS_STREAM, timeout)
end

--- True when `features` (an element from features()) offers `name` (in `xmlns`).
function rawpeer.offers(features, name, xmlns)
	return rawpeer.child(features, name, xmlns) ~= nil
end

--- The SASL mechanisms offered in `features` (a set), empty when none.
function rawpeer.mechanisms(features)
	local set = {}
	local m = rawpeer.child(features, "mechanisms", "urn:ietf:params:xml:ns:xmpp-sasl")
	for _, t in ipairs(m and m.tags or {}) do set[t.text] = true end
	return set
end

--- Ask to be authenticated as `from` by dialback (XEP-0220 db:result with `key`).
function Peer:dialback(from, to, key)
	return self:send(("<db:result from='%s' to='%s'>%s</db:result>"):format(from, to, key or "00"))
end

--- Ask dialback for `from` with the key its authoritative server (a real server whose
-- dialback_secret is `secret`) will confirm for this stream: XEP-0185, computed by the C core
-- exactly as Prosody does. `to` defaults to the stream's `to`.
function Peer:dialback_as(from, secret, to)
	to = to or self.to
	local id = assert(self.stream_attr and self.stream_attr.id, "dialback_as: the stream has no id yet")
	local key = assert(require("s2s_partners").dialback_key(secret, to, from, id))
	return self:dialback(from, to, key)
end

--- Wait for the answer to our db:result; true when it is type="valid", else nil and why.
function Peer:expect_dialback_valid(timeout)
	local result, err = self:expect("result", "jabber:server:dialback", timeout)
	if not result then return nil, ("no dialback result (%s): %s"):format(tostring(err), self:transcript()) end
	if result.attr.type ~= "valid" then return nil, "dialback " .. tostring(result.attr.type) .. ": " .. self:transcript() end
	return true
end

--- SASL EXTERNAL (XEP-0178); authzid defaults to the stream's `from` (base64), "=" for empty.
function Peer:auth_external(authzid)
	local mime = require "mime"
	local text = authzid or self.from
	text = text and text ~= "" and mime.b64(text) or "="
	return self:send(("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>%s</auth>"):format(text))
end

--- Close the TCP connection at once, without a stream close (a crash, a cut cable).
function Peer:drop()
	if not self.closed then
		pcall(self.sock.close, self.sock)
		self.closed = true
	end
end

function Peer:close()
	if not self.closed then
		pcall(self.sock.send, self.sock, "</stream:stream>")
		pcall(self.sock.close, self.sock)
		self.closed = true
	end
end

return rawpeer
