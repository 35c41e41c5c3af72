// Agent streams into the real `svcdns serve`, over real loopback sockets with
// a real gRPC client; the effect is checked through DNS.
#include <signal.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "gtest/gtest.h"
#include "tests/testing/agent_stream.h"
#include "tests/testing/dns_client.h"
#include "tests/testing/server_process.h"

namespace svcdns::testing {
namespace {

using v1::HealthStatus;

class IngestTest : public ::testing::Test {
 protected:
  void StartServer(std::vector<std::string> args = {}) {
    auto server = ServerProcess::Start(args);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    ASSERT_NE(server_->ingest_port(), 0);
  }

  std::vector<std::string> A(const std::string& name) {
    auto r = Query("127.0.0.1", server_->port(), name, LDNS_RR_TYPE_A);
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return {"<no answer>"};
    if ((*r)->rcode() != LDNS_RCODE_NOERROR) return {};
    auto v = (*r)->AnswerRdata(LDNS_RR_TYPE_A);
    std::sort(v.begin(), v.end());
    return v;
  }

  // Waits up to `timeout_ms` for A(name) == expected.
  bool Eventually(const std::string& name, const std::vector<std::string>& expected,
                  int timeout_ms) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < deadline) {
      if (A(name) == expected) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return A(name) == expected;
  }

  std::unique_ptr<AgentStream> Connect(const std::string& token = "") {
    return std::make_unique<AgentStream>(server_->ingest_port(), grpc::InsecureChannelCredentials(),
                                         token);
  }

