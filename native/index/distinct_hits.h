// The last step of a search in both indexes: candidates (nearest first, exact distances)
// become at most k hits with distinct ids. Searches run without a lock while a writer
// upserts, so one item can be met twice in a search: in its old slot (live when
// checked) and in its new one. The nearer copy is kept; the searches keep
// kDuplicateSlack extra candidates so that k hits usually remain.
#pragma once

#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "index/topk.h"
#include "index/vector_index.h"

namespace loci::index {

constexpr size_t kDuplicateSlack = 2;

template <class IdOf>
void distinct_hits(const std::vector<Candidate>& best, size_t k, IdOf&& id_of, std::vector<SearchHit>* hits) {
  hits->clear();
  hits->reserve(std::min(best.size(), k));
  // Pairwise for the usual small k (a few dozen short compares); a set beyond.
  constexpr size_t kPairwise = 64;
  std::unordered_set<std::string_view> seen;
  for (const Candidate& c : best) {
    if (hits->size() == k) break;
    const std::string& id = id_of(c.slot);
    bool duplicate = false;
    if (best.size() <= kPairwise) {
      for (const SearchHit& hit : *hits) duplicate |= hit.id == id;
    } else {
      duplicate = !seen.insert(id).second;
    }
    if (!duplicate) hits->push_back({id, c.distance});
  }
}

}  // namespace loci::index
