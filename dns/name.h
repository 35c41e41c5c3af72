// Domain names in wire form: conversion from and to text, case folding, and
// bounded walking of (possibly compressed) names inside a packet.
#ifndef SVCDNS_DNS_NAME_H_
#define SVCDNS_DNS_NAME_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace svcdns::dns {

inline uint8_t AsciiLower(uint8_t c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<uint8_t>(c | 0x20) : c;
}

// "web.service.consul" or "web.service.consul." -> wire form, root label
// included. The empty string and "." are the root. No escapes: the catalog's
// names are plain labels.
absl::StatusOr<std::string> EncodeName(absl::string_view text);

// Wire form (no compression pointers) -> "web.service.consul." text, with
// bytes outside printable ASCII, '.' and '\\' written as \DDD.
std::string NameToText(absl::string_view wire);

// Lowercases a wire name (labels' length bytes are untouched).
std::string LowercaseName(absl::string_view wire);

// Returns the offset just past the name starting at `offset` in `packet`
// (a compression pointer ends a name), or 0 if the name is malformed or runs
// past the end.
size_t SkipName(const uint8_t* packet, size_t size, size_t offset);

// Reads the name at `offset`, following compression pointers, into `out`
// (kMaxNameLength bytes) as uncompressed wire form. Returns its length, or 0
// if it is malformed: truncated, too long, a reserved label type, or a
// pointer that does not point strictly backwards (which rules out loops).
// `*next` receives the offset just past the name in the packet.
size_t ReadName(const uint8_t* packet, size_t size, size_t offset,
                uint8_t* out, size_t* next);

}  // namespace svcdns::dns

#endif  // SVCDNS_DNS_NAME_H_
