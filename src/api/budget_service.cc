// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// BudgetService: accounts, teams, grants and adjustments, balances and the transfer listing.
#include <string>
#include <utility>

#include "api/call.h"
#include "api/convert.h"
#include "api/services.h"

namespace tokenledger {

namespace {

// The account as upserted: its id and name as asked, the rest as the ledger now has it.
void FillUpsertedAccount(const Ledger& ledger, const std::string& tenant, const std::string& id,
                         const std::string& display_name, v1::Account* out) {
  out->set_account_id(id);
  out->set_display_name(display_name);
  auto acct = ledger.GetAccount(tenant, id);
  if (!acct.ok()) return;
  out->set_team_id(acct->team_id);
  out->set_status(static_cast<v1::AccountStatus>(acct->status));
  if (acct->policy) FillPolicy(*acct->policy, out->mutable_policy());
}

absl::StatusOr<AccountRecord> ToAccount(const v1::UpsertAccountRequest& req) {
  if (!v1::AccountStatus_IsValid(req.status())) {
    return absl::InvalidArgumentError(
        "status: must be ACTIVE, SUSPENDED or CLOSED (or unset to keep the current one)");
  }
  AccountRecord account{.account_id = req.account_id(),
                        .display_name = req.display_name(),
                        .team_id = req.team_id(),
                        .status = static_cast<AccountStatus>(req.status())};
  if (req.has_policy()) {
    account.policy = ToPolicy(req.policy());
  }
  return account;
}

grpc::ServerUnaryReactor* HandleUpsertAccount(const ApiContext& api, Call call,
                                              const Caller& caller,
                                              const v1::UpsertAccountRequest* req,
                                              v1::UpsertAccountResponse* resp) {
  absl::StatusOr<AccountRecord> account = ToAccount(*req);
  if (!account.ok()) return call.Finish(account.status());
  const Ledger* ledger = api.ledger;
  api.ledger->UpsertAccount(
      caller.tenant_id, *std::move(account), Audited(*req, Method::kUpsertAccount, caller),
      [call, resp, ledger, tenant = caller.tenant_id,
       display_name = req->display_name()](absl::StatusOr<OpResult> r) {
        if (r.ok()) {
          resp->set_created(r->flag);
          FillUpsertedAccount(*ledger, tenant, r->id, display_name, resp->mutable_account());
        }
        call.Finish(r.status());
      });
  return call.reactor();
}

grpc::ServerUnaryReactor* HandleUpsertTeam(const ApiContext& api, Call call, const Caller& caller,
                                           const v1::UpsertTeamRequest* req,
                                           v1::UpsertTeamResponse* resp) {
  TeamRecord team{.team_id = req->team_id(),
                  .display_name = req->display_name(),
                  .monthly_cap = req->monthly_cap()};
  api.ledger->UpsertTeam(caller.tenant_id, team, Audited(*req, Method::kUpsertTeam, caller),
                         [call, resp, team](absl::StatusOr<OpResult> r) {
                           if (r.ok()) {
                             resp->set_created(r->flag);
                             resp->mutable_team()->set_team_id(team.team_id);
                             resp->mutable_team()->set_display_name(team.display_name);
                             resp->mutable_team()->set_monthly_cap(team.monthly_cap);
                           }
                           call.Finish(r.status());
                         });
  return call.reactor();
}

grpc::ServerUnaryReactor* HandleGrant(const ApiContext& api, Call call, const Caller& caller,
                                      const v1::GrantRequest* req, v1::GrantResponse* resp) {
  api.ledger->Grant(caller.tenant_id, req->account_id(), req->amount(), req->memo(),
                    Audited(*req, Method::kGrant, caller),
                    [call, resp](absl::StatusOr<OpResult> r) {
                      if (r.ok()) {
                        resp->set_transfer_id(r->id);
                        resp->set_amount(r->amount);
                        resp->set_available(r->available);
                      }
                      call.Finish(r.status());
                    });
  return call.reactor();
}

grpc::ServerUnaryReactor* HandleAdjust(const ApiContext& api, Call call, const Caller& caller,
                                       const v1::AdjustRequest* req, v1::AdjustResponse* resp) {
  api.ledger->Adjust(caller.tenant_id, req->account_id(), req->amount_delta(), req->memo(),
                     Audited(*req, Method::kAdjust, caller),
                     [call, resp](absl::StatusOr<OpResult> r) {
                       if (r.ok()) {
                         resp->set_transfer_id(r->id);
                         resp->set_amount_delta(r->amount);
                         resp->set_available(r->available);
                       }
                       call.Finish(r.status());
                     });
  return call.reactor();
}

grpc::ServerUnaryReactor* HandleGetBalance(const ApiContext& api, Call call, const Caller& caller,
                                           const v1::GetBalanceRequest* req, v1::Balance* resp) {
  auto b = api.ledger->GetBalance(caller.tenant_id, req->account_id());
  if (!b.ok()) return call.Finish(b.status());
  FillBalance(*b, resp);
  return call.Finish(absl::OkStatus());
}

grpc::ServerUnaryReactor* HandleListTransfers(const ApiContext& api, Call call,
                                              const Caller& caller,
                                              const v1::ListTransfersRequest* req,
                                              v1::ListTransfersResponse* resp) {
  if (req->since() < 0 || req->until() < 0) {
    return call.Finish(absl::InvalidArgumentError("since/until: must not be negative"));
  }
  absl::StatusOr<Page> page = ParsePage(req->page_size(), req->page_token());
  if (!page.ok()) return call.Finish(page.status());
  auto rows = api.ledger->ListTransfers(TransferQuery{.tenant_id = caller.tenant_id,
                                                      .account_id = req->account_id(),
                                                      .limit = page->size + 1,
                                                      .before_seq = page->before_seq,
                                                      .since_us = req->since(),
                                                      .until_us = req->until()});
  if (!rows.ok()) return call.Finish(rows.status());
  const std::string next = FillPage(
      *rows, page->size, [resp] { return resp->add_transfers(); }, &FillTransfer);
  if (!next.empty()) resp->set_next_page_token(next);
  return call.Finish(absl::OkStatus());
}

}  // namespace

grpc::ServerUnaryReactor* BudgetServiceImpl::UpsertAccount(grpc::CallbackServerContext* ctx,
                                                           const grpc::ByteBuffer* request,
                                                           grpc::ByteBuffer* reply) {
  return Serve(ctx_, ctx, Method::kUpsertAccount, request, reply, &HandleUpsertAccount);
}

grpc::ServerUnaryReactor* BudgetServiceImpl::UpsertTeam(grpc::CallbackServerContext* ctx,
                                                        const grpc::ByteBuffer* request,
                                                        grpc::ByteBuffer* reply) {
  return Serve(ctx_, ctx, Method::kUpsertTeam, request, reply, &HandleUpsertTeam);
}

grpc::ServerUnaryReactor* BudgetServiceImpl::Grant(grpc::CallbackServerContext* ctx,
                                                   const grpc::ByteBuffer* request,
                                                   grpc::ByteBuffer* reply) {
  return Serve(ctx_, ctx, Method::kGrant, request, reply, &HandleGrant);
}

grpc::ServerUnaryReactor* BudgetServiceImpl::Adjust(grpc::CallbackServerContext* ctx,
                                                    const grpc::ByteBuffer* request,
                                                    grpc::ByteBuffer* reply) {
  return Serve(ctx_, ctx, Method::kAdjust, request, reply, &HandleAdjust);
}

grpc::ServerUnaryReactor* BudgetServiceImpl::GetBalance(grpc::CallbackServerContext* ctx,
                                                        const grpc::ByteBuffer* request,
                                                        grpc::ByteBuffer* reply) {
  return Serve(ctx_, ctx, Method::kGetBalance, request, reply, &HandleGetBalance);
}

grpc::ServerUnaryReactor* BudgetServiceImpl::ListTransfers(grpc::CallbackServerContext* ctx,
                                                           const grpc::ByteBuffer* request,
                                                           grpc::ByteBuffer* reply) {
  return Serve(ctx_, ctx, Method::kListTransfers, request, reply, &HandleListTransfers);
}

}  // namespace tokenledger
