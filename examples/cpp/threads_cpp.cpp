// threads_cpp.cpp - libsampler from C++.
//
// sampler.h is a C header with `extern "C"` guards, so C++ includes it as is.
// This example wraps the C API in two small RAII classes:
//
//   Sampler          starts the sampler in its constructor, stops it in its
//                    destructor (so an exception cannot leave it running);
//   ThreadRegistration registers the calling thread for the lifetime of a
//                    scope.
//
// Errors become exceptions carrying sampler_strerror()'s text. Three
// std::thread workers burn 1, 2 and 3 units of CPU; the main thread drains the
// samples with a lambda and prints each worker's share of the sampled weight
// next to its share of the measured CPU time.
//
// Usage: threads_cpp [seconds]

#include <sampler.h>

#include <time.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

// Every libsampler failure is a negative code; make it an exception.
class SamplerError : public std::runtime_error {
  public:
    SamplerError(const std::string &what, int code)
        : std::runtime_error(what + ": " + sampler_strerror(code) + " (" +
                             sampler_err_name(code) + ")"),
          code_(code)
    {
    }
    int code() const noexcept { return code_; }

  private:
    int code_;
};

int check(int rc, const char *what)
{
    if (rc < 0)
        throw SamplerError(what, rc);
    return rc;
}

// Owns a running sampler. Only one can exist at a time (the library has one
// global sampler); a second would throw SAMPLER_ESTARTED.
class Sampler {
  public:
    explicit Sampler(std::chrono::nanoseconds interval)
    {
        sampler_config cfg;
        check(sampler_config_init(&cfg, sizeof cfg), "sampler_config_init");
        cfg.interval_ns = static_cast<std::uint64_t>(interval.count());
        check(sampler_start(&cfg), "sampler_start");
    }
    ~Sampler()
    {
        // Destructors must not throw; stop() can be called explicitly to see
        // the error.
        if (sampler_state() != SAMPLER_STATE_STOPPED)
            sampler_stop();
    }
    Sampler(const Sampler &) = delete;
    Sampler &operator=(const Sampler &) = delete;

    void stop() { check(sampler_stop(), "sampler_stop"); }

    // Hand every buffered sample to `fn` (any callable taking
    // const sampler_sample &). The C callback is a captureless lambda that
    // forwards to `fn` through the void * argument.
    template <typename Fn> int drain(Fn &fn)
    {
        auto trampoline = [](const sampler_sample *s, void *arg) -> int {
            (*static_cast<Fn *>(arg))(*s);
            return 0;
        };
        return check(sampler_drain(trampoline, &fn, 0), "sampler_drain");
    }

    static sampler_stats stats()
    {
        sampler_stats st;
        check(sampler_get_stats(&st, sizeof st), "sampler_get_stats");
        return st;
    }
};

// Registers the calling thread for the lifetime of the object. `arg` comes
// back as sample.thread_arg.
class ThreadRegistration {
  public:
    explicit ThreadRegistration(void *arg)
    {
        check(sampler_thread_register(arg), "sampler_thread_register");
    }
    ~ThreadRegistration() { sampler_thread_unregister(); }
    ThreadRegistration(const ThreadRegistration &) = delete;
    ThreadRegistration &operator=(const ThreadRegistration &) = delete;
};

std::uint64_t thread_cpu_ns()
{
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000u +
           static_cast<std::uint64_t>(ts.tv_nsec);
}

struct Worker {
    std::string name;
    int units = 0;
    std::uint64_t cpu_ns = 0;  // measured CPU time while registered
    std::string error;         // set if the worker's registration failed
    std::uint64_t samples = 0; // filled by the consumer
    std::uint64_t weight = 0;
};

std::atomic<bool> stop_flag{false};

// Joins the workers however the scope is left: a joinable std::thread that is
// destroyed calls std::terminate(). Declared after the Sampler, so the
// workers are gone before the sampler stops.
struct JoinAll {
    std::vector<std::thread> threads;
    JoinAll() = default;
    JoinAll(const JoinAll &) = delete;
    JoinAll &operator=(const JoinAll &) = delete;
    void join()
    {
        stop_flag = true;
        for (auto &t : threads)
            if (t.joinable())
                t.join();
    }
    ~JoinAll() { join(); }
};

