#include "common/private_map.h"

#include "common/huge_pages.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace loci {

Status map_file_private(const std::string& path, uint64_t offset, size_t bytes, size_t needed, void* at, void** view) {
  if (offset % static_cast<uint64_t>(sysconf(_SC_PAGESIZE)) != 0) {
    return Status::error(StatusCode::internal, path + ": a mapped region must start at a page boundary");
  }
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::error(StatusCode::io_error, "open " + path + ": " + std::strerror(errno));
  struct stat info;
  if (::fstat(fd, &info) != 0 || uint64_t(info.st_size) < offset + needed) {
    ::close(fd);
    return Status::error(StatusCode::internal, path + ": shorter than the region it should hold");
  }
  void* mapped = mmap(at, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | (at ? MAP_FIXED : 0), fd, static_cast<off_t>(offset));
  const int error = errno;
  ::close(fd);  // the mapping keeps the file
  if (mapped == MAP_FAILED) return Status::error(StatusCode::io_error, "mmap " + path + ": " + std::strerror(error));
  *view = mapped;
  return Status::ok();
}

Status PrivateMap::map(const std::string& path, uint64_t offset, size_t bytes, std::shared_ptr<PrivateMap>* result) {
  if (bytes == 0) {
    result->reset(new PrivateMap(nullptr, 0));
    return Status::ok();
  }
  // At an address congruent to the offset modulo 2 MiB, so the file's page cache can be
  // mapped with 2 MiB pages (common/huge_pages.h).
  void* at = reserve_congruent(bytes, offset);
  if (!at) return Status::error(StatusCode::io_error, "cannot reserve address space to map " + path + ": " + std::strerror(errno));
  void* view = nullptr;
  Status status = map_file_private(path, offset, bytes, bytes, at, &view);
  if (!status.is_ok()) {
    munmap(at, bytes);
    return status;
  }
  result->reset(new PrivateMap(static_cast<uint8_t*>(view), bytes));
  return Status::ok();
}

PrivateMap::~PrivateMap() {
  if (data_) munmap(data_, size_);
}

}  // namespace loci
