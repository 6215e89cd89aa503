-- Who is asking, for the web panel and the JSON API (README "Web panel and JSON API", "Who may
-- administer"): login with a Prosody account of this host checked by Prosody's own
-- authentication (usermanager.test_password), sessions in a cookie, a CSRF token per session,
-- rate-limited logins, and Bearer tokens of mod_tokenauth where Prosody has it (13).
--
-- Sessions live in memory (a restart or a reload of the module logs everyone out), expire after
-- IDLE seconds without a request, and are re-checked against access.lib.lua on every request, so
-- a revoked permission takes effect at once. Failed logins count per IP address and per account
-- in bounded caches; past the limit a login is refused before the password is looked at.

local usermanager = require "core.usermanager";
local jid = require "util.jid";
local new_id = require "util.id".long;
local equals = require "util.hashes".equals;
local new_cache = require "util.cache".new;

local COOKIE = "s2sp_session";
local IDLE = 30 * 60;          -- seconds a session lives without a request
local WINDOW = 5 * 60;         -- seconds over which failed logins are counted
local MAX_FAILS_ACCOUNT = 5;   -- failed logins per account per WINDOW
local MAX_FAILS_IP = 20;       -- failed logins per IP address per WINDOW
local TRACKED = 1000;          -- accounts / addresses remembered (oldest forgotten first)

return function (access)
	local host = module.host;
	local auth = { COOKIE = COOKIE, IDLE = IDLE };
	local sessions = {};

	local tokens;
	if module.may then -- Prosody 13 (README "Who may administer")
		local ok, mod = pcall(module.depends, module, "tokenauth");
		tokens = ok and mod or nil;
	end

	-- Failed attempts in the current window: cache of key -> { start, count }.
	local fails = { ip = new_cache(TRACKED), account = new_cache(TRACKED) };
	local function count(kind, key)
		local entry = fails[kind]:get(key);
		if not entry or os.time() - entry.start >= WINDOW then return 0, nil; end
		return entry.count, entry.start + WINDOW - os.time();
	end
	local function note_failure(kind, key)
		local n = count(kind, key);
		local entry = n > 0 and fails[kind]:get(key) or { start = os.time(), count = 0 };
		entry.count = entry.count + 1;
		fails[kind]:set(key, entry);
	end

	local function cookie_value(request, wanted)
		local header = request.headers.cookie;
		if not header then return nil; end
		for name, value in header:gmatch("([^=;%s]+)=([^;]*)") do
			if name == (wanted or COOKIE) then return value; end
		end
	end

	-- `path`: the panel's base path ("/s2s_partners/"), so the cookie goes nowhere else.
	local function set_cookie(value, max_age, path)
		return ("%s=%s; Path=%s; Secure; HttpOnly; SameSite=Strict; Max-Age=%d"):format(COOKIE, value, path, max_age);
	end

	local function expire_idle()
		local now = os.time();
		for id, s in pairs(sessions) do
			if now - s.seen > IDLE then sessions[id] = nil; end
		end
	end

	--- What an account of this host may do: "manage", "view" or nil.
	local function rights(actor)
		if access.manage(actor) then return "manage"; end
		if access.view(actor) then return "view"; end
	end

	--- Log in: returns { jid, csrf, may, cookie } or nil, status, message[, retry after] (400 / 401 / 403 / 429).
	function auth.login(request, username, password, path)
		if type(username) ~= "string" or type(password) ~= "string" or username == "" then
			return nil, 400, "username and password are required";
		end
		local account = jid.prep(username:find("@", 1, true) and username or (username .. "@" .. host));
		local key = account or username;
		local ip_fails, ip_wait = count("ip", request.ip);
		local account_fails, account_wait = count("account", key);
		if ip_fails >= MAX_FAILS_IP or account_fails >= MAX_FAILS_ACCOUNT then
			module:log("warn", "Web login for %s from %s refused: too many failed attempts", key, request.ip);
			return nil, 429, "too many failed login attempts: try again later", math.max(ip_wait or 0, account_wait or 0);
		end
		local ok = account ~= nil and jid.host(account) == host
			and usermanager.test_password(jid.node(account), host, password);
		if not ok then
			note_failure("ip", request.ip);
			note_failure("account", key);
			module:log("info", "Web login for %s from %s failed", key, request.ip);
			return nil, 401, "invalid username or password";
		end
		local may = rights(account);
		if not may then
			module:log("info", "Web login for %s from %s refused: may not view partners", account, request.ip);
			return nil, 403, ("%s may not view the federation partners of %s"):format(account, host);
		end
		fails.account:set(account, nil);
		expire_idle();
		local id = new_id();
		local s = { jid = account, csrf = new_id(), seen = os.time() };
		sessions[id] = s;
		module:log("info", "Web login for %s from %s", account, request.ip);
		return { jid = account, csrf = s.csrf, may = may, cookie = set_cookie(id, IDLE, path) };
	end

	-- The panel's login form has no session yet: its CSRF token is a double-submit cookie
	-- (LOGIN_COOKIE, SameSite=Strict) that the form repeats in the field `login_token`.
	local LOGIN_COOKIE = "s2sp_login";

	--- The login form's token and the Set-Cookie value that goes with it (nil when already set).
	function auth.login_token(request, path)
		local current = cookie_value(request, LOGIN_COOKIE);
		if current and #current >= 32 then return current, nil; end
		local token = new_id();
		return token, ("%s=%s; Path=%s; Secure; HttpOnly; SameSite=Strict; Max-Age=%d"):format(LOGIN_COOKIE, token, path, IDLE);
	end

	function auth.login_token_ok(request, given)
		local expected = cookie_value(request, LOGIN_COOKIE);
		return type(given) == "string" and expected ~= nil and #given == #expected and equals(given, expected);
	end

	--- Log out the session of `request` (if any); returns the header value clearing the cookie.
	function auth.logout(request, path)
		local id = cookie_value(request);
		if id then sessions[id] = nil; end
		return set_cookie("", 0, path);
	end

	local function bearer(request)
		local header = request.headers.authorization;
		local token = header and header:match("^[Bb]earer%s+(%S+)$");
		if not token then return nil; end
		if not tokens then return false, "Bearer tokens need Prosody 13 (mod_tokenauth)"; end
		local session, why = tokens.get_token_session(token);
		if not session or session.host ~= host then
			module:log("debug", "Bearer token refused: %s", tostring(why or "another host's"));
			return false, "invalid or expired token";
		end
		-- The token's own role decides (it may be narrower than the account's).
		local actor = session.username .. "@" .. session.host;
		local perm = module.name .. ":";
		local may = session.role:may(perm .. "manage-partners") and "manage"
			or session.role:may(perm .. "view-partners") and "view" or nil;
		return { jid = actor, may = may, token = true };
	end

	--- Who sent `request`: { jid, may = "manage"|"view"|nil, csrf, token } or nil, status, message.
	function auth.identify(request)
		local by_token, token_err = bearer(request);
		if by_token then return by_token; end
		if by_token == false then return nil, 401, token_err; end
		local id = cookie_value(request);
		local s = id and sessions[id];
		if not s or os.time() - s.seen > IDLE then
			if s then sessions[id] = nil; end
			return nil, 401, "not logged in";
		end
		s.seen = os.time();
		return { jid = s.jid, may = rights(s.jid), csrf = s.csrf };
	end

	--- Whether a state-changing request carries its session's CSRF token (form field `csrf` or
	-- header X-CSRF-Token). Bearer requests carry no ambient credentials and need none.
	function auth.csrf_ok(who, given)
		if who.token then return true; end
		return type(given) == "string" and type(who.csrf) == "string" and #given == #who.csrf and equals(given, who.csrf);
	end

	return auth;
end
