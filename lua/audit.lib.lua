-- The audit log of runtime partner changes (README "Audit log"): who, when, from which interface,
-- the record before and after, and the warnings shown. Kept with Prosody's storage API (store
-- `s2s_partners_audit` of the host, so an SQL backend shares it between nodes), newest last, at
-- most AUDIT_MAX entries per host: the oldest go first.

local AUDIT_MAX = 1000;
local KEY = "log";

return function ()
	local store = module:open_store("s2s_partners_audit");
	local audit = { max = AUDIT_MAX };

	local function load()
		local saved, err = store:get(KEY);
		if err then return nil, err; end
		return saved and type(saved.entries) == "table" and saved.entries or {};
	end

	--- Append a change: entry = { actor, interface, action, domain, before, after, warnings }.
	-- Returns true or nil, err (the change itself is already in force; the caller logs this).
	function audit.add(entry)
		local entries, err = load();
		if not entries then return nil, err; end
		entry.time = os.time();
		entries[#entries + 1] = entry;
		while #entries > AUDIT_MAX do table.remove(entries, 1); end
		return store:set(KEY, { entries = entries });
	end

	--- The newest `n` entries (default 20, at most AUDIT_MAX), newest first; or nil, err.
	function audit.list(n)
		n = math.min(math.max(math.tointeger(tonumber(n)) or 20, 1), AUDIT_MAX);
		local entries, err = load();
		if not entries then return nil, err; end
		local out = {};
		for i = #entries, math.max(#entries - n + 1, 1), -1 do out[#out + 1] = entries[i]; end
		return out;
	end

	return audit;
end
