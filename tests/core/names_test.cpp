// Python's TestRandomNameSequence and TestGetCandidateNames, plus the spread of the
// characters and the test seam itself.
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <map>
#include <set>
#include <string>
#include <thread>

#include "name_source.hpp"
#include "tempfile/tempfile.hpp"

TEST_CASE("random_name gives eight characters from the alphabet") {
    std::string name = tempfile::random_name();
    CHECK(name.size() == 8);
    CHECK(name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") == std::string::npos);
}

TEST_CASE("max_tries is Python's TMP_MAX") {
    STATIC_REQUIRE(tempfile::max_tries == 10000);
}

TEST_CASE("random_name does not repeat (stochastic)") {
    std::set<std::string> seen;
    for (int i = 0; i < 10000; ++i) CHECK(seen.insert(tempfile::random_name()).second);
}

TEST_CASE("random_name uses every character about equally often") {
    std::map<char, int> counts;
    constexpr int names = 20000;
    for (int i = 0; i < names; ++i)
        for (char c : tempfile::random_name()) ++counts[c];
    REQUIRE(counts.size() == tempfile::name_characters.size());
    // Expected 160000 / 37 = 4324 per character; a fair generator stays well within 20%.
    double expected = names * 8.0 / 37;
    for (const auto& [character, count] : counts) {
        INFO("character " << character);
        CHECK(count > expected * 0.8);
        CHECK(count < expected * 1.2);
    }
}

TEST_CASE("a forked child draws other names than its parent") {
    tempfile::random_name();  // the parent's generator is seeded before the fork
    int pipe_fds[2];
    REQUIRE(::pipe(pipe_fds) == 0);
    pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        std::string name = tempfile::random_name();
        ssize_t written = ::write(pipe_fds[1], name.data(), name.size());
        ::_exit(written == static_cast<ssize_t>(name.size()) ? 0 : 1);
    }
    std::string parent_name = tempfile::random_name();
    std::string child_name(8, '\0');
    ssize_t got = ::read(pipe_fds[0], child_name.data(), child_name.size());
    int status = 0;
    ::waitpid(child, &status, 0);
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    REQUIRE(got == 8);
    CHECK(WIFEXITED(status));
    CHECK(child_name != parent_name);
}

TEST_CASE("threads draw different names") {
    std::string other;
    std::thread thread([&other] { other = tempfile::random_name(); });
    std::string mine = tempfile::random_name();
    thread.join();
    CHECK(other.size() == 8);
    CHECK(other != mine);
}

TEST_CASE("ScopedNameSource replaces random_name on this thread only, then restores it") {
    {
        tempfile::detail::ScopedNameSource names([] { return std::string("aaa"); });
        CHECK(tempfile::random_name() == "aaa");
        std::string other;
        std::thread thread([&other] { other = tempfile::random_name(); });
        thread.join();
        CHECK(other.size() == 8);
    }
    CHECK(tempfile::random_name().size() == 8);
}
