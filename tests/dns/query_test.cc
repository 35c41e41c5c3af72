#include "dns/query.h"

#include <string>

#include "gtest/gtest.h"
#include "tests/testing/dns_client.h"

namespace svcdns::dns {
namespace {

using testing::QueryWire;

QueryStatus Parse(const std::string& wire, Query* q) {
  return ParseQuery(reinterpret_cast<const uint8_t*>(wire.data()), wire.size(), q);
}

TEST(QueryTest, ParsesQuestionAndLowercasesName) {
  Query q;
  std::string wire = QueryWire("WeB.Service.CONSUL", LDNS_RR_TYPE_SRV);
  ASSERT_EQ(Parse(wire, &q), QueryStatus::kOk);
  EXPECT_EQ(q.id, 0x1234);
  EXPECT_EQ(q.qtype, kTypeSrv);
  EXPECT_EQ(q.qclass, kClassIn);
  EXPECT_EQ(q.label_count, 3);
  EXPECT_EQ(q.label(0), "web");
  EXPECT_EQ(q.label(1), "service");
  EXPECT_EQ(q.label(2), "consul");
  EXPECT_EQ(q.suffix(1), std::string("\7service\6consul\0", 16));
  EXPECT_EQ(q.qname_size, 20u);
  EXPECT_EQ(q.question_size, 24u);
  // The question keeps the client's case.
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(q.question) + 1, 3), "WeB");
  EXPECT_FALSE(q.has_edns);
}

TEST(QueryTest, ReadsEdns) {
  Query q;
  ASSERT_EQ(Parse(QueryWire("web.service.consul", LDNS_RR_TYPE_A, true, 4096), &q),
            QueryStatus::kOk);
  EXPECT_TRUE(q.has_edns);
  EXPECT_EQ(q.edns_udp_size, 4096);
  EXPECT_EQ(q.edns_version, 0);
}

TEST(QueryTest, RootName) {
  Query q;
  ASSERT_EQ(Parse(QueryWire(".", LDNS_RR_TYPE_NS), &q), QueryStatus::kOk);
  EXPECT_EQ(q.label_count, 0);
  EXPECT_EQ(q.qname_size, 1u);
}

TEST(QueryTest, DropsShortPacketsAndResponses) {
  Query q;
  EXPECT_EQ(Parse(std::string(11, '\0'), &q), QueryStatus::kDrop);
  std::string wire = QueryWire("web.service.consul", LDNS_RR_TYPE_A);
  wire[2] |= 0x80;  // QR: a response
  EXPECT_EQ(Parse(wire, &q), QueryStatus::kDrop);
}

TEST(QueryTest, TruncatedQuestionIsFormErr) {
  std::string wire = QueryWire("web.service.consul", LDNS_RR_TYPE_A);
  for (size_t size = 12; size < wire.size(); ++size) {
    Query q;
    EXPECT_EQ(Parse(wire.substr(0, size), &q), QueryStatus::kFormErr) << size;
  }
}

TEST(QueryTest, CompressionInQuestionIsFormErr) {
  // A pointer to itself: a loop, and in a question pointers are never valid.
  std::string wire("\x12\x34\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\xC0\x0C\x00\x01\x00\x01", 18);
  Query q;
  EXPECT_EQ(Parse(wire, &q), QueryStatus::kFormErr);
}

TEST(QueryTest, OverlongNameIsFormErr) {
  std::string wire("\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00", 12);
  for (int i = 0; i < 5; ++i) wire += std::string(1, 63) + std::string(63, 'a');  // 320 bytes
  wire += std::string("\0\0\1\0\1", 5);
  Query q;
  EXPECT_EQ(Parse(wire, &q), QueryStatus::kFormErr);
}

TEST(QueryTest, QuestionCountOtherThanOneIsFormErr) {
  std::string wire = QueryWire("web.service.consul", LDNS_RR_TYPE_A);
  wire[5] = 2;
  Query q;
  EXPECT_EQ(Parse(wire, &q), QueryStatus::kFormErr);
  wire[5] = 0;
  EXPECT_EQ(Parse(wire, &q), QueryStatus::kFormErr);
}

TEST(QueryTest, OtherOpcodeIsNotImp) {
  std::string wire = QueryWire("web.service.consul", LDNS_RR_TYPE_A);
  wire[2] = static_cast<char>((wire[2] & 0x87) | (5 << 3));  // UPDATE
  Query q;
  EXPECT_EQ(Parse(wire, &q), QueryStatus::kNotImp);
  EXPECT_TRUE(q.has_question);
}

TEST(QueryTest, EdnsVersionOneIsBadVers) {
  std::string wire = QueryWire("web.service.consul", LDNS_RR_TYPE_A, true);
  // OPT: root(1) type(2) size(2) ext-rcode(1) version(1): version is 6 bytes
  // into the 11-byte record at the end.
  wire[wire.size() - 11 + 6] = 1;
  Query q;
  EXPECT_EQ(Parse(wire, &q), QueryStatus::kBadVers);
}

TEST(QueryTest, TwoOptRecordsAreFormErr) {
  std::string wire = QueryWire("web.service.consul", LDNS_RR_TYPE_A, true);
  wire += wire.substr(wire.size() - 11);
  wire[11] = 2;  // ARCOUNT
  Query q;
  EXPECT_EQ(Parse(wire, &q), QueryStatus::kFormErr);
}

TEST(QueryTest, AdditionalRecordRunningPastTheEndIsFormErr) {
  std::string wire = QueryWire("web.service.consul", LDNS_RR_TYPE_A, true);
  wire[wire.size() - 1] = 10;  // rdlength 10, no bytes follow
  Query q;
  EXPECT_EQ(Parse(wire, &q), QueryStatus::kFormErr);
}

TEST(QueryTest, RandomBytesNeverCrash) {
  uint32_t seed = 12345;
  for (int i = 0; i < 20000; ++i) {
    std::string wire = QueryWire("x.web.service.consul", LDNS_RR_TYPE_SRV, i % 2 == 0);
    for (int flips = 0; flips < 4; ++flips) {
      seed = seed * 1103515245 + 12345;
      wire[(seed >> 8) % wire.size()] = static_cast<char>(seed >> 16);
    }
    seed = seed * 1103515245 + 12345;
    wire.resize((seed >> 8) % (wire.size() + 1));
    Query q;
    Parse(wire, &q);
  }
}

}  // namespace
}  // namespace svcdns::dns
