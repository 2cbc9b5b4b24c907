// Test seam for random_name(): Python's tests swap tempfile._get_candidate_names to force
// collisions; this is the C++ counterpart. Internal to libtempfile and its tests.
#pragma once

#include <functional>
#include <string>

namespace tempfile::detail {

// While alive, random_name() on the constructing thread returns what `source` returns.
// Other threads keep their random names.
class ScopedNameSource {
  public:
    explicit ScopedNameSource(std::function<std::string()> source);
    ~ScopedNameSource();
    ScopedNameSource(const ScopedNameSource&) = delete;
    ScopedNameSource& operator=(const ScopedNameSource&) = delete;

  private:
    std::function<std::string()> previous_;
};

}  // namespace tempfile::detail
