-- Rate limits of the live probe (README "Probe"): one probe of a domain per `domain_interval`
-- seconds, `per_admin` probes per admin per `admin_window` seconds, at most `in_flight` probes
-- running at once. Memory is bounded: entries older than their window are dropped, and at most
-- `max_keys` admins and domains are tracked (a flood of new names is refused, not stored).
-- Plain Lua with the clock passed in (spec/unit/verdict_spec.lua tests it).

local Limiter = {};
Limiter.__index = Limiter;

local function new(opts)
	opts = opts or {};
	return setmetatable({
		domain_interval = opts.domain_interval or 10, per_admin = opts.per_admin or 3,
		admin_window = opts.admin_window or 60, in_flight_max = opts.in_flight or 4, max_keys = opts.max_keys or 256,
		domains = {}, admins = {}, keys = 0, in_flight = 0,
	}, Limiter);
end

function Limiter:prune(now)
	for domain, t in pairs(self.domains) do
		if now - t >= self.domain_interval then self.domains[domain] = nil; self.keys = self.keys - 1; end
	end
	for admin, times in pairs(self.admins) do
		while times[1] and now - times[1] >= self.admin_window do table.remove(times, 1); end
		if not times[1] then self.admins[admin] = nil; self.keys = self.keys - 1; end
	end
end

local function wait_text(seconds)
	local s = math.max(1, math.ceil(seconds));
	return ("%d second%s"):format(s, s == 1 and "" or "s");
end

--- May `admin` probe `domain` now? Records the probe and returns true, or nil and why not
-- (with when to try again). `admin` nil (the shell, the operator's own console): no per-admin
-- limit. Call done() when the probe has finished.
function Limiter:take(admin, domain, now)
	self:prune(now);
	if self.in_flight >= self.in_flight_max then
		return nil, ("probe refused: %d probes are already running; try again in a few seconds"):format(self.in_flight);
	end
	local last = self.domains[domain];
	if last then
		return nil, ("probe refused: %s was probed %d s ago; one probe per domain every %d s (try again in %s)")
			:format(domain, math.floor(now - last), self.domain_interval, wait_text(self.domain_interval - (now - last)));
	end
	local times = admin and self.admins[admin];
	if times and #times >= self.per_admin then
		return nil, ("probe refused: %s already ran %d probes in the last %d s (try again in %s)")
			:format(admin, #times, self.admin_window, wait_text(self.admin_window - (now - times[1])));
	end
	if self.keys + ((times or not admin) and 1 or 2) > self.max_keys then
		return nil, "probe refused: too many recent probes; try again in a minute";
	end
	if admin and not times then times = {}; self.admins[admin] = times; self.keys = self.keys + 1; end
	if times then times[#times + 1] = now; end
	self.domains[domain] = now;
	self.keys = self.keys + 1;
	self.in_flight = self.in_flight + 1;
	return true;
end

function Limiter:done()
	if self.in_flight > 0 then self.in_flight = self.in_flight - 1; end
end

return { new = new };
