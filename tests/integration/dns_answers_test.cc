// The acceptance checks: the real svcdns serving deploy/examples/services as
// node "demo", queried over UDP with ldns.
#include <set>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/integration_util.h"

namespace svcdns::testing::integration {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;
using ::testing::StartsWith;
using ::testing::UnorderedElementsAre;

class ExamplesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto started = ServerProcess::Start({"--config-dir", ExampleServicesDir(), "--node", "demo"});
    ASSERT_TRUE(started.ok()) << started.status();
    server_ = std::move(*started);
  }

  std::unique_ptr<DnsReply> Ask(const std::string& name, ldns_rr_type type,
                                const QueryOptions& options = {}) {
    auto reply = Query("127.0.0.1", server_->port(), name, type, options);
    EXPECT_TRUE(reply.ok()) << name << ": " << reply.status();
    return reply.ok() ? std::move(*reply) : nullptr;
  }

  // NOERROR, no answer, the SOA of consul. in the authority section.
  void ExpectNoData(const std::string& name, ldns_rr_type type) {
    auto r = Ask(name, type);
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(r->rcode(), LDNS_RCODE_NOERROR) << name;
    EXPECT_THAT(r->Answer(), IsEmpty()) << name;
    EXPECT_TRUE(HasSoaInAuthority(*r)) << name;
    ASSERT_THAT(r->Authority(), SizeIs(1)) << name;
    EXPECT_THAT(r->Authority()[0], StartsWith("consul.")) << name;
    EXPECT_TRUE(r->aa()) << name;
  }

  void ExpectNxDomain(const std::string& name, ldns_rr_type type) {
    auto r = Ask(name, type);
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(r->rcode(), LDNS_RCODE_NXDOMAIN) << name;
    EXPECT_THAT(r->Answer(), IsEmpty()) << name;
    EXPECT_TRUE(HasSoaInAuthority(*r)) << name;
    EXPECT_TRUE(r->aa()) << name;
  }

  std::unique_ptr<ServerProcess> server_;
};

TEST_F(ExamplesTest, ServiceSrvHasBothInstancesAndTargetAddress) {
  auto r = Ask("web.service.consul", LDNS_RR_TYPE_SRV);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->rcode(), LDNS_RCODE_NOERROR);
  EXPECT_TRUE(r->aa());
  EXPECT_FALSE(r->ra());
  EXPECT_FALSE(r->tc());
  EXPECT_THAT(r->AnswerRdata(LDNS_RR_TYPE_SRV),
              UnorderedElementsAre("1 1 8080 demo.node.dc1.consul.",
                                   "1 1 9080 demo.node.dc1.consul."));
  EXPECT_THAT(r->Answer(), SizeIs(2));
  // One target, so one address record for it.
  EXPECT_THAT(r->AdditionalRdata(LDNS_RR_TYPE_A), ElementsAre("127.0.0.1"));
  ASSERT_THAT(r->Additional(), SizeIs(1));
  EXPECT_THAT(r->Additional()[0], StartsWith("demo.node.dc1.consul."));
}

TEST_F(ExamplesTest, TagAndRfc2782Names) {
  auto v1 = Ask("v1.web.service.consul", LDNS_RR_TYPE_SRV);
  ASSERT_NE(v1, nullptr);
  EXPECT_EQ(v1->rcode(), LDNS_RCODE_NOERROR);
  EXPECT_THAT(v1->AnswerRdata(LDNS_RR_TYPE_SRV), ElementsAre("1 1 8080 demo.node.dc1.consul."));
  EXPECT_THAT(v1->AdditionalRdata(LDNS_RR_TYPE_A), ElementsAre("127.0.0.1"));

  auto v2 = Ask("_web._v2.service.consul", LDNS_RR_TYPE_SRV);
  ASSERT_NE(v2, nullptr);
  EXPECT_EQ(v2->rcode(), LDNS_RCODE_NOERROR);
  EXPECT_THAT(v2->AnswerRdata(LDNS_RR_TYPE_SRV), ElementsAre("1 1 9080 demo.node.dc1.consul."));

  for (const char* name : {"_web._tcp.service.consul", "_web._udp.service.consul"}) {
    auto any = Ask(name, LDNS_RR_TYPE_SRV);
    ASSERT_NE(any, nullptr);
    EXPECT_EQ(any->rcode(), LDNS_RCODE_NOERROR) << name;
    EXPECT_THAT(any->AnswerRdata(LDNS_RR_TYPE_SRV),
                UnorderedElementsAre("1 1 8080 demo.node.dc1.consul.",
                                     "1 1 9080 demo.node.dc1.consul."))
        << name;
  }
  // A tag nobody has.
  ExpectNxDomain("v3.web.service.consul", LDNS_RR_TYPE_SRV);
  ExpectNxDomain("_web._v3.service.consul", LDNS_RR_TYPE_SRV);
}

