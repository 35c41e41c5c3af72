#include "server/consul_json.h"

#include <map>
#include <ranges>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/time/time.h"

namespace svcdns::server {
namespace {

using nlohmann::json;
using catalog::Check;
using catalog::Health;
using catalog::NodeState;
using catalog::NodeStatus;
using catalog::Service;

std::string Dc(const CatalogView& view, const NodeState& state) {
  return absl::AsciiStrToLower(state.node.datacenter.empty() ? view.local_datacenter
                                                             : state.node.datacenter);
}

bool InDc(const CatalogView& view, const NodeState& state, const ViewQuery& q) {
  if (state.status == NodeStatus::kLeft) return false;
  std::string want = absl::AsciiStrToLower(q.datacenter.empty() ? view.local_datacenter
                                                                : q.datacenter);
  return Dc(view, state) == want;
}

json Meta(const std::map<std::string, std::string>& meta) {
  json out = json::object();
  for (const auto& [k, v] : meta) out[k] = v;
  return out;
}

json NodeJson(const CatalogView& view, const NodeState& state) {
  return {{"ID", ""},
          {"Node", state.node.name},
          {"Address", state.node.address},
          {"Datacenter", Dc(view, state)},
          {"TaggedAddresses", {{"lan", state.node.address}, {"wan", state.node.address}}},
          {"Meta", Meta(state.node.meta)},
          {"CreateIndex", view.index},
          {"ModifyIndex", view.index}};
}

json ServiceJson(const Service& s) {
  return {{"ID", s.id},
          {"Service", s.name},
          {"Tags", s.tags},
          {"Address", s.address},
          {"Port", s.port},
          {"Meta", Meta(s.meta)},
          {"Weights", {{"Passing", s.weights.passing}, {"Warning", s.weights.warning}}},
          {"EnableTagOverride", false}};
}

// Consul's agent health check, for the node's liveness as we see it.
Check SerfHealth(const NodeState& state) {
  Check c;
  c.id = "serfHealth";
  c.name = "Serf Health Status";
  c.status = state.status == NodeStatus::kAlive ? Health::kPassing : Health::kCritical;
  c.output = state.status == NodeStatus::kAlive ? "Agent alive and reachable"
                                                : "Agent not live or unreachable";
  return c;
}

json CheckJson(const NodeState& state, const Check& c) {
  std::string service_name;
  std::vector<std::string> tags;
  for (const Service& s : state.services) {
    if (s.id == c.service_id) {
      service_name = s.name;
      tags = s.tags;
    }
  }
  return {{"Node", state.node.name},     {"CheckID", c.id},
          {"Name", c.name},              {"Status", catalog::HealthName(c.status)},
          {"Notes", c.notes},            {"Output", c.output},
          {"ServiceID", c.service_id},   {"ServiceName", service_name},
          {"ServiceTags", tags},         {"Type", ""},
          {"CreateIndex", 0},            {"ModifyIndex", 0}};
}

// The checks that bear on one instance: the node's and its own.
std::vector<Check> ChecksOf(const NodeState& state, const std::string& service_id) {
  std::vector<Check> out = {SerfHealth(state)};
  for (const Check& c : state.checks) {
    if (c.service_id.empty() || c.service_id == service_id) out.push_back(c);
  }
  return out;
}

bool HasTag(const Service& s, const std::string& tag) {
  if (tag.empty()) return true;
  for (const std::string& t : s.tags) {
    if (absl::EqualsIgnoreCase(t, tag)) return true;
  }
  return false;
}

int MemberStatusCode(NodeStatus status) {
  switch (status) {  // Consul's serf member status numbers
    case NodeStatus::kAlive:
      return 1;
    case NodeStatus::kLeft:
      return 3;
    case NodeStatus::kFailed:
      return 4;
  }
  return 0;
}

const char* MemberStatusName(NodeStatus status) {
  switch (status) {
    case NodeStatus::kAlive:
      return "alive";
    case NodeStatus::kLeft:
      return "left";
    case NodeStatus::kFailed:
      return "failed";
  }
  return "unknown";
}

}  // namespace

std::optional<json> RenderPath(const CatalogView& view, const std::string& path,
                               const ViewQuery& q) {
  static const catalog::SharedCatalog kEmpty;
  auto nodes = (view.catalog ? *view.catalog : kEmpty).nodes |
               std::views::transform([](const auto& node) -> const NodeState& { return *node; });
  if (path == "/v1/catalog/services") {
    std::map<std::string, std::set<std::string>> services;
    for (const NodeState& n : nodes) {
      if (!InDc(view, n, q)) continue;
      for (const Service& s : n.services) services[s.name].insert(s.tags.begin(), s.tags.end());
    }
    json out = json::object();
    for (const auto& [name, tags] : services) out[name] = std::vector<std::string>(tags.begin(), tags.end());
    return out;
  }
  if (path == "/v1/catalog/nodes") {
    json out = json::array();
    for (const NodeState& n : nodes) {
      if (InDc(view, n, q)) out.push_back(NodeJson(view, n));
    }
    return out;
  }
  if (absl::StartsWith(path, "/v1/catalog/service/")) {
    std::string name = path.substr(20);
    json out = json::array();
    for (const NodeState& n : nodes) {
      if (!InDc(view, n, q)) continue;
      for (const Service& s : n.services) {
        if (!absl::EqualsIgnoreCase(s.name, name) || !HasTag(s, q.tag)) continue;
        json entry = NodeJson(view, n);
        entry["NodeMeta"] = entry["Meta"];
        entry.erase("Meta");
        entry["ServiceID"] = s.id;
        entry["ServiceName"] = s.name;
        entry["ServiceTags"] = s.tags;
        entry["ServiceAddress"] = s.address;
        entry["ServicePort"] = s.port;
        entry["ServiceMeta"] = Meta(s.meta);
        entry["ServiceWeights"] = {{"Passing", s.weights.passing}, {"Warning", s.weights.warning}};
        entry["ServiceEnableTagOverride"] = false;
        out.push_back(std::move(entry));
      }
    }
    return out;
  }
  if (absl::StartsWith(path, "/v1/health/service/")) {
    std::string name = path.substr(19);
    json out = json::array();
    for (const NodeState& n : nodes) {
      if (!InDc(view, n, q)) continue;
      for (const Service& s : n.services) {
        if (!absl::EqualsIgnoreCase(s.name, name) || !HasTag(s, q.tag)) continue;
        std::vector<Check> checks = ChecksOf(n, s.id);
        if (q.passing) {
          bool all = true;
          for (const Check& c : checks) all = all && c.status == Health::kPassing;
          if (!all) continue;
        }
        json checks_json = json::array();
        for (const Check& c : checks) checks_json.push_back(CheckJson(n, c));
        out.push_back({{"Node", NodeJson(view, n)}, {"Service", ServiceJson(s)},
                       {"Checks", std::move(checks_json)}});
      }
    }
    return out;
  }
  if (absl::StartsWith(path, "/v1/health/node/")) {
    std::string name = path.substr(16);
    json out = json::array();
    for (const NodeState& n : nodes) {
      if (!InDc(view, n, q) || !absl::EqualsIgnoreCase(n.node.name, name)) continue;
      out.push_back(CheckJson(n, SerfHealth(n)));
      for (const Check& c : n.checks) out.push_back(CheckJson(n, c));
    }
    return out;
  }
  if (absl::StartsWith(path, "/v1/health/checks/")) {
    std::string name = path.substr(18);
    json out = json::array();
    for (const NodeState& n : nodes) {
      if (!InDc(view, n, q)) continue;
      for (const Check& c : n.checks) {
        for (const Service& s : n.services) {
          if (s.id == c.service_id && absl::EqualsIgnoreCase(s.name, name)) {
            out.push_back(CheckJson(n, c));
          }
        }
      }
    }
    return out;
  }
  if (path == "/v1/agent/self") {
    return json{{"Config", {{"Datacenter", view.local_datacenter},
                            {"NodeName", view.node},
                            {"AdvertiseAddr", view.advertise},
                            {"Server", true},
                            {"Version", "svcdns"}}},
                {"Member", {{"Name", view.node}, {"Addr", view.advertise}, {"Status", 1}}}};
  }
  if (path == "/v1/status/leader") return json(view.advertise + ":8300");
  if (path == "/v1/status/peers") return json::array({view.advertise + ":8300"});
  if (path == "/v1/catalog/datacenters") {
    std::set<std::string> dcs = {absl::AsciiStrToLower(view.local_datacenter)};
    for (const NodeState& n : nodes) dcs.insert(Dc(view, n));
    return json(std::vector<std::string>(dcs.begin(), dcs.end()));
  }
  if (path == "/v1/agent/members") {
    json out = json::array();
    for (const catalog::Member& m : view.members) {
      out.push_back({{"Name", m.name},
                     {"Addr", m.address},
                     {"Port", 0},
                     {"Tags", {{"dc", m.datacenter}, {"role", "node"}}},
                     {"Status", MemberStatusCode(m.status)},
                     {"StatusText", MemberStatusName(m.status)},
                     {"Connected", m.connected},
                     {"Source", m.from_files ? "file" : "agent"},
                     {"LastContact", m.last_contact == absl::InfinitePast()
                                         ? std::string()
                                         : absl::FormatTime(absl::RFC3339_sec, m.last_contact,
                                                            absl::UTCTimeZone())}});
    }
    return out;
  }
  return std::nullopt;
}

}  // namespace svcdns::server
