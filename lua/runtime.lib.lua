-- The runtime partner list, kept with Prosody's storage API and shared by every node that uses
-- the same storage (README "Cluster").
--
-- Store `s2s_partners` of the host: key `runtime_partners` = { partners = records, revision = N,
-- writer = id of the write }, and key `runtime_revision` = { revision, writer }, the small value
-- each node reads every SYNC_INTERVAL seconds; when it changed, the node reads the list and puts
-- it in force (policy.lib.lua compiles it; reconcile closes the streams it no longer allows).
--
-- An edit never writes a node's in-memory copy: it reads the stored list, applies the change to
-- it, validates the result like the config, writes it under the next revision, and reads it
-- back. On PostgreSQL the nodes take turns for that (clusterlock.lib.lua: an advisory lock);
-- elsewhere an edit looks once more a moment later, and another node's write in between is
-- reported ("changed meanwhile") and that node's list put in force: Prosody's storage API has
-- no compare-and-set, so there two edits can still collide unseen if one node takes longer than
-- that moment between reading the list and writing it (README "Cluster"). Storage that cannot be read refuses edits (an empty list is
-- never written over the stored one) and leaves the last policy in force; recovery is logged.

local async = require "util.async";
local storagemanager = require "core.storagemanager";
local new_id = require "util.id".medium;

local LIST_KEY, REVISION_KEY = "runtime_partners", "runtime_revision";
local SYNC_INTERVAL = 1; -- seconds: a change is in force on every node within about this (plus a compile)
local FAULT_INTERVAL_MAX = 30; -- seconds between reads while storage fails
local LINEAGE_MAX = 16;  -- writes a stored list remembers it was built on
local SETTLE = 0.3;      -- seconds an edit waits after saving before it looks again for a concurrent one
-- Storage drivers whose data only this server's process reaches: no other node can change the
-- stored list there, so it is read again only to recover from a failure.
local PROCESS_LOCAL = { internal = true, memory = true, null = true };

local function copy(value)
	if type(value) ~= "table" then return value; end
	local out = {};
	for k, v in pairs(value) do out[k] = copy(v); end
	return out;
end

