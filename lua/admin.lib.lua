-- Runtime partner administration (README "Administration"): the operations behind every
-- interface (ad-hoc commands in forms.lib.lua, prosodyctl shell in shell.lib.lua).
--
-- Edits merge, never drop: put() takes the stored record, applies the fields it is given
-- (ops.UNSET removes one), validates the whole list exactly like the config file and saves only
-- if it is valid. Partners from the config file are read-only here. Every change goes to the
-- audit log (audit.lib.lua).
--
-- A refusal is nil, message, detail: detail.code says what kind of refusal it is, for interfaces
-- that map it (HTTP status codes): "invalid" (the validator's; detail also has its index, field
-- and message), "conflict" (a domain another partner has), "read_only" (a config file partner),
-- "not_found", "unavailable" (no policy in force, or storage failing).

local UNSET = setmetatable({}, { __tostring = function () return "(unset)"; end });

return function (core, policy, runtime, audit, sessions)
	local copy = runtime.copy;
	local ops = { UNSET = UNSET };
	local schema = {};
	for _, field in ipairs(core.schema()) do schema[field.name] = field; end

	local function normalize(domain)
		return type(domain) == "string" and core.normalize(domain) or nil;
	end

	local function read_only(partner)
		return ("partner %s is defined in the configuration file and is read-only at runtime"):format(partner.domain);
	end
	ops.read_only = read_only;

	local function fail(code, message, detail)
		detail = detail or {};
		detail.code = code;
		return nil, message, detail;
	end

	--- The compiled partners in force (config then runtime order), and the configuration error if any.
	function ops.list()
		return policy.compiled and policy.compiled:partners() or {}, policy.error;
	end

	--- "config" or "runtime".
	function ops.origin(partner)
		return policy.is_from_config(partner) and "config" or "runtime";
	end

	--- The partner owning `domain` (primary or additional, any spelling): partner, origin, stored
	-- record (runtime partners only); or nil, err.
	function ops.show(domain)
		if type(domain) ~= "string" then return fail("invalid", "expected a domain"); end
		if not policy.compiled then return fail("unavailable", "the partner configuration is invalid: " .. tostring(policy.error)); end
		local partner = policy.compiled:lookup(domain);
		if not partner then return fail("not_found", ("%s is not a federation partner of %s"):format(domain, module.host)); end
		return partner, ops.origin(partner), ops.record(partner.domain);
	end

	-- The warnings that concern `domain` (compile reports those of every partner in the list).
	local function own_warnings(warnings, domain)
		local name, out = normalize(domain), {};
		for _, w in ipairs(warnings or {}) do
			if w.domain == name then out[#out + 1] = tostring(w); end
		end
		return out;
	end

	-- The record whose primary domain is `domain` (any spelling) in `records`, and its position.
	local function find(records, domain)
		local name = normalize(domain);
		if not name then return nil; end
		for i, record in ipairs(records) do
			if normalize(record.domain) == name then return record, i; end
		end
	end

	--- The stored runtime record whose primary domain is `domain` (any spelling), and its position.
	function ops.record(domain) return find(policy.runtime, domain); end

	-- Apply `change(records)` (new records and { action, domain, before, after }, or nil, err,
	-- detail) to the stored runtime list (runtime.lib.lua validates and saves it), then log and
	-- audit the change.
	local function commit(who, change)
		who = who or {};
		local actor, interface = who.actor or "admin", who.interface or "api";
		local compiled, warnings, info = runtime.update(change, ("edit by %s (%s)"):format(actor, interface));
		if not compiled then
			local detail = info or {};
			if not detail.code then detail.code = detail.owner and "conflict" or detail.index and "invalid" or "unavailable"; end
			return nil, warnings, detail;
		end
		local shown = own_warnings(warnings, info.domain);
		module:log("info", "Partner %s: %s by %s (%s)", info.domain, info.action, actor, interface);
		local ok, err = audit.add{ actor = actor, interface = interface, action = info.action, domain = info.domain,
			before = copy(info.before), after = copy(info.after), warnings = shown };
		if not ok then module:log("error", "Could not write the audit log entry for %s: %s", info.domain, tostring(err)); end
		return info.after and compiled:lookup(info.domain) or true, shown;
	end

	local function check_editable(domain)
		if not policy.compiled then return fail("unavailable", "the partner configuration is invalid: " .. tostring(policy.error)); end
		local existing = policy.compiled:lookup(domain);
		if existing and policy.is_from_config(existing) then return fail("read_only", read_only(existing)); end
		return true;
	end

	local function not_runtime(domain)
		return fail("not_found", ("%s is not a runtime partner of %s"):format(tostring(domain), module.host));
	end

	-- The change that merges `changes` into the stored record of its domain (or adds it);
	-- `must_exist` refuses to add.
	local function merge(changes, must_exist)
		return function (records)
			local stored, position = find(records, changes.domain);
			if must_exist and not stored then return not_runtime(changes.domain); end
			local record = copy(stored) or {};
			for k, v in pairs(changes) do
				if v == UNSET then record[k] = nil; else record[k] = copy(v); end
			end
			if stored then record.domain = stored.domain; end -- another spelling of it renames nothing
			records[position or #records + 1] = record;
			return records, { action = stored and "edit" or "add", domain = record.domain, before = stored, after = record };
		end;
	end

	--- Add a runtime partner, or edit the one with the same primary domain: fields of `changes`
	-- replace the stored ones, ops.UNSET removes one, the rest are kept. Returns the compiled
	-- partner and its warnings (a list of strings), or nil, err, detail with nothing saved.
	function ops.put(changes, who)
		if type(changes) ~= "table" then return fail("invalid", "expected a partner record (a table)"); end
		if type(changes.domain) ~= "string" then
			return fail("invalid", "field \"domain\" is required (a string)", { field = "domain" });
		end
		local ok, err, detail = check_editable(changes.domain);
		if not ok then return nil, err, detail; end
		return commit(who, merge(changes, false));
	end

	--- Put one field of runtime partner `domain` back to its default.
	function ops.unset(domain, field, who)
		if type(field) ~= "string" or not schema[field] then
			return fail("invalid", ("unknown field %q"):format(tostring(field)), { field = field });
		end
		if schema[field].required then
			return fail("invalid", ("field %q is required and cannot be unset"):format(field), { field = field });
		end
		if type(domain) ~= "string" then return fail("invalid", "expected a domain"); end
		local ok, err, detail = check_editable(domain);
		if not ok then return nil, err, detail; end
		return commit(who, merge({ domain = domain, [field] = UNSET }, true));
	end

	--- Remove runtime partner `domain` (its primary domain, any spelling).
	function ops.remove(domain, who)
		if type(domain) ~= "string" then return fail("invalid", "expected a domain"); end
		local ok, err, detail = check_editable(domain);
		if not ok then return nil, err, detail; end
		return commit(who, function (records)
			local stored, position = find(records, domain);
			if not stored then return not_runtime(domain); end
			table.remove(records, position);
			return records, { action = "remove", domain = stored.domain, before = stored };
		end);
	end

	ops.audit = audit.list;

	--- Streams up now per partner: { [primary domain or "default"] = count }.
	function ops.streams_up()
		local counts = {};
		local compiled = policy.compiled;
		if not compiled then return counts; end
		for _, stream in ipairs(sessions.walk()) do
			local partner = compiled:resolve(stream.remote);
			local key = partner and (partner.domain or "default");
			if key then counts[key] = (counts[key] or 0) + 1; end
		end
		return counts;
	end

	return ops;
end
