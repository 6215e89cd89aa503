-- One edit of the runtime partner list at a time across the nodes of a cluster on PostgreSQL
-- (README "Cluster"). Prosody's storage API has no compare-and-set; on PostgreSQL the nodes
-- take a session-level advisory lock (pg_try_advisory_lock) around reading, changing and
-- writing the list, on a connection of their own made with Prosody's util.sql and the host's
-- `sql` settings. Other storage: no lock (runtime.lib.lua's read-back checks still apply).

local sql = require "util.sql";
local async = require "util.async";
local now = require "util.time".now;

local WAIT = 2;       -- seconds an edit waits for another node's edit to finish
local RETRY = 0.05;   -- seconds between attempts

-- The host's `sql` settings when the runtime list is kept on PostgreSQL, else nil.
local function postgres_params(store_name)
	local storage = module:get_option("storage");
	local backend = type(storage) == "table" and (storage[store_name] or storage.default) or storage;
	if backend ~= "sql" then return nil; end
	local params = module:get_option("sql");
	if type(params) ~= "table" or params.driver ~= "PostgreSQL" then return nil; end
	return { driver = params.driver, database = params.database or "prosody", username = params.username,
		password = params.password, host = params.host, port = params.port };
end

return function (store_name)
	local params = postgres_params(store_name);
	if not params then
		return { kind = "none", acquire = function () return function () end; end };
	end
	local engine = sql:create_engine(params);
	local key = ("mod_s2s_partners:%s:%s"):format(module.host, store_name);

	local function try_lock()
		local ok, got = engine:transaction(function ()
			local row = engine:select("SELECT pg_try_advisory_lock(hashtext(?))", key)();
			return row and row[1];
		end);
		if not ok then return nil, got; end
		return got == true or got == "t" or got == 1;
	end

	local function unlock()
		local ok, err = engine:transaction(function ()
			engine:select("SELECT pg_advisory_unlock(hashtext(?))", key);
		end);
		if not ok then module:log("warn", "Could not release the cluster lock of the partner list: %s", tostring(err)); end
	end

	--- Take the lock: returns the function that releases it, or nil, err.
	local function acquire()
		local deadline = now() + WAIT;
		while true do
			local got, err = try_lock();
			if got == nil then
				return nil, "could not lock the runtime partner list in storage: " .. tostring(err), "unavailable";
			end
			if got then return unlock; end
			if not async.ready() or now() > deadline then
				return nil, "another node is editing the partner list: try again", "conflict";
			end
			async.sleep(RETRY);
		end
	end

	return { kind = "postgresql", acquire = acquire };
end
