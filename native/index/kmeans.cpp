#include "index/kmeans.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <thread>

#include "kernels/kernels.h"

namespace loci::index {
namespace {

// Runs body(first, last) over [0, n) split across up to `threads` threads.
template <class Body>
void parallel_for(size_t n, unsigned threads, Body&& body) {
  const size_t min_per_thread = 2048;
  unsigned used = static_cast<unsigned>(std::max<size_t>(1, std::min<size_t>(threads, n / min_per_thread)));
  if (used <= 1) {
    body(size_t(0), n);
    return;
  }
  std::vector<std::thread> workers;
  const size_t chunk = (n + used - 1) / used;
  for (unsigned t = 1; t < used; ++t) {
    size_t first = t * chunk, last = std::min(n, first + chunk);
    if (first < last) workers.emplace_back([&body, first, last] { body(first, last); });
  }
  body(size_t(0), std::min(n, chunk));
  for (auto& worker : workers) worker.join();
}

struct Assigner {
  const float* base;
  const uint32_t* indices;
  size_t dim;
  const std::vector<float>* centroids;
  size_t k;

  // Nearest centroid under cost = d + lambda * sizes[j]; returns the plain distance too.
  uint32_t assign(size_t i, float lambda, const std::vector<float>& penalty_sizes, float* distances,
                  float* nearest_distance) const {
    const float* point = base + size_t(indices[i]) * dim;
    kernels::active().l2sq_f32_rows(point, centroids->data(), k, dim, dim, distances);
    uint32_t best = 0;
    float best_cost = std::numeric_limits<float>::infinity();
    for (size_t j = 0; j < k; ++j) {
      float cost = distances[j] + lambda * penalty_sizes[j];
      if (cost < best_cost) best_cost = cost, best = static_cast<uint32_t>(j);
    }
    *nearest_distance = distances[best];
    return best;
  }
};

// The final assignment under KMeansOptions::max_size / min_fraction: each point goes to
// its nearest cluster that is kept and not yet full, points with the most to lose by a
// second choice first.
std::vector<uint32_t> bounded_assignment(const float* base, const uint32_t* indices, size_t n, size_t dim,
                                         const std::vector<float>& centroids, size_t k, const KMeansOptions& options) {
  std::vector<float> distances(n * k);
  for (size_t i = 0; i < n; ++i) {
    kernels::active().l2sq_f32_rows(base + size_t(indices[i]) * dim, centroids.data(), k, dim, dim, &distances[i * k]);
  }
  std::vector<uint32_t> nearest_count(k, 0);
  for (size_t i = 0; i < n; ++i) {
    const float* row = &distances[i * k];
    nearest_count[std::min_element(row, row + k) - row]++;
  }
  std::vector<uint8_t> kept(k, 1);
  size_t kept_count = k;
  const double smallest = options.min_fraction * double(n) / double(k);
  // Slivers go smallest first, but never so many that the rest could not hold every
  // point within max_size: on tight clusters most centroids can be slivers, and dropping
  // them all would leave clusters over a page (each then split into two half-empty leaves).
  const size_t min_kept = options.max_size ? std::max<size_t>(1, (n + options.max_size - 1) / options.max_size) : 1;
  std::vector<uint32_t> by_size(k);
  for (size_t j = 0; j < k; ++j) by_size[j] = static_cast<uint32_t>(j);
  std::stable_sort(by_size.begin(), by_size.end(), [&](uint32_t a, uint32_t b) { return nearest_count[a] < nearest_count[b]; });
  for (uint32_t j : by_size) {
    if (kept_count <= min_kept || kept_count <= 1 || nearest_count[j] >= smallest) break;
    kept[j] = 0, --kept_count;
  }
  const size_t cap = std::max(options.max_size ? options.max_size : n, (n + kept_count - 1) / kept_count);
  // Regret: how much farther the second kept choice is than the first.
  std::vector<std::pair<float, uint32_t>> order(n);
  for (size_t i = 0; i < n; ++i) {
    float best = std::numeric_limits<float>::infinity(), second = best;
    for (size_t j = 0; j < k; ++j) {
      if (!kept[j]) continue;
      const float d = distances[i * k + j];
      if (d < best) second = best, best = d;
      else if (d < second) second = d;
    }
    order[i] = {std::isinf(second) ? std::numeric_limits<float>::max() : second - best, static_cast<uint32_t>(i)};
  }
  std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
  std::vector<uint32_t> assignment(n, 0), sizes(k, 0);
  for (const auto& [regret, i] : order) {
    uint32_t best = 0;
    float best_distance = std::numeric_limits<float>::infinity();
    for (size_t j = 0; j < k; ++j) {
      if (kept[j] && sizes[j] < cap && distances[size_t(i) * k + j] < best_distance) best_distance = distances[size_t(i) * k + j], best = uint32_t(j);
    }
    assignment[i] = best;
    ++sizes[best];
  }
  return assignment;
}

}  // namespace

KMeansResult balanced_kmeans(const float* base, const uint32_t* indices, size_t n, size_t dim,
                             const KMeansOptions& options) {
  KMeansResult result;
  std::mt19937_64 rng(options.seed);
  size_t k = std::max<size_t>(1, std::min(options.k, n));

  // Train on a sample; the sample indexes into `indices`.
  std::vector<uint32_t> sample(n);
  for (size_t i = 0; i < n; ++i) sample[i] = static_cast<uint32_t>(i);
  if (n > options.sample_limit) {
    std::shuffle(sample.begin(), sample.end(), rng);
    sample.resize(options.sample_limit);
  }
  std::vector<uint32_t> sample_points(sample.size());
  for (size_t i = 0; i < sample.size(); ++i) sample_points[i] = indices[sample[i]];
  const size_t s = sample_points.size();

  // k-means++ seeding on the sample.
  std::vector<float>& centroids = result.centroids;
  centroids.assign(k * dim, 0.0f);
  std::vector<float> nearest(s, std::numeric_limits<float>::infinity());
  const kernels::KernelSet& kernels = kernels::active();
  auto point = [&](size_t sample_index) { return base + size_t(sample_points[sample_index]) * dim; };
  size_t chosen = std::uniform_int_distribution<size_t>(0, s - 1)(rng);
  for (size_t c = 0; c < k; ++c) {
    std::copy(point(chosen), point(chosen) + dim, centroids.begin() + c * dim);
    double total = 0;
    for (size_t i = 0; i < s; ++i) {
      nearest[i] = std::min(nearest[i], kernels.l2sq_f32(point(i), &centroids[c * dim], dim));
      total += nearest[i];
    }
    if (c + 1 == k) break;
    if (total <= 0) {  // fewer distinct points than k
      k = c + 1;
      centroids.resize(k * dim);
      break;
    }
    double target = std::uniform_real_distribution<double>(0, total)(rng);
    chosen = s - 1;
    for (size_t i = 0; i < s; ++i) {
      target -= nearest[i];
      if (target <= 0) {
        chosen = i;
        break;
      }
    }
  }

  Assigner assigner{base, sample_points.data(), dim, &centroids, k};
  std::vector<uint32_t> assignment(s);
  std::vector<float> sizes(k, 0.0f);
  std::vector<float> point_distance(s);
  float lambda = 0;
  for (size_t iteration = 0; iteration < options.iterations; ++iteration) {
    parallel_for(s, options.threads, [&](size_t first, size_t last) {
      std::vector<float> scratch(k);
      for (size_t i = first; i < last; ++i) assignment[i] = assigner.assign(i, lambda, sizes, scratch.data(), &point_distance[i]);
    });
    // New centroids: means of their points (in double, then back to float).
    std::vector<double> sums(k * dim, 0.0);
    std::vector<float> counts(k, 0.0f);
    double distance_total = 0;
    for (size_t i = 0; i < s; ++i) {
      const float* p = point(i);
      double* sum = &sums[size_t(assignment[i]) * dim];
      for (size_t d = 0; d < dim; ++d) sum[d] += p[d];
      counts[assignment[i]] += 1;
      distance_total += point_distance[i];
    }
    for (size_t c = 0; c < k; ++c) {
      if (counts[c] == 0) {
        // Re-seed an empty cluster with a random point of the largest one.
        size_t largest = std::max_element(counts.begin(), counts.end()) - counts.begin();
        for (size_t i = 0; i < s; ++i) {
          if (assignment[i] == largest && std::uniform_int_distribution<int>(0, 3)(rng) == 0) {
            std::copy(point(i), point(i) + dim, centroids.begin() + c * dim);
            break;
          }
        }
        continue;
      }
      for (size_t d = 0; d < dim; ++d) centroids[c * dim + d] = static_cast<float>(sums[c * dim + d] / counts[c]);
    }
    sizes = counts;
    lambda = options.balance * static_cast<float>(distance_total / s) / (float(s) / float(k));
  }

  // Assign every point once, with the sample's sizes scaled to the full set.
  Assigner full{base, indices, dim, &centroids, k};
  const float scale = float(n) / float(s);
  for (auto& size : sizes) size *= scale;
  const float full_lambda = lambda / scale;
  if (options.max_size || options.min_fraction > 0) {
    result.assignment = bounded_assignment(base, indices, n, dim, centroids, k, options);
  } else {
    result.assignment.assign(n, 0);
    parallel_for(n, options.threads, [&](size_t first, size_t last) {
      std::vector<float> scratch(k);
      float unused;
      for (size_t i = first; i < last; ++i) result.assignment[i] = full.assign(i, full_lambda, sizes, scratch.data(), &unused);
    });
  }

  // Drop empty clusters and recompute centroids as exact means over all points.
  std::vector<double> sums(k * dim, 0.0);
  std::vector<uint32_t> counts(k, 0);
  for (size_t i = 0; i < n; ++i) {
    const float* p = base + size_t(indices[i]) * dim;
    double* sum = &sums[size_t(result.assignment[i]) * dim];
    for (size_t d = 0; d < dim; ++d) sum[d] += p[d];
    counts[result.assignment[i]]++;
  }
  std::vector<uint32_t> renumber(k, 0);
  size_t kept = 0;
  for (size_t c = 0; c < k; ++c) {
    if (counts[c] == 0) continue;
    renumber[c] = static_cast<uint32_t>(kept);
    for (size_t d = 0; d < dim; ++d) centroids[kept * dim + d] = static_cast<float>(sums[c * dim + d] / counts[c]);
    result.sizes.push_back(counts[c]);
    ++kept;
  }
  centroids.resize(kept * dim);
  for (auto& a : result.assignment) a = renumber[a];
  return result;
}

}  // namespace loci::index
