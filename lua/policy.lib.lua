-- The partner policy of this host: compiled from the configuration by the C core, kept in force
-- across reloads, and closed to everyone when it could never be compiled (fail closed). An
-- unusable dialback_secret counts as an invalid configuration too: every dialback would fail.

local async = require "util.async";

local OPT_LIST, OPT_DEFAULT, OPT_SECRET = "s2s_partners", "s2s_partners_default", "dialback_secret";
-- Records compiled per event-loop turn where the caller can wait (README "Performance": a
-- runtime edit of a 100,000-partner list must not stall the server for a whole compile).
local SLICE = 5000;

-- Why a dialback_secret value cannot be used (README "Options"), or nil: unset is fine (a random
-- secret), anything but a non-empty string is not. dialback.lib.lua applies the same function.
local function secret_problem(value)
	if value == nil or (type(value) == "string" and value ~= "") then return nil; end
	return ("expected a non-empty string, got %s"):format(value == "" and "an empty string" or type(value));
end

return function (core)
	local self = {
		secret_problem = secret_problem; -- for dialback.lib.lua
		compiled = nil; -- the policy in force (userdata from core.compile), nil = refuse everyone
		error = nil;    -- why the configuration is not in force, when it is not
		runtime = {};   -- partner records added by admins at runtime, in order (runtime.lib.lua keeps them)
		from_config = 0; -- how many of the compiled partners come from the config file
		-- [partner type] = true for each type some partner (or the default) of the policy in force
		-- has: a per-stanza hook whose rule concerns one type returns at once when none has it.
		types = {};
	};
	local listeners = {}; -- called with the new compiled policy after every change

	-- Runtime partners are numbered after the config's: name them as such in errors, and say
	-- which runtime record it is in the detail (runtime_index).
	local function runtime_error(err, detail, n_config)
		local i = detail.index;
		if not i or i <= n_config then return err; end
		detail.runtime_index = i - n_config;
		local head = ("partner %d"):format(i); -- how the core's text names that record
		return ("runtime partner %d%s"):format(i - n_config, err:sub(#head + 1));
	end

	-- A copy of `list` and its length when it is a list as the core wants it written: keys 1..n
	-- only (no holes, no stray keys; the core's own test, s2sp_list_problem, made here without
	-- compiling anything; raw, as the core reads tables), or nil. `pause`, when given, is called
	-- every 4 × SLICE records (compile_sliced reads a long list over several event-loop turns).
	local function plain_copy(list, pause)
		if type(list) ~= "table" then return nil; end
		local all, count, max = {}, 0, 0;
		for key, record in next, list do
			if math.type(key) ~= "integer" or key < 1 then return nil; end
			all[key], count = record, count + 1;
			if key > max then max = key; end
			if pause and count % (4 * SLICE) == 0 then pause(); end
		end
		if count ~= max then return nil; end
		return all, max;
	end

	-- The config file's records followed by `runtime`'s, as one list for the core, or nil when
	-- `list` is not plain. The copy of a config list is kept (for the latest list only, weakly)
	-- and its tail replaced: a runtime edit copies no config record (README "Performance"). The
	-- core keeps nothing of the list it compiles, so the copy can be reused.
	local merged = setmetatable({}, { __mode = "k" }); -- [config list] = { n, len, all }
	local function with_runtime(list, runtime)
		local m = merged[list];
		if not m then
			local all, n = plain_copy(list);
			if not all then return nil; end
			m = { n = n, len = n, all = all };
			merged = setmetatable({ [list] = m }, { __mode = "k" });
		end
		local all, n = m.all, m.n;
		local len = n;
		for _, record in ipairs(runtime) do len = len + 1; all[len] = record; end
		for i = len + 1, m.len do all[i] = nil; end
		m.len = len;
		return all, n;
	end

	-- The config file's list (a table, or anything for the core to name), the runtime records
	-- and the default, compiled together: compiled, warnings, n_config or nil, err, detail (the
	-- core's: index, field, message; see partners.compile). The core checks the list exactly as
	-- written first, so holes (a nil, e.g. an undefined variable, in the list) and stray keys are
	-- refused like any other invalid list (README "Configuration") rather than hidden by the
	-- copy the runtime partners are appended to. With runtime records, a list that is plain (the
	-- core would find nothing wrong with it as a list) is compiled once, with them: the records
	-- are checked in the same order, so the same first error is found (README "Performance":
	-- one compile per change, not two).
	--
	-- `sliced`: where the caller can wait (an edit from the shell, ad-hoc or web: async.ready()),
	-- a list of more than SLICE records is gathered and compiled SLICE records per event-loop
	-- turn (README "Performance"), with the same results: the core's compile() is its compiler
	-- run to the end, and a list that is not plain is left to the compile in one go, which
	-- refuses it at once. The config file's list is never changed once read (a reload reads a
	-- new one), nor is a runtime list once in `self.runtime` (an adoption puts another there),
	-- so both can be read over several turns.
	local function pause() async.sleep(0); end
	local function compile_sliced(list, runtime, default)
		-- Without runtime records the core reads the config list itself (it checks the list as
		-- written); a copy of a large list grows in steps of several MiB, and Lua's collector
		-- pays for each such allocation at once, in that turn (tens of ms at 100,000 partners).
		local all, n_config = list, rawlen(list);
		if runtime[1] ~= nil then
			all, n_config = plain_copy(list, pause);
			if not all then return nil; end
			for i, record in ipairs(runtime) do all[n_config + i] = record; end
		end
		-- a list refused as a whole: left to the compile in one go, which says so (and where)
		local compiler = core.compiler(all, default);
		if not compiler then return nil; end
		local turns = 1;
		while true do
			local compiled, warnings, refused = compiler:step(SLICE);
			if compiled ~= false then
				module:log("debug", "Compiled %d partner records over %d event-loop turns", #all, turns);
				if not compiled then return false, runtime_error(warnings, refused, n_config), refused; end
				return compiled, warnings, n_config;
			end
			pause();
			turns = turns + 1;
		end
	end

	local function compile(list, runtime, default, sliced)
		if sliced and type(list) == "table" and rawlen(list) + #runtime > SLICE and async.ready() then
			local compiled, warnings, detail = compile_sliced(list, runtime, default);
			if compiled then return compiled, warnings, detail; end
			if compiled == false then return nil, warnings, detail; end
		end
		local all, n_config;
		if runtime[1] ~= nil then all, n_config = with_runtime(list, runtime); end
		if not all then
			local config, warnings, detail = core.compile(list, default);
			if not config then
				local err = warnings;
				if detail.hole then
					err = ("%s (entry %d is nil)"):format(err, detail.hole);
				end
				return nil, err, detail;
			end
			n_config = #config;
			if runtime[1] == nil then return config, warnings, n_config; end
			all = {};
			for i = 1, n_config do all[i] = rawget(list, i); end
			for _, record in ipairs(runtime) do all[#all + 1] = record; end
		end
		local compiled, err, refused = core.compile(all, default);
		if not compiled then return nil, runtime_error(err, refused, n_config), refused; end
		return compiled, err, n_config; -- err: the warnings
	end

	-- Prosody's own options that bear on what a partner's rule can do (README "Options"); read
	-- here for the warnings below and for explain.lib.lua.
	function self.prosody_options()
		return {
			require_encryption = module:get_option_boolean("s2s_require_encryption", true);
			secure_auth = module:get_option_boolean("s2s_secure_auth", false);
			direct_tls = not module:get_option_set("s2s_direct_tls_ports", {}):empty();
		};
	end

	-- A large list is not logged partner by partner (README "Performance": a reload of 100,000
	-- partners must not stall the server): when more than NAMED_MAX partners have something to
	-- be said about them, one line says it with their number and the first NAMED_FIRST domains;
	-- the per-partner debug lines are written for lists of at most DETAIL_MAX partners.
	local NAMED_MAX, NAMED_FIRST, DETAIL_MAX = 10, 5, 1000;

	-- The partners of `compiled` (made from `sources`: { list = the config file's records, n =
	-- how many, runtime = the runtime records }) whose record as written passes `maybe` (a cheap
	-- test every wanted partner passes: fields as written, before defaults) and whose compiled
	-- record passes `wanted`, in list order, at most `max` of them. Reads records `from` (1) to
	-- `to` (all), and looks up only those `maybe` lets through, so the core builds no other
	-- partner's table. Returns the list, and true when it is complete (`max` reached or `to` is
	-- the last record).
	local function find(compiled, sources, maybe, wanted, max, found, from, to)
		found = found or {};
		local n, runtime = sources.n, sources.runtime;
		local total = n + #runtime;
		to = math.min(to or total, total);
		for i = from or 1, to do
			local record;
			if i <= n then record = rawget(sources.list, i); else record = runtime[i - n]; end
			if type(record) == "table" and maybe(record) then
				local partner = compiled:lookup(record.domain);
				if partner and wanted(partner) then
					found[#found + 1] = partner;
					if max and #found >= max then return found, true; end
				end
			end
		end
		return found, to == total;
	end

	-- The partners to name when `count` partners pass `maybe` / `wanted` (see find): all of them
	-- up to NAMED_MAX, else the first NAMED_FIRST.
	local function named(compiled, sources, count, maybe, wanted)
		if count == 0 then return {}; end
		return find(compiled, sources, maybe, wanted, count <= NAMED_MAX and count or NAMED_FIRST);
	end

	-- Say something at `level` about `count` partners, of which `found` lists the first (see
	-- named): `one(partner)` returns the format and arguments of a partner's own line, written
	-- for each when there are at most NAMED_MAX; else one line, `many`, with the count and the
	-- first few domains.
	local function tell(level, count, found, one, many)
		if count == 0 then return; end
		if count <= NAMED_MAX then
			for _, partner in ipairs(found) do module:log(level, one(partner)); end
			return;
		end
		local names = {};
		for i = 1, math.min(#found, NAMED_FIRST) do names[i] = found[i].domain; end
		module:log(level, "%d partners %s (the first: %s, …)", count, many, table.concat(names, ", "));
	end

	-- A field of a record as written, or the schema's default when it is absent (the core's
	-- values are exact strings and booleans: a record that gives another spelling is refused).
	local defaults = {};
	for _, field in ipairs(core.schema()) do defaults[field.name] = field.default; end
	local function written(record, name)
		local v = record[name];
		if v == nil then return defaults[name]; end
		return v;
	end
	local function tls_set(record) return written(record, "tls") ~= "required"; end
	local function tls_not_required(partner) return partner.tls ~= "required"; end
	local function dialback_set(record) return written(record, "dialback") ~= false; end
	local function allows_dialback(partner) return partner.dialback; end
	local function tls_off(record) return written(record, "tls") == "not_supported"; end
	local function no_tls(partner) return partner.tls == "not_supported"; end
	local function no_tls_no_sasl(record)
		return written(record, "tls") == "not_supported" and written(record, "sasl") == "not_supported";
	end
	local function valid_with_message(partner) return partner.class == "valid" and partner.message ~= nil; end

	-- Prosody's own global options are applied by mod_s2s / mod_tls before or after us and can
	-- make a partner's rule impossible; say so at start rather than fail mysteriously. Counted by
	-- the core; only the partners named are looked up.
	local function warn_about_globals(compiled, sources)
		local options = self.prosody_options();
		if options.require_encryption then
			local count = #compiled - compiled:count_where("tls", "required");
			tell("warn", count, named(compiled, sources, count, tls_set, tls_not_required), function (partner)
					return "Partner %s has tls = %q but s2s_require_encryption is on: Prosody will refuse its "
						.. "unencrypted streams; set s2s_require_encryption = false (the module enforces tls = required itself)",
						partner.domain, partner.tls;
				end, "have tls other than \"required\" but s2s_require_encryption is on: Prosody will refuse their "
					.. "unencrypted streams; set s2s_require_encryption = false (the module enforces tls = required itself)");
		end
		if options.secure_auth then
			local count = compiled:count_where("dialback", true);
			tell("warn", count, named(compiled, sources, count, dialback_set, allows_dialback), function (partner)
					return "Partner %s allows dialback but s2s_secure_auth is on: Prosody will refuse its streams "
						.. "without a trusted certificate; set s2s_secure_auth = false (the module enforces SASL rules itself)",
						partner.domain;
				end, "allow dialback but s2s_secure_auth is on: Prosody will refuse their streams without a trusted "
					.. "certificate; set s2s_secure_auth = false (the module enforces SASL rules itself)");
		end
		if options.direct_tls then
			local count = compiled:count_where("tls", "not_supported");
			tell("warn", count, named(compiled, sources, count, tls_off, no_tls), function (partner)
					return "Partner %s has tls = \"not_supported\" but s2s_direct_tls_ports is set: "
						.. "direct TLS connections cannot be made plaintext", partner.domain;
				end, "have tls = \"not_supported\" but s2s_direct_tls_ports is set: direct TLS connections cannot be "
					.. "made plaintext");
		end
	end

	-- The notes of valid rows of the matrix (README "Negotiation matrix": only tls = sasl =
	-- "not_supported" with dialback has one), at info level.
	local function note_valid_rows(compiled, sources)
		if compiled:count_where("tls", "not_supported") == 0 or compiled:count_where("sasl", "not_supported") == 0 then
			return;
		end
		local noted = find(compiled, sources, no_tls_no_sasl, valid_with_message);
		tell("info", #noted, noted, function (partner) return "Partner %s: %s", partner.domain, partner.message; end,
			"are valid with a note: " .. (noted[1] and noted[1].message or ""));
	end

	local function describe(partner)
		return ("%s (%s, tls=%s, sasl=%s, dialback=%s)"):format(partner.domain or "default",
			partner.type, partner.tls, partner.sasl, tostring(partner.dialback));
	end

	-- The compile warnings (warning rows of the matrix), at most NAMED_MAX of them one by one.
	local function log_warnings(warnings)
		for i, warning in ipairs(warnings) do
			if #warnings > NAMED_MAX and i > NAMED_FIRST then
				module:log("warn", "… and %d more warnings like these, about other partners (%d in all)",
					#warnings - NAMED_FIRST, #warnings);
				return;
			end
			module:log("warn", "%s", tostring(warning));
		end
	end

	-- Check dialback_secret and compile the configured list; returns true or nil, err. Never
	-- leaves a half-applied state. `sliced`: the caller can wait, and the compile may span
	-- event-loop turns (compile_sliced); if another load put a policy in force meanwhile, this one
	-- puts nothing in force and returns nil, err, { superseded = true }.
	function self.load(reason, sliced)
		local started = self.compiled; -- every load that succeeds puts a new policy object in force
		local option, err = OPT_SECRET, secret_problem(module:get_option(OPT_SECRET));
		if err then err = OPT_SECRET .. ": " .. err; end
		local ok, compiled, warnings, n_config;
		local list, runtime = module:get_option(OPT_LIST, {}), self.runtime;
		if not err then
			option = OPT_LIST;
			ok, compiled, warnings, n_config = pcall(compile, list, runtime, module:get_option(OPT_DEFAULT), sliced);
			if self.compiled ~= started then
				module:log("debug", "Partner list of %s not put in force: another was meanwhile", reason);
				return nil, "another partner list was put in force meanwhile", { superseded = true };
			end
			if not ok then
				err = tostring(compiled);
			elseif not compiled then
				err = warnings;
			end
		end
		if err then
			if self.compiled then
				module:log("error", "Invalid %s on %s, keeping the previous partner list in force: %s", option, reason, err);
			else
				module:log("error", "Invalid %s, refusing all server-to-server traffic for %s until it is fixed: %s",
					option, module.host, err);
				module:set_status("error", "Invalid partner configuration: " .. err);
			end
			self.error = err;
			return nil, err;
		end
		local sources = { list = list, n = n_config, runtime = runtime };
		log_warnings(warnings);
		note_valid_rows(compiled, sources);
		if #compiled <= DETAIL_MAX then
			for _, partner in ipairs(compiled:partners()) do module:log("debug", "Partner %s", describe(partner)); end
		end
		local default_partner = compiled:default();
		if default_partner then
			module:log("info", "Unlisted domains federate with the default policy %s", describe(default_partner));
		end
		warn_about_globals(compiled, sources);
		self.compiled, self.error, self.from_config, self.types = compiled, nil, n_config, compiled:types();
		self.sources = sources;
		for _, listener in ipairs(listeners) do listener(compiled); end
		module:set_status("core", ("%d partners"):format(#compiled));
		module:log("info", "%d federation partners in force (%s)", #compiled, reason);
		return true;
	end

	-- Partners by domain as asked, for the policy `memo_of` (README "Performance": every stanza
	-- resolves its domain, and a Lua table answers in a fraction of the C core's time through the
	-- call). Emptied when another policy is in force, and when it reaches MEMO_MAX domains
	-- (remote servers and local users choose them). Only partners: a refusal is worded anew.
	local MEMO_MAX = 4096;
	local memo, memo_of, memo_n = {}, nil, 0;

	-- The partner record that governs `domain` (a listed partner or the default), or
	-- nil, reason where federation with it is not allowed.
	function self.resolve(domain)
		local compiled = self.compiled;
		if compiled ~= memo_of then memo, memo_of, memo_n = {}, compiled, 0; end
		local partner = domain and memo[domain];
		if partner then return partner; end
		if not compiled then
			return nil, "the partner configuration of " .. module.host .. " is invalid";
		end
		if not domain then
			return nil, "the remote server did not say which domain it is";
		end
		partner = compiled:resolve(domain);
		if not partner then
			return nil, domain .. " is not a federation partner of " .. module.host;
		end
		if memo_n >= MEMO_MAX then memo, memo_n = {}, 0; end
		memo[domain], memo_n = partner, memo_n + 1;
		return partner;
	end

	-- Would `records` as the runtime list compile with the config file's? compiled, warnings or
	-- nil, err, detail (runtime.lib.lua checks an edit with it before saving anything).
	function self.check(records)
		return compile(module:get_option(OPT_LIST, {}), records, module:get_option(OPT_DEFAULT), true);
	end

	-- Does `partner` allow `method` ("sasl_tls" | "tls_dialback" | "tcp_dialback")?
	function self.allows(partner, method)
		for _, m in ipairs(partner.methods) do
			if m == method then return true; end
		end
		return false;
	end

	--- Is `domain` the primary domain of a partner of `compiled`? (What status and probe keep
	-- after a policy change: a lookup, whatever the size of the list.)
	function self.is_primary(compiled, domain)
		local partner = compiled:lookup(domain);
		return partner ~= nil and partner.domain == domain;
	end

	-- Is this partner (a compiled record) one of the config file's (read-only at runtime)?
	function self.is_from_config(partner)
		return partner.index ~= nil and partner.index <= self.from_config;
	end

	-- The partners of the policy in force whose record as written passes `maybe` and whose
	-- compiled record passes `wanted` (see find above), for a listener that cares about a few
	-- partners the core does not count (connect.lib.lua), without walking the compiled list:
	-- `done(found)` is called once all records are read, FIND_CHUNK records per event-loop tick
	-- (README "Performance": the server keeps serving meanwhile; a list of at most FIND_CHUNK
	-- records is read at once), and not at all when another policy came into force meanwhile
	-- (its own listeners look again).
	local FIND_CHUNK = 10000;
	function self.find_later(maybe, wanted, done)
		local compiled, sources = self.compiled, self.sources;
		if not compiled then return; end
		local found, from = {}, 1;
		local function step()
			if self.compiled ~= compiled then return; end
			local complete;
			found, complete = find(compiled, sources, maybe, wanted, nil, found, from, from + FIND_CHUNK - 1);
			if complete then done(found); return; end
			from = from + FIND_CHUNK;
			return 0; -- again at the next tick
		end
		if step() then module:add_timer(0, step); end
	end

	function self.on_change(listener)
		listeners[#listeners + 1] = listener;
	end

	-- The first load is runtime.lib.lua's, once it has read the runtime list from storage.
	-- In a thread of its own, so that a large list compiles over several event-loop turns
	-- (compile_sliced), the previous policy in force until the new one is complete.
	module:hook_global("config-reloaded", function ()
		async.runner(function () self.load("reload", true); end):run(true);
	end);

	return self;
end
