#include "dns/name.h"

#include "absl/strings/str_cat.h"
#include "dns/protocol.h"

namespace svcdns::dns {

absl::StatusOr<std::string> EncodeName(absl::string_view text) {
  if (!text.empty() && text.back() == '.') text.remove_suffix(1);
  std::string wire;
  while (!text.empty()) {
    size_t dot = text.find('.');
    absl::string_view label = text.substr(0, dot);
    if (label.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("empty label in name \"", text, "\""));
    }
    if (label.size() > kMaxLabelLength) {
      return absl::InvalidArgumentError(
          absl::StrCat("label \"", label, "\" is longer than 63 bytes"));
    }
    wire.push_back(static_cast<char>(label.size()));
    wire.append(label.data(), label.size());
    text = dot == absl::string_view::npos ? absl::string_view() : text.substr(dot + 1);
  }
  wire.push_back('\0');
  if (wire.size() > kMaxNameLength) {
    return absl::InvalidArgumentError("name is longer than 255 bytes");
  }
  return wire;
}

std::string NameToText(absl::string_view wire) {
  std::string text;
  size_t i = 0;
  while (i < wire.size() && wire[i] != 0) {
    size_t len = static_cast<uint8_t>(wire[i]);
    for (size_t j = i + 1; j <= i + len && j < wire.size(); ++j) {
      unsigned char c = static_cast<unsigned char>(wire[j]);
      if (c == '.' || c == '\\') {
        text.push_back('\\');
        text.push_back(static_cast<char>(c));
      } else if (c < 0x21 || c > 0x7e) {
        char esc[5];
        esc[0] = '\\';
        esc[1] = static_cast<char>('0' + c / 100);
        esc[2] = static_cast<char>('0' + c / 10 % 10);
        esc[3] = static_cast<char>('0' + c % 10);
        esc[4] = 0;
        text.append(esc);
      } else {
        text.push_back(static_cast<char>(c));
      }
    }
    text.push_back('.');
    i += len + 1;
  }
  return text.empty() ? "." : text;
}

std::string LowercaseName(absl::string_view wire) {
  std::string out(wire);
  size_t i = 0;
  while (i < out.size() && out[i] != 0) {
    size_t len = static_cast<uint8_t>(out[i]);
    for (size_t j = i + 1; j <= i + len && j < out.size(); ++j) {
      out[j] = static_cast<char>(AsciiLower(static_cast<uint8_t>(out[j])));
    }
    i += len + 1;
  }
  return out;
}

size_t SkipName(const uint8_t* packet, size_t size, size_t offset) {
  size_t total = 0;
  while (offset < size) {
    uint8_t len = packet[offset];
    if (len == 0) return offset + 1;
    if ((len & 0xC0) == 0xC0) return offset + 2 <= size ? offset + 2 : 0;
    if ((len & 0xC0) != 0) return 0;  // reserved label types
    total += len + 1;
    if (total + 1 > kMaxNameLength) return 0;
    offset += len + 1;
  }
  return 0;
}

size_t ReadName(const uint8_t* packet, size_t size, size_t offset,
                uint8_t* out, size_t* next) {
  size_t written = 0;
  size_t end = 0;  // offset after the name in the original position
  while (offset < size) {
    uint8_t len = packet[offset];
    if (len == 0) {
      if (end == 0) end = offset + 1;
      out[written++] = 0;
      if (next != nullptr) *next = end;
      return written;
    }
    if ((len & 0xC0) == 0xC0) {
      if (offset + 2 > size) return 0;
      size_t target = ((len & 0x3F) << 8) | packet[offset + 1];
      if (target >= offset) return 0;  // only backwards: no loops
      if (end == 0) end = offset + 2;
      offset = target;
      continue;
    }
    if ((len & 0xC0) != 0) return 0;
    if (offset + 1 + len > size) return 0;
    if (written + len + 2 > kMaxNameLength) return 0;
    for (size_t i = 0; i <= len; ++i) out[written + i] = packet[offset + i];
    written += len + 1;
    offset += len + 1;
  }
  return 0;
}

}  // namespace svcdns::dns
