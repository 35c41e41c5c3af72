#include "agent/agent.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/log.h"
#include "nlohmann/json.hpp"

namespace svcdns::agent {
namespace {

using nlohmann::json;

constexpr char kRegistrationsFile[] = "agent-services.json";

json MetaJson(const std::map<std::string, std::string>& meta) {
  json out = json::object();
  for (const auto& [k, v] : meta) out[k] = v;
  return out;
}

// Writes `contents` to `path` atomically: temp file, fsync, rename, fsync dir.
absl::Status WriteAtomically(const std::string& path, const std::string& contents) {
  std::string tmp = path + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return absl::ErrnoToStatus(errno, tmp);
  bool ok = write(fd, contents.data(), contents.size()) == static_cast<ssize_t>(contents.size()) &&
            fsync(fd) == 0;
  close(fd);
  if (!ok || rename(tmp.c_str(), path.c_str()) != 0) return absl::ErrnoToStatus(errno, path);
  int dir = open(std::filesystem::path(path).parent_path().c_str(), O_RDONLY | O_DIRECTORY);
  if (dir >= 0) {
    fsync(dir);
    close(dir);
  }
  return absl::OkStatus();
}

}  // namespace

Agent::Agent(uv_loop_t* loop, AgentOptions options)
    : loop_(loop),
      options_(std::move(options)),
      state_(options_.node),
      runner_(loop, [this](const std::string& id, catalog::Health status, const std::string& output) {
        OnCheck(id, status, output);
      }, CheckRunner::Options{.output_sync_interval = options_.check_update_interval}),
      executor_(loop),
      shared_(std::make_shared<VersionedState>()) {}

Agent::~Agent() { Stop(false); }

absl::Status Agent::Start(std::vector<std::unique_ptr<Transport>> transports) {
  if (!options_.config_dir.empty()) {
    auto definitions = LoadConfigDir(options_.config_dir);
    if (!definitions.ok()) return definitions.status();
    state_.SetFileServices(*std::move(definitions));
  }
  LoadRegistrations();
  for (const ServiceDefinition* def : state_.Services()) StartChecks(*def);
  {
    std::lock_guard<std::mutex> lock(shared_->mu);
    shared_->state = state_.State();
    shared_->version = 1;
  }
  transports_ = std::move(transports);
  for (auto& t : transports_) t->Start();
  reaper_ = new uv_timer_t;
  reaper_->data = this;
  uv_timer_init(loop_, reaper_);
  uv_timer_start(reaper_, [](uv_timer_t* t) { static_cast<Agent*>(t->data)->ReapCritical(); },
                 1000, 1000);
  if (on_change_) on_change_(state_.State());
  return absl::OkStatus();
}

absl::Status Agent::Reload() {
  std::vector<ServiceDefinition> definitions;
  if (!options_.config_dir.empty()) {
    auto loaded = LoadConfigDir(options_.config_dir);
    if (!loaded.ok()) return loaded.status();
    definitions = *std::move(loaded);
  }
  std::vector<ServiceDefinition> before;
  for (const ServiceDefinition* def : state_.Services()) before.push_back(*def);
  auto changes = state_.SetFileServices(std::move(definitions));
  // A changed definition restarts its checks: the old ones stop (including
  // any it no longer has), the new ones start; a removed service's stop.
  std::set<std::string> changed;
  for (const catalog::Change& change : changes) {
    if (const auto* service = std::get_if<catalog::Service>(&change)) changed.insert(service->id);
  }
  for (const ServiceDefinition& def : before) {
    if (state_.FindService(def.service.id) == nullptr || changed.count(def.service.id) > 0) {
      StopChecks(def);
    }
  }
  for (const std::string& id : changed) StartChecks(*state_.FindService(id));
  SVCDNS_LOG(kInfo, "agent_reloaded", "changes=", changes.size());
  Apply(std::move(changes));
  return absl::OkStatus();
}

void Agent::Stop(bool leave) {
  if (stopped_) return;
  stopped_ = true;
  for (auto& t : transports_) t->Stop(leave);
  transports_.clear();
  runner_.Close();
  executor_.Close();
  if (reaper_ != nullptr) {
    uv_close(reinterpret_cast<uv_handle_t*>(reaper_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
    reaper_ = nullptr;
  }
}

void Agent::Apply(std::vector<catalog::Change> changes) {
  if (changes.empty()) return;
  uint64_t version;
  {
    std::lock_guard<std::mutex> lock(shared_->mu);
    shared_->state = state_.State();
    version = ++shared_->version;
  }
  for (auto& t : transports_) t->Push(version, changes);
  if (on_change_) on_change_(state_.State());
}

void Agent::StartChecks(const ServiceDefinition& definition) {
  for (const CheckDefinition& check : definition.checks) {
    if (auto s = runner_.Add(check); !s.ok()) {
      SVCDNS_LOG(kWarn, "check_not_started", "check=", check.check.id, " error=", Quote(s.message()));
    }
  }
}

void Agent::StopChecks(const ServiceDefinition& definition) {
  for (const CheckDefinition& check : definition.checks) runner_.Remove(check.check.id);
}

void Agent::OnCheck(const std::string& check_id, catalog::Health status,
                    const std::string& output) {
  auto changes = state_.SetCheck(check_id, status, output);
  if (changes.empty()) return;
  Apply(std::move(changes));
}

void Agent::ReapCritical() {
  absl::Time now = absl::Now();
  std::vector<std::string> doomed;
  for (const ServiceDefinition* def : state_.Services()) {
    for (const CheckDefinition& check : def->checks) {
      absl::Duration after = check.deregister_critical_service_after;
      if (after > absl::ZeroDuration() && runner_.CriticalSince(check.check.id) + after <= now) {
        doomed.push_back(def->service.id);
        break;
      }
    }
  }
  for (const std::string& id : doomed) {
    SVCDNS_LOG(kInfo, "service_deregistered", "service=", id,
               " reason=deregister_critical_service_after");
    Deregister(id);
  }
}

void Agent::PersistRegistrations() {
  if (options_.data_dir.empty()) return;
  json all = json::object();
  for (const auto& [id, body] : api_bodies_) all[id] = json::parse(body, nullptr, false);
  std::error_code ec;
  std::filesystem::create_directories(options_.data_dir, ec);
  std::string path = options_.data_dir + "/" + kRegistrationsFile;
  if (auto s = WriteAtomically(path, all.dump(2) + "\n"); !s.ok()) {
    SVCDNS_LOG(kError, "persist_failed", "path=", path, " error=", Quote(s.message()));
  }
}

void Agent::LoadRegistrations() {
  if (options_.data_dir.empty()) return;
  std::string path = options_.data_dir + "/" + kRegistrationsFile;
  std::ifstream in(path);
  if (!in) return;
  std::stringstream ss;
  ss << in.rdbuf();
  json all = json::parse(ss.str(), nullptr, false);
  if (!all.is_object()) {
    std::string aside = absl::StrCat(path, ".corrupt-", absl::ToUnixSeconds(absl::Now()));
    std::rename(path.c_str(), aside.c_str());
    SVCDNS_LOG(kError, "data_file_corrupt", "path=", path, " moved_to=", aside);
    return;
  }
  for (const auto& [id, body] : all.items()) {
    auto def = ParseRegistrationBody(body.dump());
    if (!def.ok()) {
      SVCDNS_LOG(kError, "registration_not_restored", "service=", id, " error=", Quote(def.status().message()));
      continue;
    }
    if (state_.Register(*def).ok()) api_bodies_[def->service.id] = body.dump();
  }
  SVCDNS_LOG(kInfo, "registrations_restored", "count=", api_bodies_.size());
}

HttpReply Agent::Register(const std::string& body) {
  auto def = ParseRegistrationBody(body);
  if (!def.ok()) return {400, std::string(def.status().message())};
  std::string id = def->service.id;
  const ServiceDefinition* old = state_.FindService(id);
  std::optional<ServiceDefinition> previous;
  if (old != nullptr) previous = *old;
  auto changes = state_.Register(*def);
  if (!changes.ok()) return {400, std::string(changes.status().message())};
  if (previous) StopChecks(*previous);
  StartChecks(*state_.FindService(id));
  api_bodies_[id] = body;
  PersistRegistrations();
  SVCDNS_LOG(kInfo, "service_registered", "service=", id, " source=api");
  Apply(*std::move(changes));
  return {200, ""};
}

HttpReply Agent::Deregister(const std::string& id) {
  const ServiceDefinition* def = state_.FindService(id);
  if (def == nullptr) return {404, absl::StrCat("Unknown service ID \"", id, "\"")};
  ServiceDefinition copy = *def;
  auto changes = state_.Deregister(id);
  StopChecks(copy);
  if (api_bodies_.erase(id) > 0) PersistRegistrations();
  Apply(*std::move(changes));
  return {200, ""};
}

HttpReply Agent::SetCheck(const std::string& id, catalog::Health status, const std::string& note) {
  absl::Status s = runner_.UpdateTtl(id, status, note);
  if (absl::IsNotFound(s)) return {404, absl::StrCat("Unknown check ID \"", id, "\"")};
  if (!s.ok()) return {400, std::string(s.message())};
  Apply(state_.SetCheck(id, status, note));
  return {200, ""};
}

std::optional<HttpReply> Agent::HandleHttp(const std::string& method, const std::string& path,
                                           const std::string& note, const std::string& body) {
  bool put = method == "PUT" || method == "POST";
  auto on_loop = [&]() -> std::optional<HttpReply> {
    if (stopped_) return HttpReply{503, "agent stopping"};
    if (path == "/v1/agent/service/register") {
      if (!put) return HttpReply{405, "use PUT"};
      return Register(body);
    }
    if (absl::StartsWith(path, "/v1/agent/service/deregister/")) {
      if (!put) return HttpReply{405, "use PUT"};
      return Deregister(path.substr(29));
    }
    for (auto [verb, health] : {std::pair{"pass", catalog::Health::kPassing},
                                std::pair{"warn", catalog::Health::kWarning},
                                std::pair{"fail", catalog::Health::kCritical}}) {
      std::string prefix = absl::StrCat("/v1/agent/check/", verb, "/");
      if (absl::StartsWith(path, prefix)) {
        if (!put) return HttpReply{405, "use PUT"};
        return SetCheck(path.substr(prefix.size()), health, note);
      }
    }
    if (path == "/v1/agent/reload") {
      if (!put) return HttpReply{405, "use PUT"};
      absl::Status s = Reload();
      return s.ok() ? HttpReply{200, ""} : HttpReply{400, std::string(s.message())};
    }
    if (path == "/v1/agent/services") {
      json out = json::object();
      for (const ServiceDefinition* def : state_.Services()) {
        const catalog::Service& s = def->service;
        out[s.id] = {{"ID", s.id},           {"Service", s.name},
                     {"Tags", s.tags},       {"Meta", MetaJson(s.meta)},
                     {"Port", s.port},       {"Address", s.address},
                     {"Weights", {{"Passing", s.weights.passing}, {"Warning", s.weights.warning}}},
                     {"EnableTagOverride", false},
                     {"Datacenter", options_.node.datacenter}};
      }
      return HttpReply{200, out.dump()};
    }
    if (path == "/v1/agent/checks") {
      json out = json::object();
      for (const catalog::Check& c : state_.State().checks) {
        const ServiceDefinition* def = state_.FindService(c.service_id);
        out[c.id] = {{"Node", options_.node.name},
                     {"CheckID", c.id},
                     {"Name", c.name},
                     {"Status", catalog::HealthName(c.status)},
                     {"Notes", c.notes},
                     {"Output", c.output},
                     {"ServiceID", c.service_id},
                     {"ServiceName", def ? def->service.name : ""},
                     {"ServiceTags", def ? def->service.tags : std::vector<std::string>()}};
      }
      return HttpReply{200, out.dump()};
    }
    return std::nullopt;
  };
  return executor_.Call<std::optional<HttpReply>>(on_loop);
}

}  // namespace svcdns::agent
