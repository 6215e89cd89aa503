std = "lua54"
max_line_length = 150
files["lua/"] = { globals = { "module" }, read_globals = { "prosody" } }
files["spec/"] = { std = "+busted" }
files["spec/fixtures/plugins/"] = { globals = { "module" } } -- Prosody plugins loaded by specs
files["packaging/"] = { ignore = { "111", "112", "113" } }
exclude_files = { "build/", "build-asan/" }
files["spec/bench/mod_bench_allowlist.lua"] = { globals = { "module" } } -- Prosody plugin loaded by the benchmarks
