# node-gyp build of the same addon that native/CMakeLists.txt builds with cmake-js.
# The source lists come from native/sources.json, the one list both builds read.
# Usage: npm run build:gyp (writes build/Release/loci.node, replacing cmake-js's).
{
  "targets": [
    {
      "target_name": "loci",
      "sources": [
        "<!@(node -p \"const s=require('./native/sources.json'); [...s.kernels, ...s.common, ...s.storage, ...s.sync, ...s.index, ...s.engine, ...s.addon].join(' ')\")"
      ],
      "include_dirs": [
        "native",
        "<!(node scripts/include-dir.js node-addon-api)"
      ],
      "cflags_cc": [
        "-std=c++17", "-fexceptions", "-fvisibility=hidden", "-O3", "-fno-math-errno",
        "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-unknown-pragmas",
        "-isystem", "<!(node scripts/include-dir.js simsimd)"
      ],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++1y", "-std=gnu++14"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "OTHER_CPLUSPLUSFLAGS": ["-fvisibility=hidden", "-O3"]
      },
      "msvs_settings": {"VCCLCompilerTool": {"ExceptionHandling": 1, "AdditionalOptions": ["/std:c++17"]}},
      "conditions": [
        ["target_arch=='x64'", {
          "sources": ["<!@(node -p \"require('./native/sources.json').kernels_x86_64.join(' ')\")"]
        }],
        ["target_arch=='arm64'", {
          "sources": ["<!@(node -p \"require('./native/sources.json').kernels_aarch64.join(' ')\")"]
        }]
      ]
    }
  ]
}
