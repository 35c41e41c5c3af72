#include "tests/testing/server_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

extern char** environ;

namespace svcdns::testing {
namespace {

pid_t Spawn(const std::vector<std::string>& args, const std::string& log_path) {
  std::vector<char*> argv;
  std::string binary = SVCDNS_BINARY;
  argv.push_back(binary.data());
  std::vector<std::string> copy = args;
  for (std::string& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 2, log_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  pid_t pid = -1;
  if (posix_spawn(&pid, binary.c_str(), &actions, nullptr, argv.data(), environ) != 0) pid = -1;
  posix_spawn_file_actions_destroy(&actions);
  return pid;
}

}  // namespace

std::string SourceDir() { return SVCDNS_SOURCE_DIR; }

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int WaitExit(pid_t pid, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    int status;
    if (waitpid(pid, &status, WNOHANG) == pid) return status;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return -1;
}

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "svcdns-test-XXXXXX").string();
  path_ = mkdtemp(tmpl.data()) ? tmpl : "";
}

TempDir::~TempDir() {
  std::error_code ec;
  if (!path_.empty()) std::filesystem::remove_all(path_, ec);
}

std::string TempDir::Write(const std::string& name, const std::string& contents) const {
  std::string path = path_ + "/" + name;
  std::ofstream(path) << contents;
  return path;
}

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::Start(
    const std::vector<std::string>& args, int timeout_ms) {
  std::unique_ptr<ServerProcess> p(new ServerProcess);
  p->dir_ = std::make_unique<TempDir>();
  p->log_path_ = p->dir_->path() + "/svcdns.log";
  std::vector<std::string> full = {"serve", "--dns-addr", "127.0.0.1:0", "--workers", "2",
                                   "--ingest-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"};
  full.insert(full.end(), args.begin(), args.end());
  p->pid_ = Spawn(full, p->log_path_);
  if (p->pid_ < 0) return absl::InternalError("cannot spawn " SVCDNS_BINARY);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    std::string log = ReadFile(p->log_path_);
    size_t at = log.find("event=listening dns=127.0.0.1:");
    if (at != std::string::npos) {
      at += std::string("event=listening dns=127.0.0.1:").size();
      size_t end = log.find_first_not_of("0123456789", at);
      uint32_t port;
      if (absl::SimpleAtoi(log.substr(at, end - at), &port)) {
        p->port_ = static_cast<uint16_t>(port);
        size_t ingest = log.find(" ingest=127.0.0.1:", at);
        if (ingest != std::string::npos) {
          ingest += std::string(" ingest=127.0.0.1:").size();
          end = log.find_first_not_of("0123456789", ingest);
          if (absl::SimpleAtoi(log.substr(ingest, end - ingest), &port)) {
            p->ingest_port_ = static_cast<uint16_t>(port);
          }
        }
        size_t http = log.find(" http=127.0.0.1:", at);
        if (http != std::string::npos) {
          http += std::string(" http=127.0.0.1:").size();
          end = log.find_first_not_of("0123456789", http);
          if (absl::SimpleAtoi(log.substr(http, end - http), &port)) {
            p->http_port_ = static_cast<uint16_t>(port);
          }
        }
        return p;
      }
    }
    int status;
    if (waitpid(p->pid_, &status, WNOHANG) == p->pid_) {
      p->pid_ = -1;
      return absl::FailedPreconditionError("svcdns exited at start:\n" + log);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return absl::DeadlineExceededError("svcdns did not start:\n" + ReadFile(p->log_path_));
}

int ServerProcess::RunToExit(const std::vector<std::string>& args, std::string* output,
                             int timeout_ms) {
  TempDir dir;
  std::string log = dir.path() + "/out.log";
  pid_t pid = Spawn(args, log);
  if (pid < 0) return -1;
  int status = WaitExit(pid, timeout_ms);
  if (status == -1) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    status = -1;
  }
  if (output != nullptr) *output = ReadFile(log);
  return status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

ServerProcess::~ServerProcess() { Stop(); }

int ServerProcess::Stop() {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  int status = WaitExit(pid_, 5000);
  if (status == -1) {
    kill(pid_, SIGKILL);
    waitpid(pid_, &status, 0);
  }
  pid_ = -1;
  return status;
}

void ServerProcess::Signal(int signum) const {
  if (pid_ > 0) kill(pid_, signum);
}

std::string ServerProcess::Log() const { return ReadFile(log_path_); }

bool ServerProcess::WaitForLog(const std::string& text, int count, int timeout_ms) const {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    std::string log = Log();
    int found = 0;
    for (size_t at = log.find(text); at != std::string::npos; at = log.find(text, at + 1)) ++found;
    if (found >= count) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

}  // namespace svcdns::testing
