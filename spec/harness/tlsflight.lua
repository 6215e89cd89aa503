-- One flight of a TLS handshake as raw bytes, for peers that stop in the middle of one
-- (spec/integration/faults_spec.lua). LuaSec runs the handshake on a loopback socket pair of
-- our own, so nothing ever answers it: the bytes are exactly its first flight whatever the
-- timing, and the test forwards them (or not) to the real server itself.
local socket = require "socket"
local ssl = require "ssl"
local util = require "harness.util"

local tlsflight = {}

-- Everything available on `sock` within `timeout`, or until `complete(data)` holds.
local function drain(sock, timeout, complete)
	local data = ""
	util.poll(function()
		if not socket.select({ sock }, nil, 0.05)[1] then return complete and complete(data) end
		sock:settimeout(0)
		local chunk, err, partial = sock:receive(65536)
		data = data .. (chunk or partial or "")
		return err == "closed" or (complete and complete(data))
	end, timeout or util.WAIT, 0)
	return data
end

--- True when `data` holds at least one whole TLS record (RFC 8446 §5.1: 5-byte header with
-- the length in octets 4-5).
function tlsflight.whole_record(data)
	if #data < 5 then return false end
	return #data >= 5 + data:byte(4) * 256 + data:byte(5)
end

--- Read from `sock` until it holds a whole TLS record (a ClientHello, a ServerHello…).
function tlsflight.read_record(sock, timeout)
	return drain(sock, timeout, tlsflight.whole_record)
end

--- The first flight of an endpoint with LuaSec `params`: a client's ClientHello, or (with
-- `hello`, the client's bytes) a server's answer to it.
function tlsflight.first(params, hello)
	local listener = assert(socket.bind("127.0.0.1", 0))
	local _, port = listener:getsockname()
	local near = assert(socket.tcp4())
	assert(near:connect("127.0.0.1", port))
	local far = assert(listener:accept())
	listener:close()
	local tls = assert(ssl.wrap(near, params))
	if hello then
		assert(far:send(hello))
		socket.select({ tls }, nil, util.WAIT)
	end
	tls:settimeout(0)
	local done, err = tls:dohandshake()
	assert(not done and err == "wantread", "TLS flight: " .. tostring(err))
	local flight = drain(far, 1, function(data) return data ~= "" end)
	tls:close()
	far:close()
	return flight
end

return tlsflight
