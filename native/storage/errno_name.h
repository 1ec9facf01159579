// How storage errors name the OS error: "write /tmp/x/wal/1.log: No space left on
// device (ENOSPC)". The symbolic name is what people search for and what tests match
// on; strerror's text differs between libcs and locales. Shared by the POSIX Env and
// FaultInjectionEnv, so an injected fault reads exactly like a real one.
#pragma once

#include <cerrno>
#include <cstring>
#include <string>

#include "common/status.h"

namespace loci::storage {

/// The symbolic name of a common errno value ("ENOSPC"), or nullptr if not listed here.
inline const char* errno_name(int error_number) {
  switch (error_number) {
    case ENOSPC: return "ENOSPC";
    case EIO: return "EIO";
    case EACCES: return "EACCES";
    case EROFS: return "EROFS";
    case ENOENT: return "ENOENT";
    case EEXIST: return "EEXIST";
#ifdef EDQUOT
    case EDQUOT: return "EDQUOT";
#endif
    case EFBIG: return "EFBIG";
    case EBADF: return "EBADF";
    case EINVAL: return "EINVAL";
    case EMFILE: return "EMFILE";
    case ENFILE: return "ENFILE";
    case ENOTDIR: return "ENOTDIR";
    case EISDIR: return "EISDIR";
    case EPERM: return "EPERM";
    case EAGAIN: return "EAGAIN";
    case EINTR: return "EINTR";
    case EBUSY: return "EBUSY";
    case ENOMEM: return "ENOMEM";
    case ENOTEMPTY: return "ENOTEMPTY";
    case EXDEV: return "EXDEV";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case ELOOP: return "ELOOP";
    default: return nullptr;
  }
}

namespace detail {
// strerror() is not thread-safe and strerror_r has two signatures: the XSI one returns an
// int and fills the buffer, the GNU one returns the message (maybe not in the buffer).
// Overloading on the return type picks the right reading for whichever libc we have.
inline const char* strerror_result(int result, const char* buffer) { return result == 0 ? buffer : nullptr; }
inline const char* strerror_result(const char* message, const char*) { return message; }
}  // namespace detail

/// "No space left on device (ENOSPC)"; unlisted values end in "(errno N)".
inline std::string describe_errno(int error_number) {
  char buffer[256] = {0};
  const char* message = detail::strerror_result(strerror_r(error_number, buffer, sizeof buffer), buffer);
  std::string text = (message && *message) ? message : "Unknown error";
  const char* name = errno_name(error_number);
  text += name ? std::string(" (") + name + ")" : " (errno " + std::to_string(error_number) + ")";
  return text;
}

/// IO_ERROR "<operation> <path>: <strerror> (<ENAME>)", e.g. "fdatasync /db/wal/1.log: Input/output error (EIO)".
inline Status os_error(const std::string& operation, const std::string& path, int error_number) {
  return Status::error(StatusCode::io_error, operation + " " + path + ": " + describe_errno(error_number));
}

}  // namespace loci::storage
