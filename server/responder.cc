#include "server/responder.h"

#include <algorithm>

#include "base/log.h"
#include "dns/name.h"

namespace svcdns::server {

using catalog::AnswerSet;
using catalog::KeyKind;
using catalog::LookupKey;
using catalog::NameKind;
using catalog::ParsedName;
using catalog::RecordRef;
using catalog::Snapshot;
using catalog::SrvRecord;

struct Responder::Reply {
  Reply(uint8_t* out, size_t limit, const dns::Query& q)
      : writer(out, limit), query(q) {}
  dns::WireWriter writer;
  const dns::Query& query;
  ParsedName name;
  uint8_t rcode = dns::kRcodeNoError;
  bool authoritative = true;
  bool truncated = false;
  uint16_t answers = 0;
  uint16_t authority = 0;
  uint16_t additional = 0;
};

namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // the name is lowercased already
}

bool IsServed(const Snapshot& snapshot, absl::string_view dc) {
  if (dc.empty()) return true;
  LookupKey key(KeyKind::kDatacenter);
  return key.AddLabel(dc) && snapshot.Contains(key.view());
}

absl::string_view Datacenter(const Snapshot& snapshot, const ParsedName& name) {
  return name.datacenter.empty() ? absl::string_view(snapshot.local_datacenter)
                                 : name.datacenter;
}

// Appends to `key` (kService or kNode, as the name) the labels that find a
// service's or a node's answers; false for a name too long to have any.
bool KeyOf(const Snapshot& snapshot, const ParsedName& name, LookupKey& key) {
  if (!key.AddLabel(Datacenter(snapshot, name))) return false;
  return name.kind == NameKind::kService ? key.AddLabel(name.service) && key.AddLabel(name.tag)
                                         : key.AddLabel(name.node);
}

}  // namespace

uint64_t Responder::LookupHash(const Snapshot& snapshot, const uint8_t* packet, size_t size) {
  if (dns::ParseQuery(packet, size, &ahead_) != dns::QueryStatus::kOk) return 0;
  ParsedName name = catalog::ParseName(ahead_, snapshot);
  if (name.kind != NameKind::kService && name.kind != NameKind::kNode) return 0;
  LookupKey key(name.kind == NameKind::kService ? KeyKind::kService : KeyKind::kNode);
  return KeyOf(snapshot, name, key) ? catalog::AnswerMap::KeyHash(key.view()) : 0;
}

