// The result of every fallible engine call. The C++ core never throws across its API:
// it returns a Status, and the addon maps it once to a JS LociError whose `code` is
// code_name(). Codes are stable: add new ones at the end, never renumber.
#pragma once

#include <string>
#include <utility>

namespace loci {

enum class StatusCode : int {
  ok = 0,
  invalid_argument,  // a malformed argument (wrong type, out of range)
  dim_mismatch,      // a vector whose length is not the store's dimension
  invalid_vector,    // a vector with NaN or +-Infinity
  not_found,         // an id that is not in the store
  already_exists,    // add() of an id that is already in the store
  closed,            // use after close()
  corrupt,           // a file failed a checksum or an invariant
  locked,            // another process holds the store's writer lock
  io_error,          // the operating system refused a read, write or sync
  internal,          // a bug in Loci: please report it
};

const char* code_name(StatusCode code);

class Status {
 public:
  Status() = default;
  static Status ok() { return Status(); }
  static Status error(StatusCode code, std::string message) { return Status(code, std::move(message)); }

  bool is_ok() const { return code_ == StatusCode::ok; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}
  StatusCode code_ = StatusCode::ok;
  std::string message_;
};

inline const char* code_name(StatusCode code) {
  switch (code) {
    case StatusCode::ok: return "OK";
    case StatusCode::invalid_argument: return "INVALID_ARGUMENT";
    case StatusCode::dim_mismatch: return "DIM_MISMATCH";
    case StatusCode::invalid_vector: return "INVALID_VECTOR";
    case StatusCode::not_found: return "NOT_FOUND";
    case StatusCode::already_exists: return "ALREADY_EXISTS";
    case StatusCode::closed: return "CLOSED";
    case StatusCode::corrupt: return "CORRUPT";
    case StatusCode::locked: return "LOCKED";
    case StatusCode::io_error: return "IO_ERROR";
    case StatusCode::internal: return "INTERNAL";
  }
  return "INTERNAL";
}

}  // namespace loci

// Return early from the calling function if `expr` is not ok.
#define LOCI_RETURN_IF_ERROR(expr)            \
  do {                                        \
    ::loci::Status loci_status_ = (expr);     \
    if (!loci_status_.is_ok()) return loci_status_; \
  } while (0)
