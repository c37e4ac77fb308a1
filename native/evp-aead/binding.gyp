{
  "targets": [
    {
      "target_name": "evp_aead",
      "sources": ["src/evp_aead.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Wshadow", "-O2", "-fvisibility=hidden"],
      "conditions": [
        ["OS=='linux'", {"libraries": ["-ldl"]}],
        ["OS=='mac'", {"xcode_settings": {"GCC_C_LANGUAGE_STANDARD": "gnu11", "MACOSX_DEPLOYMENT_TARGET": "10.15"}}]
      ]
    }
  ]
}
