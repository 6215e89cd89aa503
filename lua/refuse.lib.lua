-- Refusing a stream: one place for the log line, the metric, the stream error and the bounce.

local errors = require "util.error";

return function (policy, metrics)
	-- Log (naming the partner), count and announce a refusal.
	local function note(session, domain, reason, text)
		local log = session.log or module._log;
		local partner = domain and policy.resolve(domain);
		log("info", "Refused %s s2s stream %s %s: %s [partner %s, %s]", session.direction or "?",
			session.direction == "outgoing" and "to" or "from", domain or "(unknown domain)", text,
			partner and (partner.domain or "default policy") or "none", reason);
		metrics.refused(session.direction or "unknown", reason, partner);
		module:fire_event("s2s-partners/refused", { session = session, domain = domain, partner = partner or nil,
			reason = reason, text = text }); -- status.lib.lua
	end

	-- Close `session` with a policy-violation stream error whose text says why; stanzas queued
	-- for it bounce to their senders with the same text.
	local function refuse(session, domain, reason, text)
		note(session, domain, reason, text);
		session.s2sp_refused = text;
		session:close({ condition = "policy-violation", text = text }, nil,
			errors.new({ type = "cancel", condition = "policy-violation", text = text }));
	end

	return refuse, note;
end
