#include "catalog/snapshot_builder.h"

#include <sched.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/parallel.h"
#include "dns/name.h"
#include "gtest/gtest.h"

namespace svcdns::catalog {
namespace {

Catalog ManyServices(int services, int nodes) {
  Catalog c;
  for (int n = 0; n < nodes; ++n) {
    NodeState node;
    node.node.name = absl::StrCat("node", n);
    node.node.address = absl::StrCat("10.0.", n / 256, ".", n % 256);
    for (int s = n; s < services; s += nodes) {
      Service svc;
      svc.id = absl::StrCat("svc", s, "-", n);
      svc.name = absl::StrCat("svc", s);
      svc.port = static_cast<uint16_t>(1000 + s);
      svc.tags = {"t1", absl::StrCat("t", s % 3)};
      node.services.push_back(svc);
      Check check;
      check.id = absl::StrCat("check-", svc.id);
      check.service_id = svc.id;
      check.status = Health::kPassing;
      node.checks.push_back(check);
    }
    c.nodes.push_back(node);
  }
  return c;
}

std::string Key(const char* service, const char* tag = "") {
  LookupKey key(KeyKind::kService);
  key.AddLabel("dc1");
  key.AddLabel(service);
  key.AddLabel(tag);
  return std::string(key.view());
}

TEST(SnapshotBuilderTest, UnchangedServicesShareTheirAnswers) {
  SnapshotBuilder builder({});
  Catalog catalog = ManyServices(100, 10);
  auto first = builder.Build(catalog);
  ASSERT_TRUE(first.ok());
  EXPECT_GT(builder.compiled(), 100u);

  auto same = builder.Build(catalog);
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(builder.compiled(), 0u);
  EXPECT_EQ((*same)->Find(Key("svc7")), (*first)->Find(Key("svc7")));  // the same object

  // One check goes critical: svc7's only instance leaves its three groups
  // (the service and its two tags), which are dropped, not compiled; the
  // other services of node 7 keep their answers.
  catalog.nodes[7].checks[0].Mutable().status = Health::kCritical;
  auto changed = builder.Build(catalog);
  ASSERT_TRUE(changed.ok());
  EXPECT_EQ(builder.compiled(), 0u);
  EXPECT_EQ((*changed)->Find(Key("svc17")), (*first)->Find(Key("svc17")));
  EXPECT_EQ((*changed)->Find(Key("svc7")), nullptr);  // its only instance is out
  EXPECT_EQ((*changed)->Find(Key("svc8")), (*first)->Find(Key("svc8")));
  // The first snapshot is untouched by what came after it.
  EXPECT_NE((*first)->Find(Key("svc7")), nullptr);
}

// Every record a set can answer with, in its order, with the SRV records'
// additional addresses and target groups: what replies are made of.
std::string Records(const AnswerSet& set) {
  std::string out;
  for (auto table : {set.a(), set.aaaa(), set.txt(), set.ptr()}) {
    for (RecordRef r : table) absl::StrAppend(&out, set.Bytes(r), "|");
  }
  for (size_t d = 0; d < kMaxDomains; ++d) {
    for (const SrvRecord& srv : set.srv(d)) {
      absl::StrAppend(&out, set.wire().substr(srv.offset, srv.size + srv.additional_size), "[",
                      srv.group_begin, ",", srv.group_end, ")|");
    }
  }
  return out;
}

void ExpectSameAnswers(const Snapshot& got, const Snapshot& want,
                       const std::vector<std::string>& keys) {
  for (const std::string& key : keys) {
    const AnswerSet* a = got.Find(key);
    const AnswerSet* b = want.Find(key);
    ASSERT_EQ(a == nullptr, b == nullptr) << key;
    if (a != nullptr) {
      EXPECT_EQ(Records(*a), Records(*b)) << key;
    }
  }
}

// Whatever the order of changes, an incremental build answers exactly as a
// build from scratch of the same catalog.
TEST(SnapshotBuilderTest, IncrementalBuildsMatchFromScratch) {
  SnapshotBuilder builder({});
  Catalog catalog = ManyServices(60, 12);
  ASSERT_TRUE(builder.Build(catalog).ok());
  catalog.nodes[3].services.clear();                    // services leave
  catalog.nodes[4].status = NodeStatus::kFailed;        // a node fails
  catalog.nodes[5].status = NodeStatus::kLeft;          // and one leaves
  catalog.nodes[6].node.address = "10.9.9.9";           // a node moves
  catalog.nodes[7].services[1].Mutable().tags = {"fresh"};        // tags change
  catalog.nodes[8].services[0].Mutable().address = "192.0.2.77";  // an own address
  catalog.nodes.erase(catalog.nodes.begin() + 9);       // a node is reaped
  Catalog extra = ManyServices(3, 1);
  extra.nodes[0].node.name = "newcomer";
  catalog.nodes.push_back(extra.nodes[0]);
  catalog.index = 42;
  auto incremental = builder.Build(catalog);
  auto fresh = BuildSnapshot(catalog, {});
  ASSERT_TRUE(incremental.ok() && fresh.ok());
  EXPECT_EQ((*incremental)->instance_count, (*fresh)->instance_count);
  EXPECT_EQ((*incremental)->answers.size(), (*fresh)->answers.size());
  std::vector<std::string> keys = {Key("svc3"), Key("svc4"), Key("svc5"), Key("svc6"),
                                   Key("svc19", "fresh"), Key("svc19", "t1"), Key("svc8"),
                                   Key("svc0"), Key("svc9"), Key("svc21")};
  ExpectSameAnswers(**incremental, **fresh, keys);

  // Services of node 7 that did not change were carried into its new state;
  // a second instance of svc7 elsewhere makes the group compile again, from
  // both.
  Service twin = catalog.nodes[7].services[0];
  twin.id = "svc7-twin";
  twin.port = 7777;
  catalog.nodes[2].services.push_back(twin);
  catalog.index = 43;
  auto again = builder.Build(catalog);
  auto fresh_again = BuildSnapshot(catalog, {});
  ASSERT_TRUE(again.ok() && fresh_again.ok());
  EXPECT_EQ(builder.compiled(), 2u);  // svc7 and svc7/t1 (its tags are t1, t1)
  ExpectSameAnswers(**again, **fresh_again, keys);
  ASSERT_NE((*again)->Find(Key("svc7")), nullptr);
  EXPECT_EQ((*again)->Find(Key("svc7"))->srv(0).size(), 2u);

  LookupKey tag(KeyKind::kTag);
  tag.AddLabel("dc1");
  tag.AddLabel("fresh");
  EXPECT_TRUE((*incremental)->Contains(tag.view()));
  LookupKey node(KeyKind::kNode);
  node.AddLabel("dc1");
  node.AddLabel("node5");  // left
  EXPECT_FALSE((*incremental)->Contains(node.view()));
  LookupKey reverse(KeyKind::kReverse);
  reverse.AddWire(*dns::EncodeName("77.2.0.192.in-addr.arpa"));
  ASSERT_NE((*incremental)->Find(reverse.view()), nullptr);
  EXPECT_EQ((*incremental)->Find(reverse.view())->wire(), (*fresh)->Find(reverse.view())->wire());
}

// A large build compiles its groups, and fills the answer table, on every
// CPU it may use: it must answer exactly as the same build on one CPU.
TEST(SnapshotBuilderTest, LargeBuildsAnswerTheSameOnOneCpuAsOnSeveral) {
  if (UsableCpus() < 2) GTEST_SKIP() << "one CPU: the build is not shared out";
  constexpr int kServices = 40'000;  // above the size that is shared out
  Catalog catalog = ManyServices(kServices, 4'000);
  auto several = BuildSnapshot(catalog, {});
  cpu_set_t all, one;
  ASSERT_EQ(sched_getaffinity(0, sizeof(all), &all), 0);
  CPU_ZERO(&one);
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &all)) {
      CPU_SET(cpu, &one);
      break;
    }
  }
  ASSERT_EQ(sched_setaffinity(0, sizeof(one), &one), 0);
  ASSERT_EQ(UsableCpus(), 1);
  auto single = BuildSnapshot(catalog, {});
  ASSERT_EQ(sched_setaffinity(0, sizeof(all), &all), 0);
  ASSERT_TRUE(several.ok() && single.ok());
  EXPECT_EQ((*several)->instance_count, static_cast<size_t>(kServices));
  EXPECT_EQ((*several)->answers.size(), (*single)->answers.size());
  std::vector<std::string> keys;
  for (int s = 0; s < kServices; ++s) {
    std::string service = absl::StrCat("svc", s);
    for (const char* tag : {"", "t0", "t1", "t2"}) keys.push_back(Key(service.c_str(), tag));
  }
  ExpectSameAnswers(**several, **single, keys);
  EXPECT_NE((*several)->Find(Key("svc5", "t2")), nullptr);  // tags t1 and t(5 % 3)
  EXPECT_EQ((*several)->Find(Key("svc5", "t0")), nullptr);
}

