// Copyright 2026 The tokenledger Authors. Apache-2.0.
#include "tcp_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace tokenledger::testing {

TcpProxy::TcpProxy(int target_port) : target_port_(target_port) {
  listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  listen(listen_fd_, 64);
  acceptor_ = std::thread([this] { AcceptLoop(); });
}

TcpProxy::~TcpProxy() {
  stopping_ = true;
  Cut(true);
  shutdown(listen_fd_, SHUT_RDWR);
  close(listen_fd_);
  acceptor_.join();
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(mu_);
    threads.swap(threads_);
  }
  for (auto& t : threads) t.join();
  for (int fd : fds_) close(fd);
}

void TcpProxy::Cut(bool cut) {
  cut_ = cut;
  if (!cut) return;
  std::lock_guard<std::mutex> lock(mu_);
  for (int fd : fds_) shutdown(fd, SHUT_RDWR);  // the pumps see EOF and close
}

void TcpProxy::CutLikeAServerShutdown() {
  cut_ = true;
  // An ErrorResponse message of the PostgreSQL protocol: 'E', its length, then fields.
  std::string fields;
  for (const auto& [code, value] : {std::pair<char, std::string>{'S', "FATAL"},
                                    {'V', "FATAL"},
                                    {'C', "57P01"},
                                    {'M', "terminating connection due to administrator command"}}) {
    fields += code;
    fields += value;
    fields += '\0';
  }
  fields += '\0';
  const uint32_t length = htonl(static_cast<uint32_t>(fields.size() + 4));
  std::string message = "E";
  message.append(reinterpret_cast<const char*>(&length), 4);
  message += fields;
  std::lock_guard<std::mutex> lock(mu_);
  for (int fd : clients_) {
    (void)!send(fd, message.data(), message.size(), MSG_NOSIGNAL);
  }
  for (int fd : fds_) shutdown(fd, SHUT_RDWR);
}

void TcpProxy::AcceptLoop() {
  while (!stopping_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    const int client = accept(listen_fd_, nullptr, nullptr);
    if (client < 0) continue;
    if (cut_) {
      close(client);
      continue;
    }
    const int upstream = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(target_port_));
    if (connect(upstream, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      close(client);
      close(upstream);
      continue;
    }
    std::lock_guard<std::mutex> lock(mu_);
    fds_.push_back(client);
    fds_.push_back(upstream);
    clients_.push_back(client);
    threads_.emplace_back([this, client, upstream] { Pump(client, upstream); });
    threads_.emplace_back([this, client, upstream] { Pump(upstream, client); });
  }
}

void TcpProxy::Pump(int from, int to) {
  char buf[16384];
  for (;;) {
    const ssize_t n = read(from, buf, sizeof(buf));
    if (n <= 0 || cut_) break;
    ssize_t off = 0;
    while (off < n) {
      // MSG_NOSIGNAL: a peer gone away is an error here, not a SIGPIPE for the test process.
      const ssize_t w = send(to, buf + off, static_cast<size_t>(n - off), MSG_NOSIGNAL);
      if (w <= 0) break;
      off += w;
    }
    if (off < n) break;
  }
  shutdown(from, SHUT_RDWR);
  shutdown(to, SHUT_RDWR);
}

}  // namespace tokenledger::testing
