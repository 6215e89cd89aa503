-- Event-loop stall meter for the reload benchmark only (never shipped; spec/bench/reload_bench.lua):
-- a timer every INTERVAL seconds inside the server records how late it fired (the longest time
-- the event loop was busy with something else, to within the timer's own jitter), and the
-- server's own reload steps are timed where they happen:
--   parse     "reloading-config" (fired before the config file is read) -> first
--             "config-reloaded" handler (the file is parsed and the new config in place); also
--             as process CPU time (parse_cpu)
--   handlers  first -> last "config-reloaded" handler (every module's and the core's)
--   module    mod_s2s_partners' policy.load (wrapped), of which `compile` is the C core's
--             compile() and compiler:step() calls (wrapped); also as process CPU time (load_cpu,
--             compile_cpu), which other processes on a busy machine do not inflate
--
-- Controlled from `prosodyctl shell`:
--   > bench_lag.start()      zero the figures (and wrap the module's functions, once loaded)
--   > bench_lag.report()     "max=… module_late=… n=… late=… parse=… handlers=… load=… compile=…" (ms)
-- luacheck: globals module, read globals prosody
if rawget(_G, "bench_lag") then return; end -- loaded on each host: one meter per process

local time = require "util.time";
local now = time.monotonic or time.now;

local INTERVAL = 0.01;
local lag = {};
local max_late, ticks, lates = 0, 0, {};
local marks = {};
local spans = { parse = {}, parse_cpu = {}, handlers = {}, load = {}, compile = {}, load_cpu = {}, compile_cpu = {} };
local expected;
-- What ran since the last tick: the module's timed code (its load, a compile or compiler step),
-- and the config file's parse (`reloading-config`, whose config-reloaded handlers run in the
-- same turn). module_late is the longest lateness of a tick after the module's code ran and no
-- parse: the turns that hold the module's work, whatever else (Prosody's collector) ran in them.
local ran_module, ran_parse, module_late = false, false, 0;

local function tick()
	local t = now();
	if expected then
		local late = t - expected;
		if late > max_late then max_late = late; end
		if late > 0.02 then lates[#lates + 1] = late; end
		if ran_module and not ran_parse and late > module_late then module_late = late; end
	end
	ran_module, ran_parse = false, false;
	ticks = ticks + 1;
	expected = t + INTERVAL;
	return INTERVAL;
end
expected = now() + INTERVAL;
module:add_timer(INTERVAL, tick);

local function add(kind, seconds)
	local list = spans[kind];
	list[#list + 1] = seconds;
end

module:hook_global("reloading-config", function ()
	marks.reloading, marks.reloading_cpu, ran_parse = now(), os.clock(), true;
end, 1e9);
module:hook_global("config-reloaded", function ()
	local t = now();
	marks.first = t;
	if marks.reloading then
		add("parse", t - marks.reloading);
		add("parse_cpu", os.clock() - marks.reloading_cpu);
		marks.reloading = nil;
	end
end, 1e9);
module:hook_global("config-reloaded", function ()
	if marks.first then add("handlers", now() - marks.first); marks.first = nil; end
	module:log("info", "bench_lag: config reloaded");
end, -1e9);

-- `fn` timed into spans[kind] (wall) and spans[kind .. "_cpu"] (process CPU)
local function timed(fn, kind)
	return function (...)
		local t, c = now(), os.clock();
		ran_module = true;
		local r = table.pack(fn(...));
		add(kind, now() - t);
		add(kind .. "_cpu", os.clock() - c);
		return table.unpack(r, 1, r.n);
	end
end

local wrapped = {};
local function wrap_module()
	local core = package.loaded["s2s_partners"];
	if core and not wrapped.core then
		core.compile = timed(core.compile, "compile");
		-- a runtime edit compiles a slice per event-loop turn: its steps count as compile time
		local methods = getmetatable(assert(core.compiler({}))).__index;
		methods.step = timed(methods.step, "compile");
		wrapped.core = true;
	end
	for host, h in pairs(prosody.hosts) do
		local env = h.modules and h.modules.s2s_partners;
		local policy = env and env.s2s_partners_policy;
		if policy and not wrapped[host] then
			policy.load = timed(policy.load, "load");
			wrapped[host] = true;
		end
	end
end

function lag.start()
	wrap_module();
	max_late, ticks, lates, module_late = 0, 0, {}, 0;
	spans = { parse = {}, parse_cpu = {}, handlers = {}, load = {}, compile = {}, load_cpu = {}, compile_cpu = {} };
	return "measuring";
end

local function ms(list)
	local out = {};
	for i, v in ipairs(list) do out[i] = ("%.1f"):format(v * 1e3); end
	return #out > 0 and table.concat(out, ",") or "-";
end

function lag.report()
	table.sort(lates, function (a, b) return a > b; end);
	local top = {};
	for i = 1, math.min(5, #lates) do top[i] = lates[i]; end
	return ("max=%.1f module_late=%.1f n=%d late=%s parse=%s parse_cpu=%s handlers=%s load=%s compile=%s load_cpu=%s compile_cpu=%s")
		:format(max_late * 1e3, module_late * 1e3, ticks, ms(top), ms(spans.parse), ms(spans.parse_cpu), ms(spans.handlers), ms(spans.load),
			ms(spans.compile), ms(spans.load_cpu), ms(spans.compile_cpu));
end

rawset(_G, "bench_lag", lag);
