// Lock annotations for Clang's thread-safety analysis, and the mutex types that carry
// them. scripts/test-thread-safety.sh builds the native tests with clang++
// -Wthread-safety -Werror=thread-safety, so an access to a GUARDED_BY field without its
// lock, or a call to a REQUIRES function without the lock it names, fails that build.
// Other compilers (g++ builds the addon and the other test builds) see empty macros.
// The attributes: https://clang.llvm.org/docs/ThreadSafetyAnalysis.html
//
// libstdc++'s std::mutex, std::shared_mutex and std::lock_guard carry no annotations,
// so the analysis cannot see them take a lock: code whose fields are annotated uses the
// wrappers below instead. They add nothing at run time (every call is inline).
//
//   sync::Mutex mutex_;
//   int count_ GUARDED_BY(mutex_);
//   void bump() { sync::MutexLock lock(mutex_); ++count_; }
//   void bump_locked() REQUIRES(mutex_) { ++count_; }
//
// What the analysis does not see, and the habits that keep it useful:
//  - Lambdas and std::thread bodies are checked as separate functions holding nothing:
//    take the lock inside them, or (when the caller really holds it) call
//    assert_held() first.
//  - std::condition_variable needs a std::mutex: use sync::CondVar, whose wait() names
//    the Mutex it releases and retakes. Wait in a `while` loop, not with a predicate
//    lambda (the lambda's reads would be unchecked, see above).
//  - A field written under two mutexes and read under either (a writer's pointer that
//    readers copy under another lock) cannot be stated: annotate it GUARDED_BY the
//    writer's mutex and read it through a small accessor that REQUIRES the other one and
//    is NO_THREAD_SAFETY_ANALYSIS, with a comment saying why that is safe.
//  - ACQUIRED_AFTER / ACQUIRED_BEFORE (lock order) are checked only with
//    -Wthread-safety-beta, which the check build also turns on.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <shared_mutex>

#if defined(__clang__)
#define LOCI_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define LOCI_THREAD_ANNOTATION(x)
#endif

// A type that is a lock (a "capability"); the string names its kind in messages.
#define CAPABILITY(kind) LOCI_THREAD_ANNOTATION(capability(kind))
// An RAII type that takes a capability in its constructor and gives it back in its
// destructor (and in an unlock() it may have).
#define SCOPED_CAPABILITY LOCI_THREAD_ANNOTATION(scoped_lockable)

// Data: reading needs the lock held shared or exclusive, writing needs it exclusive.
#define GUARDED_BY(mutex) LOCI_THREAD_ANNOTATION(guarded_by(mutex))
// The same for what a pointer (or smart pointer) points to; the pointer itself is free.
#define PT_GUARDED_BY(mutex) LOCI_THREAD_ANNOTATION(pt_guarded_by(mutex))

// Lock order: this mutex is taken after / before the ones named (-Wthread-safety-beta).
#define ACQUIRED_AFTER(...) LOCI_THREAD_ANNOTATION(acquired_after(__VA_ARGS__))
#define ACQUIRED_BEFORE(...) LOCI_THREAD_ANNOTATION(acquired_before(__VA_ARGS__))

// Functions: the caller must hold the locks (exclusive / at least shared)...
#define REQUIRES(...) LOCI_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define REQUIRES_SHARED(...) LOCI_THREAD_ANNOTATION(requires_shared_capability(__VA_ARGS__))
// ...or must not hold them (the function takes them itself).
#define EXCLUDES(...) LOCI_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))

// Functions that take or give back a lock and return holding / not holding it. With no
// argument they mean `this` (the mutex's own methods, a scoped lock's unlock()).
#define ACQUIRE(...) LOCI_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define ACQUIRE_SHARED(...) LOCI_THREAD_ANNOTATION(acquire_shared_capability(__VA_ARGS__))
#define RELEASE(...) LOCI_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define RELEASE_SHARED(...) LOCI_THREAD_ANNOTATION(release_shared_capability(__VA_ARGS__))
// try_lock(): the first argument is the return value that means "taken".
#define TRY_ACQUIRE(...) LOCI_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
#define TRY_ACQUIRE_SHARED(...) LOCI_THREAD_ANNOTATION(try_acquire_shared_capability(__VA_ARGS__))

// A function that checks (or promises) the lock is held; the analysis believes it.
#define ASSERT_CAPABILITY(x) LOCI_THREAD_ANNOTATION(assert_capability(x))
#define ASSERT_SHARED_CAPABILITY(x) LOCI_THREAD_ANNOTATION(assert_shared_capability(x))
// A function returning a reference to the named mutex (so callers' locks match up).
#define RETURN_CAPABILITY(x) LOCI_THREAD_ANNOTATION(lock_returned(x))

