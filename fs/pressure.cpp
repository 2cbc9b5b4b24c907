#include "pressure.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <limits>
#include <string_view>
#include <vector>

#include "storage.hpp"

namespace spoolfs {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::uint64_t unknown = std::numeric_limits<std::uint64_t>::max();
// cgroup v1 shows "no limit" as the largest page-aligned long.
constexpr std::uint64_t no_limit = 1ull << 62;

std::string read_text(const std::string& path) {
    tempfile::FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    std::string text;
    if (!fd) return text;
    char buf[4096];
    while (true) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n <= 0) return text;
        text.append(buf, static_cast<std::size_t>(n));
    }
}

std::uint64_t parse_u64(std::string_view text) {
    while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
    std::uint64_t value = 0;
    auto [end, err] = std::from_chars(text.data(), text.data() + text.size(), value);
    return err == std::errc() && end != text.data() ? value : unknown;
}

// The number after `key` in "key value" or "key=value" text (meminfo, memory.stat, PSI).
std::uint64_t field(std::string_view text, std::string_view key) {
    for (std::size_t at = 0; (at = text.find(key, at)) != std::string_view::npos;
         at += key.size()) {
        if (at != 0 && text[at - 1] != '\n' && text[at - 1] != ' ') continue;
        std::size_t value = at + key.size();
        if (value < text.size() && (text[value] == ' ' || text[value] == '=' || text[value] == ':'))
            return parse_u64(text.substr(value + 1));
    }
    return unknown;
}

std::uint64_t file_number(const std::string& path) {
    std::string text = read_text(path);
    if (text.rfind("max", 0) == 0) return no_limit;  // v2's memory.max
    return parse_u64(text);
}

// The PSI "some" total (microseconds) of a pressure file; unknown if unreadable.
std::uint64_t some_total(const std::string& path) {
    std::string text = read_text(path);
    std::size_t line_end = text.find('\n');
    return text.rfind("some ", 0) == 0 ? field(text.substr(0, line_end), "total") : unknown;
}

struct Cgroup {
    std::string dir;  // the daemon's own memory cgroup
    std::string root;
    bool v2 = false;
};

// From /proc/self/cgroup: the v1 memory hierarchy's line, else the v2 one.
std::optional<Cgroup> own_cgroup() {
    std::string text = read_text("/proc/self/cgroup");
    std::optional<Cgroup> v2;
    for (std::size_t at = 0; at < text.size();) {
        std::size_t end = text.find('\n', at);
        if (end == std::string::npos) end = text.size();
        std::string_view line(text.data() + at, end - at);
        at = end + 1;
        std::size_t first = line.find(':'), second = line.find(':', first + 1);
        if (first == std::string_view::npos || second == std::string_view::npos) continue;
        std::string_view controllers = line.substr(first + 1, second - first - 1);
        std::string path(line.substr(second + 1));
        if (path == "/") path.clear();
        if (controllers.empty() && line.substr(0, first) == "0") {
            v2 = Cgroup{"/sys/fs/cgroup" + path, "/sys/fs/cgroup", true};
            continue;
        }
        for (std::size_t c = 0; c <= controllers.size();) {
            std::size_t comma = std::min(controllers.find(',', c), controllers.size());
            if (controllers.substr(c, comma - c) == "memory")
                return Cgroup{"/sys/fs/cgroup/memory" + path, "/sys/fs/cgroup/memory", false};
            c = comma + 1;
        }
    }
    if (v2 && ::access((v2->dir + "/memory.current").c_str(), R_OK) == 0) return v2;
    return std::nullopt;
}

}  // namespace

std::uint64_t PressurePolicy::low_mark(std::uint64_t limit) {
    return std::clamp(limit / 8, min_low_mark, max_low_mark);
}

std::uint64_t PressurePolicy::next(const MemorySample& sample, std::uint64_t resident,
                                   Clock::time_point now) {
    std::uint64_t headroom =
        std::min(sample.available.value_or(unknown), sample.cgroup_headroom.value_or(unknown));
    const std::uint64_t low = low_mark(sample.limit), high = 2 * low;
    const auto elapsed =
        static_cast<std::uint64_t>(std::max<std::int64_t>(sample.elapsed.count(), 0));
    // A stall elsewhere on the machine is ours to ease only when the machine is short too:
    // another cgroup thrashing within its own limit gains nothing from our RAM.
    std::uint64_t stall = sample.cgroup_stall_us;
    if (sample.available.value_or(unknown) < 2 * high)
        stall = std::max(stall, sample.system_stall_us);
    const bool stalling = elapsed > 0 && stall * 1000 >= stall_permille * elapsed;
    const std::uint64_t held = std::min(budget_, resident);

    if (headroom < low) {
        level_ = PressureLevel::short_of_memory;
        // From what RAM holds, not from the budget: the same sample before the files
        // have moved asks for no more.
        budget_ = std::min(budget_, resident - std::min(resident, high - headroom));
        last_change_ = now;
    }
    if (stalling && now - last_stall_drop_ >= stall_drop_interval) {
        level_ = PressureLevel::stalling;
        budget_ = std::min(budget_, held / 4 * 3);
        last_change_ = last_stall_drop_ = now;
    }
    if (headroom >= low && !stalling) {
        if (budget_ < ceiling_ && headroom >= high && now - last_change_ >= grow_delay) {
            budget_ += std::min({ceiling_ / 8, headroom - high, ceiling_ - budget_});
            last_change_ = now;
        }
        level_ = budget_ < ceiling_ ? PressureLevel::easing : PressureLevel::none;
    }
    watchful_ = budget_ < ceiling_ || headroom < 2 * high;
    return budget_;
}