size_t Responder::Answer(const Snapshot& snapshot, const uint8_t* packet,
                         size_t size, Transport transport, uint8_t* out) {
  dns::Query& q = query_;
  dns::QueryStatus status = dns::ParseQuery(packet, size, &q);
  forward_ = false;
  if (status == dns::QueryStatus::kDrop) {
    stats_.dropped.Add();
    return 0;
  }
  size_t limit = dns::kMaxMessageSize;
  if (transport == Transport::kUdp) {
    limit = dns::kMaxUdpWithoutEdns;
    if (q.has_edns) {
      limit = std::clamp<size_t>(q.edns_udp_size, dns::kMaxUdpWithoutEdns,
                                 std::clamp(options_.max_udp_size, dns::kMaxUdpWithoutEdns,
                                            dns::kMaxUdpPayload));
    }
  }
  // Room for OPT stays reserved until the end.
  Reply reply(out, q.has_edns ? limit - dns::kOptRecordSize : limit, q);
  dns::WireWriter& w = reply.writer;
  w.PutBytes("\0\0\0\0\0\0\0\0\0\0\0\0", dns::kHeaderSize);  // patched below
  if (q.has_question) w.PutBytes(q.question, q.question_size);

  switch (status) {
    case dns::QueryStatus::kOk:
      Resolve(snapshot, reply);
      if (forward_) {
        stats_.forwarded.Add();
        return 0;
      }
      break;
    case dns::QueryStatus::kFormErr:
      reply.rcode = dns::kRcodeFormErr;
      reply.authoritative = false;
      break;
    case dns::QueryStatus::kNotImp:
      reply.rcode = dns::kRcodeNotImp;
      reply.authoritative = false;
      break;
    case dns::QueryStatus::kBadVers:
      reply.rcode = dns::kRcodeBadVers;
      reply.authoritative = false;
      break;
    case dns::QueryStatus::kDrop:
      break;
  }

  if (q.has_edns) {
    w.Limit(limit);
    w.PutU8(0);  // root owner
    w.PutU16(dns::kTypeOpt);
    w.PutU16(static_cast<uint16_t>(std::max(options_.max_udp_size, dns::kMaxUdpWithoutEdns)));
    w.PutU8(static_cast<uint8_t>(reply.rcode >> 4));  // extended rcode
    w.PutU8(0);                                         // version
    w.PutU16(q.edns_do ? dns::kEdnsFlagDo : 0);
    w.PutU16(0);
    ++reply.additional;
  }
  uint16_t flags = dns::kFlagQr | static_cast<uint16_t>(q.opcode << 11) |
                   (q.flags & (dns::kFlagRd | dns::kFlagCd)) | (reply.rcode & 0x0F);
  if (reply.authoritative) flags |= dns::kFlagAa;
  if (reply.truncated) {
    flags |= dns::kFlagTc;
    stats_.truncated.Add();
  }
  uint8_t* h = w.data();
  dns::Store16(h, q.id);
  dns::Store16(h + 2, flags);
  dns::Store16(h + 4, q.has_question ? 1 : 0);
  dns::Store16(h + 6, reply.answers);
  dns::Store16(h + 8, reply.authority);
  dns::Store16(h + 10, reply.additional);
  size_t rcode_slot = reply.rcode < 6 ? reply.rcode : kRcodeSlots - 1;
  stats_.answered[transport == Transport::kTcp][rcode_slot].Add();
  size_t type_slot = kTypeSlots - 1;
  for (size_t i = 0; i + 1 < kTypeSlots; ++i) {
    if (kCountedTypes[i] == q.qtype) type_slot = i;
  }
  if (q.has_question) stats_.by_type[type_slot].Add();
  if (options_.query_log_sample != 0 && ++since_logged_ >= options_.query_log_sample) {
    since_logged_ = 0;
    LogQuery(transport, reply, w.position());
  }
  return w.position();
}

