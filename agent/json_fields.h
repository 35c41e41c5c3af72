// Reading a JSON definition document field by field, for
// service_definition.cc: typed getters that accept a key in either of its
// spellings (snake_case in files, CamelCase in the HTTP API) and errors that
// name the field as the document spelled it; JSON syntax errors with their
// position. Internal to the agent.
#ifndef SVCDNS_AGENT_JSON_FIELDS_H_
#define SVCDNS_AGENT_JSON_FIELDS_H_

#include <cstdint>
#include <initializer_list>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "agent/duration.h"
#include "nlohmann/json.hpp"

namespace svcdns::agent::json_fields {

using nlohmann::json;

// Text from the document, quoted for a message.
inline std::string Quote(absl::string_view s) {
  return absl::StrCat("\"", absl::Utf8SafeCHexEscape(s), "\"");
}

// "a string", "an object": the JSON type of `value`, for messages.
inline std::string TypeOf(const json& value) {
  switch (value.type()) {
    case json::value_t::object:
      return "an object";
    case json::value_t::array:
      return "an array";
    case json::value_t::string:
      return "a string";
    case json::value_t::boolean:
      return "a boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
      return "a number";
    default:
      return "null";
  }
}

// RFC 9110 token characters: HTTP methods and header names.
inline bool IsHttpToken(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (absl::ascii_isalnum(static_cast<unsigned char>(c))) continue;
    if (absl::string_view("!#$%&'*+-.^_`|~").find(c) ==
        absl::string_view::npos) {
      return false;
    }
  }
  return true;
}

inline bool IsDecimalPort(absl::string_view s) {
  if (s.empty() || s.size() > 5) return false;
  uint32_t port = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    port = port * 10 + static_cast<uint32_t>(c - '0');
  }
  return port >= 1 && port <= 65535;
}

// "host:port" or "[v6]:port", as Go's net.SplitHostPort takes them.
inline bool IsHostPort(absl::string_view s) {
  if (absl::StartsWith(s, "[")) {
    const size_t close = s.find(']');
    if (close == absl::string_view::npos || close == 1) return false;
    if (close + 1 >= s.size() || s[close + 1] != ':') return false;
    return IsDecimalPort(s.substr(close + 2));
  }
  const size_t colon = s.rfind(':');
  if (colon == absl::string_view::npos || colon == 0) return false;
  if (s.substr(0, colon).find(':') != absl::string_view::npos) return false;
  return IsDecimalPort(s.substr(colon + 1));
}

// The fields of one JSON object, each looked up under all its spellings
// (snake_case of the files first, then the API's CamelCase). Messages read
// `where` + `path` + key + ": " + problem, with the key as the document
// spelled it, e.g. `web.json: service "web": ` + `checks[1].` + `Interval`.
class Fields {
 public:
  struct Field {
    const json* value = nullptr;  // nullptr: absent or null
    std::string key;  // as found, else the first spelling
  };

  Fields(const json& object, std::string where, std::string path)
      : object_(object), where_(std::move(where)), path_(std::move(path)) {}

  // `key` is respelled as the document has it ("timeout" becomes
  // "Timeout" in an API body; "tls_skip_verify" "TLSSkipVerify").
  absl::Status Error(absl::string_view key, absl::string_view problem) const {
    return absl::InvalidArgumentError(
        absl::StrCat(where_, path_, AsWritten(key), ": ", problem));
  }

  std::string AsWritten(absl::string_view key) const {
    auto fold = [](absl::string_view k) {
      std::string out;
      for (char c : k) {
        if (c != '_') out.push_back(absl::ascii_tolower(static_cast<unsigned char>(c)));
      }
      return out;
    };
    if (!object_.is_object() || object_.contains(std::string(key))) return std::string(key);
    std::string folded = fold(key);
    for (const auto& [name, value] : object_.items()) {
      if (fold(name) == folded) return name;
    }
    return std::string(key);
  }

  // A JSON null counts as absent, as it does for Go's decoder. Two
  // spellings of one field at once are an error.
  absl::StatusOr<Field> Get(std::initializer_list<const char*> keys) const {
    Field field;
    field.key = *keys.begin();
    for (const char* key : keys) {
      auto it = object_.find(key);
      if (it == object_.end() || it->is_null()) continue;
      if (field.value != nullptr) {
        return Error(key, absl::StrCat("given twice, also as \"", field.key,
                                       "\""));
      }
      field.value = &*it;
      field.key = key;
    }
    return field;
  }