  std::unique_ptr<ServerProcess> server_;
};

TEST_F(IngestTest, AckComesOnlyOnceTheChangeIsVisible) {
  StartServer();
  auto agent = Connect();
  ASSERT_TRUE(agent->Send(HelloMessage(1, "agent1", "10.9.0.1")));
  auto welcome = agent->Read();
  ASSERT_TRUE(welcome && welcome->has_welcome());
  EXPECT_EQ(welcome->welcome().datacenter(), "dc1");
  EXPECT_TRUE(A("api.service.consul").empty());
  for (uint64_t seq = 2; seq < 12; ++seq) {
    uint32_t port = 7000 + static_cast<uint32_t>(seq);
    ASSERT_TRUE(agent->Send(SyncMessage(seq, {ServiceProto("api", "api", port)})));
    auto ack = agent->Read();
    ASSERT_TRUE(ack && ack->has_ack());
    EXPECT_EQ(ack->ack().sequence(), seq);
    // No waiting: what is acknowledged is already answered.
    auto srv = Query("127.0.0.1", server_->port(), "api.service.consul", LDNS_RR_TYPE_SRV);
    ASSERT_TRUE(srv.ok());
    EXPECT_EQ((*srv)->AnswerRdata(LDNS_RR_TYPE_SRV),
              (std::vector<std::string>{"1 1 " + std::to_string(port) + " agent1.node.dc1.consul."}));
  }
}

TEST_F(IngestTest, UpdatesDeletesAndChecks) {
  StartServer();
  auto agent = Connect();
  ASSERT_TRUE(agent->Register("agent1", "10.9.0.1", {ServiceProto("api", "api", 80)},
                              {CheckProto("api-check", "api", v1::HEALTH_STATUS_PASSING)}));
  EXPECT_EQ(A("api.service.consul"), (std::vector<std::string>{"10.9.0.1"}));
  // Add a second service with its own address.
  ASSERT_TRUE(agent->Send(UpdateMessage(3, {UpsertService(ServiceProto("db1", "db", 5432, {}, "10.9.9.9"))})));
  ASSERT_TRUE(IsAck(agent->Read()));
  EXPECT_EQ(A("db.service.consul"), (std::vector<std::string>{"10.9.9.9"}));
  // A critical check takes the instance out.
  ASSERT_TRUE(agent->Send(UpdateMessage(4, {CheckStatusChange("api-check", v1::HEALTH_STATUS_CRITICAL)})));
  ASSERT_TRUE(IsAck(agent->Read()));
  EXPECT_TRUE(A("api.service.consul").empty());
  ASSERT_TRUE(agent->Send(UpdateMessage(5, {CheckStatusChange("api-check", v1::HEALTH_STATUS_WARNING)})));
  ASSERT_TRUE(IsAck(agent->Read()));
  EXPECT_EQ(A("api.service.consul"), (std::vector<std::string>{"10.9.0.1"}));
  // Delete; deleting something absent is fine.
  ASSERT_TRUE(agent->Send(UpdateMessage(6, {DeleteServiceChange("db1"), DeleteServiceChange("nope")})));
  ASSERT_TRUE(IsAck(agent->Read()));
  EXPECT_TRUE(A("db.service.consul").empty());
  EXPECT_TRUE(agent->Finish().ok());
}

// An update that changes nothing, taken in with the publication after the
// one before it (the owner is not woken for it), is acknowledged, and the
// owner still hears of the next one.
TEST_F(IngestTest, AnUpdateThatChangesNothingLeavesTheOwnerListening) {
  StartServer();
  auto agent = Connect();
  ASSERT_TRUE(agent->Register("agent1", "10.9.0.1", {ServiceProto("api", "api", 80)}));
  for (uint64_t seq = 3; seq < 9; seq += 2) {
    ASSERT_TRUE(agent->Send(UpdateMessage(seq, {DeleteServiceChange("nope")})));
    ASSERT_TRUE(IsAck(agent->Read()));
    uint32_t port = 8000 + static_cast<uint32_t>(seq);
    ASSERT_TRUE(agent->Send(UpdateMessage(seq + 1, {UpsertService(ServiceProto("db", "db", port))})));
    auto ack = agent->Read();  // within the stream's deadline, or never
    ASSERT_TRUE(IsAck(ack));
    EXPECT_EQ(ack->ack().sequence(), seq + 1);
    EXPECT_EQ(A("db.service.consul"), (std::vector<std::string>{"10.9.0.1"}));
  }
  EXPECT_TRUE(agent->Finish().ok());
}

TEST_F(IngestTest, AnUpdateWithOneBadChangeAppliesNone) {
  StartServer();
  auto agent = Connect();
  ASSERT_TRUE(agent->Register("agent1", "10.9.0.1", {ServiceProto("api", "api", 80)}));
  auto other = Connect();
  ASSERT_TRUE(other->Register("agent2", "10.9.0.2", {ServiceProto("api2", "api", 80)}));
  ASSERT_TRUE(agent->Send(UpdateMessage(3, {UpsertService(ServiceProto("new", "fresh", 1)),
                                            DeleteServiceChange("api"),
                                            CheckStatusChange("no-such-check", v1::HEALTH_STATUS_PASSING)})));
  EXPECT_FALSE(agent->Read().has_value());
  grpc::Status status = agent->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("no-such-check"), std::string::npos) << status.error_message();
  EXPECT_TRUE(A("fresh.service.consul").empty());
  EXPECT_EQ(A("api.service.consul"), (std::vector<std::string>{"10.9.0.1", "10.9.0.2"}));
  // The other stream goes on.
  ASSERT_TRUE(other->Send(UpdateMessage(3, {UpsertService(ServiceProto("b", "b", 1))})));
  ASSERT_TRUE(IsAck(other->Read()));
  EXPECT_EQ(A("b.service.consul"), (std::vector<std::string>{"10.9.0.2"}));
}

struct BadCase {
  std::string name;
  std::vector<v1::AgentMessage> messages;  // the last one is the bad one
  grpc::StatusCode code;
};

