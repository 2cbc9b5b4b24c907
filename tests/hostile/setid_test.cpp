// Issue 10, item 4: set-id bits die as on tmpfs, and what the kernel caches changes at the
// same moment: B's write or truncate of A's set-id file, and root's chown (pjdfstest
// chown/00.t), give the mode tmpfs gives, seen by a stat right away (no sleep). With
// passthrough=off and with the default options (where the kernel may write the file
// directly).
#include <catch2/catch.hpp>

#include "hostile_fixture.hpp"

using namespace hostile;

namespace {

const char* options() {
    return GENERATE("lifetime=mount,passthrough=off", "lifetime=mount");
}

enum class How { write, ftruncate, truncate, write_opened_before };

const char* name_of(How h) {
    switch (h) {
        case How::write: return "write";
        case How::ftruncate: return "ftruncate";
        case How::truncate: return "truncate";
        case How::write_opened_before: return "write through a descriptor opened before the chmod";
    }
    return "?";
}

// B modifies A's file of `mode` and stats it at once; root stats it afterwards.
Record modify_as_b(const Target& t, mode_t mode, How how) {
    const std::string path = t / "prog";
    make_file(path, kUserA, how == How::write_opened_before ? 0777 : mode, "#!/bin/sh\n");
    Shared<Record> r;
    // For the last case, B opens the file while it is plain 0777 (so a passthrough
    // daemon may hand it to the kernel), then A makes it set-id, then B writes.
    int ready[2], go[2];
    REQUIRE(::pipe(ready) == 0);
    REQUIRE(::pipe(go) == 0);
    Child b(kUserB, [&] {
        Fd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
        if (!fd && how != How::truncate) return 1;
        char c = 1;
        [[maybe_unused]] auto w = ::write(ready[1], &c, 1);
        if (::read(go[0], &c, 1) != 1) return 2;
        switch (how) {
            case How::write:
            case How::write_opened_before: r->result(::pwrite(fd.get(), "x", 1, 0), "write"); break;
            case How::ftruncate: r->result(::ftruncate(fd.get(), 1), "ftruncate"); break;
            case How::truncate: r->result(::truncate(path.c_str(), 1), "truncate"); break;
        }
        struct stat st {};
        r->result(fd ? ::fstat(fd.get(), &st) : ::stat(path.c_str(), &st), "B's stat");
        r->add(st.st_mode & 07777, "mode B sees at once");
        r->result(::stat(path.c_str(), &st), "B's stat by path");
        r->add(st.st_mode & 07777, "mode by path");
        return 0;
    }, &t);
    char c = 0;
    ::close(ready[1]);
    ::close(go[0]);
    const bool opened = ::read(ready[0], &c, 1) == 1;
    ::close(ready[0]);
    if (opened && how == How::write_opened_before) ::chmod(path.c_str(), mode);
    [[maybe_unused]] auto w = ::write(go[1], &c, 1);
    ::close(go[1]);
    const auto code = b.wait(5s);
    if (!code) t.abort_connection();
    r->add(code.value_or(kHung), "B's exit");
    r->add(mode_of(path), "mode root sees");
    ::unlink(path.c_str());
    return *r;
}

}  // namespace

TEST_CASE("hostile: another user's write or truncate clears set-id bits as on tmpfs, at once",
          "[setid]") {
    const char* opts = options();
    const mode_t mode = GENERATE(04777, 02777, 06777, 02767, 06767, 04755 | 0022);
    const How how = GENERATE(How::write, How::ftruncate, How::truncate, How::write_opened_before);
    INFO("spoolfs -o " << opts << "; mode 0" << std::oct << mode << std::dec << "; B's " << name_of(how));
    Both b(opts);
    const Record tm = modify_as_b(b.tmpfs(), mode, how);
    const Record sp = modify_as_b(b.spoolfs(), mode, how);
    INFO("tmpfs:   " << tm.str());
    INFO("spoolfs: " << sp.str());
    INFO("differences:\n" << tm.differences(sp));
    REQUIRE(tm.v[0] >= 0);
    CHECK(sp == tm);
    CHECK((sp.v[2] & S_ISUID) == 0);  // whatever else, set-user-ID is gone for B's eyes
}

TEST_CASE("hostile: root's chown of a set-id file gives tmpfs's mode (pjdfstest chown/00.t)",
          "[setid][chown]") {
    const char* opts = options();
    const mode_t mode = GENERATE(06555, 06444, 04755, 02755);
    const bool dir = GENERATE(false, true);
    INFO("spoolfs -o " << opts << "; " << (dir ? "directory" : "regular file") << " of mode 0"
                       << std::oct << mode);
    Both b(opts);
    struct Chown {
        const char* what;
        uid_t uid;
        gid_t gid;
    };
    const uid_t none = static_cast<uid_t>(-1);
    for (const Chown& c : {Chown{"chown(B, -1)", kUserB, none}, Chown{"chown(-1, B)", none, kUserB},
                           Chown{"chown(-1, -1)", none, none}, Chown{"chown(A, A) (same)", kUserA, kUserA}}) {
        Record r[2];
        int i = 0;
        for (const Target& t : b.both()) {
            const std::string path = t / "obj";
            if (dir) {
                REQUIRE(::mkdir(path.c_str(), 0700) == 0);
                REQUIRE(::chown(path.c_str(), kUserA, kUserA) == 0);
                REQUIRE(::chmod(path.c_str(), mode) == 0);
            } else {
                make_file(path, kUserA, mode);
            }
            r[i].add(mode_of(path), "mode before");
            r[i].result(::chown(path.c_str(), c.uid, c.gid), c.what);
            r[i].add(mode_of(path), "mode after, at once");
            r[i].add(stat_or_throw(path).st_uid, "uid");
            r[i].add(stat_or_throw(path).st_gid, "gid");
            // And as another process sees it.
            Shared<Record> seen;
            r[i].add(run_bounded(t, kUserB, [&] {
                struct stat st {};
                seen->result(::stat(path.c_str(), &st));
                seen->add(st.st_mode & 07777);
                return 0;
            }), "B's stat");
            r[i].add(seen->v[1], "mode B sees");
            dir ? ::rmdir(path.c_str()) : ::unlink(path.c_str());
            ++i;
        }
        INFO(c.what << "\ntmpfs:   " << r[0].str() << "\nspoolfs: " << r[1].str() << "\ndifferences:\n"
                    << r[0].differences(r[1]));
        CHECK(r[1] == r[0]);
    }
}

TEST_CASE("hostile: the owner's own chown to its group clears set-id bits as on tmpfs",
          "[setid][chown]") {
    const char* opts = options();
    INFO("spoolfs -o " << opts);
    Both b(opts);
    Record r[2];
    int i = 0;
    for (const Target& t : b.both()) {
        make_file(t / "mine", kUserA, 06755);
        Shared<Record> rec;
        r[i].add(run_bounded(t, kUserA, [&] {
            rec->result(::chown((t / "mine").c_str(), static_cast<uid_t>(-1), kUserA));
            struct stat st {};
            ::stat((t / "mine").c_str(), &st);
            rec->add(st.st_mode & 07777);
            return 0;
        }), "A's exit");
        r[i].add(rec->v[0], "chown(-1, A)");
        r[i].add(rec->v[1], "mode A sees at once");
        r[i].add(mode_of(t / "mine"), "mode root sees");
        ++i;
    }
    INFO("tmpfs:   " << r[0].str() << "\nspoolfs: " << r[1].str());
    CHECK(r[1] == r[0]);
}