MemorySampler::MemorySampler() : last_(Clock::now()) {
    // 100 ms of stalls within 1 s wakes the monitor at once (root may ask for windows
    // under 2 s; others get none and sample on the clock alone).
    tempfile::FileDescriptor psi(::open("/proc/pressure/memory", O_RDWR | O_NONBLOCK | O_CLOEXEC));
    static constexpr char trigger[] = "some 100000 1000000";
    if (psi && ::write(psi.get(), trigger, sizeof trigger) == static_cast<ssize_t>(sizeof trigger))
        trigger_ = std::move(psi);
    sample();  // the PSI totals to count from
}

MemorySample MemorySampler::sample() {
    MemorySample s;
    Clock::time_point now = Clock::now();
    s.elapsed = std::chrono::duration_cast<std::chrono::microseconds>(now - last_);
    last_ = now;

    std::string meminfo = read_text("/proc/meminfo");
    std::uint64_t total_kib = field(meminfo, "MemTotal"),
                  available_kib = field(meminfo, "MemAvailable");
    s.limit = total_kib != unknown ? total_kib << 10 : unknown;
    if (available_kib != unknown) s.available = available_kib << 10;

    const auto stall_since = [](std::uint64_t total, std::uint64_t& last) {
        if (total == unknown) return std::uint64_t(0);
        std::uint64_t delta = last != unknown && total >= last ? total - last : 0;
        last = total;
        return delta;
    };
    s.system_stall_us = stall_since(some_total("/proc/pressure/memory"), last_system_total_);

    if (std::optional<Cgroup> cgroup = own_cgroup()) {
        if (cgroup->v2)
            s.cgroup_stall_us =
                stall_since(some_total(cgroup->dir + "/memory.pressure"), last_cgroup_total_);
        // A limit on an ancestor binds as well as the cgroup's own.
        for (std::string dir = cgroup->dir; dir.size() > cgroup->root.size();
             dir.resize(dir.rfind('/'))) {
            std::uint64_t limit =
                file_number(dir + (cgroup->v2 ? "/memory.max" : "/memory.limit_in_bytes"));
            if (limit >= no_limit) continue;
            std::uint64_t usage =
                file_number(dir + (cgroup->v2 ? "/memory.current" : "/memory.usage_in_bytes"));
            std::uint64_t cache = field(read_text(dir + "/memory.stat"),
                                        cgroup->v2 ? "inactive_file" : "total_inactive_file");
            if (usage == unknown) continue;
            if (cache != unknown) usage -= std::min(usage, cache);
            std::uint64_t headroom = limit - std::min(limit, usage);
            s.cgroup_headroom = std::min(s.cgroup_headroom.value_or(unknown), headroom);
            s.limit = std::min(s.limit, limit);
        }
    }
    return s;
}

PressureMonitor::PressureMonitor(Storage& storage, bool enabled, std::uint64_t ceiling)
    : storage_(storage), enabled_(enabled), ceiling_(ceiling), budget_(ceiling) {}

void PressureMonitor::start() {
    if (!enabled_) return;
    wake_ = tempfile::FileDescriptor(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!wake_) return;
    thread_ = std::jthread([this](std::stop_token stop) { run(stop); });
}

void PressureMonitor::stop() {
    if (!thread_.joinable()) return;
    thread_.request_stop();
    std::uint64_t one = 1;
    if (::write(wake_.get(), &one, sizeof one) != sizeof one) {
        // A full counter has the thread awake already.
    }
    thread_.join();
}

void PressureMonitor::run(std::stop_token stop) {
    MemorySampler sampler;
    PressurePolicy policy(ceiling_);
    while (!stop.stop_requested()) {
        MemorySample sample = sampler.sample();
        std::uint64_t budget = policy.next(sample, storage_.usage().ram, Clock::now());
        budget_.store(budget, std::memory_order_relaxed);
        level_.store(static_cast<std::uint64_t>(policy.level()), std::memory_order_relaxed);
        storage_.set_ram_limit(budget);
        if (storage_.usage().ram > budget) {
            Storage::Relief relief = storage_.relieve();
            moved_bytes_.fetch_add(relief.bytes, std::memory_order_relaxed);
            moved_files_.fetch_add(relief.files, std::memory_order_relaxed);
        }
        pollfd fds[2] = {{wake_.get(), POLLIN, 0}, {sampler.trigger_fd(), POLLPRI, 0}};
        auto wait = policy.watchful() ? tight_interval : calm_interval;
        ::poll(fds, sampler.trigger_fd() >= 0 ? 2 : 1, static_cast<int>(wait.count()));
    }
}

}  // namespace spoolfs
