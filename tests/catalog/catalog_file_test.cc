#include "catalog/catalog_file.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "catalog/model.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace svcdns::catalog {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// The source tree's root: tests/CMakeLists.txt defines SVCDNS_SOURCE_DIR for
// everything that links svcdns_testing; failing that, this file's own path.
std::string SourceDir() {
#ifdef SVCDNS_SOURCE_DIR
  return SVCDNS_SOURCE_DIR;
#else
  std::filesystem::path here(__FILE__);  // <root>/tests/catalog/this.cc
  return here.parent_path().parent_path().parent_path().string();
#endif
}

std::string ExamplePath() {
  return SourceDir() + "/deploy/examples/catalog.json";
}

const NodeState* FindNode(const Catalog& catalog, absl::string_view name) {
  for (const NodeState& state : catalog.nodes) {
    if (state.node.name == name) return &state;
  }
  return nullptr;
}

class CatalogFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TEST_TMPDIR");
    if (tmp == nullptr || *tmp == '\0') tmp = std::getenv("TMPDIR");
    if (tmp == nullptr || *tmp == '\0') tmp = "/tmp";
    std::string dir_template = std::string(tmp) + "/catalog_file_test.XXXXXX";
    ASSERT_NE(::mkdtemp(dir_template.data()), nullptr)
        << "mkdtemp " << dir_template;
    dir_ = dir_template;
  }

  void TearDown() override {
    if (dir_.empty()) return;
    std::error_code error;
    std::filesystem::remove_all(dir_, error);
    EXPECT_FALSE(error) << "removing " << dir_ << ": " << error.message();
  }

  std::string PathOf(const std::string& name) const {
    return dir_ + "/" + name;
  }

  // Writes `contents` to a file in the temporary directory; returns its path.
  std::string WriteFile(const std::string& name, absl::string_view contents) {
    std::string path = PathOf(name);
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    EXPECT_GE(fd, 0) << path;
    if (fd < 0) return path;
    EXPECT_EQ(::write(fd, contents.data(), contents.size()),
              static_cast<ssize_t>(contents.size()));
    ::close(fd);
    return path;
  }

  std::string dir_;
};

TEST_F(CatalogFileTest, LoadsTheExample) {
  absl::StatusOr<Catalog> catalog = LoadCatalogFile(ExamplePath());
  ASSERT_TRUE(catalog.ok()) << catalog.status();
  EXPECT_EQ(catalog->index, 42u);
  EXPECT_EQ(catalog->nodes.size(), 6u);

  int in_dc1 = 0;
  int in_dc2 = 0;
  for (const NodeState& state : catalog->nodes) {
    if (state.node.datacenter == "dc1") ++in_dc1;
    if (state.node.datacenter == "dc2") ++in_dc2;
  }
  EXPECT_EQ(in_dc1, 4);
  EXPECT_EQ(in_dc2, 2);

  const NodeState* cache1 = FindNode(*catalog, "cache1");
  ASSERT_NE(cache1, nullptr);
  ASSERT_EQ(cache1->services.size(), 1u);
  const Service& redis = cache1->services[0];
  EXPECT_EQ(redis.id, "red0");
  EXPECT_EQ(redis.name, "redis");
  EXPECT_EQ(redis.tags, std::vector<std::string>{"primary"});
  EXPECT_EQ(redis.address, "10.3.13.112");
  EXPECT_EQ(redis.port, 6000);
  EXPECT_EQ(redis.weights, Weights{});

  const NodeState* web2 = FindNode(*catalog, "web2");
  ASSERT_NE(web2, nullptr);
  ASSERT_EQ(web2->checks.size(), 1u);
  EXPECT_EQ(web2->checks[0]->status, Health::kCritical);
  EXPECT_EQ(web2->services[0]->weights.passing, 10u);

  const NodeState* mon1 = FindNode(*catalog, "mon1");
  ASSERT_NE(mon1, nullptr);
  EXPECT_EQ(mon1->node.address, "2001:db8::10");
  EXPECT_EQ(mon1->node.meta.at("ipv6-only"), "true");
}

TEST_F(CatalogFileTest, SaveThenLoadRoundTrips) {
  absl::StatusOr<Catalog> example = LoadCatalogFile(ExamplePath());
  ASSERT_TRUE(example.ok()) << example.status();

  const std::string path = PathOf("catalog.json");
  ASSERT_TRUE(SaveCatalogFile(*example, path).ok());
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));

  absl::StatusOr<Catalog> loaded = LoadCatalogFile(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->index, example->index);
  EXPECT_EQ(loaded->nodes, example->nodes);
}

TEST_F(CatalogFileTest, SaveReplacesAnExistingFile) {
  const std::string path = WriteFile("catalog.json", "old contents");
  Catalog catalog;
  catalog.index = 9;
  NodeState state;
  state.node.name = "db1";
  state.node.address = "192.0.2.1";
  catalog.nodes.push_back(state);
  ASSERT_TRUE(SaveCatalogFile(catalog, path).ok());

  absl::StatusOr<Catalog> loaded = LoadCatalogFile(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->index, 9u);
  EXPECT_EQ(loaded->nodes, catalog.nodes);
}

