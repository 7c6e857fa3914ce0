// Copyright 2026 The tokenledger Authors. Apache-2.0.
#include "server/ownership.h"

#include <chrono>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace tokenledger {
namespace {

// The part of a snapshot that belongs to `tenants` (keys are kept whole: they are global).
Snapshot Only(Snapshot s, const absl::flat_hash_set<std::string>& tenants) {
  auto keep = [&](const auto& rec) { return tenants.contains(rec.tenant_id); };
  auto filter = [&](auto& v) { std::erase_if(v, [&](const auto& r) { return !keep(r); }); };
  filter(s.tenants);
  filter(s.teams);
  filter(s.holds);
  filter(s.idempotency);
  filter(s.last_periods);
  filter(s.hold_segments);
  filter(s.prices);
  std::erase_if(s.accounts, [&](const auto& a) { return !keep(a.account); });
  return s;
}

}  // namespace

Ownership::Ownership(LeaseStore* leases, LedgerStore* store, Ledger* ledger,
                     OwnershipOptions options)
    : leases_(leases),
      store_(store),
      ledger_(ledger),
      options_(options),
      pause_max_us_(absl::ToInt64Microseconds(options.ttl / 2)) {}

Ownership::~Ownership() { Stop(/*release=*/false); }

int64_t Ownership::SteadyMicros() {
  // Pauses are measured on the monotonic clock: the ledger's Clock may be shifted (tests), and
  // wall time may jump.
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

absl::Status Ownership::Start() {
  absl::StatusOr<std::vector<LeaseRecord>> mine = leases_->ClaimLeases(/*claim=*/true);
  if (!mine.ok()) return mine.status();
  absl::flat_hash_set<std::string> owned;
  for (const LeaseRecord& l : *mine) owned.insert(l.tenant_id);
  absl::StatusOr<Snapshot> snapshot = store_->Load();
  if (!snapshot.ok()) return snapshot.status();
  std::vector<ApiKeyRecord> keys = snapshot->api_keys;
  if (absl::Status s = ledger_->Load(Only(*std::move(snapshot), owned)); !s.ok()) return s;
  for (const LeaseRecord& l : *mine) leases_->AddFence(l.tenant_id, l.epoch);
  spdlog::info("ownership: serving {} tenants", mine->size());
  if (absl::Status s = Tick(); !s.ok()) {
    spdlog::warn("ownership: first lease refresh failed: {}", std::string(s.message()));
  }
  last_beat_us_ = SteadyMicros();  // the load above may have taken a while
  heart_ = std::thread([this] { HeartbeatLoop(); });
  ticker_ = std::thread([this] { TickLoop(); });
  return absl::OkStatus();
}

void Ownership::Stop(bool release) {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (ticker_.joinable()) ticker_.join();
  if (heart_.joinable()) heart_.join();
  if (release) {
    if (absl::Status s = leases_->ReleaseLeases(); !s.ok()) {
      spdlog::warn("ownership: releasing the leases failed (they expire by themselves): {}",
                   std::string(s.message()));
    }
  }
}

absl::Status Ownership::CheckServes(const std::string& tenant_id) const {
  if (tenant_id.empty()) return absl::OkStatus();
  const int64_t now = SteadyMicros();
  if (paused_at_us_.load(std::memory_order_acquire) != 0 ||
      now - last_beat_us_.load(std::memory_order_acquire) > pause_max_us_) {
    return absl::UnavailableError(
        "this tokenledgerd was paused and has not yet confirmed its leases; retry shortly");
  }
  if (leases_->FenceEpoch(tenant_id).has_value()) return absl::OkStatus();
  absl::MutexLock lock(&mu_);
  auto it = others_.find(tenant_id);
  // No lease anywhere: the tenant does not exist (or was created elsewhere this very second);
  // the engine answers NOT_FOUND.
  if (it == others_.end()) return absl::OkStatus();
  return absl::UnavailableError(absl::StrCat("tenant ", tenant_id, " is served by ",
                                             it->second.owner_address, " (lease epoch ",
                                             it->second.epoch, "); send the call there"));
}

// The fences: a tenant created by this process is served (and fenced) from its creation's
// commit, before the next claim counts its lease.
int64_t Ownership::owned() const { return static_cast<int64_t>(leases_->Fences().size()); }

absl::Status Ownership::Tick() {
  const int64_t started = SteadyMicros();
  absl::StatusOr<std::vector<LeaseRecord>> mine = leases_->ClaimLeases(/*claim=*/true);
  if (!mine.ok()) return mine.status();
  absl::flat_hash_map<std::string, int64_t> now_owned;
  for (const LeaseRecord& l : *mine) now_owned[l.tenant_id] = l.epoch;
  // Lost first: whatever this process served under another epoch is stale.
  for (const auto& [tenant, epoch] : leases_->Fences()) {
    auto it = now_owned.find(tenant);
    if (it == now_owned.end() || it->second != epoch) Lose(tenant);
  }
  absl::flat_hash_map<std::string, int64_t> gained;
  for (const auto& [tenant, epoch] : now_owned) {
    if (!leases_->FenceEpoch(tenant).has_value()) gained[tenant] = epoch;
  }
  if (!gained.empty()) {
    if (absl::Status s = Gain(gained); !s.ok()) return s;
  }
  // A claim that started after a pause confirms (or has just dropped) every lease.
  const int64_t paused_at = paused_at_us_.load(std::memory_order_acquire);
  if (paused_at != 0 && started > paused_at) {
    int64_t expected = paused_at;
    paused_at_us_.compare_exchange_strong(expected, 0);
    spdlog::info("ownership: leases confirmed after a pause; serving {} tenants", now_owned.size());
  }
  absl::StatusOr<std::vector<LeaseRecord>> all = leases_->ListLeases();
  if (!all.ok()) return all.status();
  {
    absl::MutexLock lock(&mu_);
    others_.clear();
    for (LeaseRecord& l : *all) {
      if (!now_owned.contains(l.tenant_id)) others_[l.tenant_id] = std::move(l);
    }
  }
  absl::StatusOr<std::vector<ApiKeyRecord>> keys = leases_->ListApiKeys();
  if (!keys.ok()) return keys.status();
  ledger_->RefreshKeys(*keys);
  return absl::OkStatus();
}

absl::Status Ownership::Gain(const absl::flat_hash_map<std::string, int64_t>& gained) {
  // The leases were taken before this load: every batch of a former owner either committed
  // before the takeover (and is in the load) or is refused by its fence.
  const absl::Time start = absl::Now();
  absl::StatusOr<Snapshot> snapshot = store_->Load();
  if (!snapshot.ok()) return snapshot.status();
  absl::flat_hash_set<std::string> tenants;
  for (const auto& [tenant, epoch] : gained) tenants.insert(tenant);
  if (absl::Status s = ledger_->AddTenants(Only(*std::move(snapshot), tenants)); !s.ok()) {
    return s;
  }
  for (const auto& [tenant, epoch] : gained) {
    leases_->AddFence(tenant, epoch);
    spdlog::info("ownership: now serving tenant {} (lease epoch {})", tenant, epoch);
  }
  spdlog::info("ownership: loaded {} tenants in {}", gained.size(),
               absl::FormatDuration(absl::Now() - start));
  return absl::OkStatus();
}

void Ownership::Lose(const std::string& tenant_id) {
  leases_->RemoveFence(tenant_id);
  ledger_->DropTenant(tenant_id);
  spdlog::warn("ownership: tenant {} is now served by another process; dropped its cache",
               tenant_id);
}

void Ownership::TickLoop() {
  const absl::Duration interval = options_.ttl / 5;
  int failures = 0;
  while (!stop_.WaitForNotificationWithTimeout(interval)) {
    absl::Status s = Tick();
    if (s.ok()) {
      if (failures > 0) spdlog::info("ownership: lease refresh works again");
      failures = 0;
    } else if (failures++ % 10 == 0) {
      spdlog::warn("ownership: lease refresh failed: {}", std::string(s.message()));
    }
  }
}

void Ownership::HeartbeatLoop() {
  const absl::Duration interval = absl::Milliseconds(100);
  while (!stop_.WaitForNotificationWithTimeout(interval)) {
    const int64_t now = SteadyMicros();
    const int64_t last = last_beat_us_.load(std::memory_order_acquire);
    if (now - last > pause_max_us_) {
      // Marked before the beat is renewed, so no call slips through in between.
      paused_at_us_.store(now, std::memory_order_release);
      spdlog::warn(
          "ownership: the process was paused for {} ms; serving again once the leases "
          "are confirmed",
          (now - last) / 1000);
    }
    last_beat_us_.store(now, std::memory_order_release);
  }
}

}  // namespace tokenledger
