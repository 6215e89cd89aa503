-- A small HTTP/1.1 client for specs of the web panel and JSON API (README "Web panel and JSON
-- API"): one request per connection to a harness server's address, over TLS verified against the
-- test CA with the virtual host's name as SNI and Host (or over plain TCP, to check that plain
-- HTTP gets no data). luasocket + luasec; every wait bounded by util.WAIT.
local socket = require "socket"
local ssl = require "ssl"
local util = require "harness.util"

local M = {}

-- "Set-Cookie"-style header names as Prosody's request.headers spell them: lower case, "_" for "-".
local function key(name) return (name:lower():gsub("-", "_")) end

--- request{ server, port, method, path, headers = {}, body, plain = false, host }
-- -> { status, headers = { [lower_name] = value }, body } or nil, err
function M.request(opts)
	local server = opts.server
	local conn = socket.tcp()
	conn:settimeout(util.WAIT)
	local ok, err = conn:connect(server.addr, opts.port)
	if not ok then return nil, "connect: " .. tostring(err) end
	local host = opts.host or server.host
	if not opts.plain then
		conn, err = ssl.wrap(conn, { mode = "client", protocol = "any", verify = "peer",
			options = { "all", "no_sslv2", "no_sslv3" }, cafile = server.env.ca.cert })
		if not conn then return nil, "tls: " .. tostring(err) end
		conn:sni(host)
		conn:settimeout(util.WAIT)
		ok, err = conn:dohandshake()
		if not ok then return nil, "handshake: " .. tostring(err) end
	end
	local lines = { ("%s %s HTTP/1.1"):format(opts.method or "GET", opts.path), "Host: " .. host, "Connection: close" }
	local body = opts.body or ""
	for name, value in pairs(opts.headers or {}) do lines[#lines + 1] = name .. ": " .. value end
	if opts.body then lines[#lines + 1] = "Content-Length: " .. #body end
	ok, err = conn:send(table.concat(lines, "\r\n") .. "\r\n\r\n" .. body)
	if not ok then return nil, "send: " .. tostring(err) end
	local chunks = {}
	while true do
		local data, rerr, partial = conn:receive(8192)
		data = data or partial
		if data and data ~= "" then chunks[#chunks + 1] = data end
		if rerr == "closed" then break end
		if rerr then conn:close(); return nil, "receive: " .. tostring(rerr) end
	end
	conn:close()
	local raw = table.concat(chunks)
	local head, rest = raw:match("^(.-)\r\n\r\n(.*)$")
	if not head then return nil, "no HTTP response: " .. raw:sub(1, 200) end
	local status = tonumber(head:match("^HTTP/1%.%d (%d%d%d)"))
	local headers = {}
	for name, value in head:gmatch("\r\n([^:\r\n]+):%s*([^\r\n]*)") do headers[key(name)] = value end
	local length = tonumber(headers.content_length or "")
	return { status = status, headers = headers, body = length and rest:sub(1, length) or rest }
end

return M
