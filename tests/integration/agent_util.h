// Helpers for tests that run the real `svcdns agent` next to the real
// `svcdns serve`: a process launcher (log to a file, stop by PID), an agent
// launcher, a server on given ports (for restarts), a tiny HTTP/TCP server
// for checks to probe, and curl.
#ifndef SVCDNS_TESTS_INTEGRATION_AGENT_UTIL_H_
#define SVCDNS_TESTS_INTEGRATION_AGENT_UTIL_H_

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "tests/testing/server_process.h"

extern char** environ;

namespace svcdns::testing::agent_util {

inline int CountOf(const std::string& haystack, const std::string& needle) {
  int n = 0;
  for (size_t at = haystack.find(needle); at != std::string::npos; at = haystack.find(needle, at + 1)) ++n;
  return n;
}

// One svcdns process: stdout and stderr to a log file; stopped by PID.
class Proc {
 public:
  static std::unique_ptr<Proc> Spawn(const std::vector<std::string>& args) {
    std::unique_ptr<Proc> p(new Proc);
    p->log_path_ = p->dir_.path() + "/proc.log";
    std::string binary = SVCDNS_BINARY;
    std::vector<std::string> copy = args;
    std::vector<char*> argv = {binary.data()};
    for (std::string& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 2, p->log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, 1, p->log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    if (posix_spawn(&p->pid_, binary.c_str(), &actions, nullptr, argv.data(), environ) != 0) {
      p->pid_ = -1;
    }
    posix_spawn_file_actions_destroy(&actions);
    return p;
  }

  ~Proc() { Stop(); }

  pid_t pid() const { return pid_; }
  std::string Log() const { return ReadFile(log_path_); }

  // True once the process has exited (reaped; *status gets waitpid's status).
  bool Exited(int* status = nullptr) {
    if (pid_ <= 0) return true;
    int s = 0;
    if (waitpid(pid_, &s, WNOHANG) == pid_) {
      pid_ = -1;
      exit_status_ = s;
    }
    if (status != nullptr) *status = exit_status_;
    return pid_ <= 0;
  }

  // Waits until the log holds `text` `count` times; false on timeout or exit.
  bool WaitForLog(const std::string& text, int timeout_ms, int count = 1) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < deadline) {
      if (CountOf(Log(), text) >= count) return true;
      if (Exited()) return CountOf(Log(), text) >= count;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  // The port number right after `marker` in the log ("http=127.0.0.1:"), or 0.
  uint16_t PortAfter(const std::string& marker) const {
    std::string log = Log();
    size_t at = log.find(marker);
    if (at == std::string::npos) return 0;
    at += marker.size();
    size_t end = log.find_first_not_of("0123456789", at);
    uint32_t port = 0;
    if (!absl::SimpleAtoi(log.substr(at, end - at), &port) || port > 65535) return 0;
    return static_cast<uint16_t>(port);
  }

  // SIGTERM, SIGKILL after 5 s; waitpid's status, or -1 if not running.
  int Stop() {
    if (pid_ <= 0) return exit_status_;
    kill(pid_, SIGTERM);
    int status = testing::WaitExit(pid_, 5000);
    if (status == -1) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
    }
    pid_ = -1;
    exit_status_ = status;
    return status;
  }

  void Kill9() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    exit_status_ = status;
  }

 private:
  Proc() = default;
  TempDir dir_;
  std::string log_path_;
  pid_t pid_ = -1;
  int exit_status_ = -1;
};

struct AgentSpec {
  std::string node;
  std::string advertise;
  std::vector<uint16_t> join;  // servers' ingest ports on 127.0.0.1
  std::string config_dir;      // empty: none
  std::string data_dir;        // empty: none
  std::vector<std::string> extra;
};

// A running `svcdns agent`; its HTTP API on a kernel-chosen loopback port.
class AgentProcess {
 public:
  static absl::StatusOr<std::unique_ptr<AgentProcess>> Start(const AgentSpec& spec,
                                                              int timeout_ms = 10000) {
    std::vector<std::string> args = {"agent", "--node", spec.node, "--advertise", spec.advertise,
                                     "--http-addr", "127.0.0.1:0"};
    for (uint16_t port : spec.join) {
      args.push_back("--join");
      args.push_back(absl::StrCat("127.0.0.1:", port));
    }
    if (!spec.config_dir.empty()) args.insert(args.end(), {"--config-dir", spec.config_dir});
    if (!spec.data_dir.empty()) args.insert(args.end(), {"--data-dir", spec.data_dir});
    args.insert(args.end(), spec.extra.begin(), spec.extra.end());
    std::unique_ptr<AgentProcess> a(new AgentProcess);
    a->proc_ = Proc::Spawn(args);
    if (a->proc_->pid() <= 0) return absl::InternalError("cannot spawn " SVCDNS_BINARY);
    if (!a->proc_->WaitForLog("event=agent_started", timeout_ms)) {
      return absl::DeadlineExceededError("agent did not start:\n" + a->proc_->Log());
    }
    a->http_port_ = a->proc_->PortAfter(" http=127.0.0.1:");
    if (a->http_port_ == 0) return absl::InternalError("no http port in:\n" + a->proc_->Log());
    return a;
  }

  uint16_t http_port() const { return http_port_; }
  std::string http_addr() const { return absl::StrCat("127.0.0.1:", http_port_); }
  Proc& proc() { return *proc_; }
  std::string Log() const { return proc_->Log(); }
  int Stop() { return proc_->Stop(); }  // SIGTERM: the agent leaves
  void Kill9() { proc_->Kill9(); }

