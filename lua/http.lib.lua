-- The web control panel and the JSON admin API on Prosody's HTTP server (README "Web panel and
-- JSON API"), enabled per host by `s2s_partners_web = true`. This file routes: HTTPS only, the
-- security headers of every answer, who is asking (httpauth.lib.lua) and what they may do
-- (access.lib.lua), the CSRF token of every state-changing request, then the JSON handlers
-- (api.lib.lua), the HTML pages (pages.lib.lua) and the static assets (web/).
--
-- Nothing about the partner list is answered before the caller is known to be allowed to view it.

local json = require "util.json";

-- No inline script or style anywhere (README "Web panel and JSON API", Security).
local SECURITY_HEADERS = {
	content_security_policy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
		.. "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
	x_content_type_options = "nosniff",
	x_frame_options = "DENY",
	referrer_policy = "no-referrer",
	cache_control = "no-store",
	strict_transport_security = "max-age=31536000",
};

local STATIC_TYPES = { css = "text/css; charset=utf-8", js = "text/javascript; charset=utf-8" };

local STATE_CHANGING = { POST = true, PUT = true, DELETE = true };

-- `admin`: { core, ops, explain, status, render, probe? } (mod_s2s_partners.lua).
return function (admin, access)
	if not module:get_option_boolean("s2s_partners_web", false) then return; end
	module:depends("http");

	local auth = module:require("httpauth")(access);
	local api = module:require("api")(admin);
	local pages = module:require("pages")(admin, auth, api);

	-- The assets, read once (a reload of the module reads them again).
	local static = {};
	local web_dir = module:get_directory() .. "/web/";
	for _, name in ipairs{ "panel.css", "panel.js" } do
		local f = io.open(web_dir .. name, "rb");
		if f then
			static[name] = f:read("a");
			f:close();
		else
			module:log("error", "Web panel asset %s%s is missing: the panel will look broken", web_dir, name);
		end
	end

	-- The JSON routes: method, pattern of the path below /s2s_partners/, permission, handler.
	-- A captured domain becomes ctx.domain.
	local api_routes = {
		{ "GET", "^api/partners$", "view", api.list },
		{ "GET", "^api/partners/([^/]+)$", "view", api.show },
		{ "PUT", "^api/partners/([^/]+)$", "manage", api.put },
		{ "DELETE", "^api/partners/([^/]+)$", "manage", api.remove },
		{ "GET", "^api/explain/([^/]+)$", "view", api.explain },
		{ "GET", "^api/status$", "view", api.status },
		{ "GET", "^api/status/([^/]+)$", "view", api.status },
		{ "POST", "^api/probe/([^/]+)$", "manage", api.probe },
		{ "GET", "^api/audit$", "view", api.audit },
		{ "GET", "^api/schema$", "view", api.schema },
	};

	local function answer(response, status, content_type, body, headers)
		for k, v in pairs(SECURITY_HEADERS) do response.headers[k] = v; end
		for k, v in pairs(headers or {}) do response.headers[k] = v; end
		response.headers.content_type = content_type;
		response.status_code = status;
		return body; -- net.http.server sends it with the status and headers set here
	end

	local function json_answer(response, status, value, headers)
		return answer(response, status, "application/json; charset=utf-8", json.encode(value), headers);
	end

	local function refuse_json(response, status, message, headers)
		return json_answer(response, status, { error = message, code = status == 401 and "unauthenticated" or "forbidden" },
			headers);
	end

	-- The API's own session routes: GET (who am I, the CSRF token), POST (log in), DELETE (log out).
	local function session_route(request, response, method, base)
		if method == "POST" then
			if not (request.headers.content_type or ""):find("^application/json") then
				return refuse_json(response, 415, "expected application/json");
			end
			local body = json.decode(request.body or "");
			if type(body) ~= "table" then return json_answer(response, 400, { error = "expected a JSON object" }); end
			local who, code, message, retry = auth.login(request, body.username, body.password, base);
			if not who then
				return json_answer(response, code, { error = message }, retry and { retry_after = tostring(retry) } or nil);
			end
			return json_answer(response, 200, { jid = who.jid, may = who.may, csrf = who.csrf, host = module.host },
				{ set_cookie = who.cookie });
		end
		local who, code, message = auth.identify(request);
		if not who then return refuse_json(response, code, message); end
		if method == "GET" then
			return json_answer(response, 200, { jid = who.jid, may = who.may, csrf = who.csrf, host = module.host });
		end
		if method == "DELETE" then
			if not auth.csrf_ok(who, request.headers.x_csrf_token) then return refuse_json(response, 403, "missing or wrong CSRF token"); end
			return json_answer(response, 200, { logged_out = who.jid }, { set_cookie = auth.logout(request, base) });
		end
		return json_answer(response, 405, { error = "method not allowed" }, { allow = "GET, POST, DELETE" });
	end

	local function api_route(request, response, method, path, base)
		if path == "api/session" then return session_route(request, response, method, base); end
		local found, allowed;
		for _, r in ipairs(api_routes) do
			local matched, _, capture = path:find(r[2]);
			if matched then
				allowed = (allowed and (allowed .. ", ") or "") .. r[1];
				if r[1] == method then found = { route = r, domain = capture }; end
			end
		end
		if not found then
			if allowed then return json_answer(response, 405, { error = "method not allowed" }, { allow = allowed }); end
			return json_answer(response, 404, { error = "no such API route", code = "not_found" });
		end
		local who, code, message = auth.identify(request);
		if not who then return refuse_json(response, code, message, code == 401 and { www_authenticate = "Bearer" } or nil); end
		local need = found.route[3];
		if not who.may or (need == "manage" and who.may ~= "manage") then
			return refuse_json(response, 403, ("%s may not %s the federation partners of %s"):format(who.jid, need, module.host));
		end
		if STATE_CHANGING[method] and not auth.csrf_ok(who, request.headers.x_csrf_token) then
			return refuse_json(response, 403, "missing or wrong CSRF token (header X-CSRF-Token, from GET api/session)");
		end
		local status, value = found.route[4]{ request = request, who = who, domain = found.domain, body = request.body,
			actor = { actor = who.jid, interface = "http" } };
		if type(status) == "table" then -- a promise of { status, value } (the probe); net.http.server waits for it
			return status:next(function (done) return json_answer(response, done[1], done[2]); end);
		end
		return json_answer(response, status, value);
	end

	local function handle(event, path)
		local request, response = event.request, event.response;
		if not request.secure then
			-- Plain HTTP: no data, no redirect that could carry a cookie in clear.
			module:log("debug", "Refusing a plain HTTP request for %s", request.path);
			return answer(response, 403, "text/plain; charset=utf-8", "HTTPS only\n");
		end
		path = path or "";
		local base = request.path:sub(1, #request.path - #path);
		if base:sub(-1) ~= "/" then base = base .. "/"; end
		local method = request.method;
		if path:match("^api/") or path == "api" then return api_route(request, response, method, path, base); end
		local asset = path:match("^static/([%w%-]+%.%w+)$");
		if asset then
			if method ~= "GET" or not static[asset] then return answer(response, 404, "text/plain; charset=utf-8", "not found\n"); end
			return answer(response, 200, STATIC_TYPES[asset:match("%w+$")] or "application/octet-stream", static[asset],
				{ cache_control = "no-cache" });
		end
		local status, body, headers = pages.handle{ request = request, method = method, path = path, base = base,
			state_changing = STATE_CHANGING[method] };
		if type(status) == "table" then -- a promise of { status, body, headers } (the probe's report)
			return status:next(function (done) return answer(response, done[1], "text/html; charset=utf-8", done[2], done[3]); end);
		end
		return answer(response, status, "text/html; charset=utf-8", body, headers);
	end

	module:provides("http", {
		route = {
			["GET /*"] = handle, ["POST /*"] = handle, ["PUT /*"] = handle, ["DELETE /*"] = handle,
		};
	});
	module:log("info", "Web panel and JSON API enabled (s2s_partners_web) at %s", module:http_url());
end
