// GET /metrics: the Prometheus text exposition format, summed at scrape time
// from counters each thread keeps in its own memory.
#ifndef SVCDNS_SERVER_METRICS_H_
#define SVCDNS_SERVER_METRICS_H_

#include <string>

#include "server/catalog_owner.h"
#include "server/dns_server.h"

namespace svcdns::server {

std::string RenderMetrics(const DnsServer& dns, const CatalogOwner& owner);

}  // namespace svcdns::server

#endif  // SVCDNS_SERVER_METRICS_H_
