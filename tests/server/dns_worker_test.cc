// The workers in-process, over real loopback sockets: the allocation proof
// for the whole receive-answer-send path, and snapshot publication racing
// with queries (which AddressSanitizer watches for use-after-free).
#include "server/dns_worker.h"

#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "catalog/snapshot_builder.h"
#include "gtest/gtest.h"
#include "server/dns_server.h"
#include "tests/server/allocation_counter.h"
#include "tests/testing/dns_client.h"

namespace svcdns::server {
namespace {

catalog::Catalog SmallCatalog(uint64_t index) {
  catalog::Catalog c;
  c.index = index;
  for (int i = 0; i < 3; ++i) {
    catalog::NodeState n;
    n.node.name = "n" + std::to_string(i);
    n.node.address = "10.0.0." + std::to_string(i + 1);
    n.node.meta = {{"k", "v"}};
    catalog::Service s;
    s.id = "web" + std::to_string(i);
    s.name = "web";
    s.port = static_cast<uint16_t>(8000 + i);
    s.tags = {"v" + std::to_string(i)};
    n.services.push_back(s);
    c.nodes.push_back(n);
  }
  return c;
}

class DnsWorkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    publisher_.Publish(*catalog::BuildSnapshot(SmallCatalog(1), {}));
    server_ = std::make_unique<DnsServer>(WorkerOptions{}, publisher_);
    auto address = ParseListenAddress("127.0.0.1:0");
    ASSERT_TRUE(address.ok());
    ASSERT_TRUE(server_->Start({*address}, 1).ok());
    port_ = server_->addresses()[0].port();
  }
  void TearDown() override { server_->Stop(); }

  int Connect(int type) {
    int fd = socket(AF_INET, type, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port_);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    return fd;
  }

  catalog::SnapshotPublisher publisher_;
  std::unique_ptr<DnsServer> server_;
  uint16_t port_ = 0;
};

// Receives one UDP answer into a stack buffer; false on timeout.
bool Receive(int fd, char* buf, size_t size, ssize_t* n) {
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, 2000) != 1) return false;
  *n = recv(fd, buf, size, 0);
  return *n > 0;
}

TEST_F(DnsWorkerTest, AnsweringOverSocketsAllocatesNothing) {
  if (!testing::AllocationCountingAvailable()) GTEST_SKIP() << "sanitizers own malloc";
  std::vector<std::string> queries;
  for (const char* name : {"web.service.consul", "v1.web.service.consul", "_web._tcp.service.consul",
                           "nosuch.service.consul", "n1.node.consul", "0a000001.addr.consul",
                           "1.0.0.10.in-addr.arpa", "consul", "example.com"}) {
    for (ldns_rr_type type : {LDNS_RR_TYPE_A, LDNS_RR_TYPE_SRV, LDNS_RR_TYPE_TXT,
                              LDNS_RR_TYPE_ANY, LDNS_RR_TYPE_PTR, LDNS_RR_TYPE_SOA}) {
      queries.push_back(testing::QueryWire(name, type, false));
      queries.push_back(testing::QueryWire(name, type, true));
    }
  }
  std::string pipelined;
  for (const std::string& q : queries) {
    pipelined.push_back(static_cast<char>(q.size() >> 8));
    pipelined.push_back(static_cast<char>(q.size()));
    pipelined += q;
  }
  int udp = Connect(SOCK_DGRAM);
  int tcp = Connect(SOCK_STREAM);
  char buf[65536];
  auto run_round = [&](size_t* answered) {
    for (const std::string& q : queries) {
      send(udp, q.data(), q.size(), 0);
      ssize_t n;
      if (Receive(udp, buf, sizeof(buf), &n)) ++*answered;
    }
    send(tcp, pipelined.data(), pipelined.size(), 0);
    size_t got = 0, messages = 0;
    while (messages < queries.size()) {
      ssize_t n;
      if (!Receive(tcp, buf + got, sizeof(buf) - got, &n)) break;
      got += n;
      size_t pos = 0;
      while (got - pos >= 2) {
        size_t len = (static_cast<uint8_t>(buf[pos]) << 8) | static_cast<uint8_t>(buf[pos + 1]);
        if (got - pos - 2 < len) break;
        pos += 2 + len;
        ++messages;
        ++*answered;
      }
      std::memmove(buf, buf + pos, got - pos);
      got -= pos;
    }
  };
  size_t warmup = 0;
  run_round(&warmup);  // the TCP connection and its buffers are set up here
  ASSERT_EQ(warmup, queries.size() * 2);

  uint64_t before = testing::AllocationCount();
  size_t answered = 0;
  for (int round = 0; round < 20; ++round) run_round(&answered);
  uint64_t allocations = testing::AllocationCount() - before;
  close(udp);
  close(tcp);
  EXPECT_EQ(answered, queries.size() * 2 * 20);
  EXPECT_EQ(allocations, 0u);
}

