// `unlearn launch -n W [--dist-timeout S] -- <subcommand ...>`: runs W copies of this program on
// this machine, joined over loopback, e.g.
//   unlearn launch -n 2 -- train configs/fmnist_bnn.json --out RUN
// Each copy gets `--world-size W --rank R --rendezvous 127.0.0.1:PORT --dist-timeout S` appended
// (PORT: a free port the kernel picks). Failures propagate: when a rank exits non-zero or is
// killed, the others notice (their next collective fails at once when its sockets close, or after
// the timeout when it hangs) and exit non-zero themselves; launch waits for them at most
// timeout + 10 s, then terminates what is left, and exits with the first failing rank's code
// (1 when it was killed by a signal). Ctrl-C / SIGTERM reach every rank.
#include <signal.h>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <optional>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "commands.h"
#include "unlearn/distributed/cluster.h"
#include "unlearn/io/config_error.h"

namespace unlearn::app {
namespace {

struct LaunchArgs {
  int64_t processes = 2;
  double timeout_s = 60.0;
  std::vector<std::string> command;
};

std::vector<pid_t> g_children;
extern "C" void forward_signal(int sig) {
  for (pid_t pid : g_children) {
    if (pid > 0) ::kill(pid, sig);
  }
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return fmt::format("exited with code {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return fmt::format("was killed by signal {} ({})", WTERMSIG(status), strsignal(WTERMSIG(status)));
  return "stopped";
}

int run_launch(const LaunchArgs& a) {
  if (a.command.empty()) throw io::ConfigError("launch needs a subcommand after --, e.g. -- train CONFIG --out RUN");
  const std::string& sub = a.command.front();
  if (sub != "train" && sub != "forget" && sub != "experiment")
    throw io::ConfigError("launch runs `train`, `forget` or `experiment`, not `" + sub + "`");
  const auto port = distributed::find_free_port("127.0.0.1");
  const std::string rendezvous = fmt::format("127.0.0.1:{}", port);
  fmt::print(stderr, "[launch] {} ranks, rendezvous {}, timeout {} s\n", a.processes, rendezvous, a.timeout_s);
  std::fflush(stderr);
  std::fflush(stdout);

  g_children.assign(a.processes, -1);
  for (int64_t r = 0; r < a.processes; ++r) {
    std::vector<std::string> args{"unlearn"};
    args.insert(args.end(), a.command.begin(), a.command.end());
    for (const auto& extra : {std::string("--world-size"), std::to_string(a.processes), std::string("--rank"),
                              std::to_string(r), std::string("--rendezvous"), rendezvous,
                              std::string("--dist-timeout"), fmt::format("{}", a.timeout_s)}) {
      args.push_back(extra);
    }
    const pid_t pid = ::fork();
    if (pid < 0) {
      forward_signal(SIGTERM);
      throw std::runtime_error("launch: fork failed");
    }
    if (pid == 0) {
      std::vector<char*> argv;
      for (auto& s : args) argv.push_back(s.data());
      argv.push_back(nullptr);
      ::execv("/proc/self/exe", argv.data());
      std::perror("launch: execv /proc/self/exe");
      std::_Exit(127);
    }
    g_children[r] = pid;
  }
  auto previous_int = std::signal(SIGINT, forward_signal);
  auto previous_term = std::signal(SIGTERM, forward_signal);

  using clock = std::chrono::steady_clock;
  int64_t running = a.processes;
  int exit_code = kOk;
  std::optional<clock::time_point> deadline;  // set by the first failure
  bool terminated = false;
  while (running > 0) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid > 0) {
      int64_t rank = -1;
      for (int64_t r = 0; r < a.processes; ++r) {
        if (g_children[r] == pid) rank = r;
      }
      if (rank < 0) continue;
      g_children[rank] = -1;
      --running;
      const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
      if (!ok) {
        fmt::print(stderr, "[launch] rank {} {}\n", rank, describe_status(status));
        if (exit_code == kOk) {
          exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : kRuntimeError;
          deadline = clock::now() + std::chrono::milliseconds(static_cast<int64_t>(a.timeout_s * 1000) + 10000);
        }
      }
      continue;
    }
    if (pid < 0 && errno != EINTR) break;
    if (deadline && clock::now() > *deadline && !terminated) {
      fmt::print(stderr, "[launch] ranks still running {} s after the first failure: terminating them\n",
                 a.timeout_s + 10);
      forward_signal(SIGKILL);
      terminated = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::signal(SIGINT, previous_int);
  std::signal(SIGTERM, previous_term);
  if (exit_code != kOk) fmt::print(stderr, "[launch] failed: exit code {}\n", exit_code);
  return exit_code;
}

}  // namespace

void add_launch_command(CLI::App& app) {
  auto a = std::make_shared<LaunchArgs>();
  auto* cmd = app.add_subcommand(
      "launch", "Run `train`, `forget` or `experiment` as N data-parallel processes on this machine (loopback)");
  cmd->add_option("-n,--processes", a->processes, "number of processes (world size)")
      ->check(CLI::Range(int64_t{1}, int64_t{256}));
  cmd->add_option("--dist-timeout", a->timeout_s, "seconds a rank waits for the others before failing")
      ->check(CLI::PositiveNumber);
  cmd->add_option("command", a->command, "after --: the subcommand and its arguments")->required();
  cmd->callback([a] {
    const int rc = run_launch(*a);
    if (rc != kOk) std::exit(rc);
  });
}

}  // namespace unlearn::app
