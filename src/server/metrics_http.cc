// Copyright 2026 The tokenledger Authors. Apache-2.0.
#include "server/metrics_http.h"

#include <sys/socket.h>

#include <deque>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "httplib.h"

namespace tokenledger {

namespace {

constexpr size_t kThreads = 2;
constexpr size_t kWaitingConnectionsMax = 32;

// httplib's own pool queues connections without bound; this one keeps at most `queue_max`.
class BoundedPool final : public httplib::TaskQueue {
 public:
  BoundedPool(size_t threads, size_t queue_max) : queue_max_(queue_max) {
    for (size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { Work(); });
  }

  void enqueue(std::function<void()> fn) override {
    {
      absl::MutexLock lock(&mu_);
      if (jobs_.size() < queue_max_) {
        jobs_.push_back(std::move(fn));
        return;
      }
    }
    fn();  // full: the accepting thread serves this one itself, accepting nothing meanwhile
  }

  void shutdown() override {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    for (auto& t : threads_) t.join();
  }

 private:
  void Work() {
    for (;;) {
      std::function<void()> fn;
      {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(
            +[](BoundedPool* p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(p->mu_) {
              return !p->jobs_.empty() || p->stopping_;
            },
            this));
        if (jobs_.empty()) return;  // stopping, and everything queued is served
        fn = std::move(jobs_.front());
        jobs_.pop_front();
      }
      fn();
    }
  }

  const size_t queue_max_;
  absl::Mutex mu_;
  std::deque<std::function<void()>> jobs_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace

absl::StatusOr<std::pair<std::string, int>> SplitHostPort(absl::string_view address) {
  const size_t colon = address.rfind(':');
  if (colon == absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat("must be HOST:PORT, got '", address, "'"));
  }
  std::string host(address.substr(0, colon));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("an IPv6 host goes in brackets ([::1]:9464), got '", address, "'"));
  }
  int port = -1;
  if (!absl::SimpleAtoi(address.substr(colon + 1), &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("the port must be a number from 0 to 65535, got '", address, "'"));
  }
  return std::make_pair(host.empty() ? std::string("0.0.0.0") : host, port);
}

absl::StatusOr<std::unique_ptr<HttpEndpoint>> HttpEndpoint::Start(const std::string& address,
                                                                  const obs::Registry* registry,
                                                                  std::function<bool()> ready) {
  auto hp = SplitHostPort(address);
  if (!hp.ok()) return hp.status();
  std::unique_ptr<HttpEndpoint> e(new HttpEndpoint());
  e->http_ = std::make_unique<httplib::Server>();
  httplib::Server& http = *e->http_;
  http.new_task_queue = [] { return new BoundedPool(kThreads, kWaitingConnectionsMax); };
  http.set_read_timeout(5, 0);
  http.set_write_timeout(5, 0);
  http.set_keep_alive_timeout(2);
  http.set_payload_max_length(4096);
  // SO_REUSEADDR only: httplib's default SO_REUSEPORT would let a second daemon bind the same
  // port and take half of the scrapes instead of failing to start.
  http.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  http.Get("/metrics", [registry](const httplib::Request&, httplib::Response& res) {
    res.set_content(registry->Render(), "text/plain; version=0.0.4");
  });
  http.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
  http.Get("/readyz", [ready = std::move(ready)](const httplib::Request&, httplib::Response& res) {
    const bool is_ready = ready();
    res.status = is_ready ? 200 : 503;
    res.set_content(is_ready ? "ready\n" : "not ready\n", "text/plain");
  });
  const auto& [host, port] = *hp;
  e->port_ = port == 0 ? http.bind_to_any_port(host) : (http.bind_to_port(host, port) ? port : -1);
  if (e->port_ <= 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", address, " (metrics)"));
  }
  e->thread_ = std::thread([&http] { http.listen_after_bind(); });
  // stop() is only heard once the server runs: wait for that (bounded) before handing it out.
  for (int i = 0; i < 5000 && !http.is_running(); ++i) absl::SleepFor(absl::Milliseconds(1));
  return e;
}

HttpEndpoint::~HttpEndpoint() { Stop(); }

void HttpEndpoint::Stop() {
  if (!thread_.joinable()) return;
  http_->stop();
  thread_.join();
}

}  // namespace tokenledger