  absl::Status String(std::initializer_list<const char*> keys,
                      std::string* out, bool* present = nullptr) const {
    absl::StatusOr<Field> field = Get(keys);
    if (!field.ok()) return field.status();
    if (present != nullptr) *present = field->value != nullptr;
    if (field->value == nullptr) return absl::OkStatus();
    if (!field->value->is_string()) {
      return Error(field->key,
                   absl::StrCat("must be a string, not ", TypeOf(*field->value)));
    }
    *out = field->value->get<std::string>();
    return absl::OkStatus();
  }

  absl::Status Bool(std::initializer_list<const char*> keys, bool* out) const {
    absl::StatusOr<Field> field = Get(keys);
    if (!field.ok()) return field.status();
    if (field->value == nullptr) return absl::OkStatus();
    if (!field->value->is_boolean()) {
      return Error(field->key, absl::StrCat("must be true or false, not ",
                                            TypeOf(*field->value)));
    }
    *out = field->value->get<bool>();
    return absl::OkStatus();
  }

  // An integer in [min, max]; `*out` untouched when absent.
  absl::Status Uint(std::initializer_list<const char*> keys, uint64_t min,
                    uint64_t max, std::optional<uint64_t>* out) const {
    absl::StatusOr<Field> field = Get(keys);
    if (!field.ok()) return field.status();
    const json* value = field->value;
    if (value == nullptr) return absl::OkStatus();
    const std::string range = absl::StrCat("(", min, "-", max, ")");
    // Non-negative numbers read from text are unsigned, but one built in
    // code (json{{"port", 80}}) may be signed.
    if (value->is_number_unsigned() ||
        (value->is_number_integer() && value->get<int64_t>() >= 0)) {
      const uint64_t n = value->get<uint64_t>();
      if (n < min || n > max) {
        return Error(field->key, absl::StrCat(n, " is out of range ", range));
      }
      *out = n;
      return absl::OkStatus();
    }
    if (value->is_number_integer()) {  // negative
      return Error(field->key, absl::StrCat(value->get<int64_t>(),
                                            " is out of range ", range));
    }
    if (value->is_number_float()) {
      return Error(field->key, absl::StrCat("must be an integer ", range,
                                            ", not ", value->dump()));
    }
    return Error(field->key, absl::StrCat("must be an integer ", range,
                                          ", not ", TypeOf(*value)));
  }

  // A Go duration string ("10s"); `*out` untouched when absent.
  absl::Status Duration(std::initializer_list<const char*> keys,
                        std::optional<absl::Duration>* out) const {
    absl::StatusOr<Field> field = Get(keys);
    if (!field.ok()) return field.status();
    const json* value = field->value;
    if (value == nullptr) return absl::OkStatus();
    if (!value->is_string()) {
      return Error(field->key,
                   absl::StrCat("must be a duration string such as \"10s\" or "
                                "\"1m30s\", not ",
                                value->is_number() ? value->dump()
                                                   : TypeOf(*value)));
    }
    absl::StatusOr<absl::Duration> d =
        ParseDuration(value->get_ref<const std::string&>());
    if (!d.ok()) return Error(field->key, d.status().message());
    *out = *d;
    return absl::OkStatus();
  }

  // An array of strings.
  absl::Status StringList(std::initializer_list<const char*> keys,
                          std::vector<std::string>* out,
                          bool* present = nullptr) const {
    absl::StatusOr<Field> field = Get(keys);
    if (!field.ok()) return field.status();
    if (present != nullptr) *present = field->value != nullptr;
    const json* value = field->value;
    if (value == nullptr) return absl::OkStatus();
    if (!value->is_array()) {
      return Error(field->key, absl::StrCat("must be an array of strings, not ",
                                            TypeOf(*value)));
    }
    std::vector<std::string> list;
    for (size_t i = 0; i < value->size(); ++i) {
      const json& item = (*value)[i];
      if (!item.is_string()) {
        return Error(absl::StrCat(field->key, "[", i, "]"),
                     absl::StrCat("must be a string, not ", TypeOf(item)));
      }
      list.push_back(item.get<std::string>());
    }
    *out = std::move(list);
    return absl::OkStatus();
  }

