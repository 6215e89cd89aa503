-- Who may view and who may change a host's partners through ad-hoc commands (README
-- "Administration"). Prosody 13: the permissions `s2s_partners:view-partners` and
-- `s2s_partners:manage-partners`, both granted to prosody:admin by default, so an operator can
-- grant them to other roles with `add_permissions` (managing implies viewing). Prosody 0.12:
-- the host's admins.

local jid_bare = require "util.jid".bare;

return function ()
	if module.may then
		module:default_permission("prosody:admin", ":view-partners");
		module:default_permission("prosody:admin", ":manage-partners");
		local function manage(jid) return type(jid) == "string" and module:may(":manage-partners", jid) or false; end
		return {
			manage = manage;
			view = function (jid)
				return manage(jid) or (type(jid) == "string" and module:may(":view-partners", jid)) or false;
			end;
			adhoc_permission = "any"; -- the handlers check the permissions above
		};
	end
	local is_admin = require "core.usermanager".is_admin;
	local function admin(jid) return type(jid) == "string" and is_admin(jid_bare(jid), module.host) or false; end
	return { manage = admin, view = admin, adhoc_permission = "admin" };
end
