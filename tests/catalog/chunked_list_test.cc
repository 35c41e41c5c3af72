// ChunkedList against std::vector: random edits, across chunk boundaries,
// on a list whose earlier copies must keep what they had.
#include "catalog/chunked_list.h"

#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace svcdns::catalog {
namespace {

using List = ChunkedList<std::string>;

void ExpectHolds(const List& list, const std::vector<std::string>& model, const std::string& what) {
  ASSERT_EQ(list.size(), model.size()) << what;
  for (size_t i = 0; i < model.size(); ++i) ASSERT_EQ(list[i], model[i]) << what << " at " << i;
  EXPECT_EQ(std::vector<std::string>(list.begin(), list.end()), model) << what;
}

TEST(ChunkedListTest, CopiesKeepWhatTheyHadWhateverTheOriginalDoes) {
  std::mt19937 rng(7);
  List list;
  std::vector<std::string> model;
  std::vector<std::pair<List, std::vector<std::string>>> copies;
  for (int round = 0; round < 2000; ++round) {
    int op = static_cast<int>(rng() % 10);
    if (op < 4 || model.empty()) {
      std::string item = absl::StrCat("item", round);
      list.push_back(item);
      model.push_back(item);
    } else if (op < 6) {
      list.pop_back();
      model.pop_back();
    } else if (op < 8) {
      size_t i = rng() % model.size();
      list[i] = absl::StrCat("changed", round);
      model[i] = std::as_const(list)[i];
    } else if (op == 8) {
      size_t i = rng() % model.size();
      list.erase(list.begin() + static_cast<std::ptrdiff_t>(i));
      model.erase(model.begin() + static_cast<std::ptrdiff_t>(i));
    } else {
      copies.emplace_back(list, model);
      if (copies.size() > 6) copies.erase(copies.begin() + rng() % copies.size());
    }
    if (round % 50 == 0) {
      ExpectHolds(list, model, absl::StrCat("round ", round));
      for (const auto& [copy, held] : copies) ExpectHolds(copy, held, "a copy");
    }
  }
  for (const auto& [copy, held] : copies) ExpectHolds(copy, held, "a copy at the end");
}

TEST(ChunkedListTest, ACopySharesTheChunksAnEditDoesNotTouch) {
  ChunkedList<std::shared_ptr<int>> list;
  for (int i = 0; i < 100; ++i) list.push_back(std::make_shared<int>(i));  // 4 chunks
  auto copy = list;
  // (Reads through const lists: writing to one copies its chunk first.)
  EXPECT_EQ(std::as_const(copy)[10].use_count(), 1);  // the items were not copied
  copy[40] = std::make_shared<int>(-1);  // chunk 1 only
  EXPECT_TRUE(copy.SharesChunkAt(list, 0));
  EXPECT_FALSE(copy.SharesChunkAt(list, 40));
  EXPECT_TRUE(copy.SharesChunkAt(list, 64));
  EXPECT_TRUE(copy.SharesChunkAt(list, 99));
  EXPECT_EQ(*std::as_const(list)[40], 40);
  EXPECT_FALSE(copy == list);
  copy[40] = std::as_const(list)[40];
  EXPECT_TRUE(copy == list);  // equal items in a chunk of its own
  EXPECT_FALSE(copy.SharesChunkAt(list, 40));
}

}  // namespace
}  // namespace svcdns::catalog
