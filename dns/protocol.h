// DNS protocol numbers (RFC 1035, 2782, 3596, 6891) and header layout.
#ifndef SVCDNS_DNS_PROTOCOL_H_
#define SVCDNS_DNS_PROTOCOL_H_

#include <cstddef>
#include <cstdint>

namespace svcdns::dns {

inline constexpr size_t kHeaderSize = 12;
inline constexpr size_t kMaxNameLength = 255;   // wire form, root included
inline constexpr size_t kMaxLabelLength = 63;
inline constexpr size_t kMaxUdpWithoutEdns = 512;
inline constexpr size_t kMaxMessageSize = 65535;
// The largest UDP payload IPv4 can carry (65535 - 20 IP - 8 UDP).
inline constexpr size_t kMaxUdpPayload = 65507;
inline constexpr size_t kOptRecordSize = 11;     // root, type, class, ttl, rdlen
inline constexpr uint16_t kQuestionPointer = 0xC000 | kHeaderSize;  // 0xC00C
inline constexpr size_t kMaxPointerOffset = 0x3FFF;

enum Type : uint16_t {
  kTypeA = 1,
  kTypeNs = 2,
  kTypeCname = 5,
  kTypeSoa = 6,
  kTypePtr = 12,
  kTypeTxt = 16,
  kTypeAaaa = 28,
  kTypeSrv = 33,
  kTypeOpt = 41,
  kTypeIxfr = 251,
  kTypeAxfr = 252,
  kTypeAny = 255,
};

enum Class : uint16_t { kClassIn = 1, kClassAny = 255 };

enum Rcode : uint8_t {
  kRcodeNoError = 0,
  kRcodeFormErr = 1,
  kRcodeServFail = 2,
  kRcodeNxDomain = 3,
  kRcodeNotImp = 4,
  kRcodeRefused = 5,
  kRcodeBadVers = 16,  // extended: upper bits travel in OPT
};

inline constexpr uint8_t kOpcodeQuery = 0;

// Header flag bits in the 16-bit flags word.
inline constexpr uint16_t kFlagQr = 0x8000;
inline constexpr uint16_t kFlagAa = 0x0400;
inline constexpr uint16_t kFlagTc = 0x0200;
inline constexpr uint16_t kFlagRd = 0x0100;
inline constexpr uint16_t kFlagRa = 0x0080;
inline constexpr uint16_t kFlagAd = 0x0020;
inline constexpr uint16_t kFlagCd = 0x0010;
inline constexpr uint16_t kEdnsFlagDo = 0x8000;

inline uint16_t Load16(const uint8_t* p) {
  return static_cast<uint16_t>((p[0] << 8) | p[1]);
}
inline uint32_t Load32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) |
         (uint32_t{p[2]} << 8) | p[3];
}
inline void Store16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
inline void Store32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

}  // namespace svcdns::dns

#endif  // SVCDNS_DNS_PROTOCOL_H_