TEST_F(ExamplesTest, ServiceAddressRecords) {
  auto r = Ask("praefect.service.consul", LDNS_RR_TYPE_A);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->rcode(), LDNS_RCODE_NOERROR);
  EXPECT_TRUE(r->aa());
  EXPECT_FALSE(r->ra());
  EXPECT_THAT(r->AnswerRdata(LDNS_RR_TYPE_A), ElementsAre("127.0.0.1"));
  ASSERT_THAT(r->Answer(), SizeIs(1));
  EXPECT_THAT(r->Answer()[0], StartsWith("praefect.service.consul."));

  // Two instances on one address: one A record.
  auto web = Ask("web.service.consul", LDNS_RR_TYPE_A);
  ASSERT_NE(web, nullptr);
  EXPECT_THAT(web->AnswerRdata(LDNS_RR_TYPE_A), ElementsAre("127.0.0.1"));

  // No IPv6 address: NODATA.
  ExpectNoData("praefect.service.consul", LDNS_RR_TYPE_AAAA);
}

TEST_F(ExamplesTest, UnknownServiceIsNxDomainWithSoa) {
  ExpectNxDomain("nosuch.service.consul", LDNS_RR_TYPE_SRV);
  ExpectNxDomain("nosuch.service.consul", LDNS_RR_TYPE_A);
  auto r = Ask("nosuch.service.consul", LDNS_RR_TYPE_A);
  ASSERT_NE(r, nullptr);
  EXPECT_FALSE(r->ra());
  ASSERT_THAT(r->Authority(), SizeIs(1));
  EXPECT_THAT(r->Authority()[0], HasSubstr("ns.consul. hostmaster.consul."));
}

TEST_F(ExamplesTest, AnswerKeepsTheLetterCaseOfTheQuestion) {
  auto r = Ask("WeB.SeRvIcE.CoNsUl", LDNS_RR_TYPE_SRV);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->rcode(), LDNS_RCODE_NOERROR);
  EXPECT_EQ(r->QuestionName(), "WeB.SeRvIcE.CoNsUl.");
  std::vector<std::string> answer = r->Answer();
  ASSERT_THAT(answer, SizeIs(2));
  for (const std::string& rr : answer) EXPECT_THAT(rr, StartsWith("WeB.SeRvIcE.CoNsUl.\t"));

  auto a = Ask("PRAEFECT.service.CONSUL", LDNS_RR_TYPE_A);
  ASSERT_NE(a, nullptr);
  ASSERT_THAT(a->Answer(), SizeIs(1));
  EXPECT_THAT(a->Answer()[0], StartsWith("PRAEFECT.service.CONSUL.\t"));

  auto nx = Ask("NoSuch.Service.Consul", LDNS_RR_TYPE_A);
  ASSERT_NE(nx, nullptr);
  EXPECT_EQ(nx->rcode(), LDNS_RCODE_NXDOMAIN);
  EXPECT_EQ(nx->QuestionName(), "NoSuch.Service.Consul.");
}