TEST_F(IngestTest, EveryBadInputEndsOnlyItsStreamAndChangesNothing) {
  StartServer({"--max-message-bytes", "20000"});
  auto witness = Connect();
  ASSERT_TRUE(witness->Register("witness", "10.9.0.9", {ServiceProto("w", "w", 1)}));
  v1::Service big = ServiceProto("big", "big", 1);
  for (int i = 0; i < 2000; ++i) big.add_tags("tag-number-" + std::to_string(i));
  v1::AgentMessage hello = HelloMessage(1, "bad", "10.9.1.1");
  auto sync = [](std::vector<v1::Service> s, std::vector<v1::Check> c = {}) {
    return SyncMessage(2, s, c);
  };
  std::vector<BadCase> cases = {
      {"sync before hello", {sync({ServiceProto("x", "x", 1)})}, grpc::StatusCode::FAILED_PRECONDITION},
      {"second hello", {hello, hello}, grpc::StatusCode::FAILED_PRECONDITION},
      {"update before hello", {UpdateMessage(1, {})}, grpc::StatusCode::FAILED_PRECONDITION},
      {"node name not a label", {HelloMessage(1, "bad.name", "10.9.1.1")}, grpc::StatusCode::INVALID_ARGUMENT},
      {"bad node address", {HelloMessage(1, "bad", "10.9.1")}, grpc::StatusCode::INVALID_ARGUMENT},
      {"service without name", {hello, sync({ServiceProto("x", "", 1)})}, grpc::StatusCode::INVALID_ARGUMENT},
      {"port over 65535", {hello, sync({ServiceProto("x", "x", 70000)})}, grpc::StatusCode::INVALID_ARGUMENT},
      {"bad service address", {hello, sync({ServiceProto("x", "x", 1, {}, "not-an-ip")})}, grpc::StatusCode::INVALID_ARGUMENT},
      {"unspecified status", {hello, sync({ServiceProto("x", "x", 1)}, {CheckProto("c", "x", v1::HEALTH_STATUS_UNSPECIFIED)})}, grpc::StatusCode::INVALID_ARGUMENT},
      {"check for unknown service", {hello, sync({ServiceProto("x", "x", 1)}, {CheckProto("c", "y", v1::HEALTH_STATUS_PASSING)})}, grpc::StatusCode::INVALID_ARGUMENT},
      {"empty message", {hello, v1::AgentMessage()}, grpc::StatusCode::INVALID_ARGUMENT},
      {"oversized message", {hello, sync({big})}, grpc::StatusCode::RESOURCE_EXHAUSTED},
  };
  for (const BadCase& c : cases) {
    auto agent = Connect();
    for (const auto& m : c.messages) agent->Send(m);
    while (agent->Read().has_value()) {
    }
    grpc::Status status = agent->Finish();
    EXPECT_EQ(status.error_code(), c.code) << c.name << ": " << status.error_message();
    EXPECT_FALSE(status.error_message().empty()) << c.name;
    EXPECT_TRUE(A("x.service.consul").empty()) << c.name;
    EXPECT_EQ(A("w.service.consul"), (std::vector<std::string>{"10.9.0.9"})) << c.name;
  }
  // The witness stream is untouched.
  ASSERT_TRUE(witness->Send(UpdateMessage(3, {UpsertService(ServiceProto("w2", "w", 2))})));
  ASSERT_TRUE(IsAck(witness->Read()));
}

TEST_F(IngestTest, ASecondStreamTakesTheNodeOver) {
  StartServer();
  auto first = Connect();
  ASSERT_TRUE(first->Register("agent1", "10.9.0.1", {ServiceProto("api", "api", 80)}));
  auto second = Connect();
  ASSERT_TRUE(second->Register("agent1", "10.9.0.7", {ServiceProto("api", "api", 80)}));
  EXPECT_FALSE(first->Read().has_value());
  EXPECT_EQ(first->Finish().error_code(), grpc::StatusCode::ABORTED);
  EXPECT_EQ(A("api.service.consul"), (std::vector<std::string>{"10.9.0.7"}));
}