void Responder::Resolve(const Snapshot& snapshot, Reply& reply) {
  const dns::Query& q = reply.query;
  if (q.qclass != dns::kClassIn && q.qclass != dns::kClassAny) {
    reply.rcode = dns::kRcodeRefused;
    reply.authoritative = false;
    return;
  }
  ParsedName& name = reply.name;
  name = catalog::ParseName(q, snapshot);
  if (name.kind == NameKind::kOutside) {
    forward_ = options_.forward_outside;
    reply.rcode = dns::kRcodeRefused;
    reply.authoritative = false;
    return;
  }
  if (q.qtype == dns::kTypeAxfr || q.qtype == dns::kTypeIxfr) {
    reply.rcode = dns::kRcodeRefused;  // no zone transfers
    reply.authoritative = false;
    return;
  }
  bool exists = true;
  switch (name.kind) {
    case NameKind::kApex:
      if (q.qtype == dns::kTypeSoa || q.qtype == dns::kTypeAny) AppendSoa(snapshot, reply, true);
      if (q.qtype == dns::kTypeNs || q.qtype == dns::kTypeAny) {
        const auto& domain = snapshot.domains[name.domain_index];
        size_t mark = reply.writer.position();
        reply.writer.PutU16(dns::kQuestionPointer);
        reply.writer.PutBytes(domain.ns_tail);
        if (reply.writer.overflow()) {
          reply.writer.Rollback(mark);
          reply.truncated = true;
        } else {
          ++reply.answers;
          // ns.<domain> is the NS rdata just written: point at it.
          size_t ns_name = reply.writer.position() - domain.ns_host.size();
          mark = reply.writer.position();
          reply.writer.PutU16(static_cast<uint16_t>(0xC000 | ns_name));
          reply.writer.PutBytes(snapshot.ns_address_tail);
          if (reply.writer.overflow()) {
            reply.writer.Rollback(mark);
          } else {
            ++reply.additional;
          }
        }
      }
      break;
    case NameKind::kNameserver:
      if (q.qtype == snapshot.ns_address_type || q.qtype == dns::kTypeAny) {
        size_t mark = reply.writer.position();
        reply.writer.PutU16(dns::kQuestionPointer);
        reply.writer.PutBytes(snapshot.ns_address_tail);
        if (reply.writer.overflow()) {
          reply.writer.Rollback(mark);
          reply.truncated = true;
        } else {
          ++reply.answers;
        }
      }
      break;
    case NameKind::kService: {
      LookupKey key(KeyKind::kService);
      const AnswerSet* set = KeyOf(snapshot, name, key) ? snapshot.Find(key.view()) : nullptr;
      if (set == nullptr) {
        exists = false;
      } else {
        AnswerService(*set, name.domain_index, reply);
      }
      break;
    }
    case NameKind::kNode: {
      LookupKey key(KeyKind::kNode);
      const AnswerSet* set = KeyOf(snapshot, name, key) ? snapshot.Find(key.view()) : nullptr;
      if (set == nullptr) {
        exists = false;
      } else {
        AnswerNode(*set, reply);
      }
      break;
    }
    case NameKind::kAddr:
      if (!IsServed(snapshot, name.datacenter)) {
        exists = false;
      } else {
        AnswerAddr(name.addr, snapshot.node_ttl, reply);
        exists = reply.rcode != dns::kRcodeNxDomain;
      }
      break;
    case NameKind::kReverse: {
      LookupKey key(KeyKind::kReverse);
      const AnswerSet* set = key.AddWire(q.lower_name()) ? snapshot.Find(key.view()) : nullptr;
      if (set == nullptr) {
        reply.rcode = dns::kRcodeNxDomain;
        forward_ = options_.forward_outside;
      } else if (q.qtype == dns::kTypePtr || q.qtype == dns::kTypeAny) {
        AppendRotated(*set, set->ptr(), 0, reply);
      }
      return;  // not our zone's apex: no SOA to offer
    }
    case NameKind::kDatacenter:
      exists = IsServed(snapshot, name.datacenter);
      break;
    case NameKind::kTagParent: {
      LookupKey key(KeyKind::kTag);
      exists = key.AddLabel(Datacenter(snapshot, name)) && key.AddLabel(name.tag) &&
               snapshot.Contains(key.view());
      break;
    }
    case NameKind::kEmptyNonTerminal:
      exists = IsServed(snapshot, name.datacenter);
      break;
    case NameKind::kNxDomain:
    case NameKind::kOutside:
      exists = false;
      break;
  }
  if (!exists) reply.rcode = dns::kRcodeNxDomain;
  if (reply.answers == 0 && !reply.truncated) AppendSoa(snapshot, reply, false);
}

void Responder::AnswerService(const AnswerSet& set, size_t domain, Reply& reply) {
  uint32_t limit = options_.a_record_limit;
  switch (reply.query.qtype) {
    case dns::kTypeA:
      AppendRotated(set, set.a(), limit, reply);
      break;
    case dns::kTypeAaaa:
      AppendRotated(set, set.aaaa(), limit, reply);
      break;
    case dns::kTypeAny:
      AppendRotated(set, set.a(), limit, reply);
      if (!reply.truncated) AppendRotated(set, set.aaaa(), limit, reply);
      break;
    case dns::kTypeSrv:
      AppendSrv(set, set.srv(domain), reply);
      break;
    default:
      break;
  }
}

void Responder::AnswerNode(const AnswerSet& set, Reply& reply) {
  uint16_t qtype = reply.query.qtype;
  if (qtype == dns::kTypeA || qtype == dns::kTypeAny) AppendRotated(set, set.a(), 0, reply);
  if (qtype == dns::kTypeAaaa || qtype == dns::kTypeAny) AppendRotated(set, set.aaaa(), 0, reply);
  if (qtype == dns::kTypeTxt || qtype == dns::kTypeAny) AppendRotated(set, set.txt(), 0, reply);
}

void Responder::AnswerAddr(absl::string_view hex, uint32_t ttl, Reply& reply) {
  uint8_t address[16];
  if ((hex.size() != 8 && hex.size() != 32)) {
    reply.rcode = dns::kRcodeNxDomain;
    return;
  }
  for (size_t i = 0; i < hex.size(); i += 2) {
    int hi = HexValue(hex[i]), lo = HexValue(hex[i + 1]);
    if (hi < 0 || lo < 0) {
      reply.rcode = dns::kRcodeNxDomain;
      return;
    }
    address[i / 2] = static_cast<uint8_t>(hi << 4 | lo);
  }
  uint16_t type = hex.size() == 8 ? dns::kTypeA : dns::kTypeAaaa;
  if (reply.query.qtype != type && reply.query.qtype != dns::kTypeAny) return;
  dns::WireWriter& w = reply.writer;
  size_t mark = w.position();
  w.PutU16(dns::kQuestionPointer);
  w.PutU16(type);
  w.PutU16(dns::kClassIn);
  w.PutU32(ttl);
  w.PutU16(static_cast<uint16_t>(hex.size() / 2));
  w.PutBytes(address, hex.size() / 2);
  if (w.overflow()) {
    w.Rollback(mark);
    reply.truncated = true;
  } else {
    ++reply.answers;
  }
}

