#include "dns/name.h"

#include <string>

#include "dns/protocol.h"
#include "gtest/gtest.h"

namespace svcdns::dns {
namespace {

const uint8_t* U(const std::string& s) { return reinterpret_cast<const uint8_t*>(s.data()); }

TEST(NameTest, EncodesAndPrints) {
  auto wire = EncodeName("web.service.consul.");
  ASSERT_TRUE(wire.ok());
  EXPECT_EQ(*wire, std::string("\3web\7service\6consul\0", 20));
  EXPECT_EQ(NameToText(*wire), "web.service.consul.");
  EXPECT_EQ(*EncodeName(""), std::string(1, '\0'));
  EXPECT_EQ(NameToText(std::string(1, '\0')), ".");
}

TEST(NameTest, RejectsBadText) {
  EXPECT_FALSE(EncodeName("a..b").ok());
  EXPECT_FALSE(EncodeName(std::string(64, 'a') + ".consul").ok());
  std::string longname;
  for (int i = 0; i < 5; ++i) longname += std::string(60, 'a') + ".";
  EXPECT_FALSE(EncodeName(longname).ok());
}

TEST(NameTest, EscapesUnprintableBytes) {
  EXPECT_EQ(NameToText(std::string("\3a.\x01\0", 5)), "a\\.\\001.");
}

TEST(NameTest, Lowercases) {
  EXPECT_EQ(LowercaseName(std::string("\3WeB\6CONSUL\0", 12)),
            std::string("\3web\6consul\0", 12));
}

TEST(NameTest, ReadsCompressedNames) {
  // header(12) + "\3web\6consul\0" at 12, then "\3foo" + pointer to 16.
  std::string packet(12, '\0');
  packet += std::string("\3web\6consul\0", 12);
  packet += std::string("\3foo\xC0\x10", 6);
  uint8_t out[kMaxNameLength];
  size_t next = 0;
  size_t n = ReadName(U(packet), packet.size(), 24, out, &next);
  ASSERT_EQ(n, 12u);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(out), n), std::string("\3foo\6consul\0", 12));
  EXPECT_EQ(next, 30u);
  EXPECT_EQ(SkipName(U(packet), packet.size(), 24), 30u);
}

TEST(NameTest, RejectsLoopsAndForwardPointers) {
  std::string packet(12, '\0');
  packet += std::string("\xC0\x0C", 2);  // points at itself
  uint8_t out[kMaxNameLength];
  EXPECT_EQ(ReadName(U(packet), packet.size(), 12, out, nullptr), 0u);
  std::string two(12, '\0');
  two += std::string("\1a\xC0\x10\1b\xC0\x0C", 8);  // 12 -> 16 -> 12: forward first
  EXPECT_EQ(ReadName(U(two), two.size(), 12, out, nullptr), 0u);
}

TEST(NameTest, RejectsTruncatedAndReservedLabels) {
  std::string packet(12, '\0');
  packet += std::string("\5web", 4);
  uint8_t out[kMaxNameLength];
  EXPECT_EQ(ReadName(U(packet), packet.size(), 12, out, nullptr), 0u);
  EXPECT_EQ(SkipName(U(packet), packet.size(), 12), 0u);
  std::string reserved(12, '\0');
  reserved += std::string("\x41x\0", 3);
  EXPECT_EQ(ReadName(U(reserved), reserved.size(), 12, out, nullptr), 0u);
  EXPECT_EQ(SkipName(U(reserved), reserved.size(), 12), 0u);
}

TEST(NameTest, RejectsNamesOver255Bytes) {
  std::string packet(12, '\0');
  for (int i = 0; i < 5; ++i) packet += std::string(1, 60) + std::string(60, 'a');
  packet.push_back('\0');
  uint8_t out[kMaxNameLength];
  EXPECT_EQ(ReadName(U(packet), packet.size(), 12, out, nullptr), 0u);
  EXPECT_EQ(SkipName(U(packet), packet.size(), 12), 0u);
}

}  // namespace
}  // namespace svcdns::dns