TEST_F(IngestTest, TokenIsRequired) {
  TempDir dir;
  std::string token_file = dir.Write("token", "s3cret\n");
  StartServer({"--ingest-token-file", token_file});
  for (const std::string& token : {std::string(), std::string("wrong")}) {
    auto agent = Connect(token);
    agent->Send(HelloMessage(1, "intruder", "10.9.0.66"));
    EXPECT_FALSE(agent->Read().has_value());
    EXPECT_EQ(agent->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED) << token;
  }
  auto agent = Connect("s3cret");
  ASSERT_TRUE(agent->Register("agent1", "10.9.0.1", {ServiceProto("api", "api", 80)}));
  EXPECT_TRUE(A("intruder.node.consul").empty());
}

TEST_F(IngestTest, GoneAgentIsServedForItsGraceThenFailedThenBackOnReconnect) {
  StartServer({"--agent-grace", "1s"});
  {
    auto agent = Connect();
    ASSERT_TRUE(agent->Register("agent1", "10.9.0.1", {ServiceProto("api", "api", 80)}));
    agent->Cancel();
  }
  EXPECT_EQ(A("api.service.consul"), (std::vector<std::string>{"10.9.0.1"}));  // within grace
  EXPECT_TRUE(Eventually("api.service.consul", {}, 5000));                     // failed
  auto agent = Connect();
  ASSERT_TRUE(agent->Register("agent1", "10.9.0.1", {ServiceProto("api", "api", 80)}));
  EXPECT_EQ(A("api.service.consul"), (std::vector<std::string>{"10.9.0.1"}));
}

TEST_F(IngestTest, LeavingAgentIsRemovedAtOnce) {
  StartServer({"--agent-grace", "1h"});
  auto agent = Connect();
  ASSERT_TRUE(agent->Register("agent1", "10.9.0.1", {ServiceProto("api", "api", 80)}));
  v1::AgentMessage leave = SyncMessage(3, {});
  leave.mutable_sync()->set_leaving(true);
  ASSERT_TRUE(agent->Send(leave));
  ASSERT_TRUE(IsAck(agent->Read()));
  EXPECT_TRUE(A("api.service.consul").empty());
  EXPECT_TRUE(agent->Finish().ok());
}

TEST_F(IngestTest, PersistedCatalogIsServedAfterRestartBeforeAgentsReconnect) {
  TempDir dir;
  StartServer({"--data-dir", dir.path()});
  {
    auto agent = Connect();
    ASSERT_TRUE(agent->Register("agent1", "10.9.0.1", {ServiceProto("api", "api", 80)}));
  }
  server_->Stop();
  ASSERT_TRUE(std::filesystem::exists(dir.path() + "/catalog.json"));
  StartServer({"--data-dir", dir.path()});
  EXPECT_EQ(A("api.service.consul"), (std::vector<std::string>{"10.9.0.1"}));
  server_->Stop();

  // A truncated file is set aside, reported, and not served.
  std::string path = dir.path() + "/catalog.json";
  std::string contents = ReadFile(path);
  std::ofstream(path, std::ios::trunc) << contents.substr(0, contents.size() / 2);
  StartServer({"--data-dir", dir.path()});
  EXPECT_TRUE(A("api.service.consul").empty());
  EXPECT_NE(server_->Log().find("data_file_corrupt"), std::string::npos) << server_->Log();
  bool set_aside = false;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    if (entry.path().filename().string().starts_with("catalog.json.corrupt-")) set_aside = true;
  }
  EXPECT_TRUE(set_aside);
}

}  // namespace
}  // namespace svcdns::testing

