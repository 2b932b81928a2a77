// The report signal and its ownership (see signal_trigger.h).
#include "src/trigger/signal_trigger.h"

#include <dlfcn.h>
#include <link.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <atomic>
#include <mutex>

#include "src/log.h"

namespace memtrace::signal_trigger {
namespace {

using SigactionFn = int (*)(int, const struct sigaction*, struct sigaction*);

std::atomic<int> g_signo{0};
void (*g_request)() = nullptr;
// True once the program claimed the signal (see the header).
std::atomic<bool> g_program_owns{false};
// True while our handler is the real disposition.
std::atomic<bool> g_installed{false};
// The program's action, double-buffered: writers (under g_mu, never in a
// signal handler) fill the idle buffer and publish its index; the handler
// reads the published one.
struct sigaction g_chain[2];
std::atomic<int> g_chain_index{0};
std::mutex g_mu;
std::atomic<SigactionFn> g_real{nullptr};
std::atomic<bool> g_told{false};
// The Go runtime's C wrapper for sigaction (cgo programs): it installs Go's
// handler for every signal at start-up, which is no claim on ours.
uintptr_t g_go_sigaction_lo = 0, g_go_sigaction_hi = 0;

void FindGoRuntime() {
  void* f = dlsym(RTLD_DEFAULT, "x_cgo_sigaction");
  if (f == nullptr) return;
  Dl_info info{};
  void* extra = nullptr;
  const auto* sym = static_cast<const ElfW(Sym)*>(nullptr);
  if (dladdr1(f, &info, &extra, RTLD_DL_SYMENT) != 0 && (sym = static_cast<const ElfW(Sym)*>(extra)) != nullptr) {
    g_go_sigaction_lo = reinterpret_cast<uintptr_t>(f);
    g_go_sigaction_hi = g_go_sigaction_lo + (sym->st_size > 0 ? sym->st_size : 256);
  }
}

SigactionFn Real() {
  SigactionFn fn = g_real.load(std::memory_order_acquire);
  if (fn == nullptr) {
    fn = reinterpret_cast<SigactionFn>(dlsym(RTLD_NEXT, "sigaction"));
    g_real.store(fn, std::memory_order_release);
  }
  return fn;
}

bool IsHandler(const struct sigaction& a) {
  if ((a.sa_flags & SA_SIGINFO) != 0) return a.sa_sigaction != nullptr;
  return a.sa_handler != SIG_DFL && a.sa_handler != SIG_IGN && a.sa_handler != nullptr;
}

// Said once, when someone outside sends the signal the program owns (they
// probably wanted a report). Not when the program signals itself (a JVM uses
// SIGUSR2 between its own threads). Async-signal-safe: Log is write(2).
void TellOnce(int signo, const siginfo_t* info) {
  if (info != nullptr && (info->si_code == SI_TKILL || info->si_pid == getpid())) return;
  if (g_told.exchange(true)) return;
  MT_LOG_WARN("the program handles signal %d itself, so it does not ask for a report: use `memtrace dump %d`",
              signo, static_cast<int>(getpid()));
}

void Handler(int sig, siginfo_t* info, void* ctx) {
  int saved_errno = errno;
  bool cookie = info != nullptr && info->si_code == SI_QUEUE && info->si_value.sival_int == kCookie;
  struct sigaction chain = g_chain[g_chain_index.load(std::memory_order_acquire)];
  if (cookie || !g_program_owns.load(std::memory_order_acquire)) {
    if (g_request != nullptr) g_request();
    errno = saved_errno;
    // A runtime that took the signal behind our back (see RetakeIfReplaced)
    // still gets it, as it did before we were put back in front.
    if (!cookie && IsHandler(chain)) {
      if ((chain.sa_flags & SA_SIGINFO) != 0) chain.sa_sigaction(sig, info, ctx);
      else chain.sa_handler(sig);
    }
    return;
  }
  TellOnce(sig, info);
  if ((chain.sa_flags & SA_RESETHAND) != 0) {
    // A one-shot handler: the disposition is back to the default as it runs.
    struct sigaction dfl{};
    dfl.sa_handler = SIG_DFL;
    if (SigactionFn real = g_real.load(std::memory_order_acquire)) real(sig, &dfl, nullptr);
    g_installed.store(false, std::memory_order_release);
  }
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

// Our handler in front of the program's: with exactly its mask and flags
// (SA_RESTART or not, SA_ONSTACK, SA_NODEFER), minus the one-shot flag we
// emulate. When we own the signal: SA_RESTART, so a report request never
// makes a system call of the program fail with EINTR.
struct sigaction OurAction(const struct sigaction* program) {
  struct sigaction ours{};
  ours.sa_sigaction = &Handler;
  sigemptyset(&ours.sa_mask);
  ours.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
  if (program != nullptr) {
    ours.sa_mask = program->sa_mask;
    ours.sa_flags = (program->sa_flags & ~SA_RESETHAND) | SA_SIGINFO;
  }
  return ours;
}

}  // namespace

int RealSigaction(int signo, const struct sigaction* act, struct sigaction* oact) {
  SigactionFn fn = Real();
  if (fn == nullptr) {
    errno = ENOSYS;
    return -1;
  }
  return fn(signo, act, oact);
}

bool Install(int signo, void (*request)()) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_request = request;
  FindGoRuntime();
  struct sigaction current{};
  if (RealSigaction(signo, nullptr, &current) != 0) return false;
  SetChainLocked(current);
  g_signo.store(signo, std::memory_order_release);
  if (IsHandler(current) || ((current.sa_flags & SA_SIGINFO) == 0 && current.sa_handler == SIG_IGN)) {
    // Already the program's (SIG_IGN inherited across exec, or a handler
    // installed by a constructor that ran before ours).
    g_program_owns.store(true, std::memory_order_release);
    if (IsHandler(current)) {
      struct sigaction ours = OurAction(&current);
      if (RealSigaction(signo, &ours, nullptr) == 0) g_installed.store(true, std::memory_order_release);
    }
    MT_LOG_INFO("signal %d belongs to the program; reports through `memtrace dump %d`", signo,
                static_cast<int>(getpid()));
    return false;
  }
  struct sigaction ours = OurAction(nullptr);
  if (RealSigaction(signo, &ours, nullptr) != 0) {
    MT_LOG_WARN("cannot install the report signal handler (%d); use memtrace dump or MEMTRACE_INTERVAL", signo);
    return false;
  }
  g_installed.store(true, std::memory_order_release);
  return true;
}

int Signal() { return g_signo.load(std::memory_order_acquire); }

void RetakeIfReplaced() {
  int signo = g_signo.load(std::memory_order_acquire);
  if (signo == 0 || g_program_owns.load(std::memory_order_acquire) || !g_installed.load(std::memory_order_acquire)) {
    return;
  }
  struct sigaction cur{};
  if (RealSigaction(signo, nullptr, &cur) != 0) return;
  if ((cur.sa_flags & SA_SIGINFO) != 0 && cur.sa_sigaction == &Handler) return;
  std::unique_lock<std::mutex> lock(g_mu, std::try_to_lock);
  if (!lock.owns_lock()) return;  // someone is changing it right now; next time
  // Replaced behind our back (a raw rt_sigaction, as the Go runtime does for
  // every signal at start-up): back in front, chaining to it, with its flags.
  SetChainLocked(cur);
  struct sigaction ours = OurAction(&cur);
  RealSigaction(signo, &ours, nullptr);
}

bool Intercept(int signo, const struct sigaction* act, struct sigaction* oact, const void* caller) {
  if (signo <= 0 || signo != g_signo.load(std::memory_order_acquire)) return false;
  std::lock_guard<std::mutex> lock(g_mu);
  if (oact != nullptr) *oact = g_chain[g_chain_index.load(std::memory_order_relaxed)];
  if (act == nullptr) return true;
  SetChainLocked(*act);
  uintptr_t from = reinterpret_cast<uintptr_t>(caller);
  if (from >= g_go_sigaction_lo && from < g_go_sigaction_hi && IsHandler(*act) &&
      !g_program_owns.load(std::memory_order_acquire)) {
    // Go's runtime taking every signal at start-up: we stay in front and
    // chain to it, the signal stays ours for reports.
    struct sigaction ours = OurAction(act);
    if (RealSigaction(signo, &ours, nullptr) == 0) g_installed.store(true, std::memory_order_release);
    return true;
  }
  g_program_owns.store(true, std::memory_order_release);
  if (IsHandler(*act)) {
    // Stay in front (to recognise queued report requests), as the program asked.
    struct sigaction ours = OurAction(act);
    if (RealSigaction(signo, &ours, nullptr) == 0) g_installed.store(true, std::memory_order_release);
  } else {
    // SIG_IGN or SIG_DFL: exactly that, for real (and across exec).
    RealSigaction(signo, act, nullptr);
    g_installed.store(false, std::memory_order_release);
  }
  return true;
}

}  // namespace memtrace::signal_trigger
