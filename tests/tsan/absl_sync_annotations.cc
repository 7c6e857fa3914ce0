// Copyright 2026 The tokenledger Authors. Apache-2.0.
//
// ThreadSanitizer and Debian's abseil. libabsl_synchronization is not built with
// -fsanitize=thread, so TSan does not see absl::Mutex, absl::CondVar or absl::Notification
// synchronize: it would report every access to the data they guard as a race. This file is
// linked into the test binaries of a TOKENLEDGER_SANITIZE=thread tree only. It defines those
// functions in the executable, which interposes them on the shared library's; each calls the
// library's own definition (dlsym RTLD_NEXT) and tells TSan what it did, as an instrumented
// abseil would: taking a lock acquires the mutex, giving it up releases it, a wait gives it up and
// takes it again, Notify releases the notification and a wait for it acquires it. Conditions are
// evaluated between an acquire and a release too, because abseil evaluates them inside a wait or
// an unlock, where this file cannot see the lock change hands.
#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/base/options.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

extern "C" {
void __tsan_acquire(void* addr);
void __tsan_release(void* addr);
}

namespace {

#define TL_STRINGIFY_INNER(x) #x
#define TL_STRINGIFY(x) TL_STRINGIFY_INNER(x)
constexpr char kNamespace[] = TL_STRINGIFY(ABSL_OPTION_INLINE_NAMESPACE_NAME);

// The shared library's definition of absl::<ns>::<suffix> (an Itanium mangled name).
template <typename Fn>
Fn Real(bool const_member, const char* suffix) {
  const std::string name = absl::StrCat(const_member ? "_ZNK" : "_ZN", "4absl",
                                        std::strlen(kNamespace), kNamespace, suffix);
  void* fn = dlsym(RTLD_NEXT, name.c_str());
  if (fn == nullptr) {
    std::fprintf(stderr, "absl_sync_annotations: %s not found in the abseil library\n",
                 name.c_str());
    std::abort();
  }
  return reinterpret_cast<Fn>(fn);
}

void Acquire(const void* addr) { __tsan_acquire(const_cast<void*>(addr)); }
void Release(const void* addr) { __tsan_release(const_cast<void*>(addr)); }

struct AnnotatedCondition {
  const absl::Condition* condition;
  const absl::Mutex* mu;
};

// The thread evaluating holds the lock (abseil evaluates a waiter's condition in the waiter or
// in the thread unlocking): what it reads is ordered after the lock's last holder, and before
// whoever takes the lock next.
bool EvalAnnotated(AnnotatedCondition* c) {
  Acquire(c->mu);
  const bool met = c->condition->Eval();
  Release(c->mu);
  return met;
}

using LockFn = void (*)(absl::Mutex*);
using TryLockFn = bool (*)(absl::Mutex*);
using WhenFn = void (*)(absl::Mutex*, const absl::Condition&);
using WhenTimeoutFn = bool (*)(absl::Mutex*, const absl::Condition&, absl::Duration);
using WhenDeadlineFn = bool (*)(absl::Mutex*, const absl::Condition&, absl::Time);

}  // namespace

