// Helpers for integrations_test.cc: running a real third-party program
// (dnsmasq, unbound, HAProxy, python3, ruby) in a temp dir on loopback,
// with bounded waits, and stopping it by PID.
#ifndef SVCDNS_TESTS_INTEGRATION_INTEGRATIONS_UTIL_H_
#define SVCDNS_TESTS_INTEGRATION_INTEGRATIONS_UTIL_H_

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_replace.h"
#include "tests/testing/dns_client.h"
#include "tests/testing/server_process.h"

namespace svcdns::testing::integrations {

// The first of `candidates` that is an executable file, or "".
inline std::string FindProgram(const std::vector<std::string>& candidates) {
  for (const std::string& c : candidates) {
    if (access(c.c_str(), X_OK) == 0) return c;
  }
  return "";
}

// A shipped deploy/ snippet with `from` replaced by `to` (each pair), or ""
// if a `from` is not in it (the snippet changed: the test must notice).
inline std::string AdaptSnippet(const std::string& relative_path,
                                const std::vector<std::pair<std::string, std::string>>& edits) {
  std::string text = ReadFile(SourceDir() + "/" + relative_path);
  for (const auto& [from, to] : edits) {
    if (text.find(from) == std::string::npos) return "";
  }
  return absl::StrReplaceAll(text, edits);
}

// A loopback port free for both UDP and TCP right now (the kernel picks it).
inline uint16_t FreePort() {
  for (int attempt = 0; attempt < 20; ++attempt) {
    int tcp = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    if (bind(tcp, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
        getsockname(tcp, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      close(tcp);
      continue;
    }
    int udp = socket(AF_INET, SOCK_DGRAM, 0);
    bool ok = bind(udp, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
    close(udp);
    close(tcp);
    if (ok) return ntohs(a.sin_port);
  }
  return 0;
}

// Polls `done` every 50 ms until it is true or `timeout_ms` passed.
inline bool WaitUntil(const std::function<bool()>& done, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    if (done()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

// A child process with stdout and stderr in `log_path`, killed by PID
// (SIGTERM, then SIGKILL after 3 s) on Stop() or destruction, and by the
// kernel if the test binary dies first (PR_SET_PDEATHSIG).
class ChildProcess {
 public:
  ChildProcess(const std::vector<std::string>& argv, const std::string& log_path)
      : log_path_(log_path) {
    std::vector<std::string> args = argv;
    std::vector<char*> cargv;
    for (std::string& s : args) cargv.push_back(s.data());
    cargv.push_back(nullptr);
    pid_t parent = getpid();
    pid_ = fork();
    if (pid_ == 0) {
      // Only async-signal-safe calls between fork and exec.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(127);
      int in = open("/dev/null", O_RDONLY);
      int out = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (in < 0 || out < 0) _exit(127);
      dup2(in, 0);
      dup2(out, 1);
      dup2(out, 2);
      execv(cargv[0], cargv.data());
      _exit(127);
    }
  }
  ~ChildProcess() { Stop(); }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  std::string Log() const { return ReadFile(log_path_); }
  // True while it has not exited.
  bool Running() {
    if (pid_ <= 0) return false;
    int status;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    return true;
  }
  void Stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    int status;
    bool gone = WaitUntil([&] { return waitpid(pid_, &status, WNOHANG) == pid_; }, 3000);
    if (!gone) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
    }
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
  std::string log_path_;
};

// True once a DNS server on 127.0.0.1:`port` answers anything for `name`.
inline bool WaitForDns(uint16_t port, const std::string& name, int timeout_ms) {
  QueryOptions quick;
  quick.timeout_ms = 300;
  return WaitUntil(
      [&] {
        auto r = Query("127.0.0.1", port, name, LDNS_RR_TYPE_SOA, quick);
        return r.ok();
      },
      timeout_ms);
}

// Runs a shell command (bounded by `timeout -k 2 <seconds>`) and returns its
// stdout; *exit_code gets its exit status.
inline std::string RunShell(const std::string& command, int timeout_s, int* exit_code = nullptr) {
  std::string cmd = "timeout -k 2 " + std::to_string(timeout_s) + " " + command;
  FILE* f = popen(cmd.c_str(), "r");
  std::string out;
  if (f == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), f)) > 0) out.append(buf, n);
  int status = pclose(f);
  if (exit_code != nullptr) *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

// A network namespace of its own (`ip netns add`), loopback up, deleted
// with /etc/netns/<name> on destruction; processes started through Exec()
// see its resolv.conf (written by SetResolvConf) as /etc/resolv.conf.
// Declare it before the ChildProcesses run in it, so that they stop first.
class NetNamespace {
 public:
  NetNamespace() {
    RemoveStale();
    static int counter = 0;
    name_ = "svcdns-test-" + std::to_string(getpid()) + "-" + std::to_string(++counter);
    int code = -1;
    error_ = RunShell("ip netns add " + name_ + " 2>&1", 10, &code);
    if (code != 0) {
      error_ = "ip netns add " + name_ + ": " + error_;
      name_.clear();
      return;
    }
    error_ = RunShell("ip netns exec " + name_ + " ip link set lo up 2>&1", 10, &code);
    if (code == 0) error_.clear();
    else error_ = "ip link set lo up: " + error_;
  }
  ~NetNamespace() {
    if (name_.empty()) return;
    std::error_code ec;
    std::filesystem::remove_all("/etc/netns/" + name_, ec);
    if (created_etc_netns_) std::filesystem::remove("/etc/netns", ec);  // only if empty
    RunShell("ip netns del " + name_ + " 2>/dev/null", 10);
  }
  NetNamespace(const NetNamespace&) = delete;
  NetNamespace& operator=(const NetNamespace&) = delete;

  // Namespaces (and /etc/netns folders) of test processes that died
  // before their destructors ran: svcdns-test-<pid>-<n> with <pid> gone.
  static void RemoveStale() {
    std::error_code ec;
    for (const char* root : {"/run/netns", "/etc/netns"}) {
      for (const auto& e : std::filesystem::directory_iterator(root, ec)) {
        std::string name = e.path().filename().string();
        if (name.rfind("svcdns-test-", 0) != 0) continue;
        int pid = std::atoi(name.c_str() + std::string("svcdns-test-").size());
        if (pid <= 0 || pid == getpid() || kill(pid, 0) == 0 || errno != ESRCH) continue;
        if (std::string(root) == "/etc/netns") {
          std::filesystem::remove_all(e.path(), ec);
        } else {
          RunShell("ip netns del " + name + " 2>/dev/null", 10);
        }
      }
    }
  }

  // "" once the namespace is up, else why not.
  const std::string& error() const { return error_; }
  bool ok() const { return !name_.empty() && error_.empty(); }
  const std::string& name() const { return name_; }
  // /etc/netns/<name>/resolv.conf: `ip netns exec` bind-mounts it on
  // /etc/resolv.conf for the programs it runs.
  bool SetResolvConf(const std::string& contents) {
    std::error_code ec;
    if (!std::filesystem::exists("/etc/netns")) created_etc_netns_ = true;
    std::filesystem::create_directories("/etc/netns/" + name_, ec);
    if (ec) return false;
    std::ofstream out("/etc/netns/" + name_ + "/resolv.conf");
    out << contents;
    return static_cast<bool>(out);
  }
  // argv run inside the namespace (ip netns exec execs it: same PID).
  std::vector<std::string> Exec(const std::vector<std::string>& argv) const {
    std::vector<std::string> full = {FindProgram({"/usr/sbin/ip", "/usr/bin/ip", "/sbin/ip"}),
                                     "netns", "exec", name_};
    full.insert(full.end(), argv.begin(), argv.end());
    return full;
  }
  // A shell command line run inside the namespace, for RunShell.
  std::string Shell(const std::string& command) const {
    return "ip netns exec " + name_ + " " + command;
  }

 private:
  std::string name_;
  std::string error_;
  bool created_etc_netns_ = false;
};

// Why network namespaces cannot be used here, or "" if they can.
inline std::string NetnsUnavailable() {
  if (geteuid() != 0) return "needs root (ip netns add)";
  if (FindProgram({"/usr/sbin/ip", "/usr/bin/ip", "/sbin/ip"}).empty()) {
    return "ip (iproute2) is not installed";
  }
  NetNamespace probe;
  if (!probe.ok()) return "ip netns does not work here: " + probe.error();
  return "";
}

// Sends one command to a HAProxy stats socket and returns the whole reply
// ("" if the socket does not answer within `timeout_ms`).
inline std::string HaproxyCommand(const std::string& socket_path, const std::string& command,
                                  int timeout_ms = 2000) {
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof(a.sun_path)) {
    close(fd);
    return "";
  }
  std::copy(socket_path.begin(), socket_path.end(), a.sun_path);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    close(fd);
    return "";
  }
  std::string line = command + "\n";
  if (send(fd, line.data(), line.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(line.size())) {
    close(fd);
    return "";
  }
  std::string out;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                    deadline - std::chrono::steady_clock::now()).count());
    if (left <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, left) != 1) break;
    char buf[65536];
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;  // HAProxy closes after one command
    out.append(buf, n);
  }
  close(fd);
  return out;
}

}  // namespace svcdns::testing::integrations

#endif  // SVCDNS_TESTS_INTEGRATION_INTEGRATIONS_UTIL_H_
