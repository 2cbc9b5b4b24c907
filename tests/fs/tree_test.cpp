// Tests of the namespace without a mount: root attributes, creation of every file type,
// the kernel's lookup counts and when an inode is freed, link counts, every rename case,
// anonymous (O_TMPFILE) files, lifetimes, the inode limit, readdir cookies, the census and
// expiry.
#include <fcntl.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cerrno>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <tuple>
#include <utility>
#include <vector>

#include "tempfile/fd.hpp"
#include "clock.hpp"
#include "expiry.hpp"
#include "tree.hpp"

using spoolfs::Caller;
using spoolfs::Ino;
using spoolfs::Inode;
using spoolfs::InodePtr;
using spoolfs::Lifetime;
using spoolfs::Removal;
using spoolfs::Tree;

namespace {

constexpr Ino root = FUSE_ROOT_ID;
constexpr mode_t reg = S_IFREG | 0644;
constexpr mode_t dir = S_IFDIR | 0755;
const Caller user{1000, 1001};

// Atomics read through plain values, so Catch can compare and print them.
std::uint64_t nlink(const Inode& inode) {
    return inode.nlink.load();
}
std::uint64_t lookups(const Inode& inode) {
    return inode.lookups.load();
}

struct Entry {
    std::string name;
    Ino ino;
    mode_t type;
    std::uint64_t cookie;
};

// A Tree that records every inode it frees, to check each is freed exactly once.
class Fixture {
  public:
    explicit Fixture(Tree::Config config = {}) : tree(with_recorder(std::move(config))) {}

    // Creates `name` in `parent`; the test fails if that fails.
    InodePtr make(Ino parent, std::string_view name, mode_t mode, std::string_view target = {},
                  dev_t rdev = 0) {
        InodePtr out;
        int err = tree.create(parent, name, mode, rdev, user, target, out);
        INFO("create " << name);
        REQUIRE(err == 0);
        REQUIRE(out != nullptr);
        return out;
    }
    InodePtr file(Ino parent, std::string_view name) { return make(parent, name, reg); }
    InodePtr mkdir(Ino parent, std::string_view name) { return make(parent, name, dir); }

    // The errno of a create that is expected to fail.
    int create_error(Ino parent, std::string_view name, mode_t mode = reg) {
        InodePtr out;
        return tree.create(parent, name, mode, 0, user, {}, out);
    }

    // The inode `name` resolves to in `parent`, 0 if none; the lookup count is unchanged.
    Ino resolve(Ino parent, std::string_view name) {
        InodePtr out;
        if (tree.lookup(parent, name, out) != 0) return 0;
        tree.forget(out->ino, 1);
        return out->ino;
    }

    InodePtr hard_link(const InodePtr& inode, Ino parent, std::string_view name) {
        InodePtr out;
        REQUIRE(tree.link(inode->ino, parent, name, out) == 0);
        REQUIRE(out == inode);
        return out;
    }

    std::vector<Entry> entries(Ino ino, std::uint64_t cookie = 0) const {
        std::vector<Entry> out;
        int err =
            tree.readdir(ino, cookie, [&](std::string_view name, Inode& child, std::uint64_t next) {
                out.push_back({std::string(name), child.ino, child.type, next});
                return true;
            });
        REQUIRE(err == 0);
        return out;
    }

    // Names of a directory's entries, "." and ".." left out, in cookie order.
    std::vector<std::string> names(Ino ino) const {
        std::vector<std::string> out;
        for (auto& e : entries(ino))
            if (e.name != "." && e.name != "..") out.push_back(e.name);
        return out;
    }

    std::size_t entry_count(Ino ino) const { return names(ino).size(); }

    int times_freed(Ino ino) const {
        auto it = freed.find(ino);
        return it == freed.end() ? 0 : it->second;
    }

    std::map<Ino, int> freed;  // before `tree`: on_free writes here
    Tree tree;