return function (policy)
	local store = module:open_store("s2s_partners");
	local lock = module:require("clusterlock")("s2s_partners");
	local runtime = { interval = SYNC_INTERVAL, copy = copy }; -- copy: a deep copy of a record or list (admin.lib.lua)
	local revision, writer; -- of the list in force; nil before the first successful read
	local fault;            -- why storage cannot be used now, or nil
	local saving;           -- writer id of this node's edit between its write and its adopt, or nil
	local watch;            -- starts the timer that reads the stored revision (below)

	local function storage_failed(what, err)
		local text = ("could not %s the runtime partner list in storage: %s"):format(what, tostring(err));
		if not fault then
			module:log("error", "%s; the last partner list stays in force and edits are refused until it works again", text);
		end
		fault = text;
		if watch then watch(); end
		return nil, text, { code = "unavailable" };
	end

	local function storage_works()
		if fault then module:log("info", "Storage of the runtime partner list works again"); end
		fault = nil;
	end

	-- The stored list: { partners, revision, writer } (an empty list at revision 0 when none was
	-- ever saved), or nil, err.
	local function read_list()
		local saved, err = store:get(LIST_KEY);
		if err then return nil, err; end
		if type(saved) ~= "table" or type(saved.partners) ~= "table" then
			return { partners = {}, revision = 0, lineage = {} };
		end
		return { partners = saved.partners, revision = tonumber(saved.revision) or 0, writer = saved.writer,
			lineage = type(saved.lineage) == "table" and saved.lineage or {} };
	end

	-- Put a stored list in force. A list the config no longer accepts (edited on a node with
	-- another config) keeps the previous policy, as policy.load says in the log. `sliced`: an
	-- edit, whose caller can wait while a large list compiles (policy.load); a load that put a
	-- policy in force meanwhile did so with this list (or, another adopt, with its own and its
	-- revision), so a superseded one leaves everything as that load left it.
	local function adopt(saved, reason, sliced)
		local previous = policy.runtime;
		policy.runtime = saved.partners;
		revision, writer = saved.revision, saved.writer;
		local ok, err, detail = policy.load(reason, sliced);
		if detail and detail.superseded then return true; end
		if not ok and policy.compiled then policy.runtime = previous; end
		return ok, err;
	end

	--- Read the stored revision and put a changed list in force. Returns true, or nil, err.
	function runtime.sync(reason)
		local current, err = store:get(REVISION_KEY);
		if err then return storage_failed("read", err); end
		if current and revision ~= nil and tonumber(current.revision) == revision and current.writer == writer then
			storage_works();
			return true;
		end
		-- this node's own edit, which puts its list in force itself once it has looked again
		-- (one compile per edit, not two: README "Performance")
		if current and saving ~= nil and current.writer == saving then return true; end
		local saved, lerr = read_list();
		if not saved then return storage_failed("read", lerr); end
		storage_works();
		if saved.revision ~= revision or saved.writer ~= writer then
			adopt(saved, reason or "change from storage");
		end
		return true;
	end

	-- The writes a stored list was built on (their writer ids, newest last, at most LINEAGE_MAX):
	-- a list saved after ours that was built on ours keeps our change.
	local function lineage_after(saved)
		local out = {};
		for i = math.max(#saved.lineage - LINEAGE_MAX + 2, 1), #saved.lineage do out[#out + 1] = saved.lineage[i]; end
		if saved.writer then out[#out + 1] = saved.writer; end
		return out;
	end
	local function descends(stored, id)
		if stored.writer == id then return true; end
		for _, w in ipairs(stored.lineage) do if w == id then return true; end end
		return false;
	end

	-- Another node's list is in storage instead of this edit's: put it in force, refuse the edit.
	local function conflict(stored)
		adopt(stored, "change from storage");
		return nil, "the partner list was changed meanwhile (on another node); this change was not saved: try again",
			{ code = "conflict" };
	end

	-- runtime.update() once it holds the cluster lock (if any).
	local function update_locked(change, reason)
		local saved, err = read_list();
		if not saved then return storage_failed("read", err); end
		storage_works();
		if saved.revision ~= revision or saved.writer ~= writer then adopt(saved, "change from storage"); end
		local records, info, detail = change(copy(saved.partners));
		if not records then return nil, info, detail; end
		local compiled, warnings, cdetail = policy.check(records);
		if not compiled then return nil, warnings, cdetail; end
		local next_value = { partners = records, revision = saved.revision + 1, writer = new_id(),
			lineage = lineage_after(saved) };
		saving = next_value.writer;
		local ok, serr = store:set(LIST_KEY, next_value);
		if ok then ok, serr = store:set(REVISION_KEY, { revision = next_value.revision, writer = next_value.writer }); end
		local back, berr = read_list();
		if not back then return storage_failed("read", berr); end
		if not descends(back, next_value.writer) and back.revision > saved.revision then
			return conflict(back);
		end
		if not ok then return storage_failed("save", serr); end
		-- Another node that read the list before this write and writes it after would overwrite
		-- it: wait a moment (where the caller can wait) and look again; the later write is the
		-- one in force, and the earlier one's admin is told.
		if lock.kind == "none" and async.ready() then
			async.sleep(SETTLE);
			back, berr = read_list();
			if not back then return storage_failed("read", berr); end
			if not descends(back, next_value.writer) then return conflict(back); end
		end
		local applied, aerr = adopt(back, reason or "runtime edit", true);
		if not applied then return nil, aerr, { code = "invalid" }; end
		return policy.compiled, warnings, info;
	end

	--- Apply an edit to the stored list: `change(records)` gets a copy of it and returns the new
	-- list and an info value, or nil, err, detail. Returns compiled, warnings, info or
	-- nil, err, detail (detail.code "conflict" when another node wrote meanwhile; nothing saved).
	-- On PostgreSQL the nodes take turns (clusterlock.lib.lua).
	function runtime.update(change, reason)
		local release, err, code = lock.acquire();
		if not release then return nil, err, { code = code }; end
		local results = table.pack(pcall(update_locked, change, reason));
		saving = nil;
		release();
		if not results[1] then error(results[2], 0); end
		return table.unpack(results, 2, results.n);
	end

	--- Why edits are refused now (storage failing), or nil.
	function runtime.fault() return fault; end

	-- At start: the stored list, or the config's partners alone when storage cannot be read.
	local saved, err = read_list();
	if saved then
		adopt(saved, "start");
	else
		storage_failed("read", err);
		policy.load("start");
	end
	-- Every SYNC_INTERVAL on storage other nodes share; on storage of this process alone, only
	-- while it fails (README "Cluster"). While storage fails, look less and less often (up to
	-- FAULT_INTERVAL_MAX): each failed attempt is a reconnection by mod_storage_sql, and an edit
	-- reads the list anyway.
	local _, driver_name = storagemanager.get_driver(module.host, "s2s_partners");
	local shared = not PROCESS_LOCAL[driver_name];
	local delay, watching = SYNC_INTERVAL, false;
	function watch()
		if watching then return; end
		watching, delay = true, SYNC_INTERVAL;
		module:add_timer(SYNC_INTERVAL, function ()
			runtime.sync();
			if not (shared or fault) then
				watching = false;
				return nil;
			end
			delay = fault and math.min(delay * 2, FAULT_INTERVAL_MAX) or SYNC_INTERVAL;
			return delay;
		end);
	end
	if shared or fault then watch(); end

	return runtime;
end