namespace svcdns::testing {
namespace {

// An agent process that stops answering (SIGSTOP: its connection stays open,
// so only keepalive can tell) is detected, served through its grace, then
// failed; SIGKILL of another is seen at once.
TEST_F(IngestTest, FrozenAgentIsDetectedByKeepaliveAndFailedAfterGrace) {
  StartServer({"--agent-keepalive", "1s", "--agent-grace", "1s"});
  std::string cmd = std::string(SVCDNS_TEST_AGENT) + " " + std::to_string(server_->ingest_port()) +
                    " frozen 10.9.0.5 frosty >/dev/null 2>&1 & echo $!";
  FILE* f = popen(cmd.c_str(), "r");
  int pid = 0;
  ASSERT_EQ(fscanf(f, "%d", &pid), 1);
  pclose(f);
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(Eventually("frosty.service.consul", {"10.9.0.5"}, 5000));
  kill(pid, SIGSTOP);
  auto stopped = std::chrono::steady_clock::now();
  EXPECT_TRUE(Eventually("frosty.service.consul", {}, 10000));
  auto detected = std::chrono::steady_clock::now() - stopped;
  EXPECT_GE(detected, std::chrono::milliseconds(1500));  // keepalive timeout + grace
  kill(pid, SIGKILL);
  kill(pid, SIGCONT);
  int status;
  waitpid(pid, &status, 0);
  EXPECT_NE(server_->Log().find("node=frozen"), std::string::npos);
}

}  // namespace
}  // namespace svcdns::testing

namespace svcdns::testing {
namespace {

// Raw bytes that are not HTTP/2 on the ingest port: the connection is
// refused by gRPC; streams before and after are unaffected.
TEST_F(IngestTest, GarbageOnTheIngestPortIsRefused) {
  StartServer();
  auto before = Connect();
  ASSERT_TRUE(before->Register("agent1", "10.9.0.1", {ServiceProto("api", "api", 80)}));
  for (const std::string& junk :
       {std::string("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), std::string(5000, '\xff'),
        std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") + std::string(100, '\0')}) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(server_->ingest_port());
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    send(fd, junk.data(), junk.size(), MSG_NOSIGNAL);
    timeval tv{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char buf[4096];
    ssize_t n;
    size_t total = 0;
    while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) total += n;
    EXPECT_EQ(n, 0) << "the server should close the connection";  // not a timeout
    close(fd);
  }
  auto after = Connect();
  ASSERT_TRUE(after->Register("agent2", "10.9.0.2", {ServiceProto("api2", "api", 80)}));
  EXPECT_EQ(A("api.service.consul"), (std::vector<std::string>{"10.9.0.1", "10.9.0.2"}));
}

}  // namespace
}  // namespace svcdns::testing

namespace svcdns::testing {
namespace {

// Stopping the server while agents stream updates as fast as they can: it
// acknowledges what it can and exits cleanly, whatever is in flight. (The
// owner acts on streams until their end reaches it, after gRPC's queue has
// shut down.)
TEST_F(IngestTest, StopsCleanlyWhileAgentsStream) {
  StartServer();
  constexpr int kAgents = 32;
  std::vector<std::unique_ptr<AgentStream>> agents;
  for (int i = 0; i < kAgents; ++i) {
    agents.push_back(Connect());
    ASSERT_TRUE(agents.back()->Register("agent" + std::to_string(i), "10.9.1." + std::to_string(i),
                                        {ServiceProto("api", "api", 80)},
                                        {CheckProto("api-check", "api", v1::HEALTH_STATUS_PASSING)}));
  }
  std::atomic<int> acks{0};
  std::vector<std::thread> threads;
  for (auto& agent : agents) {
    threads.emplace_back([&acks, agent = agent.get()] {
      while (IsAck(agent->Read())) ++acks;
    });
    threads.emplace_back([agent = agent.get()] {
      for (uint64_t seq = 3; seq < 200000; ++seq) {
        auto status = seq % 2 ? v1::HEALTH_STATUS_CRITICAL : v1::HEALTH_STATUS_PASSING;
        if (!agent->Send(UpdateMessage(seq, {CheckStatusChange("api-check", status)}))) return;
      }
    });
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (acks < 2000 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_GE(acks, 2000);
  // Half the agents drop their streams as the server stops.
  for (int i = 0; i < kAgents; i += 2) agents[i]->Cancel();
  int status = server_->Stop();
  for (auto& agent : agents) agent->Cancel();
  for (auto& thread : threads) thread.join();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "status " << status << "\n" << server_->Log().substr(server_->Log().size() > 2000 ? server_->Log().size() - 2000 : 0);
}

}  // namespace
}  // namespace svcdns::testing
