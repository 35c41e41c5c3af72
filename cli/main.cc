// svcdns: the command line. Each subcommand parses its flags here and hands a
// plain options struct to the code that does the work.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "agent/duration.h"
#include "agent/service_definition.h"
#include "base/log.h"
#include "base/shared_key_pki.h"
#include "cli/http_client.h"
#include "nlohmann/json.hpp"
#include "server/agent_command.h"
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

// A PUT to the agent's API; prints the agent's error and fails on non-200.
int AgentPut(const std::string& http_addr, const std::string& path, const std::string& body) {
  auto response = svcdns::cli::HttpRequest("PUT", http_addr, path, body);
  if (!response.ok()) return Fail(response.status());
  if (response->status != 200) {
    return Fail(absl::InvalidArgumentError(
        absl::StrCat(path, ": HTTP ", response->status, ": ", absl::StripAsciiWhitespace(response->body))));
  }
  return 0;
}

// The service objects of a definition file, as the API takes them.
absl::StatusOr<std::vector<nlohmann::json>> ServiceObjects(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  // Validate with the same parser the agent uses, for messages naming the field.
  auto definitions = svcdns::agent::ParseServiceDefinitions(ss.str(), path);
  if (!definitions.ok()) return definitions.status();
  nlohmann::json doc = nlohmann::json::parse(ss.str(), nullptr, false);
  std::vector<nlohmann::json> out;
  if (doc.contains("service")) out.push_back(doc["service"]);
  if (doc.contains("services")) {
    for (const auto& s : doc["services"]) out.push_back(s);
  }
  return out;
}

int RegisterFiles(const std::string& http_addr, const std::vector<std::string>& files) {
  for (const std::string& file : files) {
    auto services = ServiceObjects(file);
    if (!services.ok()) return Fail(services.status());
    for (const auto& service : *services) {
      if (int rc = AgentPut(http_addr, "/v1/agent/service/register", service.dump()); rc != 0) return rc;
      std::printf("Registered service: %s\n", service.value("name", service.value("Name", "")).c_str());
    }
  }
  return 0;
}

