// svcdns: the command line. Each subcommand parses its flags here and hands a
// plain options struct to the code that does the work.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "agent/duration.h"
#include "agent/service_definition.h"
#include "base/log.h"
#include "base/shared_key_pki.h"
#include "cli/http_client.h"
#include "nlohmann/json.hpp"
#include "server/serve.h"

namespace {

using svcdns::server::ServeOptions;

std::string HostName() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0') return "localhost";
  std::string s(name);
  return s.substr(0, s.find('.'));
}

// A CLI11 validator for Go-style durations ("30s", "5m", "1h30m").
struct DurationValidator : CLI::Validator {
  DurationValidator() {
    name_ = "DURATION";
    func_ = [](std::string& text) -> std::string {
      auto d = svcdns::agent::ParseDuration(text);
      return d.ok() ? std::string() : std::string(d.status().message());
    };
  }
};

uint32_t Seconds(const std::string& text) {
  auto d = svcdns::agent::ParseDuration(text);
  return d.ok() ? static_cast<uint32_t>(absl::ToInt64Seconds(*d)) : 0;
}

absl::Duration Duration(const std::string& text) {
  auto d = svcdns::agent::ParseDuration(text);
  return d.ok() ? *d : absl::ZeroDuration();
}

// The token, without surrounding whitespace (echo's final newline).
absl::StatusOr<std::string> ReadTokenFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string token(absl::StripAsciiWhitespace(ss.str()));
  if (!in || token.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": no token in the file"));
  }
  return token;
}

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "svcdns: %s\n", std::string(status.message()).c_str());
  return 1;
}