  // An object of string values.
  absl::Status StringMap(std::initializer_list<const char*> keys,
                         std::map<std::string, std::string>* out,
                         std::string* key_found) const {
    absl::StatusOr<Field> field = Get(keys);
    if (!field.ok()) return field.status();
    *key_found = field->key;
    const json* value = field->value;
    if (value == nullptr) return absl::OkStatus();
    if (!value->is_object()) {
      return Error(field->key,
                   absl::StrCat("must be an object of strings, not ",
                                TypeOf(*value)));
    }
    std::map<std::string, std::string> map;
    for (const auto& [k, v] : value->items()) {
      if (!v.is_string()) {
        return Error(absl::StrCat(field->key, ".", k),
                     absl::StrCat("must be a string, not ", TypeOf(v)));
      }
      map[k] = v.get<std::string>();
    }
    *out = std::move(map);
    return absl::OkStatus();
  }

  // An object of arrays of strings: HTTP headers.
  absl::Status Header(std::initializer_list<const char*> keys,
                      std::map<std::string, std::vector<std::string>>* out)
      const {
    absl::StatusOr<Field> field = Get(keys);
    if (!field.ok()) return field.status();
    const json* value = field->value;
    if (value == nullptr) return absl::OkStatus();
    if (!value->is_object()) {
      return Error(field->key,
                   absl::StrCat("must be an object of arrays of strings, "
                                "such as {\"Accept\": [\"text/plain\"]}, not ",
                                TypeOf(*value)));
    }
    std::map<std::string, std::vector<std::string>> header;
    for (const auto& [name, values] : value->items()) {
      const std::string where = absl::StrCat(field->key, ".", name);
      if (!IsHttpToken(name)) {
        return Error(field->key, absl::StrCat(Quote(name),
                                              " is not a valid header name"));
      }
      if (!values.is_array()) {
        return Error(where, absl::StrCat("must be an array of strings, not ",
                                         TypeOf(values)));
      }
      std::vector<std::string>& list = header[name];
      for (size_t i = 0; i < values.size(); ++i) {
        const json& item = values[i];
        if (!item.is_string()) {
          return Error(absl::StrCat(where, "[", i, "]"),
                       absl::StrCat("must be a string, not ", TypeOf(item)));
        }
        const std::string& s = item.get_ref<const std::string&>();
        if (s.find_first_of("\r\n") != std::string::npos ||
            s.find('\0') != std::string::npos) {
          return Error(absl::StrCat(where, "[", i, "]"),
                       "must not contain CR, LF or NUL");
        }
        list.push_back(s);
      }
    }
    *out = std::move(header);
    return absl::OkStatus();
  }

 private:
  const json& object_;
  std::string where_;
  std::string path_;
};

// Parses `text`; on a syntax error, says where.
class JsonErrorRecorder : public json::json_sax_t {
 public:
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return true; }
  bool key(string_t&) override { return true; }
  bool end_object() override { return true; }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t position, const std::string& last_token,
                   const nlohmann::detail::exception& ex) override {
    failed_ = true;
    position_ = position;
    // "[json.exception.parse_error.101] parse error at line 1, column 9: ..."
    absl::string_view what = ex.what();
    if (absl::StartsWith(what, "[")) {
      const size_t end = what.find("] ");
      if (end != absl::string_view::npos) what.remove_prefix(end + 2);
    }
    message_ = std::string(what);
    return false;
  }

  bool failed() const { return failed_; }
  size_t position() const { return position_; }
  const std::string& message() const { return message_; }

 private:
  bool failed_ = false;
  size_t position_ = 0;
  std::string message_;
};

inline absl::StatusOr<json> ParseJson(absl::string_view text,
                               absl::string_view prefix) {
  json doc = json::parse(text.begin(), text.end(), /*cb=*/nullptr,
                         /*allow_exceptions=*/false);
  if (!doc.is_discarded()) return doc;
  JsonErrorRecorder recorder;
  json::sax_parse(text.begin(), text.end(), &recorder);
  if (!recorder.failed()) {
    return absl::InvalidArgumentError(absl::StrCat(prefix, "not valid JSON"));
  }
  // nlohmann counts the offending byte itself: make it a 0-based offset.
  const size_t offset = recorder.position() > 0 ? recorder.position() - 1 : 0;
  return absl::InvalidArgumentError(
      absl::StrCat(prefix, "not valid JSON: ", recorder.message(),
                   " (byte offset ", offset, ")"));
}


}  // namespace svcdns::agent::json_fields

#endif  // SVCDNS_AGENT_JSON_FIELDS_H_
