-- `prosodyctl mod_s2s_partners import FILE --host HOST --apply` (README "Migrating from Lync"):
-- the imported records become runtime partners of HOST on the running server, through the
-- module's admin operations (admin.lib.lua: show, put — validated, saved, audited, applied at
-- once), reached over the admin socket by `prosodyctl shell` with one raw Lua line (">…").
-- First the server's state of every imported domain is read and the differences printed; a
-- domain owned by a partner of the config file (read-only at runtime) stops everything.
--
-- apply(result, host) -> true | nil, err   (made by the module: run_shell(line) -> output)

local MARK_STATE, MARK_PUT, MARK_ERR = "S2SP-STATE ", "S2SP-PUT ", "S2SP-ERR ";

-- The raw Lua prologue of every line: `ops` is the host's admin operations, or it says why not.
local PROLOGUE = ">local h = prosody.hosts[%s]; local m = h and h.modules.s2s_partners; "
	.. "local ops = m and m.s2s_partners_admin; "
	.. "if not ops then print(%q .. 'mod_s2s_partners is not loaded on ' .. %s) return end; "
	.. "local ser = require 'util.serialization'.new({ preset = 'oneline' }); ";

local STATE = "for _, d in ipairs(%s) do local p, origin, rec = ops.show(d); "
	.. "print(%q .. ser({ domain = d, owner = p and p.domain, origin = p and origin, record = p and rec, "
	.. "error = (not p) and origin:match('^the partner configuration is invalid') and origin })) end";

local PUT = "local who = { actor = 'prosodyctl mod_s2s_partners import', interface = 'shell' }; "
	.. "for _, r in ipairs(%s) do local p, w = ops.put(r, who); "
	.. "print(%q .. ser({ domain = r.domain, ok = p and true, warnings = p and w, error = (not p) and w })) end";

local function same(a, b)
	if type(a) ~= "table" or type(b) ~= "table" then return a == b; end
	for k, v in pairs(a) do if not same(v, b[k]) then return false; end end
	for k in pairs(b) do if a[k] == nil then return false; end end
	return true;
end

return function (core, config, run_shell)
	local names = {};
	for _, field in ipairs(core.schema()) do names[#names + 1] = field.name; end

	local function list_literal(items, item_literal)
		local parts = {};
		for i, item in ipairs(items) do parts[i] = item_literal(item); end
		return "{ " .. table.concat(parts, ", ") .. " }";
	end

	-- Run `line` on the server (after the prologue): the values printed after `mark`.
	local function remote(host, line, mark)
		local q = config.quote(host);
		local out, ok = run_shell(PROLOGUE:format(q, MARK_ERR, q) .. line);
		local values = {};
		local function after(text, prefix) return text:sub(1, #prefix) == prefix and text:sub(#prefix + 1) or nil; end
		for text in (out or ""):gmatch("[^\n]+") do
			local err = after(text, MARK_ERR);
			if err then return nil, err; end
			local data = after(text, mark);
			if data then
				local value = load("return " .. data, "=server", "t", {});
				values[#values + 1] = value and value();
			end
		end
		if not ok and #values == 0 then return nil, "prosodyctl shell failed: " .. tostring(out); end
		return values, out;
	end

	-- The change of one record: "add", "unchanged" or "edit" with the fields that change.
	local function change(record, state)
		if not state.record then return "add", {}; end
		local fields = {};
		for _, name in ipairs(names) do
			if record[name] ~= nil and not same(record[name], state.record[name]) then
				local before = state.record[name] == nil and "(default)" or config.literal(state.record[name]);
				fields[#fields + 1] = ("%s: %s → %s"):format(name, before, config.literal(record[name]));
			end
		end
		return #fields == 0 and "unchanged" or "edit", fields;
	end

	return function (result, host)
		local domains = {};
		for i, record in ipairs(result.records) do domains[i] = record.domain; end
		local states, err = remote(host, STATE:format(list_literal(domains, config.quote), MARK_STATE), MARK_STATE);
		if not states then return nil, err; end
		local puts, blocked = {}, {};
		for i, record in ipairs(result.records) do
			local state = states[i] or {};
			if state.error then return nil, ("%s: %s"):format(host, state.error); end
			if state.origin == "config" or (state.owner and not state.record) then
				blocked[#blocked + 1] = ("%s: owned by partner %s of the configuration file (read-only at runtime)")
					:format(record.domain, tostring(state.owner));
			else
				local what, fields = change(record, state);
				print(("%-9s %s (line %d)%s"):format(what, record.domain, result.lines[i],
					#fields > 0 and (": " .. table.concat(fields, "; ")) or ""));
				if what ~= "unchanged" then puts[#puts + 1] = record; end
			end
		end
		if #blocked > 0 then return nil, table.concat(blocked, "\n") .. "\nnothing applied"; end
		if #puts == 0 then print("Nothing to change on " .. host); return true; end
		local done, put_out = remote(host, PUT:format(list_literal(puts, config.record_value), MARK_PUT), MARK_PUT);
		if not done then return nil, put_out; end
		local failed = {};
		for _, d in ipairs(done) do
			if d.ok then
				print(("applied   %s%s"):format(d.domain, #(d.warnings or {}) > 0 and ("; warning: " .. table.concat(d.warnings, "; ")) or ""));
			else
				failed[#failed + 1] = ("%s: %s"):format(tostring(d.domain), tostring(d.error));
			end
		end
		if #done < #puts then
			failed[#failed + 1] = ("%d of %d changes were not confirmed by the server: %s"):format(#puts - #done, #puts, put_out);
		end
		if #failed > 0 then return nil, "not applied: " .. table.concat(failed, "\n"); end
		print(("Applied %d change(s) to %s"):format(#puts, host));
		return true;
	end
end
