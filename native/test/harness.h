// A minimal test harness: TEST(name) registers a case, CHECK* report failures with the
// file and line, main() runs every case (or those whose name contains argv[1]) and
// exits non-zero if any failed. Random inputs come from test_seed(), fixed by default
// and overridable with LOCI_TEST_SEED so a failure can be replayed.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

namespace loci::test {

struct Case {
  const char* name;
  std::function<void()> body;
};

inline std::vector<Case>& registry() {
  static std::vector<Case> cases;
  return cases;
}

inline int& failures() {
  static int count = 0;
  return count;
}

struct Register {
  Register(const char* name, std::function<void()> body) { registry().push_back({name, std::move(body)}); }
};

inline uint64_t test_seed() {
  const char* text = std::getenv("LOCI_TEST_SEED");
  return text ? std::strtoull(text, nullptr, 10) : 20261125ull;
}

inline void fail(const char* file, int line, const std::string& what) {
  ++failures();
  std::fprintf(stderr, "%s:%d: FAILED %s\n", file, line, what.c_str());
}

}  // namespace loci::test

#define LOCI_CONCAT2(a, b) a##b
#define LOCI_CONCAT(a, b) LOCI_CONCAT2(a, b)
#define TEST(name)                                                                   \
  static void name();                                                                \
  static ::loci::test::Register LOCI_CONCAT(register_, name)(#name, name);           \
  static void name()

#define CHECK(cond)                                                               \
  do {                                                                            \
    if (!(cond)) ::loci::test::fail(__FILE__, __LINE__, "CHECK(" #cond ")");     \
  } while (0)

#define CHECK_MSG(cond, message)                                                   \
  do {                                                                             \
    if (!(cond)) ::loci::test::fail(__FILE__, __LINE__, std::string(#cond " : ") + (message)); \
  } while (0)

#define CHECK_NEAR(actual, expected, tolerance)                                        \
  do {                                                                                 \
    double loci_a = double(actual), loci_e = double(expected), loci_t = double(tolerance); \
    if (!(loci_a - loci_e <= loci_t && loci_e - loci_a <= loci_t)) {                   \
      ::loci::test::fail(__FILE__, __LINE__, std::string(#actual " = ") + std::to_string(loci_a) + \
                         ", expected " + std::to_string(loci_e) + " +- " + std::to_string(loci_t)); \
    }                                                                                  \
  } while (0)

#define LOCI_TEST_MAIN()                                                             \
  int main(int argc, char** argv) {                                                  \
    int ran = 0;                                                                     \
    for (auto& test_case : ::loci::test::registry()) {                               \
      if (argc > 1 && !std::strstr(test_case.name, argv[1])) continue;               \
      int before = ::loci::test::failures();                                         \
      test_case.body();                                                              \
      ++ran;                                                                         \
      std::printf("%s %s\n", ::loci::test::failures() == before ? "ok  " : "FAIL", test_case.name); \
    }                                                                                \
    std::printf("seed %llu: %d cases, %d failed checks\n",                           \
                (unsigned long long)::loci::test::test_seed(), ran, ::loci::test::failures()); \
    return (ran == 0 || ::loci::test::failures() != 0) ? 1 : 0;                      \
  }
