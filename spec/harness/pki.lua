-- Test PKI for the integration harness: a test CA and server certificates made
-- with the openssl command line tool (EC P-256 keys; each call takes ~10 ms).
local util = require "harness.util"

local shq = util.shq
local pki = {}

local CA = {}
CA.__index = CA

local CA_CONF = [[
[ ca ]
default_ca = test_ca
[ test_ca ]
database = %s
new_certs_dir = %s
rand_serial = yes
default_md = sha256
policy = policy_any
unique_subject = no
copy_extensions = none
[ policy_any ]
commonName = supplied
]]

local function new_key_and_csr(key, csr, cn)
	util.check(("openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj %s -keyout %s -out %s")
		:format(shq("/CN=" .. cn), shq(key), shq(csr)))
end

local function san_line(names)
	local sans = {}
	for i, n in ipairs(names) do sans[i] = "DNS:" .. n end
	return "subjectAltName=" .. table.concat(sans, ",")
end

--- Create a CA in `dir` (created if needed). `name` is used for file names
-- and the subject CN.
function pki.new_ca(dir, name)
	name = name or "s2sp-test-ca"
	util.mkdir(dir .. "/db")
	local self = setmetatable({
		dir = dir,
		name = name,
		cert = dir .. "/" .. name .. ".crt",
		key = dir .. "/" .. name .. ".key",
		conf = dir .. "/" .. name .. ".cnf",
		n = 0,
	}, CA)
	util.write_file(dir .. "/db/index.txt", "")
	util.write_file(self.conf, CA_CONF:format(dir .. "/db/index.txt", dir .. "/db"))
	util.check(("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj %s"
		.. " -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign"
		.. " -keyout %s -out %s"):format(shq("/CN=" .. name), shq(self.key), shq(self.cert)))
	return self
end

--- Issue a certificate signed by this CA.
-- opts: out (path prefix: writes <out>.crt and <out>.key), cn, names (SAN DNS
-- names, default { cn }), days (default 30), or not_before / not_after
-- (openssl YYYYMMDDHHMMSSZ) for e.g. an expired certificate.
-- Returns { cert = path, key = path }.
function CA:issue(opts)
	assert(opts.out and opts.cn, "issue: out and cn are required")
	local names = opts.names or { opts.cn }
	local key, crt, csr = opts.out .. ".key", opts.out .. ".crt", opts.out .. ".csr"
	self.n = self.n + 1
	local ext = ("%s/ext-%d.cnf"):format(self.dir, self.n)
	util.write_file(ext, san_line(names) .. "\nbasicConstraints=CA:FALSE\n"
		.. "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\n")
	new_key_and_csr(key, csr, opts.cn)
	local validity
	if opts.not_before or opts.not_after then
		validity = ("-startdate %s -enddate %s"):format(shq(opts.not_before or "20200101000000Z"),
			shq(opts.not_after or "20200201000000Z"))
	else
		validity = "-days " .. tostring(opts.days or 30)
	end
	util.check(("openssl ca -batch -notext -config %s -cert %s -keyfile %s -in %s -out %s -extfile %s %s")
		:format(shq(self.conf), shq(self.cert), shq(self.key), shq(csr), shq(crt), shq(ext), validity))
	os.remove(csr)
	return { cert = crt, key = key }
end

--- A self-signed certificate (not signed by any CA). opts as for CA:issue
-- (days only).
function pki.self_signed(opts)
	assert(opts.out and opts.cn, "self_signed: out and cn are required")
	local names = opts.names or { opts.cn }
	local key, crt = opts.out .. ".key", opts.out .. ".crt"
	util.check(("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days %d -subj %s"
		.. " -addext %s -addext basicConstraints=CA:FALSE -keyout %s -out %s")
		:format(opts.days or 30, shq("/CN=" .. opts.cn), shq(san_line(names)), shq(key), shq(crt)))
	return { cert = crt, key = key }
end

--- Concatenate PEM files into one bundle file.
function pki.bundle(out, files)
	local parts = {}
	for i, f in ipairs(files) do parts[i] = assert(util.read_file(f), "missing " .. f) end
	return util.write_file(out, table.concat(parts))
end

--- One line of `openssl x509 -noout` output for a certificate, e.g. for debugging.
function pki.describe(cert)
	return util.check(("openssl x509 -noout -subject -issuer -dates -ext subjectAltName -in %s"):format(shq(cert)))
end

return pki