namespace absl {

void Mutex::Lock() {
  static const auto real = Real<LockFn>(false, "5Mutex4LockEv");
  real(this);
  Acquire(this);
}

void Mutex::ReaderLock() {
  static const auto real = Real<LockFn>(false, "5Mutex10ReaderLockEv");
  real(this);
  Acquire(this);
}

bool Mutex::TryLock() {
  static const auto real = Real<TryLockFn>(false, "5Mutex7TryLockEv");
  const bool locked = real(this);
  if (locked) Acquire(this);
  return locked;
}

bool Mutex::ReaderTryLock() {
  static const auto real = Real<TryLockFn>(false, "5Mutex13ReaderTryLockEv");
  const bool locked = real(this);
  if (locked) Acquire(this);
  return locked;
}

void Mutex::Unlock() {
  static const auto real = Real<LockFn>(false, "5Mutex6UnlockEv");
  Release(this);
  real(this);
}

void Mutex::ReaderUnlock() {
  static const auto real = Real<LockFn>(false, "5Mutex12ReaderUnlockEv");
  Release(this);
  real(this);
}

void Mutex::LockWhen(const Condition& cond) {
  static const auto real = Real<WhenFn>(false, "5Mutex8LockWhenERKNS0_9ConditionE");
  AnnotatedCondition a{&cond, this};
  real(this, Condition(&EvalAnnotated, &a));
  Acquire(this);
}

void Mutex::ReaderLockWhen(const Condition& cond) {
  static const auto real = Real<WhenFn>(false, "5Mutex14ReaderLockWhenERKNS0_9ConditionE");
  AnnotatedCondition a{&cond, this};
  real(this, Condition(&EvalAnnotated, &a));
  Acquire(this);
}

bool Mutex::LockWhenWithTimeout(const Condition& cond, Duration timeout) {
  static const auto real =
      Real<WhenTimeoutFn>(false, "5Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  AnnotatedCondition a{&cond, this};
  const bool met = real(this, Condition(&EvalAnnotated, &a), timeout);
  Acquire(this);
  return met;
}

bool Mutex::LockWhenWithDeadline(const Condition& cond, Time deadline) {
  static const auto real =
      Real<WhenDeadlineFn>(false, "5Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  AnnotatedCondition a{&cond, this};
  const bool met = real(this, Condition(&EvalAnnotated, &a), deadline);
  Acquire(this);
  return met;
}

void Mutex::Await(const Condition& cond) {
  static const auto real = Real<WhenFn>(false, "5Mutex5AwaitERKNS0_9ConditionE");
  AnnotatedCondition a{&cond, this};
  Release(this);
  real(this, Condition(&EvalAnnotated, &a));
  Acquire(this);
}

bool Mutex::AwaitWithTimeout(const Condition& cond, Duration timeout) {
  static const auto real =
      Real<WhenTimeoutFn>(false, "5Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  AnnotatedCondition a{&cond, this};
  Release(this);
  const bool met = real(this, Condition(&EvalAnnotated, &a), timeout);
  Acquire(this);
  return met;
}

bool Mutex::AwaitWithDeadline(const Condition& cond, Time deadline) {
  static const auto real =
      Real<WhenDeadlineFn>(false, "5Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  AnnotatedCondition a{&cond, this};
  Release(this);
  const bool met = real(this, Condition(&EvalAnnotated, &a), deadline);
  Acquire(this);
  return met;
}

void CondVar::Wait(Mutex* mu) {
  static const auto real = Real<void (*)(CondVar*, Mutex*)>(false, "7CondVar4WaitEPNS0_5MutexE");
  Release(mu);
  real(this, mu);
  Acquire(mu);
}

bool CondVar::WaitWithTimeout(Mutex* mu, Duration timeout) {
  static const auto real = Real<bool (*)(CondVar*, Mutex*, Duration)>(
      false, "7CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE");
  Release(mu);
  const bool timed_out = real(this, mu, timeout);
  Acquire(mu);
  return timed_out;
}

bool CondVar::WaitWithDeadline(Mutex* mu, Time deadline) {
  static const auto real = Real<bool (*)(CondVar*, Mutex*, Time)>(
      false, "7CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE");
  Release(mu);
  const bool timed_out = real(this, mu, deadline);
  Acquire(mu);
  return timed_out;
}

void Notification::Notify() {
  static const auto real = Real<void (*)(Notification*)>(false, "12Notification6NotifyEv");
  Release(this);
  real(this);
}

void Notification::WaitForNotification() const {
  static const auto real =
      Real<void (*)(const Notification*)>(true, "12Notification19WaitForNotificationEv");
  real(this);
  Acquire(this);
}

bool Notification::WaitForNotificationWithTimeout(Duration timeout) const {
  static const auto real = Real<bool (*)(const Notification*, Duration)>(
      true, "12Notification30WaitForNotificationWithTimeoutENS0_8DurationE");
  const bool notified = real(this, timeout);
  Acquire(this);
  return notified;
}

bool Notification::WaitForNotificationWithDeadline(Time deadline) const {
  static const auto real = Real<bool (*)(const Notification*, Time)>(
      true, "12Notification31WaitForNotificationWithDeadlineENS0_4TimeE");
  const bool notified = real(this, deadline);
  Acquire(this);
  return notified;
}

}  // namespace absl
