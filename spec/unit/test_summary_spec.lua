-- scripts/test-summary.sh: the closing lines of `make test` (and so of CI's log) count the
-- results of every busted run in the log and name each failed test.
local function summary(log_text, rc)
	local path = os.tmpname()
	local f = assert(io.open(path, "w"))
	f:write(log_text)
	f:close()
	local p = assert(io.popen(("sh scripts/test-summary.sh %s %d; echo \"rc=$?\""):format(path, rc or 0)))
	local out = p:read("a")
	p:close()
	os.remove(path)
	return out
end

describe("scripts/test-summary.sh", function()
	it("sums the result lines of several busted runs", function()
		local out = summary("+++\n3 successes / 0 failures / 0 errors / 1 pending : 1.2 seconds\n"
			.. "\27[32m2 successes\27[0m / 0 failures / 0 errors / 0 pending : 3 seconds\n")
		assert.equal("tests: 5 passed, 0 failed, 1 skipped\nrc=0\n", out)
	end)

	it("names each failed test, where it is and its first message line, before the counts", function()
		local out = summary(table.concat({
			"+-*",
			"1 success / 1 failure / 1 error / 0 pending : 0.1 seconds",
			"",
			"Failure -> spec/integration/x_spec.lua @ 12",
			"a group the failing test",
			"spec/integration/x_spec.lua:20: Expected objects to be equal.",
			"Passed in:",
			"(number) 2",
			"",
			"Error \u{2192} spec/integration/y_spec.lua @ 7",
			"another group errs",
			"spec/integration/y_spec.lua:9: boom",
			"",
		}, "\n"), 1)
		assert.equal("failed: Failure -> spec/integration/x_spec.lua @ 12 | a group the failing test | "
			.. "spec/integration/x_spec.lua:20: Expected objects to be equal.\n"
			.. "failed: Error \u{2192} spec/integration/y_spec.lua @ 7 | another group errs | "
			.. "spec/integration/y_spec.lua:9: boom\n"
			.. "tests: 1 passed, 2 failed, 0 skipped\nrc=0\n", out)
	end)

	it("counts a failed stage that printed no result line as one failure", function()
		assert.equal("tests: 0 passed, 1 failed, 0 skipped\nrc=0\n", summary("make: *** Error 2\n", 2))
	end)

	it("fails when a passing log holds no result at all", function()
		assert.equal("tests: no test results found\nrc=1\n", summary("nothing ran\n", 0))
	end)
end)
