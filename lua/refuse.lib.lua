-- Refusing a stream: one place for the log line, the metric, the stream error and the bounce.

local errors = require "util.error";

return function (metrics)
	-- Close `session` with a policy-violation stream error whose text says why; stanzas queued
	-- for it bounce to their senders with the same text.
	return function (session, domain, reason, text)
		local log = session.log or module._log;
		log("info", "Refused %s s2s stream %s %s: %s [%s]", session.direction or "?",
			session.direction == "outgoing" and "to" or "from", domain or "(unknown domain)", text, reason);
		metrics.refused(session.direction or "unknown", reason);
		session.s2sp_refused = text;
		session:close({ condition = "policy-violation", text = text }, nil,
			errors.new({ type = "cancel", condition = "policy-violation", text = text }));
	end;
end
