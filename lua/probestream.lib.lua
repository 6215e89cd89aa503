-- One probe connection (README "Probe"): TCP (or direct TLS) to one address of the partner's
-- server, our stream header (RFC 6120 §4.7), its features, STARTTLS (RFC 6120 §5), the
-- certificate it presents, its features after TLS, and with `authenticate` SASL EXTERNAL
-- (XEP-0178), then a clean close (RFC 6120 §4.4). Its own socket through net.server: nothing of
-- mod_s2s (no session, no queue, no event) is touched.
--
-- Hostile peers: every step has a timeout (a slow-loris peer ends in "timeout waiting for …"),
-- the parser has a size limit, the bytes read are bounded, and what the peer says is cut
-- before it is kept. done(facts) is called exactly once.

local xmlns_stream = "http://etherx.jabber.org/streams";
local xmlns_tls = "urn:ietf:params:xml:ns:xmpp-tls";
local xmlns_sasl = "urn:ietf:params:xml:ns:xmpp-sasl";
local xmlns_dialback_feature = "urn:xmpp:features:dialback";
local xmlns_stanzas = "urn:ietf:params:xml:ns:xmpp-streams";

local MAX_BYTES = 256 * 1024;  -- everything read on one connection
-- Bytes asked of the socket per read. Not "*a" (what net.connect passes): on a non-blocking
-- socket LuaSocket's "*a" reads until the kernel has nothing left, and a peer that keeps the
-- socket buffer full (a flood over loopback, a second core) is never read to the end: one read
-- grew a server to 24 GB before the MAX_BYTES check below could see it.
local READ_SIZE = 8192;
local STANZA_LIMIT = 64 * 1024; -- one element (features included)
local MAX_MECHANISMS = 16;
local TEXT_MAX = 200;

local WAITING = {
	connect = "the TCP connection", stream = "the stream header", features = "stream features",
	proceed = "the STARTTLS answer", tls = "the TLS handshake", features_tls = "stream features after TLS",
	sasl = "the SASL answer", features_auth = "stream features after SASL", close = "the stream close",
};

local function cut(text)
	if text == nil then return nil; end
	return (tostring(text):gsub("%c", " "):sub(1, TEXT_MAX));
end

-- What a features element offers.
local function read_features(features)
	local out = { dialback = features:get_child("dialback", xmlns_dialback_feature) ~= nil, sasl = {} };
	local starttls = features:get_child("starttls", xmlns_tls);
	out.starttls = starttls ~= nil;
	out.starttls_required = starttls ~= nil and starttls:get_child("required") ~= nil;
	local mechanisms = features:get_child("mechanisms", xmlns_sasl);
	for mechanism in (mechanisms and mechanisms:childtags("mechanism") or function () end) do
		if #out.sasl < MAX_MECHANISMS then out.sasl[#out.sasl + 1] = cut(mechanism:get_text()); end
	end
	for _, m in ipairs(out.sasl) do if m == "EXTERNAL" then out.external = true; end end
	out.external = out.external == true;
	return out;
end

-- A stream error or SASL / TLS failure as "condition (text)".
local function condition_of(element, ns)
	local condition;
	for child in element:childtags() do
		if child.attr.xmlns == ns and child.name ~= "text" then condition = child.name; break; end
	end
	local text = element:get_child_text("text", ns);
	return cut((condition or "undefined-condition") .. (text and text ~= "" and (" (" .. text .. ")") or ""));
end

