// Extended attributes: the user., trusted. and security. namespaces as tmpfs keeps them,
// plus the virtual `user.spoolfs.lifetime`, which reads and sets a file's lifetime (or
// the one a directory passes on to what is created in it). Each function returns 0 or an
// errno value and takes the locks it needs.
#pragma once

#include <string>
#include <string_view>

#include "filesystem.hpp"

namespace spoolfs {

inline constexpr std::string_view lifetime_xattr = "user.spoolfs.lifetime";

int set_xattr(Filesystem& fs, Inode& inode, std::string_view name, std::string_view value,
              int flags);
int get_xattr(Filesystem& fs, Inode& inode, std::string_view name, std::string& value);
int remove_xattr(Filesystem& fs, Inode& inode, std::string_view name);

// The names, each followed by a NUL, as listxattr(2) returns them.
std::string list_xattrs(Inode& inode);

}  // namespace spoolfs
