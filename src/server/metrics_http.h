// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// The daemon's HTTP endpoint (cpp-httplib): GET /metrics (Prometheus text format 0.0.4 of a
// registry), /healthz (200 while the process runs), /readyz (200 while `ready` says so, else
// 503). Two threads serve it; at most 32 connections wait for them, past that the accepting
// thread serves the connection itself and accepts nothing meanwhile.
#ifndef TOKENLEDGER_SERVER_METRICS_HTTP_H_
#define TOKENLEDGER_SERVER_METRICS_HTTP_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "obs/metrics.h"

namespace httplib {
class Server;
}  // namespace httplib

namespace tokenledger {

// "HOST:PORT" or "[IPv6]:PORT" as host and port (0 to 65535); an empty host is every address.
absl::StatusOr<std::pair<std::string, int>> SplitHostPort(absl::string_view address);

class HttpEndpoint {
 public:
  // Binds `address` (port 0: a free one) and serves. `registry` must outlive the endpoint;
  // `ready` is called from the endpoint's threads.
  static absl::StatusOr<std::unique_ptr<HttpEndpoint>> Start(const std::string& address,
                                                             const obs::Registry* registry,
                                                             std::function<bool()> ready);
  ~HttpEndpoint();  // Stop()s

  int port() const { return port_; }
  // Stops serving and joins the threads.
  void Stop();

 private:
  HttpEndpoint() = default;

  std::unique_ptr<httplib::Server> http_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace tokenledger

#endif  // TOKENLEDGER_SERVER_METRICS_HTTP_H_