// Turns the analysis off inside one function (callers are still checked against its
// REQUIRES). Every use says in a comment why the function is safe anyway.
#define NO_THREAD_SAFETY_ANALYSIS LOCI_THREAD_ANNOTATION(no_thread_safety_analysis)

namespace loci::sync {

class CondVar;

/// std::mutex, annotated. Lower-case method names, so std::scoped_lock and friends still
/// accept it (but the analysis only follows MutexLock).
class CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void lock() ACQUIRE() { mutex_.lock(); }
  void unlock() RELEASE() { mutex_.unlock(); }
  bool try_lock() TRY_ACQUIRE(true) { return mutex_.try_lock(); }
  /// Tells the analysis the calling thread holds this mutex (inside a lambda or a thread
  /// body the caller runs under the lock). Not checked at run time: std::mutex does not
  /// know its owner.
  void assert_held() const ASSERT_CAPABILITY(this) {}

 private:
  friend class CondVar;
  std::mutex mutex_;
};

/// std::shared_mutex, annotated: exclusive for writers, shared for readers.
class CAPABILITY("shared mutex") SharedMutex {
 public:
  SharedMutex() = default;
  SharedMutex(const SharedMutex&) = delete;
  SharedMutex& operator=(const SharedMutex&) = delete;

  void lock() ACQUIRE() { mutex_.lock(); }
  void unlock() RELEASE() { mutex_.unlock(); }
  bool try_lock() TRY_ACQUIRE(true) { return mutex_.try_lock(); }
  void lock_shared() ACQUIRE_SHARED() { mutex_.lock_shared(); }
  void unlock_shared() RELEASE_SHARED() { mutex_.unlock_shared(); }
  bool try_lock_shared() TRY_ACQUIRE_SHARED(true) { return mutex_.try_lock_shared(); }
  /// As Mutex::assert_held(): for the analysis only.
  void assert_held() const ASSERT_CAPABILITY(this) {}
  void assert_reader_held() const ASSERT_SHARED_CAPABILITY(this) {}

 private:
  std::shared_mutex mutex_;
};

/// Holds a Mutex for its scope. unlock() and lock() let a scope give the mutex up for a
/// stretch (e.g. while it waits for slow work) and take it back; the destructor releases
/// it only if held.
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mutex) ACQUIRE(mutex) : mutex_(mutex) { mutex_.lock(); }
  ~MutexLock() RELEASE() {
    if (held_) mutex_.unlock();
  }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  void unlock() RELEASE() {
    mutex_.unlock();
    held_ = false;
  }
  void lock() ACQUIRE() {
    mutex_.lock();
    held_ = true;
  }

 private:
  Mutex& mutex_;
  bool held_ = true;
};

/// Holds a SharedMutex exclusively for its scope.
class SCOPED_CAPABILITY WriterLock {
 public:
  explicit WriterLock(SharedMutex& mutex) ACQUIRE(mutex) : mutex_(mutex) { mutex_.lock(); }
  ~WriterLock() RELEASE() { mutex_.unlock(); }
  WriterLock(const WriterLock&) = delete;
  WriterLock& operator=(const WriterLock&) = delete;

 private:
  SharedMutex& mutex_;
};

/// Holds a SharedMutex shared for its scope.
class SCOPED_CAPABILITY ReaderLock {
 public:
  explicit ReaderLock(SharedMutex& mutex) ACQUIRE_SHARED(mutex) : mutex_(mutex) { mutex_.lock_shared(); }
  ~ReaderLock() RELEASE() { mutex_.unlock_shared(); }
  ReaderLock(const ReaderLock&) = delete;
  ReaderLock& operator=(const ReaderLock&) = delete;

 private:
  SharedMutex& mutex_;
};

/// std::condition_variable for a sync::Mutex. wait() must be called holding the mutex
/// (a MutexLock): it releases it while asleep and holds it again on return, so the
/// analysis sees the lock held throughout, as the caller's code may assume.
class CondVar {
 public:
  CondVar() = default;
  CondVar(const CondVar&) = delete;
  CondVar& operator=(const CondVar&) = delete;

  void wait(Mutex& mutex) REQUIRES(mutex) {
    std::unique_lock<std::mutex> lock(mutex.mutex_, std::adopt_lock);
    cv_.wait(lock);
    lock.release();  // still held: the caller's MutexLock owns it
  }
  template <class Rep, class Period>
  std::cv_status wait_for(Mutex& mutex, const std::chrono::duration<Rep, Period>& timeout) REQUIRES(mutex) {
    std::unique_lock<std::mutex> lock(mutex.mutex_, std::adopt_lock);
    std::cv_status status = cv_.wait_for(lock, timeout);
    lock.release();
    return status;
  }
  void notify_one() { cv_.notify_one(); }
  void notify_all() { cv_.notify_all(); }

 private:
  std::condition_variable cv_;
};

}  // namespace loci::sync
