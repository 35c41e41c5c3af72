#include "agent/check_runner.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <atomic>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "agent/service_definition.h"
#include "catalog/model.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/server_process.h"

namespace svcdns::agent {
namespace {

using catalog::Health;
using svcdns::testing::ReadFile;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

struct Event {
  std::string id;
  Health status;
  std::string output;
};

void WriteFile(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
  }
  std::filesystem::rename(tmp, path);  // atomic: a script never reads half
}

// Dead: no such process, or a zombie nobody has reaped yet.
bool ProcessGone(pid_t pid) {
  if (::kill(pid, 0) != 0) return errno == ESRCH;
  std::string stat = ReadFile(absl::StrCat("/proc/", pid, "/stat"));
  size_t paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() &&
         stat[paren + 2] == 'Z';
}

// A TCP listener on 127.0.0.1 (only) at a port the kernel picks: its fd,
// or -1.
int ListenOnLoopback(uint16_t* port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(fd, 64) != 0 || getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    if (fd >= 0) close(fd);
    return -1;
  }
  *port = ntohs(addr.sin_port);
  return fd;
}

CheckDefinition Def(const std::string& id, CheckKind kind) {
  CheckDefinition def;
  def.check.id = id;
  def.check.name = id;
  def.kind = kind;
  def.interval = absl::Milliseconds(50);
  return def;
}

class CheckRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(uv_loop_init(&loop_), 0);
    // Bounds every uv_run(UV_RUN_ONCE) to 10 ms.
    tick_ = new uv_timer_t;
    uv_timer_init(&loop_, tick_);
    uv_timer_start(tick_, [](uv_timer_t*) {}, 10, 10);
    char dir[] = "/tmp/check_runner_test_XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    MakeRunner(CheckRunner::Options{.max_stagger = absl::ZeroDuration()});
  }

  void TearDown() override {
    runner_.reset();  // closes everything
    uv_close(reinterpret_cast<uv_handle_t*>(tick_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
    absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (uv_loop_alive(&loop_) && absl::Now() < deadline) {
      uv_run(&loop_, UV_RUN_ONCE);
    }
    EXPECT_EQ(uv_loop_close(&loop_), 0) << "handles left open";
    std::filesystem::remove_all(dir_);
  }

  void MakeRunner(CheckRunner::Options options) {
    runner_ = std::make_unique<CheckRunner>(
        &loop_,
        [this](const std::string& id, Health status, const std::string& output) {
          events_.push_back({id, status, output});
        },
        options);
  }

  // Runs the loop until `done` holds (true) or `timeout` passes (false).
  bool RunUntil(const std::function<bool()>& done,
                absl::Duration timeout = absl::Seconds(5)) {
    absl::Time deadline = absl::Now() + timeout;
    while (!done()) {
      if (absl::Now() > deadline) return false;
      uv_run(&loop_, UV_RUN_ONCE);
    }
    return true;
  }

  void RunFor(absl::Duration d) {
    RunUntil([] { return false; }, d);
  }

  Health StatusOf(const std::string& id) { return runner_->Get(id)->status; }
  std::string OutputOf(const std::string& id) { return runner_->Get(id)->output; }

  std::vector<Health> StatusEvents() {
    std::vector<Health> out;
    for (const Event& e : events_) out.push_back(e.status);
    return out;
  }

  std::string Path(const std::string& name) { return absl::StrCat(dir_, "/", name); }

  // A shell script file in the temp dir; run it with Script().
  std::vector<std::string> Script(const std::string& name, const std::string& body) {
    WriteFile(Path(name), body);
    return {"/bin/sh", Path(name), dir_};
  }

  // The pid a script wrote to `name` ("echo $$ > ...").
  pid_t WaitPid(const std::string& name) {
    std::string text;
    bool written = RunUntil([&] {
      text = ReadFile(Path(name));
      return !text.empty() && text.back() == '\n';
    });
    EXPECT_TRUE(written) << name;
    return written ? static_cast<pid_t>(std::stol(text)) : 0;
  }

  uv_loop_t loop_;
  uv_timer_t* tick_ = nullptr;
  std::string dir_;
  std::unique_ptr<CheckRunner> runner_;
  std::vector<Event> events_;
};

TEST_F(CheckRunnerTest, ScriptStatusFollowsExitCode) {
  WriteFile(Path("code"), "0");
  CheckDefinition def = Def("script", CheckKind::kScript);
  def.args = Script("check.sh", "code=$(cat \"$1/code\")\necho \"exit $code\"\nexit \"$code\"\n");
  ASSERT_TRUE(runner_->Add(def).ok());
  EXPECT_EQ(StatusOf("script"), Health::kCritical);  // Consul's default
  EXPECT_NE(runner_->CriticalSince("script"), absl::InfiniteFuture());

  ASSERT_TRUE(RunUntil([&] { return StatusOf("script") == Health::kPassing; }));
  EXPECT_EQ(OutputOf("script"), "exit 0\n");
  EXPECT_EQ(runner_->CriticalSince("script"), absl::InfiniteFuture());

  WriteFile(Path("code"), "1");
  ASSERT_TRUE(RunUntil([&] { return StatusOf("script") == Health::kWarning; }));
  EXPECT_EQ(OutputOf("script"), "exit 1\n");

  WriteFile(Path("code"), "2");
  absl::Time before = absl::Now();
  ASSERT_TRUE(RunUntil([&] { return StatusOf("script") == Health::kCritical; }));
  EXPECT_EQ(OutputOf("script"), "exit 2\n");
  EXPECT_GE(runner_->CriticalSince("script"), before);
  EXPECT_LE(runner_->CriticalSince("script"), absl::Now());

  WriteFile(Path("code"), "0");
  ASSERT_TRUE(RunUntil([&] { return StatusOf("script") == Health::kPassing; }));
  RunUntil([&] { return events_.size() >= 4; });  // listeners run on their own tick
  EXPECT_THAT(StatusEvents(), ElementsAre(Health::kPassing, Health::kWarning,
                                          Health::kCritical, Health::kPassing));
  EXPECT_EQ(events_[1].id, "script");
  EXPECT_EQ(events_[1].output, "exit 1\n");
}

// A new output alone (the status the same) reaches the listener at most
// once per output_sync_interval: each one with zero, none within an hour
// (only the first result's status change goes).
TEST_F(CheckRunnerTest, NewOutputAloneIsPassedOnAtMostOncePerSyncInterval) {
  for (absl::Duration interval : {absl::ZeroDuration(), absl::Hours(1)}) {
    SCOPED_TRACE(absl::FormatDuration(interval));
    MakeRunner(CheckRunner::Options{.max_stagger = absl::ZeroDuration(),
                                    .output_sync_interval = interval});
    events_.clear();
    WriteFile(Path("n"), "0");
    CheckDefinition def = Def("count", CheckKind::kScript);
    def.args = Script("count.sh", "n=$(cat \"$1/n\")\necho $((n + 1)) > \"$1/n\"\necho \"run $n\"\n");
    ASSERT_TRUE(runner_->Add(def).ok());
    ASSERT_TRUE(RunUntil([&] { return runner_->RunCount("count") >= 4; }));
    RunFor(absl::Milliseconds(30));  // listeners run on their own tick
    ASSERT_FALSE(events_.empty());
    EXPECT_EQ(events_[0].output, "run 0\n");
    if (interval == absl::ZeroDuration()) {
      ASSERT_GE(events_.size(), 4u);
      EXPECT_EQ(events_[3].status, Health::kPassing);
      EXPECT_EQ(events_[3].output, "run 3\n");
    } else {
      EXPECT_EQ(events_.size(), 1u);
      EXPECT_NE(OutputOf("count"), "run 0\n");  // the latest, for Get()
    }
  }
}

TEST_F(CheckRunnerTest, ScriptOutputMergedAndTruncated) {
  CheckDefinition big = Def("big", CheckKind::kScript);
  big.args = Script("big.sh", "head -c 10000 /dev/zero | tr '\\0' x\necho err >&2\n");
  CheckDefinition both = Def("both", CheckKind::kScript);
  both.args = Script("both.sh", "echo out\necho err >&2\nexit 0\n");
  ASSERT_TRUE(runner_->Add(big).ok());
  ASSERT_TRUE(runner_->Add(both).ok());
  ASSERT_TRUE(RunUntil([&] {
    return runner_->RunCount("big") >= 1 && runner_->RunCount("both") >= 1;
  }));
  EXPECT_EQ(StatusOf("big"), Health::kPassing);
  EXPECT_EQ(OutputOf("big"), std::string(4096, 'x'));
  EXPECT_EQ(OutputOf("both"), "out\nerr\n");
}

TEST_F(CheckRunnerTest, MissingProgramIsCritical) {
  CheckDefinition def = Def("missing", CheckKind::kScript);
  def.check.status = Health::kPassing;
  def.args = {Path("no-such-program")};
  ASSERT_TRUE(runner_->Add(def).ok());
  ASSERT_TRUE(RunUntil([&] { return runner_->RunCount("missing") >= 1; }));
  EXPECT_EQ(StatusOf("missing"), Health::kCritical);
  EXPECT_THAT(OutputOf("missing"), HasSubstr("no-such-program"));
}

TEST_F(CheckRunnerTest, TimeoutKillsScriptAndItsChildren) {
  CheckDefinition def = Def("slow", CheckKind::kScript);
  def.interval = absl::Seconds(10);
  def.timeout = absl::Milliseconds(300);
  def.args = Script("slow.sh",
                    "echo $$ > \"$1/pid\"\n"
                    "sleep 100 &\n"
                    "echo $! > \"$1/child\"\n"
                    "sleep 100\n");
  absl::Time start = absl::Now();
  ASSERT_TRUE(runner_->Add(def).ok());
  pid_t pid = WaitPid("pid");
  pid_t child = WaitPid("child");
  ASSERT_GT(pid, 0);
  ASSERT_GT(child, 0);
  ASSERT_TRUE(RunUntil([&] { return runner_->RunCount("slow") == 1; }));
  absl::Duration took = absl::Now() - start;
  EXPECT_GE(took, absl::Milliseconds(290));
  EXPECT_LT(took, absl::Seconds(3));
  EXPECT_EQ(StatusOf("slow"), Health::kCritical);
  EXPECT_EQ(OutputOf("slow"), "Timed out (300ms) running check");
  EXPECT_TRUE(RunUntil([&] { return ProcessGone(pid) && ProcessGone(child); },
                       absl::Seconds(2)))
      << "pid " << pid << " or child " << child << " survived";
}

TEST_F(CheckRunnerTest, RemoveAndCloseKillRunningScripts) {
  CheckDefinition a = Def("a", CheckKind::kScript);
  a.interval = absl::Seconds(10);
  a.timeout = absl::Seconds(60);
  a.args = Script("a.sh", "echo $$ > \"$1/a\"\nsleep 100 &\necho $! > \"$1/a-child\"\nwait\n");
  CheckDefinition b = a;
  b.check.id = "b";
  b.args = Script("b.sh", "echo $$ > \"$1/b\"\nexec sleep 100\n");
  ASSERT_TRUE(runner_->Add(a).ok());
  ASSERT_TRUE(runner_->Add(b).ok());
  pid_t pa = WaitPid("a"), pa_child = WaitPid("a-child"), pb = WaitPid("b");
  ASSERT_TRUE(pa > 0 && pa_child > 0 && pb > 0);

  EXPECT_TRUE(runner_->Remove("a"));
  EXPECT_FALSE(runner_->Remove("a"));
  EXPECT_FALSE(runner_->Get("a").has_value());
  EXPECT_TRUE(RunUntil([&] { return ProcessGone(pa) && ProcessGone(pa_child); }));
  EXPECT_FALSE(ProcessGone(pb));

  runner_->Close();
  EXPECT_TRUE(RunUntil([&] { return ProcessGone(pb); }));
  EXPECT_TRUE(events_.empty());
  EXPECT_EQ(runner_->Add(a).code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(CheckRunnerTest, ThresholdsAsConsul) {
  // Run n exits with line n of `codes`.
  WriteFile(Path("codes"), "0\n0\n0\n2\n0\n2\n2\n1\n1\n1\n0\n");
  WriteFile(Path("n"), "0\n");
  CheckDefinition def = Def("t", CheckKind::kScript);
  def.interval = absl::Milliseconds(40);
  def.success_before_passing = 3;
  def.failures_before_critical = 2;
  def.args = Script("seq.sh",
                    "n=$(($(cat \"$1/n\") + 1))\necho $n > \"$1/n\"\n"
                    "code=$(sed -n \"${n}p\" \"$1/codes\")\necho \"run $n\"\n"
                    "exit ${code:-0}\n");
  ASSERT_TRUE(runner_->Add(def).ok());
  const Health expected[] = {
      Health::kCritical, Health::kCritical, Health::kPassing,   // 3 successes
      Health::kPassing,                                         // 1 failure
      Health::kPassing,  Health::kPassing,  Health::kCritical,  // 2 failures
      Health::kCritical, Health::kCritical, Health::kWarning,   // warning is a success
      Health::kPassing};
  for (size_t run = 1; run <= std::size(expected); ++run) {
    ASSERT_TRUE(RunUntil([&] { return runner_->RunCount("t") >= run; }));
    ASSERT_EQ(runner_->RunCount("t"), run);
    EXPECT_EQ(StatusOf("t"), expected[run - 1]) << "after run " << run;
  }
  RunUntil([&] { return events_.size() >= 4; }, absl::Seconds(1));
  EXPECT_THAT(StatusEvents(), ElementsAre(Health::kPassing, Health::kCritical,
                                          Health::kWarning, Health::kPassing));
}

TEST_F(CheckRunnerTest, ThresholdNoticesCarryTheAppliedOutput) {
  WriteFile(Path("codes"), "0\n0\n2\n2\n");
  WriteFile(Path("n"), "0\n");
  CheckDefinition def = Def("t", CheckKind::kScript);
  def.interval = absl::Milliseconds(30);
  def.success_before_passing = 2;
  def.failures_before_critical = 2;
  def.args = Script("seq.sh",
                    "n=$(($(cat \"$1/n\") + 1))\necho $n > \"$1/n\"\n"
                    "code=$(sed -n \"${n}p\" \"$1/codes\")\necho \"run $n\"\n"
                    "exit ${code:-2}\n");
  ASSERT_TRUE(runner_->Add(def).ok());
  ASSERT_TRUE(RunUntil([&] { return events_.size() >= 2; }));
  EXPECT_EQ(events_[0].status, Health::kPassing);
  EXPECT_EQ(events_[0].output, "run 2\n");
  EXPECT_EQ(events_[1].status, Health::kCritical);
  EXPECT_EQ(events_[1].output, "run 4\n");
}

// A one-connection-at-a-time HTTP server on a thread, on 127.0.0.1.
class TestHttpServer {
 public:
  TestHttpServer() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr = {};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    listen(fd_, 64);
    socklen_t len = sizeof(addr);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~TestHttpServer() { Stop(); }

  int port() const { return port_; }
  void Respond(int code, std::string body) {
    std::lock_guard<std::mutex> lock(mu_);
    code_ = code;
    body_ = std::move(body);
  }
  void Hang(bool hang) { hang_ = hang; }
  std::string last_request() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_request_;
  }
  // Stops listening: connections are refused from now on.
  void Stop() {
    if (!thread_.joinable()) return;
    stop_ = true;
    thread_.join();
  }

 private:
  void Serve() {
    while (!stop_) {
      pollfd p = {fd_, POLLIN, 0};
      if (poll(&p, 1, 10) <= 0) continue;
      int c = accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      timeval tv = {1, 0};
      setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
      std::string request;
      char buf[4096];
      while (request.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = read(c, buf, sizeof(buf));
        if (n <= 0) break;
        request.append(buf, n);
      }
      while (hang_ && !stop_) usleep(5000);
      std::string response;
      {
        std::lock_guard<std::mutex> lock(mu_);
        last_request_ = request;
        const char* reason = code_ == 200 ? "OK" : code_ == 429 ? "Too Many Requests"
                                                                : "Internal Server Error";
        response = absl::StrCat("HTTP/1.1 ", code_, " ", reason, "\r\nContent-Length: ",
                                body_.size(), "\r\nConnection: close\r\n\r\n", body_);
      }
      size_t sent = 0;
      while (sent < response.size()) {
        ssize_t n = send(c, response.data() + sent, response.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) break;
        sent += n;
      }
      close(c);
    }
    close(fd_);
  }

  int fd_;
  int port_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> hang_{false};
  std::mutex mu_;
  int code_ = 200;
  std::string body_;
  std::string last_request_;
  std::thread thread_;
};

TEST_F(CheckRunnerTest, HttpStatusCodes) {
  TestHttpServer server;
  server.Respond(200, "hello");
  std::string url = absl::StrCat("http://127.0.0.1:", server.port(), "/health");
  CheckDefinition def = Def("http", CheckKind::kHttp);
  def.http = url;
  def.timeout = absl::Seconds(2);
  def.header = {{"X-Check", {"a", "b"}}};
  ASSERT_TRUE(runner_->Add(def).ok());

  ASSERT_TRUE(RunUntil([&] { return StatusOf("http") == Health::kPassing; }));
  EXPECT_EQ(OutputOf("http"), absl::StrCat("HTTP GET ", url, ": 200 OK Output: hello"));
  std::string request = server.last_request();
  EXPECT_THAT(request, StartsWith("GET /health HTTP/1.1\r\n"));
  EXPECT_THAT(request, HasSubstr("X-Check: a\r\n"));
  EXPECT_THAT(request, HasSubstr("X-Check: b\r\n"));
  EXPECT_THAT(request, HasSubstr("User-Agent: Consul Health Check\r\n"));

  server.Respond(429, "slow down");
  ASSERT_TRUE(RunUntil([&] { return StatusOf("http") == Health::kWarning; }));
  EXPECT_EQ(OutputOf("http"),
            absl::StrCat("HTTP GET ", url, ": 429 Too Many Requests Output: slow down"));

  server.Respond(500, "broken");
  ASSERT_TRUE(RunUntil([&] { return StatusOf("http") == Health::kCritical; }));
  EXPECT_THAT(OutputOf("http"), HasSubstr(": 500 Internal Server Error Output: broken"));

  server.Respond(200, "back");
  ASSERT_TRUE(RunUntil([&] { return StatusOf("http") == Health::kPassing; }));

  server.Stop();
  ASSERT_TRUE(RunUntil([&] { return StatusOf("http") == Health::kCritical; }));
  EXPECT_THAT(OutputOf("http"), StartsWith(absl::StrCat("HTTP GET ", url, ": ")));
  EXPECT_THAT(OutputOf("http"), HasSubstr("onnect"));
  RunUntil([&] { return events_.size() >= 5; });
  EXPECT_THAT(StatusEvents(), ElementsAre(Health::kPassing, Health::kWarning,
                                          Health::kCritical, Health::kPassing,
                                          Health::kCritical));
}

TEST_F(CheckRunnerTest, HttpMethodBodyLimitAndTimeout) {
  TestHttpServer server;
  server.Respond(200, std::string(10000, 'y'));
  CheckDefinition def = Def("post", CheckKind::kHttp);
  def.http = absl::StrCat("http://127.0.0.1:", server.port(), "/");
  def.method = "POST";
  def.timeout = absl::Milliseconds(300);
  ASSERT_TRUE(runner_->Add(def).ok());
  ASSERT_TRUE(RunUntil([&] { return StatusOf("post") == Health::kPassing; }));
  EXPECT_THAT(server.last_request(), StartsWith("POST / HTTP/1.1\r\n"));
  std::string output = OutputOf("post");
  EXPECT_THAT(output, StartsWith(absl::StrCat("HTTP POST ", def.http, ": 200 OK Output: yyy")));
  EXPECT_EQ(output.size(), 4096u);  // the whole output: at most 4 KiB
  EXPECT_EQ(output.find_first_not_of('y', output.find("Output: ") + 8), std::string::npos);

  server.Hang(true);
  absl::Time start = absl::Now();
  ASSERT_TRUE(RunUntil([&] { return StatusOf("post") == Health::kCritical; }));
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  EXPECT_THAT(OutputOf("post"), HasSubstr("imed out"));
  server.Hang(false);
}

// A numeric host, and a name: it is looked up, and each of its addresses
// tried ("localhost" may give ::1 first, and the listener is on 127.0.0.1
// only).
TEST_F(CheckRunnerTest, TcpPassingThenCritical) {
  CheckDefinition bad = Def("bad", CheckKind::kTcp);
  bad.tcp = "localhost";  // no port
  bad.check.status = Health::kPassing;
  ASSERT_TRUE(runner_->Add(bad).ok());
  for (const std::string host : {"127.0.0.1", "localhost"}) {
    SCOPED_TRACE(host);
    uint16_t port;
    int fd = ListenOnLoopback(&port);
    ASSERT_GE(fd, 0);
    std::string target = absl::StrCat(host, ":", port);
    CheckDefinition def = Def("tcp-" + host, CheckKind::kTcp);
    def.tcp = target;
    ASSERT_TRUE(runner_->Add(def).ok());
    ASSERT_TRUE(RunUntil([&] { return StatusOf(def.check.id) == Health::kPassing; }));
    EXPECT_EQ(OutputOf(def.check.id), absl::StrCat("TCP connect ", target, ": Success"));

    close(fd);  // now every address refuses
    ASSERT_TRUE(RunUntil([&] { return StatusOf(def.check.id) == Health::kCritical; }));
    EXPECT_EQ(OutputOf(def.check.id),
              absl::StrCat("TCP connect ", target, ": connection refused"));
  }
  EXPECT_EQ(StatusOf("bad"), Health::kCritical);
  EXPECT_THAT(OutputOf("bad"), HasSubstr("invalid address"));
}

TEST_F(CheckRunnerTest, TtlExpiresUnlessRefreshed) {
  CheckDefinition def = Def("ttl", CheckKind::kTtl);
  def.ttl = absl::Milliseconds(200);
  def.check.status = Health::kPassing;
  absl::Time start = absl::Now();
  ASSERT_TRUE(runner_->Add(def).ok());
  EXPECT_EQ(StatusOf("ttl"), Health::kPassing);
  ASSERT_TRUE(RunUntil([&] { return StatusOf("ttl") == Health::kCritical; }));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(190));
  EXPECT_EQ(OutputOf("ttl"), "TTL expired");

  ASSERT_TRUE(runner_->UpdateTtl("ttl", Health::kPassing, "ok").ok());
  EXPECT_EQ(StatusOf("ttl"), Health::kPassing);
  EXPECT_EQ(OutputOf("ttl"), "ok");
  for (int i = 0; i < 12; ++i) {  // 600 ms of refreshes every 50 ms
    RunFor(absl::Milliseconds(50));
    ASSERT_EQ(StatusOf("ttl"), Health::kPassing) << i;
    ASSERT_TRUE(runner_->UpdateTtl("ttl", Health::kPassing, "ok").ok());
  }
  ASSERT_TRUE(RunUntil([&] { return StatusOf("ttl") == Health::kCritical; }));
  EXPECT_EQ(OutputOf("ttl"), "TTL expired (last output before timeout follows): ok");
  RunUntil([&] { return events_.size() >= 3; });
  EXPECT_THAT(StatusEvents(),
              ElementsAre(Health::kCritical, Health::kPassing, Health::kCritical));
}

TEST_F(CheckRunnerTest, UpdateTtlRules) {
  CheckDefinition none = Def("none", CheckKind::kNone);
  none.check.status = Health::kPassing;
  CheckDefinition tcp = Def("tcp", CheckKind::kTcp);
  tcp.tcp = "127.0.0.1:1";
  tcp.interval = absl::Seconds(10);
  ASSERT_TRUE(runner_->Add(none).ok());
  ASSERT_TRUE(runner_->Add(tcp).ok());
  EXPECT_EQ(runner_->UpdateTtl("nope", Health::kPassing, "").code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(runner_->UpdateTtl("tcp", Health::kPassing, "").code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(runner_->UpdateTtl("none", Health::kWarning, std::string(5000, 'w')).ok());
  EXPECT_EQ(OutputOf("none").size(), 4096u);
  RunFor(absl::Milliseconds(100));
  EXPECT_EQ(StatusOf("none"), Health::kWarning);  // no TTL: it stays
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_[0].id, "none");

  CheckDefinition invalid = Def("x", CheckKind::kScript);
  EXPECT_EQ(runner_->Add(invalid).code(), absl::StatusCode::kInvalidArgument);
  invalid.args = {"/bin/true"};
  invalid.interval = absl::ZeroDuration();
  EXPECT_EQ(runner_->Add(invalid).code(), absl::StatusCode::kInvalidArgument);
  CheckDefinition ttl = Def("ttl", CheckKind::kTtl);
  EXPECT_EQ(runner_->Add(ttl).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(runner_->Statuses().size(), 2u);
}

TEST_F(CheckRunnerTest, ReAddReplacesTheCheck) {
  CheckDefinition def = Def("c", CheckKind::kNone);
  def.check.status = Health::kWarning;
  ASSERT_TRUE(runner_->Add(def).ok());
  def.kind = CheckKind::kTtl;
  def.ttl = absl::Milliseconds(50);
  def.check.status = Health::kPassing;
  ASSERT_TRUE(runner_->Add(def).ok());
  EXPECT_EQ(StatusOf("c"), Health::kPassing);
  ASSERT_TRUE(RunUntil([&] { return StatusOf("c") == Health::kCritical; }));
  EXPECT_EQ(runner_->Statuses().size(), 1u);
}

// Accepts and drops every connection, on the test's loop.
void StartAcceptor(uv_loop_t* loop, uv_tcp_t* server, int* port) {
  uv_tcp_init(loop, server);
  sockaddr_in addr;
  uv_ip4_addr("127.0.0.1", 0, &addr);
  uv_tcp_bind(server, reinterpret_cast<const sockaddr*>(&addr), 0);
  uv_listen(reinterpret_cast<uv_stream_t*>(server), 1024, [](uv_stream_t* s, int status) {
    if (status < 0) return;
    auto* client = new uv_tcp_t;
    uv_tcp_init(s->loop, client);
    uv_accept(s, reinterpret_cast<uv_stream_t*>(client));
    uv_close(reinterpret_cast<uv_handle_t*>(client),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
  });
  int len = sizeof(addr);
  uv_tcp_getsockname(server, reinterpret_cast<sockaddr*>(&addr), &len);
  *port = ntohs(addr.sin_port);
}

TEST_F(CheckRunnerTest, ManyConcurrentChecksKeepTheirTicks) {
  MakeRunner(CheckRunner::Options());  // Consul's stagger: within the interval
  auto* server = new uv_tcp_t;
  int port = 0;
  StartAcceptor(&loop_, server, &port);
  constexpr int kChecks = 200;
  for (int i = 0; i < kChecks; ++i) {
    CheckDefinition def = Def(absl::StrCat("tcp-", i), CheckKind::kTcp);
    def.tcp = absl::StrCat("127.0.0.1:", port);
    def.interval = absl::Milliseconds(100);
    def.timeout = absl::Seconds(1);
    ASSERT_TRUE(runner_->Add(def).ok());
  }
  // How late the loop gets: a 10 ms timer's largest gap.
  struct Probe {
    uint64_t last = 0;
    uint64_t max_gap = 0;
  } probe;
  probe.last = uv_now(&loop_);
  uv_timer_t* responsive = new uv_timer_t;
  uv_timer_init(&loop_, responsive);
  responsive->data = &probe;
  uv_timer_start(responsive, [](uv_timer_t* t) {
    auto* p = static_cast<Probe*>(t->data);
    uint64_t now = uv_now(t->loop);
    p->max_gap = std::max(p->max_gap, now - p->last);
    p->last = now;
  }, 10, 10);

  RunFor(absl::Milliseconds(1500));
  uv_timer_stop(responsive);
  uv_close(reinterpret_cast<uv_handle_t*>(responsive),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
  uv_close(reinterpret_cast<uv_handle_t*>(server),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });

  uint64_t fewest = UINT64_MAX, most = 0;
  for (const CheckStatus& s : runner_->Statuses()) {
    fewest = std::min(fewest, s.runs);
    most = std::max(most, s.runs);
    EXPECT_EQ(s.status, Health::kPassing) << s.id << ": " << s.output;
  }
  EXPECT_GE(fewest, 8u);
  EXPECT_LE(most, 16u);  // ticks, not a pile-up
  EXPECT_LT(probe.max_gap, 250u) << "the loop stalled";
  RunUntil([&] { return events_.size() >= kChecks; }, absl::Seconds(1));
  EXPECT_EQ(events_.size(), static_cast<size_t>(kChecks));  // one change each
}

}  // namespace
}  // namespace svcdns::agent
