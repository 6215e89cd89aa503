-- Sampling profiler for the benchmark servers only (never shipped; README "Performance"): a
-- count hook on every Lua thread samples the running stack every INTERVAL VM instructions (on
-- average: each gap is drawn at random, since a stanza's work is the same every time and a
-- fixed gap would sample the same instructions of it again and again) and
-- charges the sample to the outermost frame of the module under study (the hook or filter
-- Prosody called) and to the innermost one (where the time is spent inside it). Samples outside
-- the module count as "other". Lua VM instructions only: C functions called from Lua (string
-- library, the XML parser, TLS) do not tick the hook, so shares are of Lua work.
--
-- Controlled from `prosodyctl shell`:  > bench_profile.start()  … flood …  > bench_profile.report()
if rawget(_G, "bench_profile") then return; end -- loaded on each host: one profiler per process

local INTERVAL = 97 -- mean VM instructions per sample
local random = math.random
local MODULE = "mod_s2s_partners/" -- the source path of the module under study
local getinfo, sethook = debug.getinfo, debug.sethook

local samples, entries, inner, total = {}, {}, {}, 0
local running = false

local function where(info)
	return (info.short_src:match("[^/]+$") or info.short_src) .. ":" .. info.linedefined;
end

local sample;
local function next_gap() return random(INTERVAL // 2, INTERVAL + INTERVAL // 2); end

function sample()
	sethook(sample, "", next_gap()); -- the running thread
	local outer, innermost;
	local level = 2;
	while true do
		local info = getinfo(level, "S");
		if not info then break; end
		if info.source:find(MODULE, 1, true) then
			outer = info;
			innermost = innermost or info;
		end
		level = level + 1;
	end
	total = total + 1;
	if not outer then return; end
	local key = where(outer);
	entries[key] = (entries[key] or 0) + 1;
	local ikey = where(innermost);
	inner[ikey] = (inner[ikey] or 0) + 1;
	samples[#samples + 1] = true;
end

-- The main thread (network callbacks, stream filters) is LUA_RIDX_MAINTHREAD in the registry;
-- the shell runs its commands in a thread of its own.
local main = debug.getregistry()[1];
local function hook(co) sethook(co, sample, "", next_gap()); end
local function unhook(co) sethook(co); end

-- Runners (util.async) create their coroutines with coroutine.create / wrap at call time.
local create = coroutine.create
local threads = setmetatable({}, { __mode = "k" });
function coroutine.create(f) -- luacheck: ignore 122
	local co = create(f);
	threads[co] = true;
	if running then hook(co); end
	return co;
end
function coroutine.wrap(f) -- luacheck: ignore 122
	local co = create(f);
	threads[co] = true;
	if running then hook(co); end
	return function (...)
		local r = table.pack(coroutine.resume(co, ...));
		if not r[1] then error(r[2], 0); end
		return table.unpack(r, 2, r.n);
	end
end

local profile = {};

function profile.start()
	samples, entries, inner, total = {}, {}, {}, 0;
	running = true;
	hook(main);
	for co in pairs(threads) do
		if coroutine.status(co) ~= "dead" then hook(co); end
	end
	return "profiling";
end

local function sorted(t)
	local list = {};
	for k, n in pairs(t) do list[#list + 1] = { k, n }; end
	table.sort(list, function (a, b) return a[2] > b[2]; end);
	return list;
end

-- Stop; one line per function: VM instructions (estimated: samples × INTERVAL) per `stanzas`.
function profile.report(stanzas)
	running = false;
	unhook(main);
	for co in pairs(threads) do
		if coroutine.status(co) ~= "dead" then unhook(co); end
	end
	stanzas = stanzas or 1;
	local lines = { ("total %d %.0f"):format(total, total * INTERVAL / stanzas),
		("module %d %.0f"):format(#samples, #samples * INTERVAL / stanzas) };
	for _, e in ipairs(sorted(entries)) do
		lines[#lines + 1] = ("entry %s %d %.0f"):format(e[1], e[2], e[2] * INTERVAL / stanzas);
	end
	for _, e in ipairs(sorted(inner)) do
		lines[#lines + 1] = ("inner %s %d %.0f"):format(e[1], e[2], e[2] * INTERVAL / stanzas);
	end
	return table.concat(lines, "\n");
end

rawset(_G, "bench_profile", profile);