int DeregisterServices(const std::string& http_addr, const std::vector<std::string>& files,
                       const std::string& id) {
  std::vector<std::string> ids;
  if (!id.empty()) ids.push_back(id);
  for (const std::string& file : files) {
    std::ifstream in(file);
    std::stringstream ss;
    ss << in.rdbuf();
    auto definitions = svcdns::agent::ParseServiceDefinitions(ss.str(), file);
    if (!definitions.ok()) return Fail(definitions.status());
    for (const auto& def : *definitions) ids.push_back(def.service.id);
  }
  if (ids.empty()) return Fail(absl::InvalidArgumentError("name definition files or --id"));
  for (const std::string& service_id : ids) {
    if (int rc = AgentPut(http_addr, "/v1/agent/service/deregister/" + service_id, ""); rc != 0) return rc;
    std::printf("Deregistered service: %s\n", service_id.c_str());
  }
  return 0;
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
  // Debian builds Abseil without NDEBUG, so every absl::Mutex lock (gRPC
  // takes several per message) also updates a global lock-order graph under
  // a global lock: a debugging aid, and a tenth of the ingest thread.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  // Consul spells it `-id`; CLI11 long options take two dashes.
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "-id") argv[i] = const_cast<char*>("--id");
  }
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
  serve_cmd->add_option("--query-log-sample", serve.worker.responder.query_log_sample,
                        "Log one query in this many (0: none)")->capture_default_str();
  std::vector<std::string> recursors;
  serve_cmd->add_option("--recursor", recursors,
                        "ADDR[:PORT] for names outside our domains (repeatable; tried in order)");
  std::string recursor_timeout = "2s";
  serve_cmd->add_option("--recursor-timeout", recursor_timeout,
                        "Wait this long for a recursor before trying the next")
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
  serve_cmd->add_option("--coalesce", coalesce,
                        "Publish at most one snapshot per this interval (a change after a "
                        "quiet spell at once)")
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

  // agent
  svcdns::server::AgentCommandOptions agent_cmd_options;
  auto& agent_opts = agent_cmd_options.agent;
  agent_opts.node.name = HostName();
  agent_opts.node.address = "127.0.0.1";
  agent_opts.node.datacenter = "dc1";
  std::vector<std::string> node_meta;
  std::string agent_token_file, agent_keepalive = "10s", check_update_interval = "5m";
  CLI::App* agent_cmd = app.add_subcommand(
      "agent", "Run the agent of this node: definitions, health checks, registration API");
  agent_cmd->add_option("--config-dir", agent_opts.config_dir,
                        "Consul-format service definitions (*.json)")
      ->check(CLI::ExistingDirectory);
  agent_cmd->add_option("--join", agent_cmd_options.join,
                        "HOST:PORT of a server's --ingest-addr (repeatable; retried forever)");
  agent_cmd->add_option("--node", agent_opts.node.name, "This node's name")->capture_default_str();
  agent_cmd->add_option("--datacenter", agent_opts.node.datacenter, "This node's datacenter")
      ->capture_default_str();
  agent_cmd->add_option("--advertise", agent_opts.node.address, "This node's address")
      ->capture_default_str();
  agent_cmd->add_option("--node-meta", node_meta, "KEY=VALUE (repeatable)");
  agent_cmd->add_option("--data-dir", agent_opts.data_dir,
                        "Keep services registered through the API here");
  agent_cmd->add_option("--http-addr", agent_cmd_options.http_addr,
                        "HOST:PORT of the registration API; empty: off")->capture_default_str();
  agent_cmd->add_option("--ingest-token", agent_cmd_options.join_options.token,
                        "Token the servers require");
  agent_cmd->add_option("--ingest-token-file", agent_token_file, "Read --ingest-token from a file")
      ->check(CLI::ExistingFile);
  agent_cmd->add_option("--tls-ca-file", agent_cmd_options.join_options.tls_ca_file,
                        "Verify servers against this CA (enables TLS)")->check(CLI::ExistingFile);
  agent_cmd->add_option("--tls-cert-file", agent_cmd_options.join_options.tls_cert_file,
                        "Client certificate for mutual TLS")->check(CLI::ExistingFile);
  agent_cmd->add_option("--tls-key-file", agent_cmd_options.join_options.tls_key_file,
                        "Client private key for mutual TLS")->check(CLI::ExistingFile);
  agent_cmd->add_option("--tls-server-name", agent_cmd_options.join_options.tls_server_name,
                        "Name the server certificate must carry (default: the --join host)");
  agent_cmd->add_option("--encrypt", agent_cmd_options.join_options.encrypt_key,
                        "Shared key (svcdns keygen), as the servers'");
  agent_cmd->add_option("--check-update-interval", check_update_interval,
                        "Send a check's new output alone at most this often (Consul's "
                        "check_update_interval; 0s: every one); a new status goes at once")
      ->check(duration)->capture_default_str();
  agent_cmd->add_option("--agent-keepalive", agent_keepalive, "Keepalive ping interval")
      ->check(duration)->capture_default_str();

  // services register / deregister, reload
  std::string client_http = "127.0.0.1:8500";
  std::vector<std::string> service_files;
  std::string deregister_id;
  CLI::App* services_cmd = app.add_subcommand("services", "Register or deregister services");
  services_cmd->require_subcommand(1);
  CLI::App* register_cmd = services_cmd->add_subcommand(
      "register", "Register the services of definition files with the local agent");
  register_cmd->add_option("files", service_files, "Definition files")->required()
      ->check(CLI::ExistingFile);
  register_cmd->add_option("--http-addr", client_http, "The agent's HTTP API")->capture_default_str();
  CLI::App* deregister_cmd = services_cmd->add_subcommand(
      "deregister", "Deregister the services of definition files, or one by --id");
  deregister_cmd->add_option("files", service_files, "Definition files")->check(CLI::ExistingFile);
  deregister_cmd->add_option("--id", deregister_id, "A service id (also -id)");
  deregister_cmd->add_option("--http-addr", client_http, "The agent's HTTP API")->capture_default_str();
  CLI::App* reload_cmd = app.add_subcommand(
      "reload", "Make the local agent re-read its --config-dir");
  reload_cmd->add_option("--http-addr", client_http, "The agent's HTTP API")->capture_default_str();

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
    for (const std::string& text : recursors) {
      auto address = svcdns::server::ParseListenAddress(text, /*default_port=*/53);
      if (!address.ok()) return Fail(address.status());
      serve.worker.recursors.push_back(*address);
    }
    serve.worker.responder.forward_outside = !serve.worker.recursors.empty();
    serve.worker.recursor_timeout_ms =
        static_cast<uint64_t>(absl::ToInt64Milliseconds(Duration(recursor_timeout)));
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
  if (agent_cmd->parsed()) {
    for (const std::string& kv : node_meta) {
      size_t eq = kv.find('=');
      if (eq == std::string::npos || eq == 0) {
        return Fail(absl::InvalidArgumentError(absl::StrCat("--node-meta \"", kv, "\": expected KEY=VALUE")));
      }
      agent_opts.node.meta[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    agent_cmd_options.join_options.keepalive = Duration(agent_keepalive);
    agent_opts.check_update_interval = Duration(check_update_interval);
    if (!agent_token_file.empty()) {
      auto token = ReadTokenFile(agent_token_file);
      if (!token.ok()) return Fail(token.status());
      agent_cmd_options.join_options.token = *token;
    }
    absl::Status status = svcdns::server::RunAgent(std::move(agent_cmd_options));
    return status.ok() ? 0 : Fail(status);
  }
  if (register_cmd->parsed()) return RegisterFiles(client_http, service_files);
  if (deregister_cmd->parsed()) return DeregisterServices(client_http, service_files, deregister_id);
  if (reload_cmd->parsed()) return AgentPut(client_http, "/v1/agent/reload", "");
  if (validate_cmd->parsed()) {
    auto definitions = svcdns::agent::LoadConfigDir(validate_dir);
    if (!definitions.ok()) return Fail(definitions.status());
    std::printf("Configuration is valid! (%zu services)\n", definitions->size());
    return 0;
  }
  return 0;
}
