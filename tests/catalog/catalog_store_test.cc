#include "catalog/catalog_store.h"

#include <map>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace svcdns::catalog {
namespace {

Service Web(uint16_t port) {
  Service s;
  s.id = "web-1";
  s.name = "web";
  s.port = port;
  return s;
}

Check WebCheck(Health status) {
  Check c;
  c.id = "web-check";
  c.name = "web";
  c.service_id = "web-1";
  c.status = status;
  return c;
}

Node NodeNamed(const std::string& name) {
  Node n;
  n.name = name;
  n.address = "10.0.0.1";
  return n;
}

// The publication path reads changes, never the whole catalog: each changed
// node once, with its state as of now.
TEST(CatalogStoreTest, ChangesNameEachChangedNodeOnceWithItsStateNow) {
  CatalogStore store("dc1");
  absl::Time now = absl::UnixEpoch();
  ASSERT_TRUE(store.Hello(1, NodeNamed("Alpha"), now).ok());
  ASSERT_TRUE(store.Sync(1, {Web(80)}, {WebCheck(Health::kPassing)}, false, now).ok());
  ASSERT_TRUE(store.Update(1, {Change(Web(81))}, now).ok());
  auto changes = store.TakeChanges();
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].first, (NodeKey{"dc1", "alpha"}));
  ASSERT_NE(changes[0].second, nullptr);
  EXPECT_EQ(changes[0].second->services.at(0)->port, 81);
  EXPECT_TRUE(store.TakeChanges().empty());  // taken

  // Nothing new: no change, and the index stays.
  uint64_t index = store.index();
  ASSERT_TRUE(store.Sync(1, {Web(81)}, {WebCheck(Health::kPassing)}, false, now).ok());
  EXPECT_TRUE(store.TakeChanges().empty());
  EXPECT_EQ(store.index(), index);
}

// An update is checked change by change, and as a whole: a check must
// name a service the node has once every change is applied, in any order.
// A rejected update leaves the node as it was; one that changes nothing
// does not move the index.
TEST(CatalogStoreTest, UpdatesAreValidatedWholeAndNoOpsChangeNothing) {
  CatalogStore store("dc1");
  absl::Time now = absl::UnixEpoch();
  ASSERT_TRUE(store.Hello(1, NodeNamed("alpha"), now).ok());
  ASSERT_TRUE(store.Sync(1, {Web(80)}, {WebCheck(Health::kPassing)}, false, now).ok());
  store.TakeChanges();
  uint64_t index = store.index();

  Check orphan = WebCheck(Health::kPassing);
  orphan.id = "orphan";
  orphan.service_id = "ghost";
  absl::Status status = store.Update(1, {Change(Web(81)), Change(orphan)}, now);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("changes[1]"), std::string::npos) << status;
  EXPECT_NE(status.message().find("ghost"), std::string::npos) << status;
  EXPECT_TRUE(store.TakeChanges().empty());
  EXPECT_EQ(store.index(), index);
  EXPECT_EQ(store.Shared().nodes.at(0)->services.at(0)->port, 80);  // untouched

  // The check first, its service second: valid as a whole.
  Service ghost = Web(90);
  ghost.id = "ghost";
  ASSERT_TRUE(store.Update(1, {Change(orphan), Change(ghost)}, now).ok());
  EXPECT_EQ(store.TakeChanges().size(), 1u);
  EXPECT_GT(store.index(), index);
  // The service deleted again takes its check with it.
  ASSERT_TRUE(store.Update(1, {Change(DeleteService{"ghost"})}, now).ok());
  EXPECT_EQ(store.Shared().nodes.at(0)->checks.size(), 1u);
  store.TakeChanges();

  // The same service, the same check result: nothing changes.
  index = store.index();
  CheckResult same{"web-check", Health::kPassing, ""};
  ASSERT_TRUE(store.Update(1, {Change(Web(80)), Change(same)}, now).ok());
  EXPECT_TRUE(store.TakeChanges().empty());
  EXPECT_EQ(store.index(), index);
  // A bad service is refused with its place in the message.
  Service bad = Web(80);
  bad.name = "not a label!";
  status = store.Update(1, {Change(same), Change(bad)}, now);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("changes[1]"), std::string::npos) << status;
}

