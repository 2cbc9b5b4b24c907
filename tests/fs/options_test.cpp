#include <catch2/catch.hpp>

#include "options.hpp"

TEST_CASE("a plain byte count parses") { CHECK(spoolfs::parse_size("4096") == 4096u); }