TEST(SnapshotBuilderTest, ChangedInstanceIsCompiledAgain) {
  SnapshotBuilder builder({});
  Catalog catalog = ManyServices(20, 4);
  auto first = builder.Build(catalog);
  ASSERT_TRUE(first.ok());
  catalog.nodes[1].services[0].Mutable().port = 4242;  // svc1 moves
  auto second = builder.Build(catalog);
  ASSERT_TRUE(second.ok());
  const AnswerSet* before = (*first)->Find(Key("svc1"));
  const AnswerSet* after = (*second)->Find(Key("svc1"));
  ASSERT_NE(after, nullptr);
  EXPECT_NE(before, after);
  EXPECT_NE(after->wire().find(std::string("\x10\x92", 2)), std::string::npos);  // port 4242
  // A fresh builder gives the same bytes.
  auto fresh = BuildSnapshot(catalog, {});
  EXPECT_EQ((*fresh)->Find(Key("svc1"))->wire(), after->wire());
  ExpectSameAnswers(**second, **fresh, {Key("svc1", "t1")});
}

// Members name their service by its place in the node: a service that
// changes places (a deletion before it, a reordered Sync, two that swap)
// keeps its answers, and later changes still reach the right one.
TEST(SnapshotBuilderTest, ServicesThatChangePlacesKeepTheirAnswers) {
  auto service = [](const char* id, const char* name, uint16_t port) {
    Service s;
    s.id = id;
    s.name = name;
    s.port = port;
    return s;
  };
  Catalog catalog;
  catalog.nodes.emplace_back();
  NodeState& node = catalog.nodes[0];
  node.node.name = "n";
  node.node.address = "10.0.0.1";
  node.services = {service("web-1", "web", 1), service("web-2", "web", 2),
                   service("api-1", "api", 3), service("web-3", "web", 4),
                   service("api-2", "api", 5)};
  SnapshotBuilder builder({});
  ASSERT_TRUE(builder.Build(catalog).ok());
  auto expect_fresh = [&](const char* step, size_t compiled) {
    auto got = builder.Build(catalog);
    auto want = BuildSnapshot(catalog, {});
    ASSERT_TRUE(got.ok() && want.ok());
    EXPECT_EQ(builder.compiled(), compiled) << step;
    for (const char* name : {"web", "api"}) {
      SCOPED_TRACE(absl::StrCat(step, ": ", name));
      ExpectSameAnswers(**got, **want, {Key(name)});
    }
  };
  for (size_t i = 0; i < node.services.size(); ++i) {
    node.services[i].Mutable().weights.warning = 7;  // SRV weights show health
  }
  Check warning;
  warning.id = "web-3-check";
  warning.service_id = "web-3";
  warning.status = Health::kWarning;
  node.checks = {warning};
  ASSERT_TRUE(builder.Build(catalog).ok());
  node.services.erase(node.services.begin());  // the rest move up
  expect_fresh("web-1 deleted", 1);             // web only
  std::swap(node.services[0], node.services[2]);  // web-2 <-> web-3: one group
  std::swap(node.services[1], node.services[3]);  // api-1 <-> api-2
  expect_fresh("reordered", 0);
  node.services[0].Mutable().port = 44;  // web-3, now first
  expect_fresh("web-3 changed", 1);
  node.services[1].Mutable().port = 55;  // api-2, now second
  expect_fresh("api-2 changed", 1);
}

