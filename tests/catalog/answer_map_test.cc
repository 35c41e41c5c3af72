// AnswerMap's versions: each frozen version keeps showing what the map held
// when it was frozen, whatever the builder's map does afterwards and in
// whatever order the versions and the map go (run under ASan, a page,
// shard or answer set freed too early or never freed fails it: the model
// holds no reference to the answers, only their address).
#include "catalog/answer_map.h"

#include <algorithm>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace svcdns::catalog {
namespace {

using Model = std::map<std::string, const AnswerSet*>;

struct Version {
  AnswerMap map;
  Model model;
};

void ExpectShows(const AnswerMap& map, const Model& model, const std::string& what) {
  ASSERT_EQ(map.size(), model.size()) << what;
  for (const auto& [key, answers] : model) {
    const AnswerSet* found = map.Find(key);
    ASSERT_EQ(found, answers) << what << ": " << key;
    ASSERT_EQ(found->key(), key) << what;  // still there to read
  }
  EXPECT_EQ(map.Find("absent"), nullptr) << what;
}

TEST(AnswerMapTest, EveryVersionKeepsWhatItHadWhateverComesAfter) {
  std::mt19937 rng(20261126);
  auto live = std::make_unique<AnswerMap>();
  Model model;
  std::vector<std::unique_ptr<Version>> versions;
  for (int round = 0; round < 200; ++round) {
    if (round == 50 || round == 150) {
      // A batch large enough for SetAll's shard-order path, on 2 threads,
      // which also splits the shards.
      std::vector<AnswerSetRef> batch;
      for (int i = 0; i < 4500; ++i) {
        batch.push_back(AnswerSet::Marker(absl::StrCat("batch", round, "-", i)));
        model[std::string(batch.back()->key())] = batch.back().get();
      }
      live->SetAll(std::move(batch), 2);
    }
    for (int edits = rng() % 40; edits > 0; --edits) {
      std::string key = absl::StrCat("k", rng() % 3000);
      if (rng() % 4 == 0) {
        live->Erase(key);
        model.erase(key);
      } else {
        AnswerSetRef answers = AnswerSet::Marker(key);
        model[key] = answers.get();
        live->Set(std::move(answers));
      }
    }
    versions.push_back(std::make_unique<Version>(Version{live->Freeze(), model}));
    // Versions go in any order, not only oldest first.
    if (versions.size() > 8 || rng() % 3 == 0) {
      versions.erase(versions.begin() + rng() % versions.size());
    }
    if (round % 10 == 0) {
      ExpectShows(*live, model, absl::StrCat("the map at round ", round));
      for (const auto& v : versions) ExpectShows(v->map, v->model, absl::StrCat("round ", round));
    }
  }
  // The builder's map goes first: the versions it handed out stay whole.
  live.reset();
  for (const auto& v : versions) ExpectShows(v->map, v->model, "after the map");
  while (!versions.empty()) {
    versions.erase(versions.begin() + rng() % versions.size());
    for (const auto& v : versions) ExpectShows(v->map, v->model, "as versions go");
  }
}

TEST(AnswerMapTest, AnEditAfterFreezeLeavesTheVersionAsItWas) {
  AnswerMap map;
  AnswerSetRef first = AnswerSet::Marker("key");
  map.Set(first);
  AnswerMap frozen = map.Freeze();
  map.Set(AnswerSet::Marker("key"));
  map.Set(AnswerSet::Marker("other"));
  map.Erase("key");
  ASSERT_NE(frozen.Find("key"), nullptr);
  EXPECT_EQ(frozen.Find("key"), first.get());
  EXPECT_EQ(frozen.Find("other"), nullptr);
  EXPECT_EQ(frozen.size(), 1u);
  EXPECT_EQ(map.Find("key"), nullptr);
  EXPECT_NE(map.Find("other"), nullptr);
}

TEST(AnswerMapTest, ErasingLeavesEveryOtherKeyFindable) {
  // 500 keys in 16 shards (no split below 512): ~31 a shard, so probes run
  // into each other and each erase moves entries back into the hole.
  std::mt19937 rng(20261127);
  AnswerMap map;
  Model model;
  std::vector<std::string> keys;
  for (int i = 0; i < 500; ++i) {
    keys.push_back(absl::StrCat("key", i));
    AnswerSetRef answers = AnswerSet::Marker(keys.back());
    model[keys.back()] = answers.get();
    map.Set(std::move(answers));
  }
  std::shuffle(keys.begin(), keys.end(), rng);
  AnswerMap before = map.Freeze();
  Model before_model = model;
  for (size_t i = 0; i < keys.size(); ++i) {
    map.Erase(keys[i]);
    model.erase(keys[i]);
    ASSERT_EQ(map.Find(keys[i]), nullptr) << keys[i];
    if (i % 25 == 0) ExpectShows(map, model, absl::StrCat("after ", i + 1, " erases"));
    if (i == 250) {  // the rest back again, into the holes
      for (size_t k = 0; k <= i; ++k) {
        AnswerSetRef answers = AnswerSet::Marker(keys[k]);
        model[keys[k]] = answers.get();
        map.Set(std::move(answers));
      }
      ExpectShows(map, model, "set again");
    }
  }
  ExpectShows(map, model, "the end");
  ExpectShows(before, before_model, "the version before");
}

TEST(AnswerMapTest, WarmTakesAnyHashAndChangesNothing) {
  // Run under ASan too: whatever the hashes, Warm reads only what the map
  // and its answer sets (and their parents) hold.
  AnswerMap map;
  Model model;
  std::vector<uint64_t> hashes;
  AnswerSetRef parent;
  for (int i = 0; i < 300; ++i) {
    std::string key = absl::StrCat("key", i);
    // Markers, sets with records (wire from 40 bytes to beyond what Warm
    // reads of it), and views of the set before them.
    AnswerDraft draft;
    draft.wire.assign(40 + 9 * i, 'w');
    draft.a = {{0, 16}, {16, 16}};
    draft.srv[0] = {SrvRecord{0, 16, 4, 0, 0, 1}};
    AnswerSetRef answers = i % 3 == 0   ? AnswerSet::Marker(key)
                           : i % 3 == 1 ? AnswerSet::Create(key, draft)
                                        : AnswerSet::View(key, draft, parent);
    if (i % 3 == 1) parent = answers;
    model[key] = answers.get();
    map.Set(std::move(answers));
    hashes.push_back(AnswerMap::KeyHash(key));                         // present
    hashes.push_back(AnswerMap::KeyHash(absl::StrCat("absent", i)));  // absent
  }
  std::mt19937_64 rng(7);
  for (int i = 0; i < 300; ++i) hashes.push_back(rng());
  hashes.push_back(0);
  map.Warm(hashes);
  map.Warm({});
  AnswerMap().Warm(hashes);  // an empty map
  ExpectShows(map, model, "after Warm");
}

}  // namespace
}  // namespace svcdns::catalog
