-- The smallest useful s2s allowlist, for comparison in the benchmarks only (README
-- "Performance"): what prosody-modules' mod_s2s_whitelist does, over a plain set. Stanzas to an
-- unlisted domain bounce; an incoming stream from one is closed when its features are asked for.
local st = require "util.stanza";

local allowed = {};
for _, domain in ipairs(module:get_option_array("s2s_bench_allowlist", {})) do allowed[domain] = true; end

module:hook("route/remote", function (event)
	if allowed[event.to_host] then return; end
	module:send(st.error_reply(event.stanza, "cancel", "not-allowed", "Communication with this domain is restricted"));
	return true;
end, 100);

module:hook("s2s-stream-features", function (event)
	local origin = event.origin;
	if origin.from_host and not allowed[origin.from_host] then
		origin:close({ condition = "policy-violation", text = "Communication with this domain is restricted" });
	end
end, 1000);
