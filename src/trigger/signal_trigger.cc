// The report signal and its chaining (see signal_trigger.h).
#include "src/trigger/signal_trigger.h"

#include <dlfcn.h>
#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <mutex>

#include "src/flush/flusher.h"
#include "src/log.h"

namespace memtrace::signal_trigger {
namespace {

std::atomic<int> g_signo{0};
Flusher* g_flusher = nullptr;
// The chained action, double-buffered: writers (under g_mu, never in a signal
// handler) fill the idle buffer and publish its index; the handler reads the
// published one.
struct sigaction g_chain[2];
std::atomic<int> g_chain_index{0};
std::mutex g_mu;
std::atomic<int (*)(int, const struct sigaction*, struct sigaction*)> g_real{nullptr};

void Handler(int sig, siginfo_t* info, void* ctx) {
  int saved_errno = errno;
  if (g_flusher != nullptr) g_flusher->RequestFromSignal();
  struct sigaction chain = g_chain[g_chain_index.load(std::memory_order_acquire)];
  errno = saved_errno;
  if ((chain.sa_flags & SA_SIGINFO) != 0) {
    if (chain.sa_sigaction != nullptr) chain.sa_sigaction(sig, info, ctx);
  } else if (chain.sa_handler != SIG_DFL && chain.sa_handler != SIG_IGN && chain.sa_handler != nullptr) {
    chain.sa_handler(sig);
  }
}

void SetChainLocked(const struct sigaction& act) {
  int idle = 1 - g_chain_index.load(std::memory_order_relaxed);
  g_chain[idle] = act;
  g_chain_index.store(idle, std::memory_order_release);
}

struct sigaction OurAction(const struct sigaction* like) {
  struct sigaction ours{};
  ours.sa_sigaction = &Handler;
  ours.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
  sigemptyset(&ours.sa_mask);
  if (like != nullptr) {
    // Keep what the program's handler asked for (mask, flags such as
    // SA_ONSTACK for Go), minus what would break chaining.
    ours.sa_mask = like->sa_mask;
    ours.sa_flags |= like->sa_flags & ~(SA_RESETHAND | SA_NODEFER);
    ours.sa_flags |= SA_SIGINFO;
  }
  return ours;
}

}  // namespace

int RealSigaction(int signo, const struct sigaction* act, struct sigaction* oact) {
  auto fn = g_real.load(std::memory_order_acquire);
  if (fn == nullptr) {
    fn = reinterpret_cast<int (*)(int, const struct sigaction*, struct sigaction*)>(dlsym(RTLD_NEXT, "sigaction"));
    if (fn == nullptr) {
      errno = ENOSYS;
      return -1;
    }
    g_real.store(fn, std::memory_order_release);
  }
  return fn(signo, act, oact);
}

bool Install(int signo, Flusher* flusher) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_flusher = flusher;
  struct sigaction old{};
  struct sigaction ours = OurAction(nullptr);
  if (RealSigaction(signo, &ours, &old) != 0) {
    MT_LOG_WARN("cannot install the report signal handler (%d); use memtrace dump or MEMTRACE_INTERVAL", signo);
    return false;
  }
  SetChainLocked(old);
  g_signo.store(signo, std::memory_order_release);
  return true;
}

int Signal() { return g_signo.load(std::memory_order_acquire); }

bool Intercept(int signo, const struct sigaction* act, struct sigaction* oact) {
  if (signo <= 0 || signo != g_signo.load(std::memory_order_acquire)) return false;
  std::lock_guard<std::mutex> lock(g_mu);
  if (oact != nullptr) *oact = g_chain[g_chain_index.load(std::memory_order_relaxed)];
  if (act != nullptr) {
    SetChainLocked(*act);
    // Follow the program's mask and flags for our own installation too.
    struct sigaction ours = OurAction(act);
    RealSigaction(signo, &ours, nullptr);
  }
  return true;
}

void CheckInstalled() {
  int signo = g_signo.load(std::memory_order_acquire);
  if (signo == 0) return;
  std::lock_guard<std::mutex> lock(g_mu);
  struct sigaction cur{};
  if (RealSigaction(signo, nullptr, &cur) != 0) return;
  if ((cur.sa_flags & SA_SIGINFO) != 0 && cur.sa_sigaction == &Handler) return;
  // Replaced behind our back (a raw rt_sigaction, as the Go runtime does):
  // chain to the new handler and take the signal back, with its flags.
  SetChainLocked(cur);
  struct sigaction ours = OurAction(&cur);
  RealSigaction(signo, &ours, nullptr);
  MT_LOG_INFO("signal %d: our handler was replaced; re-installed it, chaining to the new one", signo);
}

}  // namespace memtrace::signal_trigger