// A service's health is looked up by scanning the node's checks for the
// first few services an update touches, then through an index: both give
// what a fresh build gives, whichever checks change, are added or go.
TEST(SnapshotBuilderTest, HealthFollowsChecksHoweverManyChange) {
  Catalog catalog = ManyServices(24, 1);  // one node, 24 services with a check each
  SnapshotBuilder builder({});
  ASSERT_TRUE(builder.Build(catalog).ok());
  std::vector<std::string> keys;
  for (int s = 0; s < 24; ++s) keys.push_back(Key(absl::StrCat("svc", s).c_str()));
  auto expect_fresh = [&](const char* step) {
    auto got = builder.Build(catalog);
    auto want = BuildSnapshot(catalog, {});
    ASSERT_TRUE(got.ok() && want.ok());
    SCOPED_TRACE(step);
    EXPECT_EQ((*got)->instance_count, (*want)->instance_count);
    ExpectSameAnswers(**got, **want, keys);
  };
  auto& checks = catalog.nodes[0].checks;
  checks[5].Mutable().status = Health::kCritical;  // one result: a scan
  expect_fresh("one check");
  for (int c = 0; c < 20; ++c) {  // twenty at once: past the scans, the index
    checks[c].Mutable().status = c % 2 ? Health::kCritical : Health::kWarning;
  }
  expect_fresh("twenty checks");
  checks.erase(checks.begin() + 3);  // svc3 has no check: passing again
  Check second = *checks[7];
  second.id = "second";
  second.status = Health::kCritical;
  checks.push_back(second);  // and svc8 (checks[7] after the erase) a second one
  expect_fresh("checks added and gone");

  // The node's own checks (no service id) and its status count for every
  // service on it; the builder keeps the node's own health between updates.
  Check own;
  own.id = "node-health";
  own.status = Health::kPassing;
  checks.push_back(own);
  expect_fresh("a node check added, passing");
  checks.back().Mutable().status = Health::kCritical;
  expect_fresh("the node check critical");
  ASSERT_EQ(builder.Build(catalog).value()->instance_count, 0u);
  checks[0].Mutable().status = Health::kPassing;  // a service check changes meanwhile
  expect_fresh("a service check under a critical node");
  checks.back().Mutable().status = Health::kWarning;
  expect_fresh("the node check warning");
  checks.pop_back();
  expect_fresh("the node check gone");
  catalog.nodes[0].status = NodeStatus::kFailed;
  expect_fresh("the node failed");
  catalog.nodes[0].status = NodeStatus::kAlive;
  expect_fresh("the node back");
}