TEST_F(ExamplesTest, ServiceWithItsOwnAddressTargetsAddrName) {
  auto r = Ask("redis.service.consul", LDNS_RR_TYPE_SRV);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->rcode(), LDNS_RCODE_NOERROR);
  EXPECT_THAT(r->AnswerRdata(LDNS_RR_TYPE_SRV), ElementsAre("1 1 6000 0a030d70.addr.dc1.consul."));
  EXPECT_THAT(r->AdditionalRdata(LDNS_RR_TYPE_A), ElementsAre("10.3.13.112"));
  ASSERT_THAT(r->Additional(), SizeIs(1));
  EXPECT_THAT(r->Additional()[0], StartsWith("0a030d70.addr.dc1.consul."));

  auto a = Ask("redis.service.consul", LDNS_RR_TYPE_A);
  ASSERT_NE(a, nullptr);
  EXPECT_THAT(a->AnswerRdata(LDNS_RR_TYPE_A), ElementsAre("10.3.13.112"));

  auto tagged = Ask("primary.redis.service.consul", LDNS_RR_TYPE_SRV);
  ASSERT_NE(tagged, nullptr);
  EXPECT_THAT(tagged->AnswerRdata(LDNS_RR_TYPE_SRV),
              ElementsAre("1 1 6000 0a030d70.addr.dc1.consul."));
}

TEST_F(ExamplesTest, AddrNames) {
  for (const char* name : {"0a030d70.addr.consul", "0a030d70.addr.dc1.consul",
                           "0A030D70.addr.dc1.dc.consul"}) {
    auto r = Ask(name, LDNS_RR_TYPE_A);
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(r->rcode(), LDNS_RCODE_NOERROR) << name;
    EXPECT_TRUE(r->aa()) << name;
    EXPECT_THAT(r->AnswerRdata(LDNS_RR_TYPE_A), ElementsAre("10.3.13.112")) << name;
  }
  auto v6 = Ask("20010db8000000000000000000000010.addr.consul", LDNS_RR_TYPE_AAAA);
  ASSERT_NE(v6, nullptr);
  EXPECT_EQ(v6->rcode(), LDNS_RCODE_NOERROR);
  EXPECT_THAT(v6->AnswerRdata(LDNS_RR_TYPE_AAAA), ElementsAre("2001:db8::10"));

  ExpectNxDomain("zz.addr.consul", LDNS_RR_TYPE_A);
  ExpectNxDomain("zzzzzzzz.addr.consul", LDNS_RR_TYPE_A);
  ExpectNxDomain("0a030d7.addr.consul", LDNS_RR_TYPE_A);
  // A well-formed IPv4 addr name asked for AAAA: the name exists.
  ExpectNoData("0a030d70.addr.consul", LDNS_RR_TYPE_AAAA);
}

TEST_F(ExamplesTest, NodeNames) {
  for (const char* name : {"demo.node.consul", "demo.node.dc1.consul", "demo.node.dc1.dc.consul",
                           "DEMO.node.consul"}) {
    auto r = Ask(name, LDNS_RR_TYPE_A);
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(r->rcode(), LDNS_RCODE_NOERROR) << name;
    EXPECT_TRUE(r->aa()) << name;
    EXPECT_THAT(r->AnswerRdata(LDNS_RR_TYPE_A), ElementsAre("127.0.0.1")) << name;
  }
  ExpectNxDomain("nosuch.node.consul", LDNS_RR_TYPE_A);
}

TEST_F(ExamplesTest, ApexSoaAndNs) {
  auto soa = Ask("consul", LDNS_RR_TYPE_SOA);
  ASSERT_NE(soa, nullptr);
  EXPECT_EQ(soa->rcode(), LDNS_RCODE_NOERROR);
  EXPECT_TRUE(soa->aa());
  ASSERT_THAT(soa->AnswerRdata(LDNS_RR_TYPE_SOA), SizeIs(1));
  EXPECT_THAT(soa->AnswerRdata(LDNS_RR_TYPE_SOA)[0], StartsWith("ns.consul. hostmaster.consul. "));
  EXPECT_GT(SoaSerial(*soa), 0u);

  auto ns = Ask("consul", LDNS_RR_TYPE_NS);
  ASSERT_NE(ns, nullptr);
  EXPECT_EQ(ns->rcode(), LDNS_RCODE_NOERROR);
  EXPECT_TRUE(ns->aa());
  EXPECT_THAT(ns->AnswerRdata(LDNS_RR_TYPE_NS), ElementsAre("ns.consul."));
  ASSERT_THAT(ns->Additional(), SizeIs(1));
  EXPECT_THAT(ns->Additional()[0], StartsWith("ns.consul."));
  EXPECT_THAT(ns->AdditionalRdata(LDNS_RR_TYPE_A), ElementsAre("127.0.0.1"));

  auto host = Ask("ns.consul", LDNS_RR_TYPE_A);
  ASSERT_NE(host, nullptr);
  EXPECT_EQ(host->rcode(), LDNS_RCODE_NOERROR);
  EXPECT_THAT(host->AnswerRdata(LDNS_RR_TYPE_A), ElementsAre("127.0.0.1"));

  ExpectNoData("consul", LDNS_RR_TYPE_A);
}

