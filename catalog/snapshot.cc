#include "catalog/snapshot.h"

#include <cstring>

namespace svcdns::catalog {

bool LookupKey::AddLabel(absl::string_view label) {
  if (label.size() > 63 || size_ + 1 + label.size() > sizeof(bytes_)) return false;
  bytes_[size_++] = static_cast<char>(label.size());
  if (!label.empty()) std::memcpy(bytes_ + size_, label.data(), label.size());
  size_ += label.size();
  return true;
}

bool LookupKey::AddWire(absl::string_view wire) {
  if (size_ + wire.size() > sizeof(bytes_)) return false;
  if (!wire.empty()) std::memcpy(bytes_ + size_, wire.data(), wire.size());
  size_ += wire.size();
  return true;
}

}  // namespace svcdns::catalog