TEST_F(CatalogFileTest, SaveIntoMissingDirectoryFails) {
  const std::string path = PathOf("no-such-dir/catalog.json");
  absl::Status status = SaveCatalogFile(Catalog(), path);
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("no-such-dir"));
}

TEST_F(CatalogFileTest, JsonIsTheProtobufMapping) {
  absl::StatusOr<Catalog> example = LoadCatalogFile(ExamplePath());
  ASSERT_TRUE(example.ok()) << example.status();
  absl::StatusOr<std::string> json = CatalogToJson(*example);
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_THAT(*json, HasSubstr("\"serviceId\": \"red0\""));
  EXPECT_THAT(*json, HasSubstr("\"HEALTH_STATUS_CRITICAL\""));
  EXPECT_THAT(*json, HasSubstr("\"index\": \"42\""));  // uint64: a string
  EXPECT_THAT(*json, Not(HasSubstr("service_id")));
  EXPECT_THAT(*json, HasSubstr("\n"));  // pretty printed
  // Defaults are left out: no check of the example has notes = "" printed.
  EXPECT_THAT(*json, Not(HasSubstr("\"notes\": \"\"")));
}

TEST_F(CatalogFileTest, MissingFileIsNotFoundAndNamesThePath) {
  const std::string path = PathOf("missing.json");
  absl::StatusOr<Catalog> catalog = LoadCatalogFile(path);
  ASSERT_FALSE(catalog.ok());
  EXPECT_EQ(catalog.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(catalog.status().message(), HasSubstr(path));
}

TEST_F(CatalogFileTest, UnknownFieldIsAnError) {
  const std::string path = WriteFile("typo.json", R"({
    "index": 1,
    "nodes": [{
      "node": {"name": "db1", "address": "10.0.0.1"},
      "services": [{"id": "pg", "name": "postgresql", "prot": 5432}]
    }]
  })");
  absl::StatusOr<Catalog> catalog = LoadCatalogFile(path);
  ASSERT_FALSE(catalog.ok());
  EXPECT_EQ(catalog.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(catalog.status().message(), HasSubstr(path));
  EXPECT_THAT(catalog.status().message(), HasSubstr("prot"));
}

TEST_F(CatalogFileTest, TruncatedFileIsAnError) {
  absl::StatusOr<Catalog> example = LoadCatalogFile(ExamplePath());
  ASSERT_TRUE(example.ok()) << example.status();
  absl::StatusOr<std::string> json = CatalogToJson(*example);
  ASSERT_TRUE(json.ok()) << json.status();
  const std::string path =
      WriteFile("truncated.json", json->substr(0, json->size() / 2));
  absl::StatusOr<Catalog> catalog = LoadCatalogFile(path);
  ASSERT_FALSE(catalog.ok());
  EXPECT_EQ(catalog.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(catalog.status().message(), HasSubstr(path));
  EXPECT_THAT(catalog.status().message(), Not(HasSubstr("\n")));  // one line
}

TEST_F(CatalogFileTest, EmptyFileIsAnError) {
  const std::string path = WriteFile("empty.json", "");
  absl::StatusOr<Catalog> catalog = LoadCatalogFile(path);
  ASSERT_FALSE(catalog.ok());
  EXPECT_THAT(catalog.status().message(), HasSubstr(path));
}

TEST_F(CatalogFileTest, InvalidCatalogNamesPathAndNode) {
  const std::string path = WriteFile("port.json", R"({
    "nodes": [{
      "node": {"name": "db1", "address": "10.0.0.1"},
      "services": [{"id": "red0", "name": "redis", "port": 70000}]
    }]
  })");
  absl::StatusOr<Catalog> catalog = LoadCatalogFile(path);
  ASSERT_FALSE(catalog.ok());
  EXPECT_EQ(catalog.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(catalog.status().message(), HasSubstr(path));
  EXPECT_THAT(catalog.status().message(),
              HasSubstr("nodes[0] (node \"db1\"): service \"red0\": port 70000 "
                        "is over 65535"));
}

TEST_F(CatalogFileTest, UnknownEnumNameIsAnError) {
  const std::string path = WriteFile("enum.json", R"({
    "nodes": [{
      "node": {"name": "db1", "address": "10.0.0.1"},
      "checks": [{"id": "disk", "status": "HEALTH_STATUS_OK"}]
    }]
  })");
  absl::StatusOr<Catalog> catalog = LoadCatalogFile(path);
  ASSERT_FALSE(catalog.ok());
  EXPECT_THAT(catalog.status().message(), HasSubstr(path));
}

TEST_F(CatalogFileTest, DirectoryIsAnError) {
  absl::StatusOr<Catalog> catalog = LoadCatalogFile(dir_);
  ASSERT_FALSE(catalog.ok());
  EXPECT_THAT(catalog.status().message(), HasSubstr(dir_));
}

}  // namespace
}  // namespace svcdns::catalog
