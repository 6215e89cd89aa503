-- The import command (README "Migrating from Lync"), shared by `prosodyctl mod_s2s_partners
-- import …` (module.command in mod_s2s_partners.lua) and scripts/s2s-partners-import:
--
--   import FILE [--host HOST] [--format csv|list|json] [--apply]
--
-- Prints the prosody.cfg.lua snippet on stdout, or with --apply hands the records to `apply`
-- (lyncapply.lib.lua; prosodyctl only). Every invalid row is reported on stderr with its line,
-- and then nothing is printed or applied. Exit code 0, 1 (invalid rows, unreadable file) or 2
-- (usage).
--
-- run(args, env) -> exit code; env = { prog, lync (lync.lib.lua), snippet (lyncconfig.lib.lua),
--   apply = function (result, host) -> true | nil, err; absent outside prosodyctl,
--   cwd = the directory a relative FILE is in, when the process has left it (prosodyctl has) }

local USAGE = "%s import FILE [--host HOST] [--format csv|list|json] [--apply]";

local function parse_args(args)
	local opts, i = {}, 1;
	while i <= #args do
		local a = args[i];
		if a == "--host" or a == "--format" then
			opts[a:sub(3)] = args[i + 1];
			if not opts[a:sub(3)] then return nil, a .. " needs a value"; end
			i = i + 1;
		elseif a == "--apply" then
			opts.apply = true;
		elseif a == "--help" or a == "-h" then
			opts.help = true;
		elseif a:sub(1, 1) == "-" then
			return nil, "unknown option " .. a;
		elseif opts.file then
			return nil, "one FILE only";
		else
			opts.file = a;
		end
		i = i + 1;
	end
	return opts;
end

local function read_file(name)
	local f, err = io.open(name, "rb");
	if not f then return nil, err; end
	local text = f:read("a");
	f:close();
	return text;
end

return function (args, env)
	local errout = function (line) io.stderr:write(line, "\n"); end
	local usage = USAGE:format(env.prog);
	if args[1] ~= "import" then
		errout("Usage: " .. usage);
		return 2;
	end
	local opts, err = parse_args({ table.unpack(args, 2) });
	if opts and opts.help then print("Usage: " .. usage); return 0; end
	if opts and not opts.file then err = "FILE is missing"; end
	if opts and opts.apply and not (opts.host and env.apply) then
		err = env.apply and "--apply needs --host" or "--apply needs a running Prosody: use prosodyctl mod_s2s_partners import";
	end
	if err then
		errout(err);
		errout("Usage: " .. usage);
		return 2;
	end
	local path = opts.file;
	if env.cwd and path:sub(1, 1) ~= "/" then path = env.cwd .. "/" .. path; end
	local text, read_err = read_file(path);
	if not text then errout(read_err); return 1; end
	local result, parse_err = env.lync.import(text, opts.format);
	if not result then errout(("%s: %s"):format(opts.file, parse_err)); return 1; end
	for _, n in ipairs(result.notes) do errout(("%s:%d: note: %s"):format(opts.file, n.line, n.text)); end
	for _, w in ipairs(result.warnings) do errout(("%s:%d: warning: %s"):format(opts.file, w.line, w.text)); end
	for _, e in ipairs(result.errors) do errout(("%s:%d: invalid: %s"):format(opts.file, e.line, e.text)); end
	if #result.errors > 0 then
		errout(("%s: %d invalid row(s): nothing %s"):format(opts.file, #result.errors, opts.apply and "applied" or "written"));
		return 1;
	end
	if opts.apply then
		local ok, apply_err = env.apply(result, opts.host);
		if not ok then errout(apply_err); return 1; end
		return 0;
	end
	io.stdout:write(env.snippet(result, { source = opts.file, host = opts.host }));
	return 0;
end
