#include "tempfile/names.hpp"

#include <unistd.h>

#include <array>
#include <cstdint>
#include <functional>
#include <random>
#include <span>
#include <utility>

#include "name_source.hpp"
#include "sys.hpp"

namespace tempfile {
namespace {

thread_local std::function<std::string()> name_source_override;

class Generator {
  public:
    std::mt19937_64& engine() {
        // Reseeding after fork() keeps parent and child from drawing the same names.
        if (owner_ != ::getpid()) {
            std::array<std::uint32_t, 8> seed{};
            sys::fill_random(std::as_writable_bytes(std::span(seed)));
            std::seed_seq sequence(seed.begin(), seed.end());
            engine_.seed(sequence);
            owner_ = ::getpid();
        }
        return engine_;
    }

  private:
    pid_t owner_ = -1;
    std::mt19937_64 engine_;
};

thread_local Generator generator;

}  // namespace

std::string random_name() {
    if (name_source_override) return name_source_override();
    std::uniform_int_distribution<std::size_t> pick(0, name_characters.size() - 1);
    std::string name(name_length, ' ');
    for (char& c : name) c = name_characters[pick(generator.engine())];
    return name;
}

namespace detail {

ScopedNameSource::ScopedNameSource(std::function<std::string()> source)
    : previous_(std::exchange(name_source_override, std::move(source))) {}

ScopedNameSource::~ScopedNameSource() {
    name_source_override = std::move(previous_);
}

}  // namespace detail
}  // namespace tempfile
