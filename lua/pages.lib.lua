return function () return { handle = function () return 404, "not yet\n"; end }; end
