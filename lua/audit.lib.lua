-- The audit log of runtime partner changes (README "Audit log"): who, when, from which interface,
-- the record before and after, and the warnings shown. An archive store of the host
-- (`s2s_partners_audit`, Prosody's storage API): every change is appended, never rewritten, so
-- the nodes of a cluster on shared storage lose none of each other's entries; the newest
-- AUDIT_MAX are kept.

local st = require "util.stanza";
local json = require "util.json";

local AUDIT_MAX = 1000;
local USER = "changes"; -- archive stores are per user: one for the host's changes
local NS = "urn:xmpp:s2s-partners:audit:0";

return function ()
	local archive = module:open_store("s2s_partners_audit", "archive");
	local audit = { max = AUDIT_MAX };

	--- Append a change: entry = { actor, interface, action, domain, before, after, warnings }.
	-- Returns true or nil, err (the change itself is already in force; the caller logs this).
	function audit.add(entry)
		entry.time = os.time();
		local text, jerr = json.encode(entry);
		if not text then return nil, jerr; end
		local ok, err = archive:append(USER, nil, st.stanza("change", { xmlns = NS }):text(text), entry.time, entry.domain);
		if not ok then return nil, err; end
		archive:delete(USER, { truncate = AUDIT_MAX });
		return true;
	end

	--- The newest `n` entries (default 20, at most AUDIT_MAX), newest first; or nil, err.
	function audit.list(n)
		n = math.min(math.max(math.tointeger(tonumber(n)) or 20, 1), AUDIT_MAX);
		local items, err = archive:find(USER, { reverse = true, limit = n });
		if not items then return nil, err; end
		local out = {};
		for _, item in items do
			local entry = json.decode(item:get_text() or "");
			if type(entry) == "table" then out[#out + 1] = entry; end
		end
		return out;
	end

	return audit;
end
