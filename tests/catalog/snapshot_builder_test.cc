#include "catalog/snapshot_builder.h"

#include <string>

#include "absl/strings/str_cat.h"
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
  EXPECT_EQ(builder.reused(), 0u);

  auto same = builder.Build(catalog);
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(builder.compiled(), 0u);
  EXPECT_EQ((*same)->Find(Key("svc7")), (*first)->Find(Key("svc7")));  // the same object

  // One check goes critical: only that service and its tags compile again.
  catalog.nodes[7].checks[0].status = Health::kCritical;
  auto changed = builder.Build(catalog);
  ASSERT_TRUE(changed.ok());
  EXPECT_LE(builder.compiled(), 3u);
  EXPECT_GT(builder.reused(), 100u);
  EXPECT_EQ((*changed)->Find(Key("svc7")), nullptr);  // its only instance is out
  EXPECT_EQ((*changed)->Find(Key("svc8")), (*first)->Find(Key("svc8")));
}

TEST(SnapshotBuilderTest, ChangedInstanceIsCompiledAgain) {
  SnapshotBuilder builder({});
  Catalog catalog = ManyServices(20, 4);
  auto first = builder.Build(catalog);
  ASSERT_TRUE(first.ok());
  catalog.nodes[1].services[0].port = 4242;  // svc1 moves
  auto second = builder.Build(catalog);
  ASSERT_TRUE(second.ok());
  const AnswerSet* before = (*first)->Find(Key("svc1"));
  const AnswerSet* after = (*second)->Find(Key("svc1"));
  ASSERT_NE(after, nullptr);
  EXPECT_NE(before, after);
  EXPECT_NE(after->wire.find(std::string("\x10\x92", 2)), std::string::npos);  // port 4242
  // A fresh builder gives the same bytes.
  auto fresh = BuildSnapshot(catalog, {});
  EXPECT_EQ((*fresh)->Find(Key("svc1"))->wire, after->wire);
  EXPECT_EQ((*fresh)->Find(Key("svc1", "t1"))->wire, (*second)->Find(Key("svc1", "t1"))->wire);
}

}  // namespace
}  // namespace svcdns::catalog
