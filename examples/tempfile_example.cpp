// libtempfile doing its job: each kind of temporary thing is made, used, and shown to
// disappear. Run it and read along.
#include <tempfile/tempfile.hpp>

#include <filesystem>
#include <iostream>

namespace fs = std::filesystem;

namespace {

void spooled_file(const fs::path& dir) {
    tempfile::SpooledTemporaryFile file({.max_size = 16, .dir = dir});
    file.write("sixteen bytes...");
    std::cout << "SpooledTemporaryFile: 16 bytes written, max_size 16, rolled over: "
              << std::boolalpha << file.rolled() << '\n';
    file.write("!");
    std::cout << "  one more byte, rolled over: " << file.rolled()
              << ", position kept: " << file.tell() << '\n';
    file.seek(0);
    std::cout << "  read back from disk: \"" << file.read() << "\"\n";
    std::cout << "  descriptor " << file.fileno() << " is "
              << fs::read_symlink("/proc/self/fd/" + std::to_string(file.fileno())) << '\n';
}

void named_file(const fs::path& dir) {
    fs::path name;
    {
        tempfile::NamedTemporaryFile file({.suffix = ".txt", .dir = dir});
        name = file.name();
        file.write("hello");
        std::cout << "NamedTemporaryFile " << name << " exists: " << fs::exists(name) << '\n';
    }
    std::cout << "  after its scope, exists: " << fs::exists(name) << '\n';
}

void anonymous_file(const fs::path& dir) {
    tempfile::File file = tempfile::TemporaryFile({.dir = dir});
    file.write("no name");
    std::cout << "TemporaryFile: descriptor " << file.fileno() << " is "
              << fs::read_symlink("/proc/self/fd/" + std::to_string(file.fileno()))
              << ", entries in its directory: "
              << std::distance(fs::directory_iterator(dir), fs::directory_iterator()) << '\n';
}

}  // namespace

int main() {
    std::cout << "gettempdir() = " << tempfile::gettempdir()
              << ", gettempprefix() = " << tempfile::gettempprefix() << '\n';
    fs::path root;
    {
        tempfile::TemporaryDirectory dir({.prefix = "example-"});
        root = dir.name();
        std::cout << "TemporaryDirectory " << root << '\n';
        spooled_file(root);
        named_file(root);
        anonymous_file(root);
        fs::create_directories(root / "deep" / "tree");
        fs::permissions(root / "deep", fs::perms::owner_read);  // no write, no search
        std::cout << "  made a subdirectory without write or search permission\n";
    }
    std::cout << "after its scope, " << root << " exists: " << std::boolalpha << fs::exists(root)
              << '\n';
}
