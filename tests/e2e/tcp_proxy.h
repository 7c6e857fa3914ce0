// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// A TCP forwarder on 127.0.0.1 that a test can cut: while cut, it closes every connection it
// carries and refuses new ones, as a database host that went away would look to its clients.
#ifndef TOKENLEDGER_TESTS_E2E_TCP_PROXY_H_
#define TOKENLEDGER_TESTS_E2E_TCP_PROXY_H_

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace tokenledger::testing {

class TcpProxy {
 public:
  explicit TcpProxy(int target_port);
  ~TcpProxy();
  int port() const { return port_; }
  void Cut(bool cut);
  // Cut(true) as a PostgreSQL shutdown looks to its idle clients: each connection first gets the
  // server's last message (FATAL 57P01, "terminating connection due to administrator command"),
  // then its end. Call it while the connections are idle (between two messages).
  void CutLikeAServerShutdown();

 private:
  void AcceptLoop();
  void Pump(int from, int to);

  const int target_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> cut_{false};
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::vector<int> fds_;      // open sockets, closed on Cut(true) and at destruction
  std::vector<int> clients_;  // those of fds_ accepted from clients
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

}  // namespace tokenledger::testing

#endif  // TOKENLEDGER_TESTS_E2E_TCP_PROXY_H_