void Responder::AppendRotated(const AnswerSet& set,
                              absl::Span<const RecordRef> records, size_t max,
                              Reply& reply) {
  size_t n = records.size();
  if (n == 0) return;
  size_t count = (max == 0 || max > n) ? n : max;
  size_t start = rotation_++ % n;
  dns::WireWriter& w = reply.writer;
  const char* wire = set.wire_data();
  for (size_t k = 0; k < count; ++k) {
    const RecordRef& r = records[(start + k) % n];
    size_t mark = w.position();
    w.PutBytes(wire + r.offset, r.size);
    if (w.overflow()) {
      w.Rollback(mark);
      reply.truncated = true;
      return;
    }
    ++reply.answers;
  }
}

void Responder::AppendSrv(const AnswerSet& set,
                          absl::Span<const SrvRecord> records, Reply& reply) {
  size_t n = records.size();
  if (n == 0) return;
  size_t start = rotation_++ % n;
  dns::WireWriter& w = reply.writer;
  const char* wire = set.wire_data();
  size_t answers_start = w.position();
  size_t written = 0;
  for (; written < n; ++written) {
    const SrvRecord& srv = records[(start + written) % n];
    size_t mark = w.position();
    w.PutBytes(wire + srv.offset, srv.size);
    if (w.overflow()) {
      w.Rollback(mark);
      reply.truncated = true;
      break;
    }
    ++reply.answers;
  }
  // The targets' addresses, once per target, owned by a pointer to the
  // target name in the SRV record (or the name itself past 16 KiB).
  size_t record_start = answers_start;
  for (size_t k = 0; k < written; ++k) {
    size_t i = (start + k) % n;
    const SrvRecord& srv = records[i];
    size_t target = record_start + srv.target_offset;
    record_start += srv.size;
    size_t first = (start >= srv.group_begin && start < srv.group_end) ? start : srv.group_begin;
    if (i != first) continue;
    size_t mark = w.position();
    if (target <= dns::kMaxPointerOffset) {
      w.PutU16(static_cast<uint16_t>(0xC000 | target));
    } else {
      w.PutBytes(wire + srv.target(), srv.target_size());
    }
    w.PutBytes(wire + srv.additional(), srv.additional_size);
    if (w.overflow()) {
      w.Rollback(mark);
      break;  // additional data is optional: no TC
    }
    ++reply.additional;
  }
}

void Responder::LogQuery(Transport transport, const Reply& reply, size_t size) {
  const dns::Query& q = reply.query;
  SVCDNS_LOG(kInfo, "query", "transport=", transport == Transport::kTcp ? "tcp" : "udp",
             " qname=", Quote(q.has_question ? dns::NameToText(q.lower_name()) : ""),
             " qtype=", q.qtype, " rcode=", reply.rcode < kRcodeSlots ? kRcodeNames[reply.rcode]
                                                                    : kRcodeNames[kRcodeSlots - 1],
             " answers=", reply.answers, " additional=", reply.additional,
             " tc=", reply.truncated ? 1 : 0, " bytes=", size);
}

void Responder::AppendSoa(const Snapshot& snapshot, Reply& reply, bool answer) {
  const auto& domain = snapshot.domains[reply.name.domain_index];
  dns::WireWriter& w = reply.writer;
  size_t mark = w.position();
  w.PutU16(static_cast<uint16_t>(0xC000 | (dns::kHeaderSize + reply.name.domain_offset)));
  w.PutBytes(domain.soa_tail);
  if (w.overflow()) {
    w.Rollback(mark);
    reply.truncated = true;
    return;
  }
  if (answer) {
    ++reply.answers;
  } else {
    ++reply.authority;
  }
}

}  // namespace svcdns::server
