#include "common/private_map.h"

#include "common/huge_pages.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace loci {

Status PrivateMap::map(const std::string& path, uint64_t offset, size_t bytes, std::shared_ptr<PrivateMap>* result) {
  if (bytes == 0) {
    result->reset(new PrivateMap(nullptr, 0));
    return Status::ok();
  }
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::error(StatusCode::io_error, "open " + path + ": " + std::strerror(errno));
  // At an address congruent to the offset modulo 2 MiB, so the file's page cache can be
  // mapped with 2 MiB pages (common/huge_pages.h).
  void* at = reserve_congruent(bytes, offset);
  if (!at) {
    const int error = errno;
    ::close(fd);
    return Status::error(StatusCode::io_error, "cannot reserve address space to map " + path + ": " + std::strerror(error));
  }
  void* view = mmap(at, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd, static_cast<off_t>(offset));
  const int error = errno;
  ::close(fd);  // the mapping keeps the file
  if (view == MAP_FAILED) {
    munmap(at, bytes);
    return Status::error(StatusCode::io_error, "mmap " + path + ": " + std::strerror(error));
  }
  result->reset(new PrivateMap(static_cast<uint8_t*>(view), bytes));
  return Status::ok();
}

PrivateMap::~PrivateMap() {
  if (data_) munmap(data_, size_);
}

}  // namespace loci
