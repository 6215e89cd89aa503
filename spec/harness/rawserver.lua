-- A scripted raw s2s *server* for fault specs: it listens on its own 127.0.0.x:5269 for the
-- domains it is declared with, accepts the connection a real Prosody opens to them, and answers
-- one step at a time as the test says (header, features, <proceed/>, part of a TLS handshake,
-- a dialback answer, garbage, silence). The test process drives it between its own waits:
-- Prosody runs on its own, so nothing here needs a thread.
--
--   local rawserver = require "rawserver"
--   local f = rawserver.new(env, { hosts = { "f.test" } })  -- before env:start()
--   env:start()                                             -- claims its address, listens
--   local conn = assert(f:accept(T))                        -- once a.test connects to f.test
--   assert(conn:answer("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"))
--
-- Like ejabberd.lua's peer it joins env.servers: env:start() claims its address (the hosts file
-- maps its domains for every Prosody), env:stop() / cleanup() close it and release the claim.
local socket = require "socket"
local ssl = require "ssl"
local rawpeer = require "rawpeer"
local util = require "harness.util"
local tlsflight = require "harness.tlsflight"

local rawserver = {}

local Listener = {}
Listener.__index = Listener

-- An accepted connection: a rawpeer (read, expect, send, transcript, close) plus the server's
-- side of the negotiation.
local Conn = setmetatable({}, { __index = rawpeer.Peer })
Conn.__index = Conn

local XMLNS_STREAM = "http://etherx.jabber.org/streams"
local XMLNS_TLS = "urn:ietf:params:xml:ns:xmpp-tls"

--- Declare a raw server for `opts.hosts` in `env` (listening from env:start()). `opts.rcvbuf`:
-- the receive buffer of accepted connections in bytes (small: a peer that stops reading fills it soon).
function rawserver.new(env, opts)
	assert(type(opts) == "table" and type(opts.hosts) == "table" and opts.hosts[1], "rawserver: opts.hosts is required")
	local self = setmetatable({ env = env, opts = opts, kind = "rawserver", host = opts.hosts[1], hosts = {},
		addr = opts.addr, s2s_port = 5269, c2s_port = 5222, conns = {} }, Listener)
	for i, h in ipairs(opts.hosts) do
		assert(not env.by_host[h], "duplicate server " .. h)
		self.hosts[i] = h
		env.by_host[h] = self
	end
	env.servers[#env.servers + 1] = self
	return self
end

function Listener:launch()
	self.env:claim_addr(self)
	local sock = assert(socket.tcp4()) -- tcp() has no descriptor to set options on before bind()
	assert(sock:setoption("reuseaddr", true))
	if self.opts.rcvbuf then assert(sock:setoption("recv-buffer-size", self.opts.rcvbuf)) end
	assert(sock:bind(self.addr, self.s2s_port))
	assert(sock:listen(4096))
	self.sock = sock
	self.pid = "in-process" -- env:start() launches what has no pid
	return self
end

function Listener:wait_ready()
	self.ready_after = 0
	return true
end

function Listener:start()
	return self:launch()
end

function Listener:running()
	return self.sock ~= nil
end

--- The next connection a server makes to one of our domains, or nil, "timeout".
function Listener:accept(timeout)
	self.sock:settimeout(timeout or util.WAIT)
	local sock, err = self.sock:accept()
	if not sock then return nil, err end
	sock:settimeout(util.WAIT)
	local conn = rawpeer.wrap(sock, Conn)
	self.conns[#self.conns + 1] = conn
	return conn
end

function Listener.request_stop() end

function Listener:stop()
	for _, conn in ipairs(self.conns) do conn:close() end
	self.conns = {}
	if self.sock then self.sock:close() end
	self.sock, self.pid = nil, nil
	self.env:release_addr(self)
	return true
end

--- What every accepted connection sent and received (for env:dump_logs()).
function Listener:log_tail()
	local out = {}
	for i, conn in ipairs(self.conns) do out[i] = ("-- connection %d\n%s"):format(i, conn:transcript()) end
	return table.concat(out, "\n")
end

--- Wait for the connecting server's stream header; true, or nil and why.
function Conn:wait_header(timeout)
	local ok = util.poll(function()
		if self.stream_open then return true end
		if self.closed or not self:pump(util.now() + 0.2) then return "closed" end
	end, timeout or util.WAIT, 0)
	if ok == true then return true end
	return nil, ok or "timeout"
end

--- Wait for the header, then send ours (with a stream id) followed by <stream:features/>
-- holding `features` (raw XML; nil: send no features at all).
function Conn:answer(features, timeout)
	local ok, err = self:wait_header(timeout)
	if not ok then return nil, err end
	local attr = self.stream_attr
	self.id = self.id and self.id + 1 or 1
	local header = ("<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='%s'"
		.. " xmlns:db='jabber:server:dialback' from='%s' to='%s' id='raw-%d' version='1.0'>")
		:format(XMLNS_STREAM, attr.to or self.host or "", attr.from or "", self.id)
	if features then header = header .. "<stream:features>" .. features .. "</stream:features>" end
	return self:send(header)
end

--- After the server sent <starttls/>: answer <proceed/> and take the server side of TLS with
-- `opts.certificate` / `opts.key`. opts.partial: stop mid-handshake (the ClientHello read, our
-- ServerHello sent, nothing more) and return. Otherwise a fresh stream follows.
function Conn:proceed(opts)
	local starttls, err = self:expect("starttls", XMLNS_TLS, opts.timeout)
	if not starttls then return nil, err end
	self:send("<proceed xmlns='" .. XMLNS_TLS .. "'/>")
	local params = { mode = "server", protocol = "any", verify = "none", options = { "all" },
		certificate = opts.certificate, key = opts.key }
	if opts.partial then
		-- The ClientHello read, the first record of our answer sent (the ServerHello): the client
		-- waits for the rest (RFC 8446 §2), which never comes.
		local hello = tlsflight.read_record(self.sock, opts.timeout)
		if not tlsflight.whole_record(hello) then return nil, "no ClientHello" end
		local flight = tlsflight.first(params, hello)
		assert(self.sock:send(flight:sub(1, 5 + flight:byte(4) * 256 + flight:byte(5))))
		return true
	end
	local conn, werr = ssl.wrap(self.sock, params)
	if not conn then return nil, werr end
	conn:settimeout(opts.timeout or util.WAIT)
	local ok, herr = conn:dohandshake()
	if not ok then return nil, herr end
	self.sock = conn
	self:new_parser()
	return true
end

--- The next connection, taken through STARTTLS (required) with `cert` ({ cert, key }): the
-- connection once the TLS stream's header has arrived, or nil and why.
function Listener:accept_tls(cert, timeout)
	local conn, err = self:accept(timeout)
	if not conn then return nil, err end
	local ok, perr = conn:answer("<starttls xmlns='" .. XMLNS_TLS .. "'><required/></starttls>", timeout)
	if ok then ok, perr = conn:proceed{ certificate = cert.cert, key = cert.key, timeout = timeout } end
	if ok then ok, perr = conn:wait_header(timeout) end
	if not ok then return nil, perr end
	return conn
end

return rawserver
