// Internal to the addon: per-environment state (each worker_thread gets its own) and
// the one place a Status becomes a JS LociError.
#pragma once

#include <napi.h>

#include "common/status.h"

namespace loci::addon {

class LociAddon : public Napi::Addon<LociAddon> {
 public:
  LociAddon(Napi::Env env, Napi::Object exports);

  Napi::FunctionReference error_class;  // set from TS with setErrorClass(LociError)
  Napi::FunctionReference store_constructor;
  Napi::FunctionReference batch_constructor;

 private:
  Napi::Value SetErrorClass(const Napi::CallbackInfo& info);
  Napi::Value Capabilities(const Napi::CallbackInfo& info);
  Napi::Value Quantize(const Napi::CallbackInfo& info);
};

/// A LociError (or, before setErrorClass, an Error with a `code`) for a failed Status.
Napi::Error make_error(Napi::Env env, const Status& status);

/// Shorthand for argument errors found in the addon itself.
Napi::Error argument_error(Napi::Env env, const std::string& message);

/// The NativeStore and NativeBatch classes (store_wrap.cpp).
Napi::Function define_native_store(Napi::Env env, LociAddon* addon);
Napi::Function define_native_batch(Napi::Env env, LociAddon* addon);

}  // namespace loci::addon