-- deps: { server = net.server, xmppstream, base64, add_task = util.timer.add_task, now }
return function (deps)
	--- run(o, done): o = { address, port, conn_type, direct_tls, host, domain, ssl_ctx, authenticate,
	-- try_external(facts) -> whether this host would try SASL EXTERNAL, step_timeout,
	-- certificate(socket) -> cert facts | nil, reason }. Returns
	-- abort(reason), which ends the connection at once (the probe's overall bound).
	return function (o, done)
		local facts = { address = o.address, port = o.port, direct_tls = o.direct_tls or nil };
		local started = deps.now();
		local conn, parser, token, finished, received, tls_started, authenticated = nil, nil, nil, false, 0, nil, false;
		local session = { notopen = true };

		local function ms(since) return math.floor((deps.now() - since) * 1000 + 0.5); end

		local function finish(err)
			if finished then return; end
			finished, token = true, nil;
			if err and not facts.error then facts.error = cut(err); end
			facts.ms = ms(started);
			if conn then
				local c = conn;
				conn = nil;
				c:close();
			end
			done(facts);
		end

		-- Wait for `stage`; a timer ends the probe if it has not come within the step's bound.
		local function expect(stage)
			local mine = {};
			token, facts.stage = mine, stage;
			deps.add_task(o.step_timeout, function ()
				if token == mine then finish("timeout waiting for " .. WAITING[stage]); end
			end);
		end

		local function send(data) if conn then conn:write(data); end end

		local callbacks = { stream_ns = xmlns_stream, stream_tag = "stream", default_ns = "jabber:server" };
		local function new_parser()
			parser = deps.xmppstream.new(session, callbacks, STANZA_LIMIT);
		end

		local function open_stream()
			session.notopen = true;
			send("<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='" .. xmlns_stream
				.. "' xmlns:db='jabber:server:dialback' version='1.0' xml:lang='en' from='" .. o.host
				.. "' to='" .. o.domain .. "'>");
			expect("stream");
		end

		local function after_tls_features(features)
			facts.after_tls = read_features(features);
			if o.authenticate and facts.after_tls.external and o.try_external(facts) then
				facts.auth = { sasl_external = { outcome = "pending" } };
				send("<auth xmlns='" .. xmlns_sasl .. "' mechanism='EXTERNAL'>" .. deps.base64(o.host) .. "</auth>");
				expect("sasl");
				return;
			end
			send("</stream:stream>");
			expect("close");
		end

		local function on_features(features)
			if facts.stage == "features_auth" then
				send("</stream:stream>");
				expect("close");
				return;
			end
			if facts.stage == "features_tls" then return after_tls_features(features); end
			facts.before_tls = read_features(features);
			if facts.before_tls.starttls and o.ssl_ctx then
				send("<starttls xmlns='" .. xmlns_tls .. "'/>");
				expect("proceed");
				return;
			end
			send("</stream:stream>");
			expect("close");
		end

		function callbacks.streamopened(_, attr)
			session.notopen = nil;
			facts.stream = facts.stream or { version = cut(attr.version), id = attr.id ~= nil };
			expect(authenticated and "features_auth" or tls_started and "features_tls" or "features");
		end
		function callbacks.streamclosed()
			if facts.stage == "close" then finish(); return; end
			finish("the server closed the stream while waiting for " .. WAITING[facts.stage]);
		end
		function callbacks.error(_, err, data)
			if err == "stream-error" and type(data) == "table" then
				facts.stream_error = condition_of(data, xmlns_stanzas);
				finish("stream error: " .. facts.stream_error);
				return;
			end
			finish("invalid XML from the server: " .. tostring(err));
		end
		function callbacks.handlestanza(_, stanza)
			local name, ns = stanza.name, stanza.attr.xmlns;
			if ns == xmlns_stream and name == "features" and facts.stage:match("^features") then
				on_features(stanza);
			elseif ns == xmlns_tls and facts.stage == "proceed" then
				if name ~= "proceed" then finish("STARTTLS refused: <" .. cut(name) .. "/>"); return; end
				tls_started = deps.now();
				expect("tls");
				conn:starttls(o.ssl_ctx);
			elseif ns == xmlns_sasl and facts.stage == "sasl" then
				local result = facts.auth.sasl_external;
				result.outcome = name == "success" and "success" or "failure";
				if name ~= "success" then
					result.condition = condition_of(stanza, xmlns_sasl);
					send("</stream:stream>");
					expect("close");
					return;
				end
				authenticated = true; -- RFC 6120 §6.4.6: both sides restart the stream, then we close it
				new_parser();
				open_stream();
			end -- anything else (db:*, stanzas) is not ours to answer: ignored
		end


		local function tls_done(c)
			facts.tls = { ok = true, ms = ms(tls_started or started) };
			local sock = c:socket();
			local info = sock and sock.info and sock:info();
			if type(info) == "table" then facts.tls.protocol, facts.tls.cipher = cut(info.protocol), cut(info.cipher); end
			facts.cert, facts.cert_error = o.certificate(sock);
			new_parser();
			open_stream();
		end

		local listeners = {};
		function listeners.onconnect(c)
			if finished or facts.connected then return; end
			facts.connected, facts.connect_ms = true, ms(started);
			if o.direct_tls then tls_done(c); return; end
			open_stream();
		end
		function listeners.onincoming(_, data)
			if finished then return; end
			received = received + #data;
			if received > MAX_BYTES then finish("the server sent more than " .. MAX_BYTES .. " bytes"); return; end
			local ok, err = parser:feed(data);
			if not ok and not finished then finish("invalid XML from the server: " .. tostring(err)); end
		end
		function listeners.onstatus(c, status)
			if status == "ssl-handshake-complete" and not finished and not o.direct_tls then tls_done(c); end
		end
		function listeners.ondisconnect(_, err)
			if finished then return; end
			conn = nil;
			if facts.stage == "tls" then facts.tls = { ok = false, error = cut(err) }; end
			finish((facts.connected and "connection closed while waiting for " .. WAITING[facts.stage] .. ": "
				or "connection failed: ") .. tostring(err or "closed"));
		end
		function listeners.onreadtimeout() return true; end -- our own timers decide

		new_parser();
		if o.direct_tls then tls_started = started; end
		local c, err = deps.server.addclient(o.address, o.port, listeners, READ_SIZE, o.direct_tls and o.ssl_ctx or nil,
			o.conn_type, { servername = o.domain });
		if not c then finish("connection failed: " .. tostring(err)); return finish; end
		conn = c;
		if not finished and not facts.connected then expect(o.direct_tls and "tls" or "connect"); end
		return finish;
	end;
end
