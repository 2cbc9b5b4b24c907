// Random names: the eight characters between a temporary file's prefix and suffix.
//
// A name is `name_length` characters drawn uniformly from `name_characters`, as in
// Python's tempfile. Each thread has its own generator, seeded from the kernel
// (getrandom) on first use and again after fork(), so a child never repeats its
// parent's names. Thread-safe.
//
// # Security
// A name is hard to guess (37^8, about 3.5e12 choices) but is not what keeps a temporary
// file safe: every creation uses O_EXCL (or mkdir), so a name an attacker planted first is
// skipped, never opened. `max_tries` bounds the retries: a directory full of planted names
// makes creation fail with EEXIST instead of looping forever.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace tempfile {

// How many names are tried before creation gives up with EEXIST: Python's TMP_MAX.
// (Not called TMP_MAX, which is a macro from <cstdio>.)
inline constexpr int max_tries = 10000;

inline constexpr std::string_view name_characters = "abcdefghijklmnopqrstuvwxyz0123456789_";
inline constexpr std::size_t name_length = 8;

// Returns a fresh random name (no prefix, no suffix).
std::string random_name();

}  // namespace tempfile
