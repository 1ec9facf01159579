// The cost of a pin/unpin pair of epoch-based reclamation (sync/epoch.h), on one thread
// and with a second thread pinning at the same time: the median of 9 runs of 10 million
// pairs. Usage: bench_epoch
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "sync/epoch.h"

using loci::sync::EpochDomain;

namespace {

double ns_per_pair(EpochDomain& domain, size_t pairs) {
  const auto start = std::chrono::steady_clock::now();
  for (size_t i = 0; i < pairs; ++i) {
    domain.pin();
    domain.unpin();
  }
  return std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count() / pairs;
}

double median_of_runs(EpochDomain& domain) {
  std::vector<double> runs;
  for (int r = 0; r < 9; ++r) runs.push_back(ns_per_pair(domain, 10'000'000));
  std::sort(runs.begin(), runs.end());
  return runs[runs.size() / 2];
}

}  // namespace

int main() {
  EpochDomain& domain = EpochDomain::global();
  const double alone = median_of_runs(domain);
  std::atomic<bool> stop{false};
  std::thread other([&] {
    while (!stop.load(std::memory_order_relaxed)) {
      domain.pin();
      domain.unpin();
    }
  });
  const double contended = median_of_runs(domain);
  stop = true;
  other.join();
  std::printf("pin/unpin pair, one thread:                   %.2f ns (median of 9 x 10M)\n", alone);
  std::printf("pin/unpin pair, another thread pinning too:   %.2f ns (median of 9 x 10M)\n", contended);
  return 0;
}
