#include "catalog/catalog_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "proto/catalog.pb.h"  // generated from proto/catalog.proto
#include "catalog/proto_convert.h"
#include "google/protobuf/util/json_util.h"

namespace svcdns::catalog {
namespace {

std::string Where(const std::string& path) {
  return absl::StrCat("catalog file \"", path, "\": ");
}

absl::Status Prefixed(absl::string_view prefix, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat(prefix, status.message()));
}

// protobuf's JSON parse errors come as "<what>\n<input around it>\n<caret>";
// a log line wants one line: "<what> near `<input around it>`".
std::string OneLine(absl::string_view message) {
  std::vector<absl::string_view> lines = absl::StrSplit(message, '\n');
  std::string result(absl::StripTrailingAsciiWhitespace(lines[0]));
  if (lines.size() > 1) {
    absl::string_view context = absl::StripAsciiWhitespace(lines[1]);
    if (!context.empty()) absl::StrAppend(&result, " near `", context, "`");
  }
  return result;
}

// An error for the failed system call `what`, with errno's code and text.
absl::Status ErrnoError(int error_number, const std::string& path,
                        absl::string_view what) {
  return absl::ErrnoToStatus(error_number,
                             absl::StrCat(Where(path), what, " failed"));
}

// Closes a file descriptor when it goes out of scope, unless released.
class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;
  ~FdCloser() {
    if (fd_ >= 0) ::close(fd_);
  }
  int Release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, path, "open");
  FdCloser closer(fd);
  std::string contents;
  char buffer[64 * 1024];
  while (true) {
    ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, path, "read");
    }
    if (n == 0) break;
    contents.append(buffer, static_cast<size_t>(n));
  }
  return contents;
}

absl::Status WriteAll(int fd, absl::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, path, "write");
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

// Writes `data` to a new `tmp_path` and makes it durable. Leaves no file
// behind on failure.
absl::Status WriteDurably(const std::string& tmp_path, absl::string_view data) {
  int fd =
      ::open(tmp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoError(errno, tmp_path, "open");
  FdCloser closer(fd);
  absl::Status status = WriteAll(fd, data, tmp_path);
  if (status.ok() && ::fsync(fd) != 0) {
    status = ErrnoError(errno, tmp_path, "fsync");
  }
  if (::close(closer.Release()) != 0 && status.ok()) {
    status = ErrnoError(errno, tmp_path, "close");
  }
  if (!status.ok()) ::unlink(tmp_path.c_str());
  return status;
}

// The directory holding `path`, for fsync after a rename.
std::string DirectoryOf(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

absl::StatusOr<Catalog> LoadCatalogFile(const std::string& path) {
  absl::StatusOr<std::string> contents = ReadFile(path);
  if (!contents.ok()) return contents.status();

  svcdns::v1::Catalog proto;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;  // a typo is an error
  options.case_insensitive_enum_parsing = false;
  google::protobuf::util::Status parsed =
      google::protobuf::util::JsonStringToMessage(*contents, &proto, options);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(Where(path), "not a svcdns.v1.Catalog in protobuf JSON: ",
                     OneLine(absl::string_view(parsed.message().data(),
                                               parsed.message().size()))));
  }
  absl::StatusOr<Catalog> catalog = CatalogFromProto(proto);
  if (!catalog.ok()) return Prefixed(Where(path), catalog.status());
  return catalog;
}

absl::StatusOr<std::string> CatalogToJson(const Catalog& catalog) {
  svcdns::v1::Catalog proto = CatalogToProto(catalog);
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.always_print_primitive_fields = false;
  options.always_print_enums_as_ints = false;
  options.preserve_proto_field_names = false;
  std::string json;
  google::protobuf::util::Status printed =
      google::protobuf::util::MessageToJsonString(proto, &json, options);
  if (!printed.ok()) {
    return absl::InternalError(absl::StrCat(
        "catalog to JSON: ",
        absl::string_view(printed.message().data(), printed.message().size())));
  }
  return json;
}

absl::Status SaveCatalogFile(const Catalog& catalog, const std::string& path) {
  absl::StatusOr<std::string> json = CatalogToJson(catalog);
  if (!json.ok()) return Prefixed(Where(path), json.status());

  const std::string tmp_path = path + ".tmp";
  if (absl::Status written = WriteDurably(tmp_path, *json); !written.ok()) {
    return written;
  }
  if (::rename(tmp_path.c_str(), path.c_str()) != 0) {
    absl::Status status = ErrnoError(errno, path, "rename from .tmp");
    ::unlink(tmp_path.c_str());
    return status;
  }
  // Make the rename itself durable.
  const std::string dir = DirectoryOf(path);
  int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) return ErrnoError(errno, path, "open of its directory");
  FdCloser closer(dir_fd);
  if (::fsync(dir_fd) != 0) {
    return ErrnoError(errno, path, "fsync of its directory");
  }
  return absl::OkStatus();
}

}  // namespace svcdns::catalog
