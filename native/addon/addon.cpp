// The Node-API entry point: capabilities(), setErrorClass() and the NativeStore and
// NativeBatch classes.
// Only this directory includes napi.h; everything below it is plain C++.
#include "addon/addon.h"
#include "common/crc32c.h"

#include <cmath>

#include "kernels/kernels.h"
#include "kernels/quantize.h"

namespace loci::addon {

LociAddon::LociAddon(Napi::Env env, Napi::Object exports) {
  DefineAddon(exports, {
                           InstanceMethod("setErrorClass", &LociAddon::SetErrorClass),
                           InstanceMethod("capabilities", &LociAddon::Capabilities),
                           InstanceMethod("quantize", &LociAddon::Quantize),
                       });
  exports.Set("NativeStore", define_native_store(env, this));
  exports.Set("NativeBatch", define_native_batch(env, this));
}

Napi::Value LociAddon::SetErrorClass(const Napi::CallbackInfo& info) {
  if (!info[0].IsFunction()) throw Napi::TypeError::New(info.Env(), "setErrorClass expects a class");
  error_class = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

Napi::Value LociAddon::Capabilities(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object result = Napi::Object::New(env);
  result.Set("isa", kernels::isa_name(kernels::active().isa));
  Napi::Array compiled = Napi::Array::New(env), supported = Napi::Array::New(env);
  for (int i = 0; i < kernels::kIsaCount; ++i) {
    auto isa = static_cast<kernels::Isa>(i);
    if (kernels::compiled(isa)) compiled.Set(compiled.Length(), kernels::isa_name(isa));
    if (kernels::supported(isa)) supported.Set(supported.Length(), kernels::isa_name(isa));
  }
  result.Set("compiled", compiled);
  result.Set("supported", supported);
  result.Set("crc32c", crc32c::hardware_accelerated() ? "hardware" : "table");
#if defined(__x86_64__) || defined(_M_X64)
  result.Set("arch", "x86_64");
#elif defined(__aarch64__)
  result.Set("arch", "aarch64");
#else
  result.Set("arch", "other");
#endif
  return result;
}

// quantize(values: Float32Array, codesOut: Int8Array) -> scale. Internal: the
// quantization benchmark measures the real quantizer through it.
Napi::Value LociAddon::Quantize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array ||
      !info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_int8_array) {
    throw argument_error(env, "quantize(values, codesOut) expects a Float32Array and an Int8Array");
  }
  Napi::Float32Array values = info[0].As<Napi::Float32Array>();
  Napi::Int8Array codes = info[1].As<Napi::Int8Array>();
  if (codes.ElementLength() != values.ElementLength()) throw argument_error(env, "codesOut must have values.length elements");
  for (size_t i = 0; i < values.ElementLength(); ++i) {
    if (!std::isfinite(values[i])) throw make_error(env, Status::error(StatusCode::invalid_vector, "values must be finite"));
  }
  kernels::QuantizedVector q = kernels::quantize_i8(values.Data(), values.ElementLength(), codes.Data());
  return Napi::Number::New(env, q.scale);
}

Napi::Error make_error(Napi::Env env, const Status& status) {
  LociAddon* addon = env.GetInstanceData<LociAddon>();
  if (addon && !addon->error_class.IsEmpty()) {
    Napi::Object error = addon->error_class.New({Napi::String::New(env, code_name(status.code())),
                                                 Napi::String::New(env, status.message())});
    return Napi::Error(env, error);
  }
  Napi::Error error = Napi::Error::New(env, status.message());
  error.Set("code", code_name(status.code()));
  return error;
}

Napi::Error argument_error(Napi::Env env, const std::string& message) {
  return make_error(env, Status::error(StatusCode::invalid_argument, message));
}

}  // namespace loci::addon

using loci::addon::LociAddon;
NODE_API_ADDON(LociAddon)