// Random edits of every kind an agent makes, one per build or several, in
// the places the store makes them (a deletion moves the last service or
// check into the gap): after each build, the builder (which follows each
// node's services and checks through an index once a node has changed)
// answers exactly as a build from scratch.
TEST(SnapshotBuilderTest, RandomEditsMatchFromScratch) {
  std::mt19937 rng(2026);
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  Catalog catalog = ManyServices(40, 2);  // 20 services a node, a check each
  SnapshotBuilder builder({});
  ASSERT_TRUE(builder.Build(catalog).ok());
  std::vector<std::string> keys;
  for (int s = 0; s < 48; ++s) {
    std::string service = absl::StrCat("svc", s);
    for (const char* tag : {"", "t0", "t1", "t2"}) keys.push_back(Key(service.c_str(), tag));
  }
  auto swap_erase = [](auto& items, size_t i) {
    if (i + 1 != items.size()) items[i] = std::move(items.back());
    items.pop_back();
  };
  Health statuses[] = {Health::kPassing, Health::kWarning, Health::kCritical};
  int fresh_id = 0;
  for (int round = 0; round < 3000; ++round) {
    int edits = pick(4) == 0 ? 2 + static_cast<int>(pick(5)) : 1;
    std::string done;
    for (int e = 0; e < edits; ++e) {
      NodeState& node = catalog.nodes[pick(2)];
      auto& services = node.services;
      auto& checks = node.checks;
      int kind = static_cast<int>(pick(9));
      absl::StrAppend(&done, kind, " ");
      if (kind == 0 && !checks.empty()) {  // a check result
        checks[pick(checks.size())].Mutable().status = statuses[pick(3)];
      } else if (kind == 1 && !services.empty()) {  // a service and its checks go
        size_t i = pick(services.size());
        std::string id = services[i]->id;
        swap_erase(services, i);
        for (size_t c = 0; c < checks.size();) {
          if (checks[c]->service_id == id) {
            swap_erase(checks, c);
          } else {
            ++c;
          }
        }
      } else if (kind == 2) {  // a service comes, maybe with a check
        Service service;
        service.id = absl::StrCat("new", fresh_id++);
        service.name = absl::StrCat("svc", pick(48));
        service.port = static_cast<uint16_t>(2000 + pick(100));
        service.tags = {absl::StrCat("t", pick(3))};
        services.push_back(service);
        if (pick(2) == 0) {
          Check check;
          check.id = absl::StrCat("check-", service.id);
          check.service_id = service.id;
          check.status = statuses[pick(3)];
          checks.push_back(check);
        }
      } else if (kind == 3 && !services.empty()) {  // a service changes
        services[pick(services.size())].Mutable().port = static_cast<uint16_t>(3000 + pick(100));
      } else if (kind == 4 && !services.empty()) {  // another check of a service
        Check check;
        check.id = absl::StrCat("extra", fresh_id++);
        check.service_id = services[pick(services.size())]->id;
        check.status = statuses[pick(3)];
        checks.push_back(check);
      } else if (kind == 5 && !checks.empty()) {  // a check goes
        swap_erase(checks, pick(checks.size()));
      } else if (kind == 6 && services.size() > 1) {  // two services swap places
        std::swap(services[pick(services.size())], services[pick(services.size())]);
      } else if (kind == 7) {  // the node's own check comes, changes or goes
        size_t own = std::find_if(checks.begin(), checks.end(),
                                  [](const Check& c) { return c.service_id.empty(); }) -
                     checks.begin();
        if (own == checks.size()) {
          Check check;
          check.id = absl::StrCat("own", fresh_id++);
          check.status = statuses[pick(3)];
          checks.push_back(check);
        } else if (pick(2) == 0) {
          checks[own].Mutable().status = statuses[pick(3)];
        } else {
          swap_erase(checks, own);
        }
      } else if (kind == 8 && !services.empty()) {  // a Sync: equal values, new objects
        std::vector<Shared<Service>> copies;
        for (const Service& service : services) copies.push_back(Service(service));
        std::shuffle(copies.begin(), copies.end(), rng);
        services.assign(copies.begin(), copies.end());
      }
    }
    catalog.index = round + 2;
    auto got = builder.Build(catalog);
    auto want = BuildSnapshot(catalog, {});
    ASSERT_TRUE(got.ok() && want.ok());
    SCOPED_TRACE(absl::StrCat("round ", round, ", edits ", done));
    EXPECT_EQ((*got)->instance_count, (*want)->instance_count);
    EXPECT_EQ((*got)->answers.size(), (*want)->answers.size());
    ExpectSameAnswers(**got, **want, keys);
    if (HasFailure()) break;
  }
}

