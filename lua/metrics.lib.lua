-- Counters and gauges exported through Prosody's statistics (mod_http_openmetrics when enabled;
-- README "Logging and metrics"). Prosody 0.12.3 requires a labels table on every metric; the
-- host label is added by module:metric itself for host modules.

local refused = module:metric("counter", "refused", "", "s2s streams refused by partner policy",
	{ "direction", "reason", "partner" });
local accepted = module:metric("counter", "accepted", "", "s2s streams accepted by partner policy",
	{ "direction", "method", "partner" });
local streams = module:metric("gauge", "streams", "", "s2s streams authenticated under partner policy now",
	{ "partner", "direction" });
local bounced = module:metric("counter", "bounced", "", "stanzas bounced because their domain may not federate",
	{ "reason" });
local dropped = module:metric("counter", "dropped", "", "partner stanzas dropped by contact rules",
	{ "partner_type", "kind" });
local delivery_refused = module:metric("counter", "delivery_refused", "",
	"stanzas refused because their domain did not authenticate under this host's policy on their stream",
	{ "kind", "reason" });
local stripped = module:metric("counter", "status_stripped", "", "status notes removed from presence to public partners",
	{ "partner_type" });

-- The `partner` label of a compiled partner record (or nil): its primary domain, "default" for
-- the default policy, "none" without one. Bounded by the partner list, never a remote domain.
local function partner_label(partner)
	if not partner then return "none"; end
	if partner.default then return "default"; end
	return partner.domain;
end

-- `family`'s metric for each value of its labels, looked up once per value: with_labels walks
-- the family's label table on every call, and the values counted per stanza (a partner type, a
-- stanza kind) are few and fixed. `of(value)` gives the metric, or the next level's table.
local function per_value(of)
	return setmetatable({}, { __index = function (cache, value)
		local metric = of(value);
		cache[value] = metric;
		return metric;
	end });
end
local stripped_by_type = per_value(function (partner_type) return stripped:with_labels(partner_type); end);
local dropped_by_type = per_value(function (partner_type)
	-- not with_partial_label: on a host module's family (module:metric's proxy) it drops the host
	return per_value(function (kind) return dropped:with_labels(partner_type, kind); end);
end);

return {
	partner_label = partner_label;
	refused = function (direction, reason, partner)
		refused:with_labels(direction, reason, partner_label(partner)):add(1);
	end;
	accepted = function (direction, method, partner)
		accepted:with_labels(direction, method, partner_label(partner)):add(1);
	end;
	-- `label` from partner_label(), `n` the streams counted now.
	streams = function (label, direction, n) streams:with_labels(label, direction):set(n); end;
	bounced = function (reason) bounced:with_labels(reason):add(1); end;
	dropped = function (partner_type, kind) dropped_by_type[partner_type][kind]:add(1); end;
	delivery_refused = function (kind, reason) delivery_refused:with_labels(kind, reason):add(1); end;
	stripped = function (partner_type) stripped_by_type[partner_type]:add(1); end;
};
