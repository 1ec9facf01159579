// Growing a hash map rehashes every entry (100+ ms at a million), and a writer that does
// it holding the map's lock exclusively stalls every reader for that long, including
// get() and has() on Node's event loop. When one writer alone changes the map, it can
// rehash a copy holding the lock shared (readers go on) and swap the copy in.
#pragma once

#include <cstddef>

#include "sync/thread_annotations.h"

namespace loci::sync {

/// Makes room for `adding` more entries in `map`, which `mutex` guards and which only
/// the calling thread changes. Does nothing while the entries fit. The old table is
/// freed after the exclusive section.
template <class Map>
void grow_map_outside_lock(Map& map, SharedMutex& mutex, size_t adding) NO_THREAD_SAFETY_ANALYSIS {
  // Not analysed: `map` arrives by reference; every access below holds `mutex`.
  Map grown;
  {
    ReaderLock lock(mutex);
    const size_t needed = map.size() + adding;
    if (needed <= map.max_load_factor() * map.bucket_count()) return;
    grown.max_load_factor(map.max_load_factor());
    grown.reserve(2 * needed);
    grown.insert(map.begin(), map.end());
  }
  WriterLock lock(mutex);
  map.swap(grown);
}

/// Sizes a map being filled at load for `count` entries plus as many again, the
/// headroom grow_map_outside_lock() leaves too: the writes that follow an open (a WAL
/// replay first) then add entries without copying the whole map once more.
template <class Map>
void reserve_for_load(Map& map, size_t count) {
  map.reserve(2 * count);
}

}  // namespace loci::sync