// An update copies its node's state, but not the services and checks it
// does not touch: those are the same objects in both states, so an update
// on a node of a thousand services costs O(change), and the builder sees
// at once that they did not change.
TEST(CatalogStoreTest, UntouchedServicesAndChecksAreSharedBetweenStates) {
  CatalogStore store("dc1");
  absl::Time now = absl::UnixEpoch();
  Service api = Web(90);
  api.id = "api-1";
  api.name = "api";
  ASSERT_TRUE(store.Hello(1, NodeNamed("alpha"), now).ok());
  ASSERT_TRUE(store.Sync(1, {Web(80), api}, {WebCheck(Health::kPassing)}, false, now).ok());
  std::shared_ptr<const NodeState> before = store.Shared().nodes.at(0);
  ASSERT_TRUE(
      store.Update(1, {Change(CheckResult{"web-check", Health::kCritical, "down"})}, now).ok());
  std::shared_ptr<const NodeState> after = store.Shared().nodes.at(0);
  ASSERT_NE(before, after);
  EXPECT_EQ(&*before->services[0], &*after->services[0]);  // shared
  EXPECT_EQ(&*before->services[1], &*after->services[1]);
  EXPECT_NE(&*before->checks[0], &*after->checks[0]);      // the one changed
  EXPECT_EQ(before->checks[0]->status, Health::kPassing);  // and the old one kept
  EXPECT_EQ(after->checks[0]->status, Health::kCritical);
}

// Deleting a service (or a check) moves the last one into its place and no
// other: the builder follows services by place, so on a node of a thousand
// services a deletion costs one move, not hundreds.
TEST(CatalogStoreTest, DeletionsMoveOnlyTheLastIntoThePlaceLeft) {
  CatalogStore store("dc1");
  absl::Time now = absl::UnixEpoch();
  std::vector<Service> services;
  std::vector<Check> checks;
  for (int i = 0; i < 5; ++i) {
    Service s = Web(static_cast<uint16_t>(80 + i));
    s.id = "web-" + std::to_string(i);
    services.push_back(s);
    Check c = WebCheck(Health::kPassing);
    c.id = "check-" + std::to_string(i);
    c.service_id = s.id;
    checks.push_back(c);
  }
  ASSERT_TRUE(store.Hello(1, NodeNamed("alpha"), now).ok());
  ASSERT_TRUE(store.Sync(1, services, checks, false, now).ok());
  ASSERT_TRUE(store.Update(1, {Change(DeleteService{"web-1"})}, now).ok());
  auto ids = [&] {
    std::string out;
    const NodeState& state = *store.Shared().nodes.at(0);
    for (const Service& s : state.services) out += s.id + " ";
    out += "/";
    for (const Check& c : state.checks) out += " " + c.id;
    return out;
  };
  EXPECT_EQ(ids(), "web-0 web-4 web-2 web-3 / check-0 check-4 check-2 check-3");
  ASSERT_TRUE(store.Update(1, {Change(DeleteCheck{"check-0"})}, now).ok());
  EXPECT_EQ(ids(), "web-0 web-4 web-2 web-3 / check-3 check-4 check-2");
}

// A state handed out (to the builder, the HTTP view) is never modified:
// changes replace it.
TEST(CatalogStoreTest, StatesHandedOutAreNeverModified) {
  CatalogStore store("dc1");
  absl::Time now = absl::UnixEpoch();
  ASSERT_TRUE(store.Hello(1, NodeNamed("alpha"), now).ok());
  ASSERT_TRUE(store.Sync(1, {Web(80)}, {WebCheck(Health::kPassing)}, false, now).ok());
  std::shared_ptr<const NodeState> held = store.TakeChanges().at(0).second;
  SharedCatalog view = store.Shared();
  ASSERT_TRUE(
      store.Update(1, {Change(CheckResult{"web-check", Health::kCritical, "down"})}, now).ok());
  EXPECT_EQ(held->checks.at(0)->status, Health::kPassing);
  EXPECT_EQ(view.nodes.at(0)->checks.at(0)->status, Health::kPassing);
  EXPECT_EQ(store.TakeChanges().at(0).second->checks.at(0)->status, Health::kCritical);
}

TEST(CatalogStoreTest, RejectedUpdateChangesNothing) {
  CatalogStore store("dc1");
  absl::Time now = absl::UnixEpoch();
  ASSERT_TRUE(store.Hello(1, NodeNamed("alpha"), now).ok());
  ASSERT_TRUE(store.Sync(1, {Web(80)}, {}, false, now).ok());
  store.TakeChanges();
  uint64_t index = store.index();
  Check orphan = WebCheck(Health::kPassing);
  orphan.service_id = "nosuch";
  EXPECT_FALSE(store.Update(1, {Change(Web(90)), Change(orphan)}, now).ok());
  EXPECT_TRUE(store.TakeChanges().empty());
  EXPECT_EQ(store.index(), index);
  EXPECT_EQ(store.Shared().nodes.at(0)->services.at(0)->port, 80);
}

