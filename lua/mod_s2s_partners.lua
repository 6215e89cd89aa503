-- mod_s2s_partners: per-partner federation policy for server-to-server streams.
--
-- Lists the organisations a virtual host federates with ("XMPP federated partners") and, for
-- each, which stream authentication methods are allowed (SASL EXTERNAL over TLS, dialback over
-- TLS, dialback over TCP) and which contact rules apply to its users. Unlisted domains are
-- refused unless a default policy is configured. Mistakes fail closed.
--
-- The decisions and data live in the C core (s2s_partners.so, next to this file); this plugin
-- wires them to Prosody's events. One concern per library file:
--   policy.lib.lua    compiling the configuration, fail-closed state, reload
--   runtime.lib.lua   the runtime partner list in storage, shared by the nodes of a cluster
--   streams.lib.lua   stream establishment, both directions (TLS / SASL EXTERNAL / dialback)
--   certs.lib.lua     certificate identity and key pins of partner streams
--   contacts.lib.lua  partner types: subscriptions, messages, status notes
--   replies.lib.lua   which stanzas of a public_unverified stranger answer a user's own
--   hotpath.lib.lua   what the per-stanza hooks share (the stanza's partner, parsed JIDs)
--   limits.lib.lua    connection_limit and keepalive
--   connect.lib.lua   connect (host:port instead of DNS), on Prosody 13
--   dialback.lib.lua  this host's dialback keys, made and checked by the C core
--   admin.lib.lua     runtime edits (merge, validate, save, audit) behind every interface
--   audit.lib.lua     the audit log of runtime changes, in Prosody's storage
--   explain.lib.lua   dry run: what the policy does with a domain
--   render.lib.lua    rows and lines the interfaces show; texttable.lib.lua aligns them
--   forms.lib.lua     ad-hoc commands (XEP-0050 / XEP-0004); xdata.lib.lua builds their forms
--   shell.lib.lua     prosodyctl shell commands
--   access.lib.lua    who may view and manage partners
--   http.lib.lua      web panel and JSON API (s2s_partners_web): routing, HTTPS, CSRF; httpauth.lib.lua
--                     logins and sessions, api.lib.lua JSON, pages.lib.lua HTML (html.lib.lua), web/ assets
--   reconcile.lib.lua closing streams a changed policy no longer allows
--   sessions.lib.lua  the s2s streams authenticated under this host's policy, per domain
--   delivery.lib.lua  stanzas from s2s reach this host only from domains it authenticated
--   refuse.lib.lua    closing a refused stream (log, metric, stream error, bounce)
--   metrics.lib.lua   counters and gauges
--   gauges.lib.lua    the gauges of authenticated streams per partner
--   status.lib.lua    per-partner status: streams up and last attempts (statusdata.lib.lua)
--   probe.lib.lua     live probe of a partner's server (probetargets, probestream, probecert,
--                     probelimit, proberender) and its verdict (verdict.lib.lua)
--   compat.lib.lua    Prosody 0.12 / 13.0 differences and the version check
--   lync.lib.lua      records from a Lync export (importcmd, lyncconfig, lyncapply: the command)

-- Refuse to load on a Prosody this module was not written and tested for, before hooking
-- anything: a half-working policy module is worse than a clear error at start.
local compat = module:require("compat");
local supported, unsupported = compat.check_version(prosody.version);
if not supported then
	error(unsupported, 0);
end

local dir = module:get_directory();
if not package.cpath:find(dir .. "/?.so", 1, true) then
	package.cpath = dir .. "/?.so;" .. package.cpath;
end

local core = require "s2s_partners";

-- `prosodyctl mod_s2s_partners import …` (README "Migrating from Lync") loads the module on "*"
-- in the prosodyctl process: there it only provides the command, and hooks nothing.
if prosody.process_type == "prosodyctl" then
	local config = module:require("lyncconfig")(core);
	local function shq(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'"; end
	local function run_shell(line)
		local p = io.popen(("%s --config %s shell %s 2>&1"):format(shq(arg[0]), shq(prosody.config_file), shq(line)));
		local out = p:read("a");
		return out, p:close();
	end
	function module.command(args)
		return module:require("importcmd")(args, { prog = "prosodyctl mod_s2s_partners", lync = module:require("lync")(core),
			snippet = config.snippet, apply = module:require("lyncapply")(core, config, run_shell),
			cwd = os.getenv("PWD") }); -- prosodyctl has changed to the data directory
	end
	return;
end

local metrics = module:require("metrics");
local policy = module:require("policy")(core);
local runtime = module:require("runtime")(policy); -- reads the runtime partners and puts the policy in force
local refuse, note_refusal = module:require("refuse")(policy, metrics);
local sessions = module:require("sessions");
local hot = module:require("hotpath")(); -- what the per-stanza hooks share
local streams = module:require("streams")(policy, metrics, refuse, note_refusal, sessions, hot);
module:require("delivery")(policy, metrics, sessions, hot);
local certs = module:require("certs")(core, policy, refuse);
local limits = module:require("limits")(policy, refuse, sessions);
module:require("connect")(policy, compat);
module:require("dialback")(core, policy);
module:require("reconcile")(policy, refuse, sessions, certs, limits);
local contacts = module:require("contacts")(metrics, module:require("replies")(hot), hot);
module:require("gauges")(policy, metrics, sessions);
module.environment.s2s_partners_status = module:require("status")(policy, sessions, compat);

-- Administration (README "Administration"): operations, then the interfaces that show them.
local admin = {
	core = core, compat = compat,
	ops = module:require("admin")(core, policy, runtime, module:require("audit")(), sessions),
	explain = module:require("explain")(core, policy, contacts),
	status = module.environment.s2s_partners_status,
	render = module:require("render")(core),
};
admin.probe = module:require("probe")(core, policy, admin.explain, admin.status, compat); -- README "Probe"
admin.proberender = module:require("proberender");
module.environment.s2s_partners_probe = admin.probe;
local access = module:require("access")();
module:require("forms")(admin, module:require("xdata")(core), access);
module:require("shell")(admin);
module:require("http")(admin, access); -- only with s2s_partners_web = true
module.environment.s2s_partners_admin = admin.ops;

module.environment.s2s_partners_policy = policy;
-- The per-stream tables, read over the admin shell by the fault specs (README "Reliability").
module.environment.s2s_partners_state = { dialback_pending = streams.dialback_pending, streams = sessions.tracked };