TEST_F(ExamplesTest, EmptyNonTerminalsAreNoData) {
  for (const char* name : {"service.consul", "_tcp.service.consul", "dc1.dc.consul",
                           "node.consul", "addr.consul", "dc.consul", "dc1.consul",
                           "service.dc1.consul", "service.dc1.dc.consul"}) {
    SCOPED_TRACE(name);
    ExpectNoData(name, LDNS_RR_TYPE_A);
    ExpectNoData(name, LDNS_RR_TYPE_SRV);
  }
  // A tag's parent in RFC 2782 form (_<tag>.service) exists when the tag does.
  ExpectNoData("_v1.service.consul", LDNS_RR_TYPE_SRV);
  ExpectNxDomain("_nosuchtag.service.consul", LDNS_RR_TYPE_SRV);
}

TEST_F(ExamplesTest, OtherTypesAtServiceNamesAreNoData) {
  for (ldns_rr_type type : {LDNS_RR_TYPE_DS, LDNS_RR_TYPE_DNSKEY, LDNS_RR_TYPE_TXT,
                            LDNS_RR_TYPE_MX, LDNS_RR_TYPE_CNAME}) {
    SCOPED_TRACE(type);
    ExpectNoData("web.service.consul", type);
  }
}

TEST_F(ExamplesTest, OutsideTheDomainIsRefusedWithoutAa) {
  for (const char* name : {"example.com", "consul.example.com", "com", "xconsul"}) {
    auto r = Ask(name, LDNS_RR_TYPE_A);
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(r->rcode(), LDNS_RCODE_REFUSED) << name;
    EXPECT_FALSE(r->aa()) << name;
    EXPECT_FALSE(r->ra()) << name;
    EXPECT_THAT(r->Answer(), IsEmpty()) << name;
    EXPECT_THAT(r->Authority(), IsEmpty()) << name;
  }
}

TEST_F(ExamplesTest, ReverseLookups) {
  auto r = Ask("1.0.0.127.in-addr.arpa", LDNS_RR_TYPE_PTR);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->rcode(), LDNS_RCODE_NOERROR);
  EXPECT_TRUE(r->aa());
  EXPECT_THAT(r->AnswerRdata(LDNS_RR_TYPE_PTR), ElementsAre("demo.node.dc1.consul."));

  // A service with its own address.
  auto svc = Ask("112.13.3.10.in-addr.arpa", LDNS_RR_TYPE_PTR);
  ASSERT_NE(svc, nullptr);
  EXPECT_EQ(svc->rcode(), LDNS_RCODE_NOERROR);
  EXPECT_THAT(svc->AnswerRdata(LDNS_RR_TYPE_PTR), ElementsAre("redis.service.dc1.consul."));

  auto unknown = Ask("9.9.9.9.in-addr.arpa", LDNS_RR_TYPE_PTR);
  ASSERT_NE(unknown, nullptr);
  EXPECT_EQ(unknown->rcode(), LDNS_RCODE_NXDOMAIN);
}

TEST_F(ExamplesTest, EdnsQueryGetsOpt) {
  QueryOptions edns;
  edns.edns = true;
  auto r = Ask("web.service.consul", LDNS_RR_TYPE_SRV, edns);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->rcode(), LDNS_RCODE_NOERROR);
  EXPECT_TRUE(r->has_edns());
  EXPECT_GE(ldns_pkt_edns_udp_size(r->pkt()), 512);
  EXPECT_EQ(ldns_pkt_edns_version(r->pkt()), 0);

  auto plain = Ask("web.service.consul", LDNS_RR_TYPE_SRV);
  ASSERT_NE(plain, nullptr);
  EXPECT_FALSE(plain->has_edns());

  // Negative answers and REFUSED carry OPT too.
  auto nx = Ask("nosuch.service.consul", LDNS_RR_TYPE_A, edns);
  ASSERT_NE(nx, nullptr);
  EXPECT_EQ(nx->rcode(), LDNS_RCODE_NXDOMAIN);
  EXPECT_TRUE(nx->has_edns());
  auto refused = Ask("example.com", LDNS_RR_TYPE_A, edns);
  ASSERT_NE(refused, nullptr);
  EXPECT_EQ(refused->rcode(), LDNS_RCODE_REFUSED);
  EXPECT_TRUE(refused->has_edns());
}

