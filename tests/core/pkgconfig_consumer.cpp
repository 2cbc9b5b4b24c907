// A program outside the build tree: it sees libtempfile only as installed, through
// <tempfile/tempfile.hpp> and `pkg-config tempfile`. Exits 0 if everything it tries works.
#include <tempfile/tempfile.hpp>

#include <filesystem>
#include <iostream>

int main() {
    namespace fs = std::filesystem;
    fs::path kept;
    {
        tempfile::TemporaryDirectory dir({.prefix = "consumer-"});
        kept = dir.name();

        tempfile::SpooledTemporaryFile spooled({.max_size = 4, .dir = dir.name()});
        spooled.write("four");
        bool stayed_in_ram = !spooled.rolled();
        spooled.write("+1");
        spooled.seek(0);
        bool rolled_with_data = spooled.rolled() && spooled.read() == "four+1";

        tempfile::NamedTemporaryFile named({.suffix = ".txt", .dir = dir.name()});
        named.write("hello");
        bool named_exists = fs::exists(named.name());

        auto [fd, path] = tempfile::mkstemp({.dir = dir.name()});
        bool mkstemp_ok = fd.get() >= 0 && fs::is_regular_file(path);

        tempfile::File anonymous = tempfile::TemporaryFile({.dir = dir.name()});
        bool anonymous_ok = anonymous.write("x") == 1;

        if (!(stayed_in_ram && rolled_with_data && named_exists && mkstemp_ok && anonymous_ok)) {
            std::cerr << "consumer: a check failed\n";
            return 1;
        }
    }
    if (fs::exists(kept)) {
        std::cerr << "consumer: " << kept << " left behind\n";
        return 1;
    }
    std::cout << "consumer: ok (gettempdir() = " << tempfile::gettempdir() << ")\n";
    return 0;
}
