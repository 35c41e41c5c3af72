// A cursor that appends big-endian fields to a fixed buffer. Its overflow is
// sticky, as in Knot's wire_ctx: write a whole record, then check once, and
// roll back to a mark if it did not fit. Never allocates.
#ifndef SVCDNS_DNS_WIRE_WRITER_H_
#define SVCDNS_DNS_WIRE_WRITER_H_

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "absl/strings/string_view.h"

namespace svcdns::dns {

class WireWriter {
 public:
  WireWriter(uint8_t* buffer, size_t capacity)
      : buffer_(buffer), capacity_(capacity) {}

  void PutU8(uint8_t v) {
    if (Reserve(1)) buffer_[position_++] = v;
  }
  void PutU16(uint16_t v) {
    if (Reserve(2)) {
      buffer_[position_++] = static_cast<uint8_t>(v >> 8);
      buffer_[position_++] = static_cast<uint8_t>(v);
    }
  }
  void PutU32(uint32_t v) {
    PutU16(static_cast<uint16_t>(v >> 16));
    PutU16(static_cast<uint16_t>(v));
  }
  void PutBytes(const void* data, size_t size) {
    if (Reserve(size)) {
      // GCC expands a memcpy whose size it can bound (read from a uint8_t or
      // uint16_t field) into `rep movsq`, several times slower than the
      // library's for records of tens of bytes: hide the bound, unless the
      // size is a constant (then the expansion is a few moves).
      if (!__builtin_constant_p(size)) asm("" : "+r"(size));
      std::memcpy(buffer_ + position_, data, size);
      position_ += size;
    }
  }
  void PutBytes(absl::string_view bytes) { PutBytes(bytes.data(), bytes.size()); }

  // Overwrites two bytes already written at `offset`.
  void PatchU16(size_t offset, uint16_t v) {
    if (offset + 2 <= position_) {
      buffer_[offset] = static_cast<uint8_t>(v >> 8);
      buffer_[offset + 1] = static_cast<uint8_t>(v);
    }
  }

  size_t position() const { return position_; }
  size_t remaining() const { return overflow_ ? 0 : capacity_ - position_; }
  bool overflow() const { return overflow_; }
  uint8_t* data() const { return buffer_; }

  // Forgets everything after `mark` (a previous position()) and the overflow.
  void Rollback(size_t mark) {
    position_ = mark;
    overflow_ = false;
  }
  // Lowers the capacity (a UDP size limit); never below what is written.
  void Limit(size_t capacity) {
    capacity_ = capacity < position_ ? position_ : capacity;
  }

 private:
  bool Reserve(size_t n) {
    if (overflow_ || capacity_ - position_ < n) {
      overflow_ = true;
      return false;
    }
    return true;
  }

  uint8_t* buffer_;
  size_t capacity_;
  size_t position_ = 0;
  bool overflow_ = false;
};

}  // namespace svcdns::dns

#endif  // SVCDNS_DNS_WIRE_WRITER_H_