// A burst makes the worker drain the socket outside its epoll set; once
// the burst is answered, a lone query must still wake it (the socket is back
// in the set). Every query of every round gets its own answer.
TEST_F(DnsWorkerTest, BurstsAndLoneQueriesAllAnswered) {
  constexpr int kBurst = 100;  // well within a default socket buffer
  int udp = Connect(SOCK_DGRAM);
  std::string q = testing::QueryWire("web.service.consul", LDNS_RR_TYPE_A);
  std::vector<std::string> burst(kBurst, q);
  std::vector<mmsghdr> msgs(kBurst);
  std::vector<iovec> iov(kBurst);
  char buf[4096];
  for (int round = 0; round < 5; ++round) {
    for (int i = 0; i < kBurst; ++i) {
      uint16_t id = static_cast<uint16_t>(round * kBurst + i);
      burst[i][0] = static_cast<char>(id >> 8);
      burst[i][1] = static_cast<char>(id);
      iov[i] = {burst[i].data(), burst[i].size()};
      msgs[i] = {};
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    ASSERT_EQ(sendmmsg(udp, msgs.data(), kBurst, 0), kBurst);
    std::vector<bool> seen(kBurst, false);
    int answered = 0;
    ssize_t n;
    while (answered < kBurst && Receive(udp, buf, sizeof(buf), &n)) {
      int i = ((static_cast<uint8_t>(buf[0]) << 8) | static_cast<uint8_t>(buf[1])) - round * kBurst;
      ASSERT_TRUE(i >= 0 && i < kBurst && !seen[i]) << "stray or repeated answer " << i;
      seen[i] = true;
      ++answered;
    }
    EXPECT_EQ(answered, kBurst) << "round " << round;
    // Idle long enough for the worker to find the socket empty and wait.
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ASSERT_EQ(send(udp, q.data(), q.size(), 0), static_cast<ssize_t>(q.size()));
    EXPECT_TRUE(Receive(udp, buf, sizeof(buf), &n)) << "lone query after burst " << round;
  }
  close(udp);
}

TEST_F(DnsWorkerTest, PublishingWhileAnsweringLosesNoQuery) {
  std::atomic<bool> done{false};
  std::thread publisher([&] {
    for (uint64_t index = 2; index < 200; ++index) {
      publisher_.Publish(*catalog::BuildSnapshot(SmallCatalog(index), {}));
    }
    done = true;
  });
  int udp = Connect(SOCK_DGRAM);
  std::string q = testing::QueryWire("web.service.consul", LDNS_RR_TYPE_SRV);
  size_t sent = 0, answered = 0;
  char buf[4096];
  while (!done || sent < 200) {
    send(udp, q.data(), q.size(), 0);
    ++sent;
    ssize_t n;
    if (Receive(udp, buf, sizeof(buf), &n) && n > 12 && buf[7] == 3) ++answered;  // 3 answers
  }
  publisher.join();
  close(udp);
  EXPECT_EQ(answered, sent);
}

}  // namespace
}  // namespace svcdns::server