  private:
    Tree::Config with_recorder(Tree::Config config) {
        config.on_free = [this](Inode& inode) { ++freed[inode.ino]; };
        return config;
    }
};

Tree::Config mount_lifetime() {
    Tree::Config config;
    config.lifetime = Lifetime::mount;
    return config;
}

std::vector<std::tuple<Ino, Ino, std::string>> as_tuples(const std::vector<Removal>& removals) {
    std::vector<std::tuple<Ino, Ino, std::string>> out;
    for (const auto& r : removals) out.emplace_back(r.parent, r.child, r.name);
    std::sort(out.begin(), out.end());
    return out;
}

// A directory from mkdtemp(3), removed at the end of the test: where a census test's
// spool rolls over to.
class TempDir {
  public:
    TempDir() {
        std::string templ = (std::filesystem::temp_directory_path() / "tree_test.XXXXXX").string();
        if (mkdtemp(templ.data()) == nullptr)
            throw std::system_error(errno, std::generic_category(), "mkdtemp");
        path_ = templ;
        fd_.reset(::open(path_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!fd_) throw std::system_error(errno, std::generic_category(), "open");
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    int fd() const { return fd_.get(); }

  private:
    std::filesystem::path path_;
    tempfile::FileDescriptor fd_;
};

}  // namespace

TEST_CASE("root directory attributes come from the config", "[tree]") {
    SECTION("defaults: mode 1777, nlink 2, its own parent") {
        Fixture f;
        InodePtr r = f.tree.find(root);
        REQUIRE(r != nullptr);
        CHECK(r->type == S_IFDIR);
        CHECK(r->mode == (S_IFDIR | 01777));
        CHECK(nlink(*r) == 2);
        CHECK(r->uid == 0);
        CHECK(r->gid == 0);
        CHECK(f.resolve(root, "..") == root);
        CHECK(f.resolve(root, ".") == root);
        CHECK(f.tree.inode_count() == 1);
        CHECK(f.tree.lifetime(*r) == Lifetime::close);
    }
    SECTION("mode, uid, gid and lifetime given") {
        Tree::Config config;
        config.root_mode = 0750;
        config.uid = 1234;
        config.gid = 5678;
        config.lifetime = Lifetime::mount;
        Fixture f(std::move(config));
        InodePtr r = f.tree.find(root);
        REQUIRE(r != nullptr);
        CHECK(r->mode == (S_IFDIR | 0750));
        CHECK(r->uid == 1234);
        CHECK(r->gid == 5678);
        CHECK(f.tree.lifetime(*r) == Lifetime::mount);
    }
    SECTION("the root is never freed") {
        Fixture f;
        f.tree.forget(root, 1000);
        CHECK(f.tree.find(root) != nullptr);
        CHECK(f.times_freed(root) == 0);
    }
}

TEST_CASE("create makes every file type", "[tree]") {
    Fixture f;
    InodePtr r = f.tree.find(root);

    InodePtr file = f.make(root, "file", S_IFREG | 0640);
    CHECK(file->type == S_IFREG);
    CHECK(file->mode == (S_IFREG | 0640));
    CHECK(nlink(*file) == 1);

    InodePtr sub = f.make(root, "dir", S_IFDIR | 0700);
    CHECK(sub->type == S_IFDIR);
    CHECK(nlink(*sub) == 2);
    CHECK(nlink(*r) == 3);  // the subdirectory's ".."
    CHECK(f.resolve(sub->ino, "..") == root);

    InodePtr link = f.make(root, "link", S_IFLNK | 0777, "some/target");
    CHECK(link->type == S_IFLNK);
    CHECK(link->symlink_target == "some/target");
    CHECK(nlink(*link) == 1);

    InodePtr fifo = f.make(root, "fifo", S_IFIFO | 0600);
    CHECK(fifo->type == S_IFIFO);
    InodePtr sock = f.make(root, "sock", S_IFSOCK | 0600);
    CHECK(sock->type == S_IFSOCK);
    InodePtr chr = f.make(root, "chr", S_IFCHR | 0600, {}, makedev(1, 3));
    CHECK(chr->type == S_IFCHR);
    CHECK(chr->rdev == makedev(1, 3));
    InodePtr blk = f.make(root, "blk", S_IFBLK | 0600, {}, makedev(7, 0));
    CHECK(blk->type == S_IFBLK);

    for (const InodePtr& i : {file, sub, link, fifo, sock, chr, blk}) {
        CHECK(i->uid == user.uid);
        CHECK(i->gid == user.gid);
        CHECK(lookups(*i) == 1);
        CHECK(f.tree.find(i->ino) == i);
    }
    CHECK(nlink(*r) == 3);  // only directories count
    CHECK(f.tree.inode_count() == 8);
    CHECK(f.entry_count(r->ino) == 7);

    // Inode numbers are never reused while the tree lives.
    std::vector<Ino> inos{file->ino, sub->ino, link->ino, fifo->ino, sock->ino, chr->ino};
    std::sort(inos.begin(), inos.end());
    CHECK(std::adjacent_find(inos.begin(), inos.end()) == inos.end());

    SECTION("EEXIST whatever the type") {
        for (const char* name : {"file", "dir", "link", "fifo", "sock", "chr"}) {
            INFO(name);
            CHECK(f.create_error(root, name, reg) == EEXIST);
            CHECK(f.create_error(root, name, dir) == EEXIST);
        }
        CHECK(f.tree.inode_count() == 8);
        CHECK(nlink(*r) == 3);
    }
    SECTION("parent missing, not a directory, or removed") {
        CHECK(f.create_error(9999, "x") == ENOENT);
        CHECK(f.create_error(file->ino, "x") == ENOTDIR);
        CHECK(f.create_error(link->ino, "x") == ENOTDIR);
        REQUIRE(f.tree.rmdir(root, "dir") == 0);
        CHECK(f.tree.find(sub->ino) != nullptr);  // still looked up
        CHECK(f.create_error(sub->ino, "x") == ENOENT);
        CHECK(f.create_error(sub->ino, "x", dir) == ENOENT);
    }
    SECTION("names: 255 bytes fit, 256 do not") {
        CHECK(f.make(root, std::string(255, 'a'), reg) != nullptr);
        CHECK(f.create_error(root, std::string(256, 'b')) == ENAMETOOLONG);
        CHECK(f.create_error(root, std::string(256, 'b'), dir) == ENAMETOOLONG);
        InodePtr out;
        CHECK(f.tree.lookup(root, std::string(256, 'b'), out) == ENAMETOOLONG);
        CHECK(f.resolve(root, std::string(255, 'a')) != 0);
    }
    SECTION("invalid names") {
        for (std::string_view name : {"", ".", "..", "a/b", "/a", "a/"}) {
            INFO("name '" << name << "'");
            CHECK(f.create_error(root, name) == EINVAL);
            CHECK(f.create_error(root, name, dir) == EINVAL);
        }
        CHECK(f.entry_count(r->ino) == 7);
    }
    SECTION("a setgid directory gives its group, and setgid to subdirectories") {
        InodePtr shared = f.make(root, "shared", S_IFDIR | S_ISGID | 0775);
        {
            std::lock_guard lock(shared->mutex);
            shared->gid = 4242;
        }
        InodePtr inner_file = f.file(shared->ino, "f");
        InodePtr inner_dir = f.mkdir(shared->ino, "d");
        CHECK(inner_file->gid == 4242);
        CHECK(inner_file->uid == user.uid);
        CHECK((inner_file->mode & S_ISGID) == 0);
        CHECK(inner_dir->gid == 4242);
        CHECK((inner_dir->mode & S_ISGID) != 0);
    }
}

TEST_CASE("lookup counts decide when an unlinked inode is freed", "[tree]") {
    Fixture f;
    InodePtr file = f.file(root, "f");
    const Ino ino = file->ino;
    REQUIRE(lookups(*file) == 1);  // create counts one

    InodePtr out;
    REQUIRE(f.tree.lookup(root, "f", out) == 0);
    CHECK(out == file);
    CHECK(lookups(*file) == 2);  // lookup counts one
    f.hard_link(file, root, "g");
    CHECK(lookups(*file) == 3);  // link counts one

    SECTION("lookup errors count nothing") {
        CHECK(f.tree.lookup(root, "missing", out) == ENOENT);
        CHECK(f.tree.lookup(ino, "x", out) == ENOTDIR);
        CHECK(f.tree.lookup(9999, "x", out) == ENOENT);
        CHECK(lookups(*file) == 3);
    }
    SECTION("forget(n) drops n; a named inode survives zero lookups") {
        f.tree.forget(ino, 2);
        CHECK(lookups(*file) == 1);
        f.tree.forget(ino, 1);
        CHECK(lookups(*file) == 0);
        CHECK(f.tree.find(ino) == file);
        CHECK(f.times_freed(ino) == 0);
    }
    SECTION("unlinked: findable while looked up, freed exactly once by the last forget") {
        REQUIRE(f.tree.unlink(root, "f") == 0);
        REQUIRE(f.tree.unlink(root, "g") == 0);
        CHECK(nlink(*file) == 0);
        CHECK(f.tree.find(ino) == file);
        f.tree.forget(ino, 2);
        CHECK(f.tree.find(ino) == file);
        CHECK(f.times_freed(ino) == 0);
        f.tree.forget(ino, 1);
        CHECK(f.tree.find(ino) == nullptr);
        CHECK(f.times_freed(ino) == 1);
        f.tree.forget(ino, 1);  // a stray forget of a freed inode is harmless
        CHECK(f.times_freed(ino) == 1);
        CHECK(f.tree.inode_count() == 1);
    }
    SECTION("forgetting more than held frees once, without wrapping") {
        REQUIRE(f.tree.unlink(root, "f") == 0);
        REQUIRE(f.tree.unlink(root, "g") == 0);
        f.tree.forget(ino, 100);
        CHECK(f.tree.find(ino) == nullptr);
        CHECK(f.times_freed(ino) == 1);
    }
    SECTION("an open handle keeps an unlinked, forgotten inode") {
        f.tree.set_lifetime(*file, Lifetime::mount);
        f.tree.open(*file);
        REQUIRE(f.tree.unlink(root, "f") == 0);
        REQUIRE(f.tree.unlink(root, "g") == 0);
        f.tree.forget(ino, 3);
        CHECK(f.tree.find(ino) == file);
        CHECK(f.times_freed(ino) == 0);
        CHECK(f.tree.release(*file).empty());
        CHECK(f.tree.find(ino) == nullptr);
        CHECK(f.times_freed(ino) == 1);
    }
    SECTION("a lookup keeps an unlinked inode whose last handle closed") {
        f.tree.open(*file);
        f.tree.open(*file);
        REQUIRE(f.tree.unlink(root, "f") == 0);
        REQUIRE(f.tree.unlink(root, "g") == 0);
        f.tree.forget(ino, 2);
        CHECK(f.tree.release(*file).empty());  // no names left to remove
        CHECK(f.tree.release(*file).empty());
        CHECK(f.tree.find(ino) == file);
        CHECK(f.times_freed(ino) == 0);
        f.tree.forget(ino, 1);
        CHECK(f.tree.find(ino) == nullptr);
        CHECK(f.times_freed(ino) == 1);
    }
    SECTION("a removed directory is freed by its last forget") {
        InodePtr sub = f.mkdir(root, "d");
        REQUIRE(f.tree.rmdir(root, "d") == 0);
        CHECK(f.tree.find(sub->ino) == sub);
        f.tree.forget(sub->ino, 1);
        CHECK(f.tree.find(sub->ino) == nullptr);
        CHECK(f.times_freed(sub->ino) == 1);
    }
}

TEST_CASE("link counts of files follow link and unlink", "[tree]") {
    Fixture f;
    InodePtr a = f.mkdir(root, "a");
    InodePtr b = f.mkdir(root, "b");
    InodePtr file = f.file(a->ino, "f");
    InodePtr r = f.tree.find(root);

    f.hard_link(file, a->ino, "f2");
    f.hard_link(file, b->ino, "f3");
    CHECK(nlink(*file) == 3);
    CHECK(file->names.size() == 3);
    CHECK(f.resolve(b->ino, "f3") == file->ino);
    CHECK(nlink(*a) == 2);  // files do not count in a directory's nlink
    CHECK(nlink(*r) == 4);

    InodePtr out;
    CHECK(f.tree.link(file->ino, b->ino, "f3", out) == EEXIST);
    CHECK(f.tree.link(file->ino, 9999, "x", out) == ENOENT);
    CHECK(f.tree.link(file->ino, file->ino, "x", out) == ENOTDIR);
    CHECK(f.tree.link(9999, root, "x", out) == ENOENT);
    CHECK(f.tree.link(a->ino, root, "x", out) == EPERM);  // no hard links to directories
    CHECK(f.tree.link(file->ino, root, "", out) == EINVAL);
    CHECK(f.tree.link(file->ino, root, "..", out) == EINVAL);
    CHECK(f.tree.link(file->ino, root, std::string(256, 'n'), out) == ENAMETOOLONG);
    CHECK(nlink(*file) == 3);

    REQUIRE(f.tree.unlink(a->ino, "f") == 0);
    CHECK(nlink(*file) == 2);
    CHECK(f.resolve(a->ino, "f") == 0);
    CHECK(f.resolve(a->ino, "f2") == file->ino);
    CHECK(f.tree.unlink(a->ino, "f") == ENOENT);
    REQUIRE(f.tree.unlink(b->ino, "f3") == 0);
    REQUIRE(f.tree.unlink(a->ino, "f2") == 0);
    CHECK(nlink(*file) == 0);
    CHECK(file->names.empty());
    CHECK(f.entry_count(a->ino) == 0);
    CHECK(f.entry_count(b->ino) == 0);

    CHECK(f.tree.unlink(root, "a") == EISDIR);
    CHECK(f.tree.unlink(9999, "a") == ENOENT);
    CHECK(f.tree.unlink(file->ino, "a") == ENOTDIR);
    CHECK(f.resolve(root, "a") == a->ino);
}

TEST_CASE("link counts of directories: 2 plus subdirectories", "[tree]") {
    Fixture f;
    InodePtr r = f.tree.find(root);
    InodePtr p = f.mkdir(root, "p");
    InodePtr q = f.mkdir(root, "q");
    CHECK(nlink(*r) == 4);

    InodePtr c1 = f.mkdir(p->ino, "c1");
    InodePtr c2 = f.mkdir(p->ino, "c2");
    f.file(p->ino, "file");
    CHECK(nlink(*p) == 4);
    CHECK(nlink(*c1) == 2);

    SECTION("rmdir drops the parent's count") {
        REQUIRE(f.tree.rmdir(p->ino, "c1") == 0);
        CHECK(nlink(*p) == 3);
        CHECK(nlink(*c1) == 0);
        CHECK(f.resolve(p->ino, "c1") == 0);
    }
    SECTION("rename between parents moves the count") {
        REQUIRE(f.tree.rename(p->ino, "c1", q->ino, "moved", 0) == 0);
        CHECK(nlink(*p) == 3);
        CHECK(nlink(*q) == 3);
        CHECK(nlink(*c1) == 2);
        CHECK(f.resolve(c1->ino, "..") == q->ino);
        REQUIRE(f.tree.rename(q->ino, "moved", root, "top", 0) == 0);
        CHECK(nlink(*q) == 2);
        CHECK(nlink(*r) == 5);
        CHECK(f.resolve(c1->ino, "..") == root);
    }
    SECTION("rename within a parent keeps it") {
        REQUIRE(f.tree.rename(p->ino, "c1", p->ino, "c1b", 0) == 0);
        CHECK(nlink(*p) == 4);
        CHECK(f.resolve(c1->ino, "..") == p->ino);
    }
    SECTION("rmdir errors") {
        CHECK(f.tree.rmdir(root, "p") == ENOTEMPTY);  // files and subdirectories
        REQUIRE(f.tree.rmdir(p->ino, "c1") == 0);
        REQUIRE(f.tree.rmdir(p->ino, "c2") == 0);
        CHECK(f.tree.rmdir(root, "p") == ENOTEMPTY);  // the file alone
        CHECK(f.tree.rmdir(p->ino, "file") == ENOTDIR);
        CHECK(f.tree.rmdir(p->ino, "missing") == ENOENT);
        CHECK(f.tree.rmdir(p->ino, ".") == EINVAL);
        CHECK(f.tree.rmdir(p->ino, "..") == ENOTEMPTY);
        CHECK(f.tree.rmdir(9999, "x") == ENOENT);
        REQUIRE(f.tree.unlink(p->ino, "file") == 0);
        CHECK(f.tree.rmdir(root, "p") == 0);
        CHECK(nlink(*r) == 3);
        CHECK(nlink(*p) == 0);
    }
    SECTION("a removed directory resolves nothing") {
        REQUIRE(f.tree.rmdir(p->ino, "c1") == 0);
        InodePtr out;
        CHECK(f.tree.lookup(c1->ino, ".", out) == ENOENT);
        CHECK(f.tree.lookup(c1->ino, "x", out) == ENOENT);
        CHECK(f.tree.rename(p->ino, "file", c1->ino, "x", 0) == ENOENT);
        CHECK(f.resolve(p->ino, "file") != 0);
    }
}

TEST_CASE("rename of files", "[tree][rename]") {
    Fixture f;
    InodePtr a = f.mkdir(root, "a");
    InodePtr b = f.mkdir(root, "b");
    InodePtr src = f.file(a->ino, "src");

    SECTION("within a directory") {
        REQUIRE(f.tree.rename(a->ino, "src", a->ino, "dst", 0) == 0);
        CHECK(f.resolve(a->ino, "src") == 0);
        CHECK(f.resolve(a->ino, "dst") == src->ino);
        CHECK(nlink(*src) == 1);
        REQUIRE(src->names.size() == 1);
        CHECK(*src->names.begin() == std::pair<Ino, std::string>(a->ino, "dst"));
        CHECK(f.names(a->ino) == std::vector<std::string>{"dst"});
    }
    SECTION("onto its own name: nothing changes") {
        REQUIRE(f.tree.rename(a->ino, "src", a->ino, "src", 0) == 0);
        CHECK(f.resolve(a->ino, "src") == src->ino);
        CHECK(nlink(*src) == 1);
        CHECK(f.names(a->ino) == std::vector<std::string>{"src"});
    }
    SECTION("across directories") {
        REQUIRE(f.tree.rename(a->ino, "src", b->ino, "dst", 0) == 0);
        CHECK(f.entry_count(a->ino) == 0);
        CHECK(f.resolve(b->ino, "dst") == src->ino);
        REQUIRE(src->names.size() == 1);
        CHECK(*src->names.begin() == std::pair<Ino, std::string>(b->ino, "dst"));
        CHECK(nlink(*a) == 2);
        CHECK(nlink(*b) == 2);
    }
    SECTION("replacing a file, which is freed once forgotten") {
        InodePtr old = f.file(b->ino, "dst");
        REQUIRE(f.tree.rename(a->ino, "src", b->ino, "dst", 0) == 0);
        CHECK(f.resolve(b->ino, "dst") == src->ino);
        CHECK(nlink(*old) == 0);
        CHECK(old->names.empty());
        CHECK(f.tree.find(old->ino) == old);  // the kernel still holds it
        f.tree.forget(old->ino, 1);
        CHECK(f.tree.find(old->ino) == nullptr);
        CHECK(f.times_freed(old->ino) == 1);
        CHECK(f.entry_count(b->ino) == 1);
    }
    SECTION("replacing one name of a hard-linked file") {
        InodePtr old = f.file(b->ino, "dst");
        f.hard_link(old, a->ino, "other");
        REQUIRE(f.tree.rename(a->ino, "src", b->ino, "dst", 0) == 0);
        CHECK(nlink(*old) == 1);
        CHECK(f.resolve(a->ino, "other") == old->ino);
        f.tree.forget(old->ino, 2);
        CHECK(f.tree.find(old->ino) == old);
    }
    SECTION("a file onto a directory: EISDIR") {
        InodePtr d = f.mkdir(b->ino, "d");
        CHECK(f.tree.rename(a->ino, "src", b->ino, "d", 0) == EISDIR);
        CHECK(f.resolve(a->ino, "src") == src->ino);
        CHECK(f.resolve(b->ino, "d") == d->ino);
        CHECK(nlink(*b) == 3);
    }
    SECTION("hard links of the same inode: a no-op") {
        f.hard_link(src, b->ino, "alias");
        REQUIRE(f.tree.rename(a->ino, "src", b->ino, "alias", 0) == 0);
        CHECK(f.resolve(a->ino, "src") == src->ino);
        CHECK(f.resolve(b->ino, "alias") == src->ino);
        CHECK(nlink(*src) == 2);
        REQUIRE(f.tree.rename(a->ino, "src", b->ino, "alias", RENAME_EXCHANGE) == 0);
        CHECK(f.resolve(a->ino, "src") == src->ino);
        CHECK(f.resolve(b->ino, "alias") == src->ino);
        CHECK(nlink(*src) == 2);
    }
    SECTION("RENAME_NOREPLACE") {
        InodePtr old = f.file(b->ino, "dst");
        CHECK(f.tree.rename(a->ino, "src", b->ino, "dst", RENAME_NOREPLACE) == EEXIST);
        CHECK(f.resolve(a->ino, "src") == src->ino);
        CHECK(f.resolve(b->ino, "dst") == old->ino);
        CHECK(nlink(*old) == 1);
        REQUIRE(f.tree.rename(a->ino, "src", b->ino, "new", RENAME_NOREPLACE) == 0);
        CHECK(f.resolve(b->ino, "new") == src->ino);
    }
    SECTION("errors") {
        CHECK(f.tree.rename(a->ino, "missing", b->ino, "x", 0) == ENOENT);
        CHECK(f.tree.rename(9999, "src", b->ino, "x", 0) == ENOENT);
        CHECK(f.tree.rename(a->ino, "src", 9999, "x", 0) == ENOENT);
        CHECK(f.tree.rename(src->ino, "x", b->ino, "x", 0) == ENOTDIR);
        CHECK(f.tree.rename(a->ino, "src", src->ino, "x", 0) == ENOTDIR);
        CHECK(f.tree.rename(a->ino, "src", b->ino, "", 0) == EINVAL);
        CHECK(f.tree.rename(a->ino, "src", b->ino, "x/y", 0) == EINVAL);
        CHECK(f.tree.rename(a->ino, "src", b->ino, "..", 0) == EINVAL);
        CHECK(f.tree.rename(a->ino, "src", b->ino, std::string(256, 'n'), 0) == ENAMETOOLONG);
        CHECK(f.resolve(a->ino, "src") == src->ino);
    }
    SECTION("invalid flags: EINVAL") {
        f.file(b->ino, "dst");
        for (unsigned flags : {unsigned{RENAME_NOREPLACE | RENAME_EXCHANGE},
                               unsigned{RENAME_EXCHANGE | RENAME_WHITEOUT}, 1u << 5, 1u << 31}) {
            INFO("flags " << flags);
            CHECK(f.tree.rename(a->ino, "src", b->ino, "dst", flags) == EINVAL);
            CHECK(f.tree.rename(a->ino, "src", b->ino, "new", flags) == EINVAL);
        }
        CHECK(f.resolve(a->ino, "src") == src->ino);
        CHECK(f.resolve(b->ino, "new") == 0);
    }
}

TEST_CASE("rename with RENAME_WHITEOUT leaves a whiteout at the old name", "[tree][rename]") {
    Tree::Config config;
    config.max_inodes = 4;  // the root, a, src and one more
    Fixture f(std::move(config));
    InodePtr a = f.mkdir(root, "a");
    InodePtr src = f.file(a->ino, "src");
    const Caller other{2000, 2001};
    SECTION("the file moves, a character device 0/0 of mode 0 owned by the caller stays") {
        REQUIRE(f.tree.rename(a->ino, "src", root, "dst", RENAME_WHITEOUT, other) == 0);
        CHECK(f.resolve(root, "dst") == src->ino);
        InodePtr mark;
        REQUIRE(f.tree.lookup(a->ino, "src", mark) == 0);
        CHECK(mark->ino != src->ino);
        CHECK(mark->mode == S_IFCHR);
        CHECK(mark->rdev == 0);
        CHECK(mark->uid == other.uid);
        CHECK(mark->gid == other.gid);
        CHECK(nlink(*mark) == 1);
        CHECK(f.tree.inode_count() == 4);
    }
    SECTION("with RENAME_NOREPLACE onto an existing name: EEXIST, nothing made") {
        f.file(root, "dst");
        CHECK(f.tree.rename(a->ino, "src", root, "dst", RENAME_WHITEOUT | RENAME_NOREPLACE, other) ==
              EEXIST);
        CHECK(f.resolve(a->ino, "src") == src->ino);
    }
    SECTION("no room for the whiteout under nr_inodes: ENOSPC, nothing moved") {
        f.file(root, "third");
        CHECK(f.tree.rename(a->ino, "src", root, "dst", RENAME_WHITEOUT, other) == ENOSPC);
        CHECK(f.resolve(a->ino, "src") == src->ino);
        CHECK(f.resolve(root, "dst") == 0);
    }
}

TEST_CASE("rename of directories", "[tree][rename]") {
    Fixture f;
    InodePtr r = f.tree.find(root);
    InodePtr a = f.mkdir(root, "a");
    InodePtr b = f.mkdir(root, "b");
    InodePtr d = f.mkdir(a->ino, "d");
    InodePtr deep = f.mkdir(d->ino, "deep");

    SECTION("replacing an empty directory") {
        InodePtr empty = f.mkdir(b->ino, "empty");
        REQUIRE(nlink(*b) == 3);
        REQUIRE(f.tree.rename(a->ino, "d", b->ino, "empty", 0) == 0);
        CHECK(f.resolve(b->ino, "empty") == d->ino);
        CHECK(nlink(*empty) == 0);
        CHECK(nlink(*a) == 2);
        CHECK(nlink(*b) == 3);  // one subdirectory replaced by another
        CHECK(f.resolve(d->ino, "..") == b->ino);
        CHECK(f.resolve(deep->ino, "..") == d->ino);
        f.tree.forget(empty->ino, 1);
        CHECK(f.tree.find(empty->ino) == nullptr);
        CHECK(f.times_freed(empty->ino) == 1);
    }
    SECTION("replacing an empty directory in the same parent") {
        InodePtr empty = f.mkdir(a->ino, "empty");
        REQUIRE(nlink(*a) == 4);
        REQUIRE(f.tree.rename(a->ino, "d", a->ino, "empty", 0) == 0);
        CHECK(nlink(*a) == 3);
        CHECK(nlink(*empty) == 0);
        CHECK(f.names(a->ino) == std::vector<std::string>{"empty"});
    }
    SECTION("onto a non-empty directory: ENOTEMPTY") {
        InodePtr full = f.mkdir(b->ino, "full");
        f.file(full->ino, "x");
        CHECK(f.tree.rename(a->ino, "d", b->ino, "full", 0) == ENOTEMPTY);
        CHECK(f.resolve(b->ino, "full") == full->ino);
        CHECK(f.resolve(a->ino, "d") == d->ino);
        CHECK(nlink(*full) == 2);
        CHECK(nlink(*a) == 3);
        // Onto its own ancestor, which holds it.
        CHECK(f.tree.rename(d->ino, "deep", root, "a", 0) == ENOTEMPTY);
    }
    SECTION("onto a file: ENOTDIR") {
        InodePtr file = f.file(b->ino, "file");
        CHECK(f.tree.rename(a->ino, "d", b->ino, "file", 0) == ENOTDIR);
        CHECK(f.resolve(b->ino, "file") == file->ino);
        CHECK(nlink(*file) == 1);
        CHECK(nlink(*b) == 2);
    }
    SECTION("into itself or its own subtree: EINVAL") {
        CHECK(f.tree.rename(a->ino, "d", d->ino, "x", 0) == EINVAL);
        CHECK(f.tree.rename(a->ino, "d", deep->ino, "x", 0) == EINVAL);
        CHECK(f.tree.rename(root, "a", deep->ino, "x", 0) == EINVAL);
        CHECK(f.tree.rename(root, "a", deep->ino, "x", RENAME_NOREPLACE) == EINVAL);
        CHECK(f.resolve(a->ino, "d") == d->ino);
        CHECK(f.resolve(d->ino, "..") == a->ino);
        CHECK(nlink(*a) == 3);
    }
    SECTION("RENAME_EXCHANGE of a directory with something below it: EINVAL") {
        InodePtr leaf = f.file(deep->ino, "leaf");
        // The source is an ancestor of the target's directory.
        CHECK(f.tree.rename(root, "a", deep->ino, "leaf", RENAME_EXCHANGE) == EINVAL);
        // The target is an ancestor of the source's directory.
        CHECK(f.tree.rename(deep->ino, "leaf", root, "a", RENAME_EXCHANGE) == EINVAL);
        CHECK(f.tree.rename(deep->ino, "leaf", a->ino, "d", RENAME_EXCHANGE) == EINVAL);
        CHECK(f.resolve(root, "a") == a->ino);
        CHECK(f.resolve(deep->ino, "leaf") == leaf->ino);
        CHECK(nlink(*r) == 4);
    }
    SECTION("onto its own name: nothing changes") {
        REQUIRE(f.tree.rename(a->ino, "d", a->ino, "d", 0) == 0);
        CHECK(f.resolve(a->ino, "d") == d->ino);
        CHECK(nlink(*a) == 3);
        CHECK(f.tree.rename(a->ino, "d", a->ino, "d", RENAME_NOREPLACE) == EEXIST);
    }
    SECTION("RENAME_NOREPLACE onto an empty directory: EEXIST") {
        InodePtr empty = f.mkdir(b->ino, "empty");
        CHECK(f.tree.rename(a->ino, "d", b->ino, "empty", RENAME_NOREPLACE) == EEXIST);
        CHECK(f.resolve(b->ino, "empty") == empty->ino);
        CHECK(nlink(*empty) == 2);
    }
}

TEST_CASE("RENAME_EXCHANGE", "[tree][rename]") {
    Fixture f;
    InodePtr p = f.mkdir(root, "p");
    InodePtr q = f.mkdir(root, "q");
    InodePtr file = f.file(p->ino, "file");

    SECTION("the target must exist: ENOENT") {
        CHECK(f.tree.rename(p->ino, "file", q->ino, "missing", RENAME_EXCHANGE) == ENOENT);
        CHECK(f.resolve(p->ino, "file") == file->ino);
        CHECK(f.resolve(q->ino, "missing") == 0);
    }
    SECTION("two files in one directory") {
        InodePtr other = f.file(p->ino, "other");
        REQUIRE(f.tree.rename(p->ino, "file", p->ino, "other", RENAME_EXCHANGE) == 0);
        CHECK(f.resolve(p->ino, "file") == other->ino);
        CHECK(f.resolve(p->ino, "other") == file->ino);
        CHECK(nlink(*file) == 1);
        CHECK(nlink(*other) == 1);
        REQUIRE(file->names.size() == 1);
        CHECK(*file->names.begin() == std::pair<Ino, std::string>(p->ino, "other"));
        CHECK(f.entry_count(p->ino) == 2);
    }
    SECTION("a file and a directory across parents") {
        InodePtr sub = f.mkdir(q->ino, "sub");
        f.file(sub->ino, "inside");  // an exchange needs no empty directory
        REQUIRE(nlink(*p) == 2);
        REQUIRE(nlink(*q) == 3);
        REQUIRE(f.tree.rename(p->ino, "file", q->ino, "sub", RENAME_EXCHANGE) == 0);
        CHECK(f.resolve(p->ino, "file") == sub->ino);
        CHECK(f.resolve(q->ino, "sub") == file->ino);
        CHECK(nlink(*p) == 3);  // gained the directory
        CHECK(nlink(*q) == 2);  // lost it
        CHECK(nlink(*sub) == 2);
        CHECK(nlink(*file) == 1);
        CHECK(f.resolve(sub->ino, "..") == p->ino);
        REQUIRE(file->names.size() == 1);
        CHECK(*file->names.begin() == std::pair<Ino, std::string>(q->ino, "sub"));
        CHECK(f.resolve(sub->ino, "inside") != 0);

        // And back, the directory as the source.
        REQUIRE(f.tree.rename(p->ino, "file", q->ino, "sub", RENAME_EXCHANGE) == 0);
        CHECK(f.resolve(q->ino, "sub") == sub->ino);
        CHECK(f.resolve(p->ino, "file") == file->ino);
        CHECK(nlink(*p) == 2);
        CHECK(nlink(*q) == 3);
        CHECK(f.resolve(sub->ino, "..") == q->ino);
    }
    SECTION("two directories across parents") {
        InodePtr d1 = f.mkdir(p->ino, "d1");
        InodePtr d2 = f.mkdir(q->ino, "d2");
        REQUIRE(f.tree.rename(p->ino, "d1", q->ino, "d2", RENAME_EXCHANGE) == 0);
        CHECK(f.resolve(p->ino, "d1") == d2->ino);
        CHECK(f.resolve(q->ino, "d2") == d1->ino);
        CHECK(nlink(*p) == 3);
        CHECK(nlink(*q) == 3);
        CHECK(f.resolve(d1->ino, "..") == q->ino);
        CHECK(f.resolve(d2->ino, "..") == p->ino);
    }
    SECTION("nothing is freed by an exchange") {
        InodePtr other = f.file(q->ino, "other");
        f.tree.forget(file->ino, 1);
        f.tree.forget(other->ino, 1);
        REQUIRE(f.tree.rename(p->ino, "file", q->ino, "other", RENAME_EXCHANGE) == 0);
        CHECK(f.tree.find(file->ino) == file);
        CHECK(f.tree.find(other->ino) == other);
        CHECK(f.freed.empty());
    }
}

TEST_CASE("anonymous files (O_TMPFILE)", "[tree]") {
    Fixture f(mount_lifetime());
    InodePtr d = f.mkdir(root, "d");
    const auto inodes_before = f.tree.inode_count();

    InodePtr anon = f.make(d->ino, spoolfs::anonymous_name, S_IFREG | 0600);
    CHECK(anon->type == S_IFREG);
    CHECK(nlink(*anon) == 0);
    CHECK(anon->names.empty());
    CHECK(lookups(*anon) == 1);
    CHECK(f.entry_count(d->ino) == 0);
    CHECK(f.tree.inode_count() == inodes_before + 1);
    CHECK(f.tree.find(anon->ino) == anon);
    CHECK(f.tree.lifetime(*anon) == Lifetime::mount);

    SECTION("only a regular file can be anonymous") {
        CHECK(f.create_error(d->ino, spoolfs::anonymous_name, dir) == EINVAL);
        CHECK(f.create_error(d->ino, spoolfs::anonymous_name, S_IFIFO | 0600) == EINVAL);
        CHECK(f.create_error(9999, spoolfs::anonymous_name) == ENOENT);
        CHECK(f.create_error(anon->ino, spoolfs::anonymous_name) == ENOTDIR);
    }
    SECTION("several are allowed in one directory") {
        InodePtr second = f.make(d->ino, spoolfs::anonymous_name, reg);
        CHECK(second->ino != anon->ino);
        CHECK(f.entry_count(d->ino) == 0);
    }
    SECTION("link() names it") {
        f.tree.open(*anon);
        f.hard_link(anon, d->ino, "named");
        CHECK(nlink(*anon) == 1);
        CHECK(f.resolve(d->ino, "named") == anon->ino);
        CHECK(f.names(d->ino) == std::vector<std::string>{"named"});
        CHECK(f.tree.release(*anon).empty());  // lifetime mount: the name stays
        f.tree.forget(anon->ino, 2);
        CHECK(f.tree.find(anon->ino) == anon);
        CHECK(f.resolve(d->ino, "named") == anon->ino);
    }
    SECTION("it cannot be named \"/\" again") {
        InodePtr out;
        CHECK(f.tree.link(anon->ino, d->ino, spoolfs::anonymous_name, out) == EINVAL);
    }
    SECTION("freed when the last handle and lookup go") {
        f.tree.open(*anon);
        f.tree.forget(anon->ino, 1);
        CHECK(f.tree.find(anon->ino) == anon);
        CHECK(f.tree.release(*anon).empty());
        CHECK(f.tree.find(anon->ino) == nullptr);
        CHECK(f.times_freed(anon->ino) == 1);
        CHECK(f.tree.inode_count() == inodes_before);
    }
}

TEST_CASE("lifetimes: inheritance and set_lifetime", "[tree][lifetime]") {
    Fixture f;  // lifetime close by default
    InodePtr early = f.file(root, "early");
    CHECK(f.tree.lifetime(*early) == Lifetime::close);

    InodePtr d = f.mkdir(root, "d");
    CHECK(f.tree.lifetime(*d) == Lifetime::close);
    InodePtr before = f.file(d->ino, "before");
    REQUIRE(f.tree.set_lifetime(*d, Lifetime::mount) == 0);
    CHECK(f.tree.lifetime(*d) == Lifetime::mount);
    InodePtr after = f.file(d->ino, "after");
    InodePtr anon = f.make(d->ino, spoolfs::anonymous_name, reg);
    InodePtr sub = f.mkdir(d->ino, "sub");
    InodePtr grandchild = f.file(sub->ino, "g");

    CHECK(f.tree.lifetime(*before) == Lifetime::close);  // only later children change
    CHECK(f.tree.lifetime(*after) == Lifetime::mount);
    CHECK(f.tree.lifetime(*anon) == Lifetime::mount);
    CHECK(f.tree.lifetime(*sub) == Lifetime::mount);
    CHECK(f.tree.lifetime(*grandchild) == Lifetime::mount);
    CHECK(f.tree.lifetime(*early) == Lifetime::close);

    // A rename keeps a file's own lifetime.
    REQUIRE(f.tree.rename(root, "early", d->ino, "moved", 0) == 0);
    CHECK(f.tree.lifetime(*early) == Lifetime::close);

    InodePtr symlink = f.make(root, "link", S_IFLNK | 0777, "target");
    InodePtr fifo = f.make(root, "fifo", S_IFIFO | 0600);
    InodePtr sock = f.make(root, "sock", S_IFSOCK | 0600);
    InodePtr chr = f.make(root, "chr", S_IFCHR | 0600, {}, makedev(1, 3));
    for (const InodePtr& i : {symlink, fifo, sock, chr}) {
        INFO("mode " << std::oct << i->mode);
        CHECK(f.tree.set_lifetime(*i, Lifetime::mount) == EINVAL);
        CHECK(f.tree.set_lifetime(*i, Lifetime::close) == EINVAL);
    }
}

TEST_CASE("release under lifetime close removes every name at the last handle",
          "[tree][lifetime]") {
    Fixture f;
    InodePtr a = f.mkdir(root, "a");
    InodePtr b = f.mkdir(root, "b");
    InodePtr file = f.file(a->ino, "f");
    f.hard_link(file, b->ino, "f-in-b");
    f.hard_link(file, root, "f-in-root");
    f.hard_link(file, a->ino, "f-again");
    REQUIRE(nlink(*file) == 4);

    SECTION("one handle") {
        f.tree.open(*file);
        auto removed = f.tree.release(*file);
        using T = std::tuple<Ino, Ino, std::string>;
        std::vector<T> expected{{root, file->ino, "f-in-root"},
                                {a->ino, file->ino, "f"},
                                {a->ino, file->ino, "f-again"},
                                {b->ino, file->ino, "f-in-b"}};
        std::sort(expected.begin(), expected.end());
        CHECK(as_tuples(removed) == expected);
        CHECK(nlink(*file) == 0);
        CHECK(file->names.empty());
        CHECK(f.resolve(a->ino, "f") == 0);
        CHECK(f.resolve(a->ino, "f-again") == 0);
        CHECK(f.resolve(b->ino, "f-in-b") == 0);
        CHECK(f.resolve(root, "f-in-root") == 0);
        CHECK(f.names(a->ino).empty());
        CHECK(f.names(root) == std::vector<std::string>{"a", "b"});
        // The kernel's lookups keep it until forgotten.
        CHECK(f.tree.find(file->ino) == file);
        CHECK(f.times_freed(file->ino) == 0);
        f.tree.forget(file->ino, 4);
        CHECK(f.tree.find(file->ino) == nullptr);
        CHECK(f.times_freed(file->ino) == 1);
    }
    SECTION("two handles: the first release removes nothing") {
        f.tree.open(*file);
        f.tree.open(*file);
        CHECK(f.tree.release(*file).empty());
        CHECK(nlink(*file) == 4);
        CHECK(f.resolve(a->ino, "f") == file->ino);
        CHECK(f.tree.release(*file).size() == 4);
        CHECK(nlink(*file) == 0);
    }
    SECTION("not looked up: removed and freed at once") {
        f.tree.forget(file->ino, 4);
        f.tree.open(*file);
        CHECK(f.tree.release(*file).size() == 4);
        CHECK(f.tree.find(file->ino) == nullptr);
        CHECK(f.times_freed(file->ino) == 1);
    }
    SECTION("names unlinked before the release are not returned") {
        REQUIRE(f.tree.unlink(b->ino, "f-in-b") == 0);
        f.tree.open(*file);
        auto removed = as_tuples(f.tree.release(*file));
        CHECK(removed.size() == 3);
        CHECK(std::none_of(removed.begin(), removed.end(),
                           [&](const auto& r) { return std::get<0>(r) == b->ino; }));
    }
    SECTION("set_lifetime(mount) while open keeps it") {
        f.tree.open(*file);
        REQUIRE(f.tree.set_lifetime(*file, Lifetime::mount) == 0);
        CHECK(f.tree.release(*file).empty());
        CHECK(nlink(*file) == 4);
    }
}

TEST_CASE("release under lifetime mount keeps names", "[tree][lifetime]") {
    Fixture f(mount_lifetime());
    InodePtr d = f.mkdir(root, "d");
    InodePtr file = f.file(d->ino, "f");
    f.hard_link(file, root, "g");
    CHECK(f.tree.lifetime(*file) == Lifetime::mount);

    f.tree.open(*file);
    CHECK(f.tree.release(*file).empty());
    CHECK(nlink(*file) == 2);
    CHECK(f.resolve(d->ino, "f") == file->ino);
    f.tree.forget(file->ino, 2);
    CHECK(f.tree.find(file->ino) == file);

    SECTION("set_lifetime(close) on an open file: its last release removes it") {
        f.tree.open(*file);
        f.tree.open(*file);
        REQUIRE(f.tree.set_lifetime(*file, Lifetime::close) == 0);
        CHECK(f.tree.lifetime(*file) == Lifetime::close);
        CHECK(f.tree.release(*file).empty());
        CHECK(as_tuples(f.tree.release(*file)) ==
              std::vector<std::tuple<Ino, Ino, std::string>>{{root, file->ino, "g"},
                                                             {d->ino, file->ino, "f"}});
        CHECK(f.tree.find(file->ino) == nullptr);
        CHECK(f.times_freed(file->ino) == 1);
    }
}

TEST_CASE("release never removes directories, symlinks or special files", "[tree][lifetime]") {
    Fixture f;  // lifetime close
    InodePtr d = f.mkdir(root, "d");
    InodePtr symlink = f.make(root, "link", S_IFLNK | 0777, "d");
    InodePtr fifo = f.make(root, "fifo", S_IFIFO | 0600);
    InodePtr sock = f.make(root, "sock", S_IFSOCK | 0600);
    for (const InodePtr& i : {d, symlink, fifo, sock}) {
        INFO("mode " << std::oct << i->mode);
        f.tree.open(*i);
        CHECK(f.tree.release(*i).empty());
        f.tree.forget(i->ino, 1);
        CHECK(f.tree.find(i->ino) == i);
    }
    CHECK(f.names(root) == std::vector<std::string>{"d", "link", "fifo", "sock"});
    CHECK(f.freed.empty());
}

TEST_CASE("nr_inodes: ENOSPC when every inode is in use", "[tree][limits]") {
    Tree::Config config = mount_lifetime();
    config.max_inodes = 4;  // the root and three more
    Fixture f(std::move(config));
    CHECK(f.tree.max_inodes() == std::optional<std::uint64_t>(4));
    InodePtr d = f.mkdir(root, "d");
    InodePtr a = f.file(d->ino, "a");
    InodePtr b = f.file(root, "b");
    REQUIRE(f.tree.inode_count() == 4);

    CHECK(f.create_error(root, "c") == ENOSPC);
    CHECK(f.create_error(root, "c", dir) == ENOSPC);
    CHECK(f.create_error(d->ino, "c", S_IFIFO | 0600) == ENOSPC);
    CHECK(f.create_error(root, spoolfs::anonymous_name) == ENOSPC);
    {
        InodePtr out;
        CHECK(f.tree.create(root, "c", S_IFLNK | 0777, 0, user, "t", out) == ENOSPC);
        CHECK(out == nullptr);
    }
    CHECK(f.create_error(root, "b") == EEXIST);  // an existing name still says so

    // Nothing that exists was touched.
    CHECK(f.tree.inode_count() == 4);
    CHECK(f.names(root) == std::vector<std::string>{"d", "b"});
    CHECK(f.names(d->ino) == std::vector<std::string>{"a"});
    CHECK(lookups(*a) == 1);
    CHECK(nlink(*d) == 2);
    CHECK(nlink(*f.tree.find(root)) == 3);

    // A hard link counts as one, as on tmpfs: no room, no link.
    {
        InodePtr out;
        CHECK(f.tree.link(b->ino, d->ino, "b2", out) == ENOSPC);
        CHECK(nlink(*b) == 1);
    }

    SECTION("an unlinked inode the kernel still holds no longer counts, as in tmpfs") {
        // Its FORGET may be read after the next CREATE: that CREATE must not fail.
        REQUIRE(f.tree.unlink(d->ino, "a") == 0);
        CHECK(f.tree.inode_count() == 3);
        InodePtr c = f.file(root, "c");
        CHECK(f.resolve(root, "c") == c->ino);
        CHECK(f.create_error(root, "e") == ENOSPC);
        f.tree.forget(a->ino, 1);  // now it is freed, and nothing changes
        CHECK(f.tree.find(a->ino) == nullptr);
        CHECK(f.tree.inode_count() == 4);
        CHECK(f.create_error(root, "e") == ENOSPC);
    }
    SECTION("an unlinked inode counts while it is open, and again once reopened") {
        f.tree.open(*a);
        REQUIRE(f.tree.unlink(d->ino, "a") == 0);
        CHECK(f.tree.inode_count() == 4);
        CHECK(f.create_error(root, "c") == ENOSPC);
        CHECK(f.tree.release(*a).empty());
        CHECK(f.tree.inode_count() == 3);
        REQUIRE(f.tree.open(*a) == 0);  // through an O_PATH descriptor the kernel still holds
        CHECK(f.tree.inode_count() == 4);
        CHECK(f.create_error(root, "c") == ENOSPC);
        CHECK(f.tree.release(*a).empty());
        f.file(root, "c");
        CHECK(f.tree.open(*a) == ENOSPC);  // no room for it to count again
        REQUIRE(f.tree.unlink(root, "c") == 0);
        f.file(root, "c");
        f.tree.forget(a->ino, 1);
        CHECK(f.tree.inode_count() == 4);
    }
    SECTION("a lingering inode linked again counts again, so only while there is room") {
        f.tree.open(*a);
        REQUIRE(f.tree.unlink(d->ino, "a") == 0);
        CHECK(f.tree.release(*a).empty());
        f.file(root, "c");  // takes the room `a` left
        InodePtr out;
        CHECK(f.tree.link(a->ino, root, "a-again", out) == ENOSPC);
        CHECK(f.entry_count(root) == 3);
        REQUIRE(f.tree.unlink(root, "c") == 0);
        REQUIRE(f.tree.link(a->ino, root, "a-again", out) == 0);
        CHECK(f.tree.inode_count() == 4);
        CHECK(f.create_error(root, "e") == ENOSPC);
    }
    SECTION("a freed directory makes room too") {
        REQUIRE(f.tree.unlink(d->ino, "a") == 0);
        f.tree.forget(a->ino, 1);
        REQUIRE(f.tree.rmdir(root, "d") == 0);
        f.tree.forget(d->ino, 1);
        CHECK(f.tree.inode_count() == 2);
        f.mkdir(root, "x");
        f.file(root, "y");
        CHECK(f.create_error(root, "z") == ENOSPC);
    }
}

TEST_CASE("hard links count against nr_inodes; a lifetime-close file's many names go",
          "[tree][limits]") {
    Tree::Config config;  // lifetime close
    config.max_inodes = 3000;
    Fixture f(std::move(config));
    InodePtr file = f.file(root, "f");
    unsigned made = 0;
    for (InodePtr out; f.tree.link(file->ino, root, "l" + std::to_string(made), out) == 0;) ++made;
    CHECK(made == 3000 - 2);  // the root and the file take two
    CHECK(f.tree.inode_count() == 3000);
    SECTION("the last release by the owner removes every name, in batches") {
        REQUIRE(f.tree.open(*file) == 0);
        CHECK(f.tree.release(*file, true).size() == made + 1);
        CHECK(f.entry_count(root) == 0);
        CHECK(f.tree.inode_count() == 1);
    }
    SECTION("the last release by someone who could not unlink them keeps them") {
        REQUIRE(f.tree.open(*file) == 0);
        CHECK(f.tree.release(*file, false).empty());
        CHECK(f.entry_count(root) == made + 1);
    }
}

TEST_CASE("readdir: dot entries, cookies and changes between calls", "[tree][readdir]") {
    Fixture f;
    InodePtr p = f.mkdir(root, "p");

    SECTION("an empty directory: \".\" and \"..\"") {
        auto e = f.entries(p->ino);
        REQUIRE(e.size() == 2);
        CHECK(e[0].name == ".");
        CHECK(e[0].ino == p->ino);
        CHECK(e[0].type == S_IFDIR);
        CHECK(e[1].name == "..");
        CHECK(e[1].ino == root);
        CHECK(e[1].type == S_IFDIR);
        CHECK(e[0].cookie < e[1].cookie);
        CHECK(f.entries(p->ino, e[1].cookie).empty());
        auto r = f.entries(root);
        REQUIRE(r.size() == 3);
        CHECK(r[1].ino == root);  // the root is its own parent
    }
    SECTION("errors") {
        InodePtr file = f.file(p->ino, "f");
        auto ignore = [](std::string_view, Inode&, std::uint64_t) { return true; };
        CHECK(f.tree.readdir(file->ino, 0, ignore) == ENOTDIR);
        CHECK(f.tree.readdir(9999, 0, ignore) == ENOENT);
    }

    const std::vector<std::string> names{"e0", "e1", "e2", "e3", "e4", "e5", "e6", "e7"};
    std::map<std::string, Ino> inos;
    for (std::size_t i = 0; i < names.size(); ++i) {
        InodePtr made = i % 3 == 1   ? f.mkdir(p->ino, names[i])
                        : i % 3 == 2 ? f.make(p->ino, names[i], S_IFLNK | 0777, "t")
                                     : f.file(p->ino, names[i]);
        inos[names[i]] = made->ino;
    }

    SECTION("every entry once, with its type, in creation order") {
        auto e = f.entries(p->ino);
        REQUIRE(e.size() == names.size() + 2);
        CHECK(e[0].name == ".");
        CHECK(e[1].name == "..");
        for (std::size_t i = 0; i < names.size(); ++i) {
            const Entry& got = e[i + 2];
            CHECK(got.name == names[i]);
            CHECK(got.ino == inos[names[i]]);
            CHECK(got.type == (i % 3 == 1 ? S_IFDIR : i % 3 == 2 ? S_IFLNK : S_IFREG));
        }
        for (std::size_t i = 1; i < e.size(); ++i) CHECK(e[i - 1].cookie < e[i].cookie);
    }
    SECTION("resuming from every cookie returns the rest") {
        auto all = f.entries(p->ino);
        for (std::size_t i = 0; i < all.size(); ++i) {
            auto rest = f.entries(p->ino, all[i].cookie);
            REQUIRE(rest.size() == all.size() - i - 1);
            for (std::size_t j = 0; j < rest.size(); ++j)
                CHECK(rest[j].name == all[i + j + 1].name);
        }
    }
    SECTION("one entry per call, as a small reply buffer would") {
        std::vector<std::string> seen;
        std::uint64_t cookie = 0;
        for (int calls = 0; calls < 100; ++calls) {
            bool got = false;
            REQUIRE(f.tree.readdir(p->ino, cookie,
                                   [&](std::string_view name, Inode&, std::uint64_t next) {
                                       if (got) return false;
                                       got = true;
                                       seen.emplace_back(name);
                                       cookie = next;
                                       return true;
                                   }) == 0);
            if (!got) break;
        }
        std::vector<std::string> expected{".", ".."};
        expected.insert(expected.end(), names.begin(), names.end());
        CHECK(seen == expected);
    }
    SECTION("entries added and removed between calls") {
        // The first call returns ".", "..", e0, e1 and e2.
        auto first = f.entries(p->ino);
        first.resize(5);
        const std::uint64_t cookie = first.back().cookie;

        REQUIRE(f.tree.unlink(p->ino, "e0") == 0);  // already returned
        REQUIRE(f.tree.unlink(p->ino, "e2") == 0);  // already returned, the resume point
        REQUIRE(f.tree.unlink(p->ino, "e3") == 0);  // not yet returned
        REQUIRE(f.tree.rmdir(p->ino, "e4") == 0);   // not yet returned
        InodePtr late = f.file(p->ino, "late");
        InodePtr early_name = f.file(p->ino, "a-early-name");  // sorts first by name

        auto rest = f.entries(p->ino, cookie);
        std::vector<std::string> rest_names;
        for (auto& e : rest) rest_names.push_back(e.name);
        CHECK(rest_names == std::vector<std::string>{"e5", "e6", "e7", "late", "a-early-name"});

        // Together: each entry present throughout exactly once, the removed ones not after
        // their removal.
        std::multiset<std::string> all;
        for (auto& e : first) all.insert(e.name);
        for (auto& e : rest) all.insert(e.name);
        for (const char* name : {"e1", "e5", "e6", "e7", "late", "a-early-name"})
            CHECK(all.count(name) == 1);
        CHECK(all.count("e3") == 0);
        CHECK(all.count("e4") == 0);

        // Later entries have larger cookies than every earlier one.
        auto now = f.entries(p->ino);
        std::uint64_t largest_old = 0;
        for (auto& e : now)
            if (e.name != "late" && e.name != "a-early-name")
                largest_old = std::max(largest_old, e.cookie);
        for (auto& e : now) {
            if (e.name == "late") CHECK(e.cookie > largest_old);
            if (e.name == "a-early-name") CHECK(e.cookie > largest_old);
        }
    }
    SECTION("resuming after the last entry, even once it is gone, returns nothing") {
        auto all = f.entries(p->ino);
        REQUIRE(f.tree.unlink(p->ino, "e6") == 0);
        REQUIRE(f.tree.rmdir(p->ino, "e7") == 0);
        CHECK(f.entries(p->ino, all.back().cookie).empty());
        CHECK(f.entries(p->ino, all.back().cookie + 1000).empty());
    }
    SECTION("\"..\" follows a rename of the directory") {
        InodePtr q = f.mkdir(root, "q");
        REQUIRE(f.tree.rename(root, "p", q->ino, "p", 0) == 0);
        auto e = f.entries(p->ino);
        REQUIRE(e.size() >= 2);
        CHECK(e[1].ino == q->ino);
    }
}

TEST_CASE("census counts named regular files by lifetime, and all regular files", "[tree]") {
    Fixture f;  // lifetime close
    InodePtr keep = f.mkdir(root, "keep");
    REQUIRE(f.tree.set_lifetime(*keep, Lifetime::mount) == 0);
    InodePtr c1 = f.file(root, "c1");
    InodePtr c2 = f.file(root, "c2");
    f.hard_link(c2, keep->ino, "c2-again");  // one file, two names: counted once
    InodePtr m1 = f.file(keep->ino, "m1");
    f.make(root, "link", S_IFLNK | 0777, "t");
    f.make(root, "fifo", S_IFIFO | 0600);
    f.mkdir(keep->ino, "sub");
    InodePtr anon = f.make(root, spoolfs::anonymous_name, reg);

    auto census = f.tree.census();
    CHECK(census.close == 2);
    CHECK(census.mount == 1);
    CHECK(census.files == 4);  // the anonymous file has data too

    REQUIRE(f.tree.unlink(root, "c1") == 0);
    census = f.tree.census();
    CHECK(census.close == 1);
    CHECK(census.files == 4);  // still held by a lookup
    f.tree.forget(c1->ino, 1);
    census = f.tree.census();
    CHECK(census.files == 3);

    REQUIRE(f.tree.set_lifetime(*m1, Lifetime::close) == 0);
    census = f.tree.census();
    CHECK(census.close == 2);
    CHECK(census.mount == 0);

    // A name gone and back (rename over, link again) keeps the counts true.
    REQUIRE(f.tree.unlink(root, "c2") == 0);
    census = f.tree.census();
    CHECK(census.close == 2);  // c2 keeps its other name
    REQUIRE(f.tree.unlink(keep->ino, "c2-again") == 0);
    census = f.tree.census();
    CHECK(census.close == 1);
    REQUIRE(f.tree.rename(keep->ino, "m1", root, "m1", 0) == 0);
    census = f.tree.census();
    CHECK(census.close == 1);
    CHECK(census.mount == 0);
}

// A directory removed while looked up can outlive its parent: readdir must not reach
// for the freed parent (it threw std::out_of_range before 2282ea1).
TEST_CASE("readdir of a removed directory whose parent was freed", "[tree][readdir]") {
    Fixture f;
    InodePtr a = f.mkdir(root, "a");
    InodePtr b = f.mkdir(a->ino, "b");
    REQUIRE(f.tree.rmdir(a->ino, "b") == 0);
    REQUIRE(f.tree.rmdir(root, "a") == 0);
    f.tree.forget(a->ino, 1);
    REQUIRE(f.tree.find(a->ino) == nullptr);
    REQUIRE(f.tree.find(b->ino) == b);

    int err = -1;
    std::vector<std::string> seen;
    CHECK_NOTHROW(err =
                      f.tree.readdir(b->ino, 0, [&](std::string_view name, Inode&, std::uint64_t) {
                          seen.emplace_back(name);
                          return true;
                      }));
    CHECK((err == 0 || err == ENOENT));
    CHECK(seen.size() <= 2);  // at most "." and ".."
}

// --- Expiry: Tree::expire_batch at chosen times, with times set directly.

namespace {

timespec at(std::int64_t seconds_from_now) {
    timespec t = spoolfs::now();
    t.tv_sec += seconds_from_now;
    return t;
}

// One whole pass at `when`, in batches of `budget`; the names removed, sorted.
std::vector<std::tuple<Ino, Ino, std::string>> expire_pass(Tree& tree, const timespec& when,
                                                           std::size_t budget = 4096) {
    std::vector<Removal> removed;
    std::size_t cursor = 0;
    for (int batches = 0; batches < 100000; ++batches) {
        Tree::ExpiryBatch done = tree.expire_batch(cursor, when, budget);
        for (Removal& r : done.removed) removed.push_back(std::move(r));
        if (done.pass_done) return as_tuples(removed);
    }
    FAIL("the pass never ended");
    return {};
}

// Every time of `inode` set `seconds` back.
void age(Inode& inode, std::int64_t seconds) {
    timespec t = spoolfs::now();
    t.tv_sec -= seconds;
    inode.atime = inode.mtime = inode.ctime = t;
}

Tree::Config expiring(std::chrono::seconds expire) {
    Tree::Config config = mount_lifetime();
    config.expire = expire;
    return config;
}

}  // namespace

TEST_CASE("expiry removes closed files, symlinks and empty directories once old, nothing else") {
    using namespace std::chrono_literals;
    Fixture f(expiring(2s));
    InodePtr a = f.file(root, "a");
    InodePtr s = f.make(root, "s", S_IFLNK | 0777, "a");
    InodePtr d = f.mkdir(root, "d");
    InodePtr full = f.mkdir(root, "full");
    InodePtr kept = f.file(full->ino, "kept");
    REQUIRE(f.tree.set_expire(*kept, 0s) == 0);
    InodePtr fifo = f.make(root, "p", S_IFIFO | 0644);
    InodePtr open = f.file(root, "o");
    REQUIRE(f.tree.open(*open) == 0);
    CHECK(f.tree.expire(*a) == 2s);
    CHECK(f.tree.expire(*d) == 2s);

    CHECK(expire_pass(f.tree, at(1)).empty());
    CHECK(f.tree.census().expired == 0);
    const auto removed = expire_pass(f.tree, at(3));
    CHECK(removed == as_tuples({{root, a->ino, "a"}, {root, s->ino, "s"}, {root, d->ino, "d"}}));
    CHECK(f.names(root) == std::vector<std::string>{"full", "p", "o"});
    CHECK(f.names(full->ino) == std::vector<std::string>{"kept"});
    CHECK(nlink(*a) == 0);
    CHECK(nlink(*d) == 0);
    CHECK(f.tree.census().expired == 3);
    // The kernel's lookups keep the inodes until it forgets them.
    CHECK(f.times_freed(a->ino) == 0);
    f.tree.forget(a->ino, 1);
    CHECK(f.times_freed(a->ino) == 1);
    // A non-empty directory, a FIFO, an open file and the root stay however old.
    CHECK(expire_pass(f.tree, at(100000)).empty());
    CHECK(f.tree.find(root) != nullptr);
}

TEST_CASE("expiry: an open file never goes, and its age starts again at its last close") {
    using namespace std::chrono_literals;
    Fixture f(expiring(2s));
    InodePtr o = f.file(root, "o");
    REQUIRE(f.tree.open(*o) == 0);
    age(*o, 100);
    CHECK(expire_pass(f.tree, at(0)).empty());
    CHECK(expire_pass(f.tree, at(1000)).empty());
    REQUIRE(f.tree.open(*o) == 0);
    CHECK(f.tree.release(*o).empty());
    CHECK(expire_pass(f.tree, at(1000)).empty());  // still one handle
    CHECK(f.tree.release(*o).empty());
    CHECK(expire_pass(f.tree, at(1)).empty());     // closed a second ago
    CHECK(expire_pass(f.tree, at(3)) == as_tuples({{root, o->ino, "o"}}));
    CHECK(f.tree.census().expired == 1);
}

TEST_CASE("expiry: the latest of atime, mtime and ctime counts, but not a time ahead") {
    using namespace std::chrono_literals;
    Fixture f(expiring(10s));
    InodePtr read = f.file(root, "read");
    InodePtr written = f.file(root, "written");
    InodePtr ahead = f.file(root, "ahead");
    InodePtr old = f.file(root, "old");
    for (const InodePtr& inode : {read, written, ahead, old}) age(*inode, 100);
    read->atime = at(-5);
    written->mtime = at(-5);
    ahead->mtime = ahead->atime = at(100000);  // utimensat(2) into the future
    CHECK(expire_pass(f.tree, at(0)) ==
          as_tuples({{root, ahead->ino, "ahead"}, {root, old->ino, "old"}}));
    CHECK(f.names(root) == std::vector<std::string>{"read", "written"});
    CHECK(expire_pass(f.tree, at(6)).size() == 2);

    // The extremes utimensat(2) can set: no overflow, and ctime still decides.
    InodePtr extreme = f.file(root, "extreme");
    age(*extreme, 100);
    extreme->mtime = {std::numeric_limits<time_t>::max(), 999999999};
    extreme->atime = {std::numeric_limits<time_t>::min(), 0};
    CHECK(expire_pass(f.tree, at(0)) == as_tuples({{root, extreme->ino, "extreme"}}));
}

TEST_CASE("expiry: a directory's value is inherited by what is created in it later") {
    using namespace std::chrono_literals;
    Fixture f(expiring(2s));
    InodePtr d = f.mkdir(root, "d");
    InodePtr before = f.file(d->ino, "before");
    REQUIRE(f.tree.set_expire(*d, 0s) == 0);
    InodePtr after = f.file(d->ino, "after");
    InodePtr sub = f.mkdir(d->ino, "sub");
    InodePtr s = f.make(root, "s", S_IFLNK | 0777, "x");
    CHECK(f.tree.set_expire(*s, 1s) == EINVAL);
    CHECK(f.tree.expire(*after) == 0s);
    CHECK(f.tree.expire(*sub) == 0s);
    CHECK(f.tree.expire(*before) == 2s);
    CHECK(expire_pass(f.tree, at(3)) ==
          as_tuples({{d->ino, before->ino, "before"}, {root, s->ino, "s"}}));
    CHECK(expire_pass(f.tree, at(100000)).empty());
    CHECK(f.names(d->ino) == std::vector<std::string>{"after", "sub"});

    // A longer value: its files go later than the mount's.
    REQUIRE(f.tree.set_expire(*sub, 60s) == 0);
    InodePtr slow = f.file(sub->ino, "slow");
    CHECK(expire_pass(f.tree, at(3)).empty());
    CHECK(expire_pass(f.tree, at(61)) == as_tuples({{sub->ino, slow->ino, "slow"}}));
}

TEST_CASE("expiry: every name of a file goes, in batches; an inode in use is skipped") {
    using namespace std::chrono_literals;
    Fixture f(expiring(2s));
    InodePtr d1 = f.mkdir(root, "d1");
    InodePtr d2 = f.mkdir(root, "d2");
    InodePtr file = f.file(d1->ino, "f");
    for (int i = 0; i < 2500; ++i) f.hard_link(file, d2->ino, "l" + std::to_string(i));
    REQUIRE(nlink(*file) == 2501);
    {
        std::lock_guard busy(file->mutex);  // a long write, say
        CHECK(expire_pass(f.tree, at(3), 1000).empty());
    }
    const auto removed = expire_pass(f.tree, at(3), 1000);
    CHECK(removed.size() == 2501);
    CHECK(nlink(*file) == 0);
    CHECK(f.names(d1->ino).empty());
    CHECK(f.names(d2->ino).empty());
    CHECK(f.tree.census().expired == 1);
    CHECK(f.tree.inode_count() == 3);  // the root, d1 and d2: the file's names no longer count
}

TEST_CASE("expiry: off by default, and many inodes take many batches") {
    using namespace std::chrono_literals;
    Fixture off(mount_lifetime());
    InodePtr kept = off.file(root, "kept");
    CHECK(off.tree.expire(*kept) == 0s);
    CHECK(expire_pass(off.tree, at(100000)).empty());

    Fixture f(expiring(1s));
    for (int i = 0; i < 3000; ++i) f.file(root, std::to_string(i));
    std::size_t cursor = 0, batches = 0, removed = 0;
    for (bool done = false; !done && batches < 100000; ++batches) {
        Tree::ExpiryBatch batch = f.tree.expire_batch(cursor, at(2), 100);
        removed += batch.removed.size();
        done = batch.pass_done;
    }
    CHECK(removed == 3000);
    CHECK(batches >= 30);
    CHECK(f.entry_count(root) == 0);
}

TEST_CASE("Expiry: a pass removes what expired; passes come a quarter of the duration apart") {
    using namespace std::chrono_literals;
    using spoolfs::Expiry;
    CHECK(Expiry::interval_for(2s) == 500ms);
    CHECK(Expiry::interval_for(0s) == 100ms);
    CHECK(Expiry::interval_for(1h) == 10s);
    Fixture f(expiring(1s));
    spoolfs::Notifier notifier;  // no session: notices are only queued
    Expiry expiry(f.tree, notifier, 1s);
    f.file(root, "a");
    f.mkdir(root, "d");
    CHECK(expiry.pass(at(0)) == 0);
    CHECK(expiry.pass(at(2)) == 2);
    CHECK(f.entry_count(root) == 0);
}
