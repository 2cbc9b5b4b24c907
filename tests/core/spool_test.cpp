#include <catch2/catch.hpp>

#include "tempfile/spool.hpp"

TEST_CASE("a new spool is empty") {
    tempfile::Spool spool;
    CHECK(spool.size() == 0);
    CHECK(spool.ram_bytes() == 0);
    CHECK_FALSE(spool.rolled());
}