// `svcdns members`: a table in the manner of `consul members`.
int PrintMembers(const std::string& http_addr, bool as_json) {
  auto response = svcdns::cli::HttpRequest("GET", http_addr, "/v1/agent/members");
  if (!response.ok()) return Fail(response.status());
  if (response->status != 200) {
    return Fail(absl::UnavailableError(absl::StrCat("HTTP ", response->status, ": ", response->body)));
  }
  if (as_json) {
    std::fputs(response->body.c_str(), stdout);
    return 0;
  }
  auto members = nlohmann::json::parse(response->body, nullptr, false);
  if (!members.is_array()) return Fail(absl::DataLossError("unexpected answer from the server"));
  std::vector<std::vector<std::string>> rows = {
      {"Node", "Address", "Status", "DC", "Source", "Connected", "Last contact"}};
  for (const auto& m : members) {
    rows.push_back({m.value("Name", ""), m.value("Addr", ""), m.value("StatusText", ""),
                    m["Tags"].value("dc", ""), m.value("Source", ""),
                    m.value("Connected", false) ? "yes" : "no", m.value("LastContact", "")});
  }
  std::vector<size_t> widths(rows[0].size(), 0);
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    std::printf("%s\n", line.c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"svcdns: a fast authoritative DNS front-end for a service catalog"};
  app.require_subcommand(1);
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "debug, info, warn or error")
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}));

  // serve
  ServeOptions serve;
  serve.node = HostName();
  std::string node_ttl = "0s", soa_refresh = "1h", soa_retry = "10m",
              soa_expire = "24h", soa_min_ttl = "0s", tcp_idle = "10s";
  std::vector<std::string> service_ttls;
  DurationValidator duration;
  CLI::App* serve_cmd = app.add_subcommand("serve", "Serve the catalog over DNS");
  serve_cmd->add_option("--dns-addr", serve.dns_addrs,
                        "HOST:PORT or [V6]:PORT for UDP and TCP (repeatable)")
      ->capture_default_str();
  serve_cmd->add_option("--domain", serve.snapshot.domain, "The served domain")->capture_default_str();
  serve_cmd->add_option("--alt-domain", serve.snapshot.alt_domain, "A second served domain");
  serve_cmd->add_option("--datacenter", serve.snapshot.datacenter, "The local datacenter")->capture_default_str();
  serve_cmd->add_option("--node", serve.node, "The local node's name")->capture_default_str();
  serve_cmd->add_option("--advertise", serve.snapshot.advertise,
                        "The local node's address (and ns.<domain>)")->capture_default_str();
  serve_cmd->add_option("--config-dir", serve.config_dir,
                        "Consul-format service definitions (*.json) of the local node")
      ->check(CLI::ExistingDirectory);
  serve_cmd->add_option("--catalog", serve.catalog_file,
                        "A whole catalog: JSON mapping of svcdns.v1.Catalog")
      ->check(CLI::ExistingFile);
  serve_cmd->add_option("--workers", serve.workers, "DNS worker threads (0: one per core)")
      ->check(CLI::Range(0, 256));
  serve_cmd->add_flag("--only-passing", serve.snapshot.only_passing,
                      "Leave out instances whose checks warn");
  serve_cmd->add_option("--node-ttl", node_ttl, "TTL of node records")->check(duration)->capture_default_str();
  serve_cmd->add_option("--service-ttl", service_ttls,
                        "NAME=DURATION, NAME may be \"*\" or \"prefix*\" (repeatable)");
  serve_cmd->add_option("--a-record-limit", serve.worker.responder.a_record_limit,
                        "At most this many A/AAAA records per answer (0: no limit)");
  serve_cmd->add_option("--max-udp-size", serve.worker.responder.max_udp_size,
                        "Largest UDP answer to EDNS clients")
      ->check(CLI::Range(512, 65535))->capture_default_str();
  serve_cmd->add_option("--soa-refresh", soa_refresh, "SOA refresh")->check(duration)->capture_default_str();
  serve_cmd->add_option("--soa-retry", soa_retry, "SOA retry")->check(duration)->capture_default_str();
  serve_cmd->add_option("--soa-expire", soa_expire, "SOA expire")->check(duration)->capture_default_str();
  serve_cmd->add_option("--soa-min-ttl", soa_min_ttl, "SOA minimum: the TTL of negative answers")
      ->check(duration)->capture_default_str();
  serve_cmd->add_option("--tcp-idle-timeout", tcp_idle, "Close idle DNS TCP connections after this")
      ->check(duration)->capture_default_str();
  serve_cmd->add_option("--tcp-max-connections", serve.worker.tcp_max_connections,
                        "Open DNS TCP connections per worker")->capture_default_str();

  // serve: agent streams
  std::string coalesce = "2ms", keepalive = "10s", grace = "30s", reap = "72h",
              token_file;
  serve_cmd->add_option("--ingest-addr", serve.ingest.address,
                        "HOST:PORT for agent streams (gRPC); empty: off")->capture_default_str();
  serve_cmd->add_option("--ingest-token", serve.ingest.token,
                        "Agents must send \"authorization: Bearer TOKEN\"");
  serve_cmd->add_option("--ingest-token-file", token_file, "Read --ingest-token from a file")
      ->check(CLI::ExistingFile);
  serve_cmd->add_option("--tls-ca-file", serve.ingest.tls_ca_file, "CA certificate (PEM)")
      ->check(CLI::ExistingFile);
  serve_cmd->add_option("--tls-cert-file", serve.ingest.tls_cert_file, "Server certificate (PEM)")
      ->check(CLI::ExistingFile);
  serve_cmd->add_option("--tls-key-file", serve.ingest.tls_key_file, "Server private key (PEM)")
      ->check(CLI::ExistingFile);
  serve_cmd->add_flag("--tls-verify-client", serve.ingest.tls_verify_client,
                      "Require client certificates from --tls-ca-file (mutual TLS)");
  serve_cmd->add_option("--encrypt", serve.ingest.encrypt_key,
                        "Shared key (svcdns keygen): mutual TLS without a PKI");
  serve_cmd->add_option("--max-message-bytes", serve.ingest.max_message_bytes,
                        "Largest agent message")->capture_default_str();
  serve_cmd->add_option("--agent-keepalive", keepalive, "Keepalive ping interval on agent streams")
      ->check(duration)->capture_default_str();
  serve_cmd->add_option("--coalesce", coalesce, "Gather changes this long before publishing")
      ->check(duration)->capture_default_str();
  serve_cmd->add_option("--agent-grace", grace,
                        "Serve a node this long after its agent went away")
      ->check(duration)->capture_default_str();
  serve_cmd->add_option("--reap-after", reap, "Forget failed nodes after this")
      ->check(duration)->capture_default_str();
  serve_cmd->add_option("--http-addr", serve.http_addr,
                        "HOST:PORT of the read-only Consul-shaped HTTP API; empty: off")
      ->capture_default_str();
  serve_cmd->add_option("--data-dir", serve.owner.data_dir,
                        "Persist the agents' catalog here and load it at start");

  // validate
  std::string validate_dir;
  CLI::App* validate_cmd = app.add_subcommand(
      "validate", "Check service definition files without starting anything");
  validate_cmd->add_option("dir", validate_dir, "A directory of *.json definitions")
      ->required()->check(CLI::ExistingDirectory);

  // keygen
  CLI::App* keygen_cmd = app.add_subcommand(
      "keygen", "Print a new shared key for --encrypt (base64 of 32 random bytes)");

  // members
  std::string members_http = "127.0.0.1:8500";
  bool members_json = false;
  CLI::App* members_cmd = app.add_subcommand(
      "members", "List the nodes a server knows, with their status (like `consul members`)");
  members_cmd->add_option("--http-addr", members_http, "The server's HTTP API")->capture_default_str();
  members_cmd->add_flag("--json", members_json, "Print the JSON of /v1/agent/members");

  CLI11_PARSE(app, argc, argv);
  svcdns::LogLevel level;
  svcdns::ParseLogLevel(log_level, &level);
  svcdns::SetLogLevel(level);

  if (serve_cmd->parsed()) {
    serve.snapshot.node_ttl = Seconds(node_ttl);
    serve.snapshot.soa_refresh = Seconds(soa_refresh);
    serve.snapshot.soa_retry = Seconds(soa_retry);
    serve.snapshot.soa_expire = Seconds(soa_expire);
    serve.snapshot.soa_min_ttl = Seconds(soa_min_ttl);
    serve.worker.tcp_idle_timeout_ms = uint64_t{Seconds(tcp_idle)} * 1000;
    serve.owner.coalesce = Duration(coalesce);
    serve.owner.agent_grace = Duration(grace);
    serve.owner.reap_after = Duration(reap);
    serve.ingest.keepalive = Duration(keepalive);
    serve.ingest.keepalive_timeout = std::min(absl::Seconds(5), serve.ingest.keepalive);
    if (!token_file.empty()) {
      auto token = ReadTokenFile(token_file);
      if (!token.ok()) return Fail(token.status());
      serve.ingest.token = *token;
    }
    for (const std::string& text : service_ttls) {
      auto rule = svcdns::catalog::ParseServiceTtlRule(text);
      if (!rule.ok()) return Fail(rule.status());
      serve.snapshot.service_ttls.push_back(*rule);
    }
    absl::Status status = svcdns::server::RunServe(std::move(serve));
    return status.ok() ? 0 : Fail(status);
  }
  if (keygen_cmd->parsed()) {
    auto key = svcdns::GenerateSharedKey();
    if (!key.ok()) return Fail(key.status());
    std::printf("%s\n", key->c_str());
    return 0;
  }
  if (members_cmd->parsed()) return PrintMembers(members_http, members_json);
  if (validate_cmd->parsed()) {
    auto definitions = svcdns::agent::LoadConfigDir(validate_dir);
    if (!definitions.ok()) return Fail(definitions.status());
    std::printf("Configuration is valid! (%zu services)\n", definitions->size());
    return 0;
  }
  return 0;
}