 private:
  AgentProcess() = default;
  std::unique_ptr<Proc> proc_;
  uint16_t http_port_ = 0;
};

// `svcdns serve` on given DNS and ingest ports (0: the kernel picks), for a
// server restarted in place; ServerProcess::Start always asks for port 0.
class ServerAt {
 public:
  static absl::StatusOr<std::unique_ptr<ServerAt>> Start(uint16_t dns_port, uint16_t ingest_port,
                                                         const std::vector<std::string>& extra = {},
                                                         int timeout_ms = 15000) {
    std::vector<std::string> args = {"serve",         "--dns-addr",  absl::StrCat("127.0.0.1:", dns_port),
                                     "--workers",     "2",           "--ingest-addr",
                                     absl::StrCat("127.0.0.1:", ingest_port), "--http-addr",
                                     "127.0.0.1:0"};
    args.insert(args.end(), extra.begin(), extra.end());
    std::unique_ptr<ServerAt> s(new ServerAt);
    s->proc_ = Proc::Spawn(args);
    if (s->proc_->pid() <= 0) return absl::InternalError("cannot spawn " SVCDNS_BINARY);
    if (!s->proc_->WaitForLog("event=listening", timeout_ms)) {
      return absl::DeadlineExceededError("server did not start:\n" + s->proc_->Log());
    }
    s->port_ = s->proc_->PortAfter("event=listening dns=127.0.0.1:");
    s->ingest_port_ = s->proc_->PortAfter(" ingest=127.0.0.1:");
    s->http_port_ = s->proc_->PortAfter(" http=127.0.0.1:");
    return s;
  }
  uint16_t port() const { return port_; }
  uint16_t ingest_port() const { return ingest_port_; }
  uint16_t http_port() const { return http_port_; }
  Proc& proc() { return *proc_; }

 private:
  ServerAt() = default;
  std::unique_ptr<Proc> proc_;
  uint16_t port_ = 0, ingest_port_ = 0, http_port_ = 0;
};

// A tiny HTTP server on 127.0.0.1 (a thread, a listening socket): every
// connection gets "200 OK". Also serves as the target of TCP checks.
// Stop() closes the listening socket (connections are refused); Start()
// listens again on the same port.
class TinyHttpServer {
 public:
  TinyHttpServer() = default;
  ~TinyHttpServer() { Stop(); }

  // Listens on `port`, or on a free one below the kernel's ephemeral
  // range (32768 and up): the tests stop it and listen on the same port
  // again, which a client socket of any test running beside them could
  // otherwise have been given meanwhile. False if it cannot.
  bool Start(uint16_t port = 0) {
    Stop();
    if (port != 0) return Listen(port);
    std::mt19937 rng(std::random_device{}());
    for (int attempt = 0; attempt < 200; ++attempt) {
      if (Listen(static_cast<uint16_t>(20000 + rng() % 12000))) return true;
    }
    return false;
  }

  void Stop() {
    if (!thread_.joinable()) return;
    stop_ = true;
    thread_.join();
  }

  uint16_t port() const { return port_; }
  int requests() const { return requests_; }

 private:
  bool Listen(uint16_t port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || listen(fd, 64) != 0) {
      close(fd);
      return false;
    }
    port_ = port;
    requests_ = 0;
    stop_ = false;
    thread_ = std::thread([this, fd] { Serve(fd); });
    return true;
  }

  void Serve(int fd) {
    while (!stop_) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 20) != 1) continue;
      int c = accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      ++requests_;
      // Read the request head (bounded), answer, close.
      std::string request;
      auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
      while (request.find("\r\n\r\n") == std::string::npos &&
             std::chrono::steady_clock::now() < deadline) {
        pollfd q{c, POLLIN, 0};
        if (poll(&q, 1, 50) != 1) continue;
        char buf[2048];
        ssize_t n = recv(c, buf, sizeof(buf), 0);
        if (n <= 0) break;
        request.append(buf, static_cast<size_t>(n));
      }
      if (!request.empty()) {
        static const char kReply[] =
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n"
            "Connection: close\r\n\r\nok\n";
        (void)send(c, kReply, sizeof(kReply) - 1, MSG_NOSIGNAL);
      }
      close(c);
    }
    close(fd);
  }

  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  uint16_t port_ = 0;
};

struct CurlReply {
  int status = 0;  // 0: no answer
  std::string body;
};

// `curl -X METHOD` to 127.0.0.1:port; `data_file` (if not empty) is sent as
// the body with --data-binary @file.
inline CurlReply Curl(const std::string& method, uint16_t port, const std::string& path,
                      const std::string& data_file = "") {
  std::string cmd = absl::StrCat("curl -s --max-time 10 -X ", method, " -w '\\n%{http_code}' ");
  if (!data_file.empty()) absl::StrAppend(&cmd, "--data-binary '@", data_file, "' ");
  absl::StrAppend(&cmd, "'http://127.0.0.1:", port, path, "' 2>/dev/null");
  FILE* f = popen(cmd.c_str(), "r");
  std::string out;
  if (f != nullptr) {
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0) out.append(buf, n);
    pclose(f);
  }
  CurlReply r;
  size_t nl = out.rfind('\n');
  if (nl == std::string::npos) return r;
  r.status = std::atoi(out.c_str() + nl + 1);
  r.body = out.substr(0, nl);
  return r;
}

}  // namespace svcdns::testing::agent_util

#endif  // SVCDNS_TESTS_INTEGRATION_AGENT_UTIL_H_
