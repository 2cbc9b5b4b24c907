#include "remove_tree.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "tempfile/fd.hpp"

namespace tempfile::detail {
namespace {

constexpr int directory_flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
constexpr mode_t owner_only = 0700;

bool permission_denied(int error) {
    return error == EACCES || error == EPERM;
}

// Returns 0 or the errno of a call that reports failure as -1.
template <typename Call>
int error_of(Call call) {
    return call() == 0 ? 0 : errno;
}

struct DirectoryCloser {
    void operator()(DIR* dir) const noexcept { ::closedir(dir); }
};

// The names in the directory `dirfd`, without "." and "..".
int list_names(int dirfd, std::vector<std::string>& names) {
    int copy = ::fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
    if (copy < 0) return errno;
    std::unique_ptr<DIR, DirectoryCloser> dir(::fdopendir(copy));
    if (!dir) {
        int error = errno;
        ::close(copy);
        return error;
    }
    for (;;) {
        errno = 0;
        const dirent* entry = ::readdir(dir.get());
        if (!entry) return errno;
        std::string name = entry->d_name;
        if (name != "." && name != "..") names.push_back(std::move(name));
    }
}

class TreeRemover {
  public:
    void remove_root(const std::filesystem::path& root);
    int first_error() const noexcept { return first_error_; }
    const std::filesystem::path& where() const noexcept { return where_; }

  private:
    void remove_contents(int dirfd, const std::filesystem::path& dir);
    void remove_entry(int dirfd, const std::string& name, const std::filesystem::path& path);
    void remove_subdirectory(int parent, const std::string& name,
                             const std::filesystem::path& path);
    void record(int error, const std::filesystem::path& path);

    int first_error_ = 0;
    std::filesystem::path where_;
};

// Runs `call` in the directory `dirfd`; if the directory's permissions refuse it, makes
// the directory 0700 and runs it once more (Python's _resetperms of the parent).
template <typename Call>
int in_fixed_directory(int dirfd, Call call) {
    int error = error_of(call);
    if (!permission_denied(error) || ::fchmod(dirfd, owner_only) != 0) return error;
    return error_of(call);
}

void TreeRemover::record(int error, const std::filesystem::path& path) {
    if (error == 0 || error == ENOENT || first_error_ != 0) return;
    first_error_ = error;
    where_ = path;
}

void TreeRemover::remove_root(const std::filesystem::path& root) {
    FileDescriptor dir;
    auto open_root = [&] {
        dir.reset(::open(root.c_str(), directory_flags));
        return dir ? 0 : -1;
    };
    int error = error_of(open_root);
    if (permission_denied(error) &&
        ::fchmodat(AT_FDCWD, root.c_str(), owner_only, AT_SYMLINK_NOFOLLOW) == 0)
        error = error_of(open_root);
    if (error != 0) return record(error, root);
    remove_contents(dir.get(), root);
    dir.reset();
    record(error_of([&] { return ::rmdir(root.c_str()); }), root);
}

void TreeRemover::remove_contents(int dirfd, const std::filesystem::path& dir) {
    std::vector<std::string> names;
    if (int error = list_names(dirfd, names)) record(error, dir);
    for (const std::string& name : names) remove_entry(dirfd, name, dir / name);
}

void TreeRemover::remove_entry(int dirfd, const std::string& name,
                               const std::filesystem::path& path) {
    struct stat st {};
    int error = in_fixed_directory(
        dirfd, [&] { return ::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW); });
    if (error != 0) return record(error, path);
    if (S_ISDIR(st.st_mode)) return remove_subdirectory(dirfd, name, path);
    record(in_fixed_directory(dirfd, [&] { return ::unlinkat(dirfd, name.c_str(), 0); }), path);
}

void TreeRemover::remove_subdirectory(int parent, const std::string& name,
                                      const std::filesystem::path& path) {
    FileDescriptor dir;
    auto open_dir = [&] {
        dir.reset(::openat(parent, name.c_str(), directory_flags));
        return dir ? 0 : -1;
    };
    int error = in_fixed_directory(parent, open_dir);
    // AT_SYMLINK_NOFOLLOW: if the entry was swapped for a symlink, its target keeps its mode.
    if (permission_denied(error) &&
        ::fchmodat(parent, name.c_str(), owner_only, AT_SYMLINK_NOFOLLOW) == 0)
        error = error_of(open_dir);
    if (error != 0) return record(error, path);
    remove_contents(dir.get(), path);
    dir.reset();
    record(
        in_fixed_directory(parent, [&] { return ::unlinkat(parent, name.c_str(), AT_REMOVEDIR); }),
        path);
}

}  // namespace

void remove_tree(const std::filesystem::path& root, bool ignore_errors) {
    TreeRemover remover;
    remover.remove_root(root);
    if (remover.first_error() != 0 && !ignore_errors)
        throw std::system_error(remover.first_error(), std::generic_category(),
                                "remove " + remover.where().string());
}

}  // namespace tempfile::detail
