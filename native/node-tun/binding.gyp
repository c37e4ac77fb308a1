{
  "targets": [
    {
      "target_name": "node_tun",
      "sources": ["src/addon.c", "src/util.c", "src/addr.c", "src/tun.c", "src/vnet.c", "src/vnet_js.c", "src/udp.c", "src/sockopt.c", "src/unix.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Wunused-parameter", "-Wshadow", "-O2", "-fvisibility=hidden"],
      "conditions": [
        ["OS=='linux'", {"sources": ["src/tun_posix.c", "src/tun_linux.c"]}],
        [
          "OS=='mac'",
          {
            "sources": ["src/tun_posix.c", "src/tun_darwin.c"],
            "xcode_settings": {
              "GCC_C_LANGUAGE_STANDARD": "gnu11",
              "MACOSX_DEPLOYMENT_TARGET": "10.15",
              "WARNING_CFLAGS": ["-Wall", "-Wextra"]
            }
          }
        ],
        [
          "OS=='win'",
          {
            "sources": ["src/tun_win.c"],
            "defines": ["WIN32_LEAN_AND_MEAN", "_CRT_SECURE_NO_WARNINGS"],
            "libraries": ["ws2_32.lib"]
          }
        ]
      ]
    }
  ]
}