// Random updates of several changes each, some of them invalid (so
// rejected whole), now and then a Sync: the store, which finds services and
// checks through an index it keeps in step with the node, holds exactly
// what a plain model of the contract holds.
TEST(CatalogStoreTest, RandomUpdatesMatchAModelOfTheContract) {
  std::mt19937 rng(11);
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  CatalogStore store("dc1");
  absl::Time now = absl::UnixEpoch();
  ASSERT_TRUE(store.Hello(1, NodeNamed("alpha"), now).ok());
  std::map<std::string, Service> services;
  std::map<std::string, Check> checks;
  auto service = [&](size_t n) {
    Service s = Web(static_cast<uint16_t>(pick(1000)));
    s.id = absl::StrCat("web-", n);
    return s;
  };
  auto check = [&](size_t n, std::string service_id) {
    Check c = WebCheck(Health::kPassing);
    c.id = absl::StrCat("check-", n);
    c.service_id = std::move(service_id);
    c.status = pick(2) ? Health::kPassing : Health::kCritical;
    return c;
  };
  for (int round = 0; round < 1500; ++round) {
    if (round % 300 == 0) {  // a Sync: the store's index starts again
      std::vector<Service> all;
      std::vector<Check> all_checks;
      for (const auto& [id, s] : services) all.push_back(s);
      for (const auto& [id, c] : checks) all_checks.push_back(c);
      ASSERT_TRUE(store.Sync(1, all, all_checks, false, now).ok());
    }
    std::vector<Change> changes;
    auto next_services = services;
    auto next_checks = checks;
    bool valid = true;
    for (int n = 1 + static_cast<int>(pick(4)); n > 0; --n) {
      switch (pick(6)) {
        case 0: {
          Service s = service(pick(80));
          next_services[s.id] = s;
          changes.emplace_back(s);
          break;
        }
        case 1: {
          std::string id = absl::StrCat("web-", pick(80));
          next_services.erase(id);
          std::erase_if(next_checks, [&](const auto& c) { return c.second.service_id == id; });
          changes.emplace_back(DeleteService{id});
          break;
        }
        case 2: {
          Check c = check(pick(120), pick(5) ? absl::StrCat("web-", pick(80)) : "");
          next_checks[c.id] = c;
          changes.emplace_back(c);
          break;
        }
        case 3: {
          std::string id = absl::StrCat("check-", pick(120));
          next_checks.erase(id);
          changes.emplace_back(DeleteCheck{id});
          break;
        }
        default: {
          std::string id = absl::StrCat("check-", pick(120));
          Health status = pick(2) ? Health::kPassing : Health::kCritical;
          auto it = next_checks.find(id);
          if (it == next_checks.end()) {
            valid = false;  // no such check
          } else {
            it->second.status = status;
            it->second.output = "result";
          }
          changes.emplace_back(CheckResult{id, status, "result"});
        }
      }
    }
    for (const auto& [id, c] : next_checks) {  // a check of a service the node lacks
      if (!c.service_id.empty() && !next_services.contains(c.service_id)) {
        for (const Change& change : changes) {
          const auto* upsert = std::get_if<Check>(&change);
          if (upsert != nullptr && upsert->id == id) valid = false;
        }
      }
    }
    EXPECT_EQ(store.Update(1, changes, now).ok(), valid) << "round " << round;
    if (valid) {
      services = std::move(next_services);
      checks = std::move(next_checks);
    }
    const NodeState& state = *store.Shared().nodes.at(0);
    std::map<std::string, Service> got_services;
    std::map<std::string, Check> got_checks;
    for (const Service& s : state.services) got_services[s.id] = s;
    for (const Check& c : state.checks) got_checks[c.id] = c;
    ASSERT_EQ(got_services.size(), state.services.size()) << "round " << round;
    ASSERT_EQ(got_checks.size(), state.checks.size()) << "round " << round;
    ASSERT_EQ(got_services, services) << "round " << round;
    ASSERT_EQ(got_checks, checks) << "round " << round;
  }
}

// A gone agent's node fails after the grace period, then is reaped: both
// are changes, the second with no state.
TEST(CatalogStoreTest, FailedThenReapedNodesAreChanges) {
  CatalogStore store("dc1");
  absl::Time now = absl::UnixEpoch();
  ASSERT_TRUE(store.Hello(1, NodeNamed("alpha"), now).ok());
  store.StreamEnded(1, now);
  store.TakeChanges();
  ASSERT_TRUE(store.Expire(now + absl::Seconds(11), absl::Seconds(10), absl::Seconds(60)));
  auto failed = store.TakeChanges();
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].second->status, NodeStatus::kFailed);
  ASSERT_TRUE(store.Expire(now + absl::Seconds(72), absl::Seconds(10), absl::Seconds(60)));
  auto reaped = store.TakeChanges();
  ASSERT_EQ(reaped.size(), 1u);
  EXPECT_EQ(reaped[0].second, nullptr);
}

}  // namespace
}  // namespace svcdns::catalog
