#include "dns/query.h"

#include "dns/name.h"

namespace svcdns::dns {
namespace {

// Reads the question name without compression (a pointer in the first name of
// a message can only point forward or at itself: malformed).
bool ParseQuestionName(const uint8_t* packet, size_t size, Query* q) {
  size_t offset = kHeaderSize;
  size_t written = 0;
  q->label_count = 0;
  while (offset < size) {
    uint8_t len = packet[offset];
    if (len == 0) {
      q->qname_lower[written++] = 0;
      q->qname_size = written;
      return true;
    }
    if (len > kMaxLabelLength) return false;  // pointer or reserved type
    if (offset + 1 + len >= size) return false;
    if (written + len + 2 > kMaxNameLength) return false;
    q->label_offsets[q->label_count++] = static_cast<uint8_t>(written);
    q->qname_lower[written] = len;
    for (size_t i = 1; i <= len; ++i) {
      q->qname_lower[written + i] = AsciiLower(packet[offset + i]);
    }
    written += len + 1;
    offset += len + 1;
  }
  return false;
}

}  // namespace

QueryStatus ParseQuery(const uint8_t* packet, size_t size, Query* q) {
  q->has_question = false;
  q->has_edns = false;
  if (size < kHeaderSize) return QueryStatus::kDrop;
  q->id = Load16(packet);
  q->flags = Load16(packet + 2);
  if (q->flags & kFlagQr) return QueryStatus::kDrop;
  q->opcode = static_cast<uint8_t>((q->flags >> 11) & 0x0F);
  uint16_t qdcount = Load16(packet + 4);
  uint16_t ancount = Load16(packet + 6);
  uint16_t nscount = Load16(packet + 8);
  uint16_t arcount = Load16(packet + 10);

  if (qdcount != 1) {
    return q->opcode == kOpcodeQuery ? QueryStatus::kFormErr
                                     : QueryStatus::kNotImp;
  }
  if (!ParseQuestionName(packet, size, q)) return QueryStatus::kFormErr;
  size_t offset = kHeaderSize + q->qname_size;
  if (offset + 4 > size) return QueryStatus::kFormErr;
  q->qtype = Load16(packet + offset);
  q->qclass = Load16(packet + offset + 2);
  q->question = packet + kHeaderSize;
  q->question_size = q->qname_size + 4;
  q->has_question = true;
  offset += 4;

  if (q->opcode != kOpcodeQuery) return QueryStatus::kNotImp;
  if (ancount != 0 || nscount != 0) return QueryStatus::kFormErr;

  // Additional section: find the OPT record, skip anything else (TSIG...).
  for (uint16_t i = 0; i < arcount; ++i) {
    size_t name_start = offset;
    offset = SkipName(packet, size, offset);
    if (offset == 0 || offset + 10 > size) return QueryStatus::kFormErr;
    uint16_t type = Load16(packet + offset);
    uint16_t rdlength = Load16(packet + offset + 8);
    if (offset + 10 + rdlength > size) return QueryStatus::kFormErr;
    if (type == kTypeOpt) {
      // One OPT only, owned by the root (RFC 6891 6.1.1).
      if (q->has_edns || packet[name_start] != 0) return QueryStatus::kFormErr;
      q->has_edns = true;
      q->edns_udp_size = Load16(packet + offset + 2);
      q->edns_version = packet[offset + 5];
      q->edns_do = (Load16(packet + offset + 6) & kEdnsFlagDo) != 0;
    }
    offset += 10 + rdlength;
  }
  if (q->has_edns && q->edns_version != 0) return QueryStatus::kBadVers;
  return QueryStatus::kOk;
}

}  // namespace svcdns::dns