// A tag's answers are a view of its service's (no copy of the records) and
// hold exactly what the service's answers would be with only the tagged
// instances: addresses once each, SRV records in order, targets grouped.
TEST(SnapshotBuilderTest, TagAnswersAreTheTaggedInstancesOfTheService) {
  auto instance = [](const char* id, std::vector<std::string> tags, uint16_t port,
                     std::string address = "") {
    Service s;
    s.id = id;
    s.name = "api";
    s.tags = std::move(tags);
    s.port = port;
    s.address = std::move(address);
    return s;
  };
  Catalog catalog;
  for (int n = 0; n < 4; ++n) {
    NodeState node;
    node.node.name = absl::StrCat("node", n);
    node.node.address = absl::StrCat("10.1.0.", n + 1);
    catalog.nodes.push_back(node);
  }
  auto& nodes = catalog.nodes;
  nodes[0].services = {instance("a", {"Blue", "blue"}, 1), instance("b", {"green"}, 2),
                       instance("c", {"blue"}, 3)};  // two of blue on one target
  nodes[1].services = {instance("d", {"blue", "x"}, 4, "2001:db8::1"),
                       instance("e", {"x"}, 5, "2001:db8::1")};
  nodes[2].services = {instance("f", {"BLUE"}, 6), instance("g", {}, 7, "10.1.0.1")};
  nodes[3].services = {instance("h", {"x"}, 8)};
  auto only = [&](absl::string_view tag) {
    Catalog subset = catalog;
    for (NodeState& node : subset.nodes) {
      ChunkedList<Shared<Service>> tagged;
      for (const Shared<Service>& s : node.services) {
        if (std::any_of(s->tags.begin(), s->tags.end(),
                        [&](const std::string& t) { return absl::EqualsIgnoreCase(t, tag); })) {
          tagged.push_back(s);
        }
      }
      node.services = tagged;
    }
    return subset;
  };
  SnapshotBuilder builder({});
  for (int round = 0; round < 2; ++round) {
    auto all = builder.Build(catalog);
    ASSERT_TRUE(all.ok());
    const AnswerSet* service = (*all)->Find(Key("api"));
    ASSERT_NE(service, nullptr);
    for (const char* tag : {"blue", "green", "x"}) {
      auto alone = BuildSnapshot(only(tag), {});
      ASSERT_TRUE(alone.ok());
      const AnswerSet* view = (*all)->Find(Key("api", tag));
      const AnswerSet* want = (*alone)->Find(Key("api"));
      ASSERT_EQ(view == nullptr, want == nullptr) << tag << " round " << round;
      if (view == nullptr) continue;
      EXPECT_EQ(Records(*view), Records(*want)) << tag << " round " << round;
      EXPECT_EQ(view->wire_data(), service->wire_data()) << tag;  // shared, not copied
    }
    // Then the only green instance goes, and x moves: green's answers go
    // with it, and the others follow.
    nodes[0].services.erase(nodes[0].services.begin() + 1);
    nodes[3].services[0].Mutable().port = 88;
  }
  auto last = builder.Build(catalog);
  ASSERT_TRUE(last.ok());
  EXPECT_EQ((*last)->Find(Key("api", "green")), nullptr);
}

}  // namespace
}  // namespace svcdns::catalog