// Each round: burn `units` ms of CPU, then sleep 2-6 ms.
__attribute__((noinline)) std::uint64_t burn(std::uint64_t x, std::uint64_t ns)
{
    const std::uint64_t end = thread_cpu_ns() + ns;
    do {
        for (int i = 0; i < 4096; i++)
            x = x * 6364136223846793005ull + 1442695040888963407ull;
    } while (thread_cpu_ns() < end);
    return x;
}

void worker_main(Worker *w)
{
    try {
        ThreadRegistration reg(w); // unregistered when `reg` goes out of scope
        const std::uint64_t cpu0 = thread_cpu_ns();
        std::uint64_t x = 1;
        std::minstd_rand rng(static_cast<unsigned>(w->units));
        std::uniform_int_distribution<int> nap_us(2000, 6000);
        while (!stop_flag.load(std::memory_order_relaxed)) {
            x = burn(x, static_cast<std::uint64_t>(w->units) * 1000000u);
            // Random naps: CPU-clock timers are checked only at the scheduler
            // tick, and a thread on a fixed period can phase-lock with the
            // tick and go unsampled (see threads.c).
            std::this_thread::sleep_for(std::chrono::microseconds(nap_us(rng)));
        }
        w->cpu_ns = thread_cpu_ns() - cpu0;
        if (x == 42)
            std::puts("(lucky)");
    } catch (const SamplerError &e) {
        w->error = e.what();
    }
}

} // namespace

int main(int argc, char **argv)
{
    const double seconds = argc > 1 ? std::atof(argv[1]) : 1.5;
    if (!(seconds > 0 && seconds < 3600)) {
        std::fprintf(stderr, "usage: threads_cpp [seconds]\n");
        return 2;
    }
    std::vector<Worker> workers(3);
    for (std::size_t i = 0; i < workers.size(); i++) {
        workers[i].name = "cpp-worker-" + std::to_string(i + 1);
        workers[i].units = static_cast<int>(i + 1);
    }

    try {
        Sampler sampler(std::chrono::milliseconds(1));
        std::printf("libsampler %s from C++: %zu std::threads, %.1f s, interval 1 ms\n",
                    sampler_version_string(), workers.size(), seconds);

        JoinAll threads;
        for (auto &w : workers)
            threads.threads.emplace_back(worker_main, &w);

        std::uint64_t total_weight = 0;
        auto on_sample = [&](const sampler_sample &s) {
            total_weight += s.weight;
            if (auto *w = static_cast<Worker *>(s.thread_arg)) {
                w->samples++;
                w->weight += s.weight;
            }
        };
        const auto end = std::chrono::steady_clock::now() +
                         std::chrono::duration<double>(seconds);
        while (std::chrono::steady_clock::now() < end) {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
            sampler.drain(on_sample);
        }
        threads.join();
        sampler.stop();
        sampler.drain(on_sample); // samples stay readable after stop

        std::uint64_t cpu_total = 0;
        for (const auto &w : workers) {
            if (!w.error.empty())
                throw std::runtime_error(w.name + ": " + w.error);
            cpu_total += w.cpu_ns;
        }
        std::printf("\n%-14s %7s %7s %8s %7s %6s\n", "thread", "samples", "weight", "sample%",
                    "cpu%", "diff");
        for (const auto &w : workers) {
            const double ss = total_weight ? 100.0 * w.weight / total_weight : 0.0;
            const double cs = cpu_total ? 100.0 * w.cpu_ns / cpu_total : 0.0;
            std::printf("%-14s %7llu %7llu %7.1f%% %6.1f%% %+6.1f\n", w.name.c_str(),
                        static_cast<unsigned long long>(w.samples),
                        static_cast<unsigned long long>(w.weight), ss, cs, ss - cs);
        }
        const sampler_stats st = Sampler::stats();
        std::printf("stats: signals %llu, samples %llu, overruns %llu, dropped %llu, "
                    "foreign %llu, stale %llu\n",
                    static_cast<unsigned long long>(st.signals),
                    static_cast<unsigned long long>(st.samples),
                    static_cast<unsigned long long>(st.overruns),
                    static_cast<unsigned long long>(st.dropped),
                    static_cast<unsigned long long>(st.foreign),
                    static_cast<unsigned long long>(st.stale));
        if (total_weight == 0)
            throw std::runtime_error("no samples were taken");
    } catch (const std::exception &e) {
        std::fprintf(stderr, "threads_cpp: %s\n", e.what());
        return 1;
    }
    return 0;
}
