// Balanced k-means (squared L2), the clustering step of the Atlas bulk build and of
// leaf and node splits.
//
// "Balanced" as in SPANN's hierarchical balanced clustering: a point's assignment cost
// is its distance to a centroid plus lambda times that cluster's size in the previous
// iteration, so large clusters repel points and leaves come out evenly filled.
// Centroids are trained on a sample (at most `sample_limit` points), then every point is
// assigned once, on `threads` threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace loci::index {

struct KMeansOptions {
  size_t k = 2;
  size_t iterations = 8;
  size_t sample_limit = 16384;
  float balance = 0.25f;  // lambda = balance * mean distance / mean cluster size
  uint64_t seed = 1;
  unsigned threads = 1;
  // Hard bounds for the final assignment (0: none), for clusters that become leaf pages:
  // no cluster over max_size points (raised to n / k if that is smaller), and clusters
  // under min_fraction of the mean size are dissolved into the others. The size penalty
  // alone leaves both: k-means++ seeds a split of one tight cluster with its outliers.
  size_t max_size = 0;
  float min_fraction = 0;
};

struct KMeansResult {
  std::vector<float> centroids;     // k * dim
  std::vector<uint32_t> assignment;  // per point, in [0, k)
  std::vector<uint32_t> sizes;       // per cluster
};

/// Clusters the n points `base + indices[i] * dim` into at most k clusters. Every
/// returned cluster is non-empty (k shrinks if there are fewer distinct points).
KMeansResult balanced_kmeans(const float* base, const uint32_t* indices, size_t n, size_t dim,
                             const KMeansOptions& options);

}  // namespace loci::index
