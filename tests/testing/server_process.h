// Starts the real build/svcdns binary for a test, on a port the kernel picks
// on loopback, and stops it (by PID) when the test ends.
#ifndef SVCDNS_TESTS_TESTING_SERVER_PROCESS_H_
#define SVCDNS_TESTS_TESTING_SERVER_PROCESS_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace svcdns::testing {

// The repository's source directory (for deploy/examples and such).
std::string SourceDir();

// A whole file, or "" if it cannot be read.
std::string ReadFile(const std::string& path);

// waitpid with a deadline: the child's status, or -1 if it has not exited.
int WaitExit(pid_t pid, int timeout_ms);

// A fresh temporary directory, removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  // Writes `contents` to path()/name and returns the full path.
  std::string Write(const std::string& name, const std::string& contents) const;

 private:
  std::string path_;
};

class ServerProcess {
 public:
  // Runs `svcdns serve --dns-addr 127.0.0.1:0 --ingest-addr 127.0.0.1:0
  // <args>` and waits (at most
  // `timeout_ms`) for its "listening" log line, which names the port.
  static absl::StatusOr<std::unique_ptr<ServerProcess>> Start(
      const std::vector<std::string>& args, int timeout_ms = 15000);
  // Runs svcdns with exactly `args`, waits for it to exit, returns its exit
  // code; its stderr goes to *output.
  static int RunToExit(const std::vector<std::string>& args, std::string* output,
                       int timeout_ms = 15000);

  ~ServerProcess();  // SIGTERM, then SIGKILL after 5 s

  pid_t pid() const { return pid_; }
  uint16_t port() const { return port_; }
  uint16_t ingest_port() const { return ingest_port_; }  // agent streams (gRPC)
  uint16_t http_port() const { return http_port_; }      // the HTTP API
  void Signal(int signum) const;
  std::string Log() const;  // everything it wrote to stderr so far
  // Waits until the log contains `text` `count` times; false on timeout.
  bool WaitForLog(const std::string& text, int count, int timeout_ms) const;
  // Stops the process and returns its exit status (as waitpid gives it).
  int Stop();

 private:
  ServerProcess() = default;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  uint16_t ingest_port_ = 0;
  uint16_t http_port_ = 0;
  std::string log_path_;
  std::unique_ptr<TempDir> dir_;
};

}  // namespace svcdns::testing

#endif  // SVCDNS_TESTS_TESTING_SERVER_PROCESS_H_