TEST_F(ExamplesTest, AnswersAreTheSameWithAndWithoutEdns) {
  struct Case {
    const char* name;
    ldns_rr_type type;
  };
  const Case cases[] = {
      {"web.service.consul", LDNS_RR_TYPE_SRV},
      {"web.service.consul", LDNS_RR_TYPE_A},
      {"v1.web.service.consul", LDNS_RR_TYPE_SRV},
      {"_web._v2.service.consul", LDNS_RR_TYPE_SRV},
      {"redis.service.consul", LDNS_RR_TYPE_SRV},
      {"praefect.service.consul", LDNS_RR_TYPE_A},
      {"nosuch.service.consul", LDNS_RR_TYPE_SRV},
      {"demo.node.consul", LDNS_RR_TYPE_A},
      {"0a030d70.addr.consul", LDNS_RR_TYPE_A},
      {"consul", LDNS_RR_TYPE_SOA},
      {"consul", LDNS_RR_TYPE_NS},
      {"service.consul", LDNS_RR_TYPE_A},
      {"web.service.consul", LDNS_RR_TYPE_TXT},
      {"1.0.0.127.in-addr.arpa", LDNS_RR_TYPE_PTR},
      {"example.com", LDNS_RR_TYPE_A},
  };
  QueryOptions edns;
  edns.edns = true;
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::StrCat(c.name, " ", c.type));
    auto plain = Ask(c.name, c.type);
    auto with = Ask(c.name, c.type, edns);
    ASSERT_NE(plain, nullptr);
    ASSERT_NE(with, nullptr);
    EXPECT_EQ(plain->rcode(), with->rcode());
    EXPECT_EQ(plain->aa(), with->aa());
    EXPECT_EQ(plain->tc(), with->tc());
    EXPECT_EQ(Sorted(plain->Answer()), Sorted(with->Answer()));
    EXPECT_EQ(Sorted(plain->Authority()), Sorted(with->Authority()));
    EXPECT_EQ(Sorted(plain->Additional()), Sorted(with->Additional()));
    EXPECT_FALSE(plain->has_edns());
    EXPECT_TRUE(with->has_edns());
  }
}

TEST_F(ExamplesTest, AnyAtAServiceName) {
  auto r = Ask("web.service.consul", LDNS_RR_TYPE_ANY);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->rcode(), LDNS_RCODE_NOERROR);
  EXPECT_THAT(r->AnswerRdata(LDNS_RR_TYPE_A), ElementsAre("127.0.0.1"));
}

TEST_F(ExamplesTest, SameAnswersOverTcp) {
  QueryOptions tcp;
  tcp.tcp = true;
  auto r = Ask("web.service.consul", LDNS_RR_TYPE_SRV, tcp);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->rcode(), LDNS_RCODE_NOERROR);
  EXPECT_TRUE(r->aa());
  EXPECT_THAT(r->AnswerRdata(LDNS_RR_TYPE_SRV),
              UnorderedElementsAre("1 1 8080 demo.node.dc1.consul.",
                                   "1 1 9080 demo.node.dc1.consul."));
  EXPECT_THAT(r->AdditionalRdata(LDNS_RR_TYPE_A), ElementsAre("127.0.0.1"));
  auto nx = Ask("nosuch.service.consul", LDNS_RR_TYPE_A, tcp);
  ASSERT_NE(nx, nullptr);
  EXPECT_EQ(nx->rcode(), LDNS_RCODE_NXDOMAIN);
  EXPECT_TRUE(HasSoaInAuthority(*nx));
}

}  // namespace
}  // namespace svcdns::testing::integration
