/*
 * node-tun: shared declarations.
 *
 * The addon is plain C over node_api.h and libuv. Everything runs on the thread of the
 * Node environment (main thread or a worker) that opened the device; each environment has its
 * own instance data, so the addon can be loaded in several workers at once.
 */
#ifndef NODE_TUN_COMMON_H
#define NODE_TUN_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <node_api.h>
#include <uv.h>

#define NT_ADDR_SIZE 20
#define NT_MAX_SLOT_SIZE (1u << 20)
#define NT_MAX_BATCH 1024u

/* Per-environment data. */
typedef struct {
  napi_ref token; /* passed by open()/bind() to the constructors; blocks `new` from JS */
  napi_ref tun_ctor;
  napi_ref udp_ctor;
  napi_ref unix_ctor;
} nt_instance;

/*
 * State shared by TunDevice and UdpSocket: the JS object, the async context used for callbacks,
 * and the env cleanup hook that closes the fd if the environment goes away first.
 */
typedef struct nt_handle {
  napi_env env;
  napi_ref self; /* strong while active (reading or waiting), so the object cannot be collected */
  napi_async_context ctx;
  int in_callback; /* depth of JS callbacks running for this handle */
  int hook_added;
  int tearing_down; /* set by the env cleanup hook: no further N-API calls */
  void (*teardown)(struct nt_handle *);
} nt_handle;

/* ---- util.c: errors and argument checks (each returns 1 on success, 0 after throwing) ---- */
const char *nt_errname(int err);
napi_value nt_make_errno_error(napi_env env, int err, const char *syscall, const char *detail);
void nt_throw_errno(napi_env env, int err, const char *syscall, const char *detail);
int nt_arg_u8array(napi_env env, napi_value v, const char *what, uint8_t **data, size_t *len);
int nt_arg_u32array(napi_env env, napi_value v, const char *what, uint32_t **data, size_t *count);
int nt_arg_uint(napi_env env, napi_value v, const char *what, uint32_t min, uint32_t max, uint32_t *out);
int nt_arg_function(napi_env env, napi_value v, const char *what);
int nt_check_slots(napi_env env, size_t buf_len, uint32_t slot_size, uint32_t headroom, uint32_t count,
                   const char *count_name);
napi_value nt_undefined(napi_env env);
napi_value nt_u64(napi_env env, uint64_t v);
int nt_set_named_u64(napi_env env, napi_value obj, const char *name, uint64_t v);
/* Gets options[name] if options is an object and the property is neither undefined nor null. */
int nt_get_option(napi_env env, napi_value options, const char *name, napi_value *out, int *present);
int nt_unwrap_this(napi_env env, napi_callback_info info, size_t want, size_t *argc, napi_value *argv,
                   napi_value *self, void **data);

/* Handle life cycle (util.c). */
int nt_handle_activate(nt_handle *h, napi_value self, const char *resource_name);
void nt_handle_maybe_release(nt_handle *h, int still_active);
void nt_handle_add_hook(nt_handle *h);
void nt_handle_remove_hook(nt_handle *h);
/* Calls fn with recv = self inside h's async context; an exception becomes an uncaught one. */
void nt_call(nt_handle *h, napi_value self, napi_value fn, size_t argc, napi_value *argv);

/* ---- addr.c ---- */
struct sockaddr;
int nt_parse_ip(const char *s, int *family, uint8_t out[16]);
/* Writes a 20-byte record from a socket address; v4-mapped IPv6 becomes family 4. 0 if unknown. */
int nt_record_from_sockaddr(uint8_t *rec, const struct sockaddr *sa);
napi_value nt_addr_init(napi_env env, napi_value exports);

/* ---- tun.c / udp.c ---- */
napi_value nt_tun_init(napi_env env, napi_value exports, nt_instance *inst);
napi_value nt_udp_init(napi_env env, napi_value exports, nt_instance *inst);
/* unix.c: Unix stream sockets with fd passing and peer credentials (not on Windows). */
napi_value nt_unix_init(napi_env env, napi_value exports, nt_instance *inst);
/* vnet_js.c: the offload splitting/coalescing, for tests. */
napi_value nt_vnet_init(napi_env env, napi_value exports);

/* ---- sockopt.c: socket marks (SO_MARK, Linux; ENOSYS elsewhere) ---- */
/* Sets SO_MARK on fd: 0 or an errno value. */
int nt_set_mark(int fd, uint32_t mark);
/* Throws the error of a failed nt_set_mark (EPERM names the capability it needs). */
void nt_throw_mark_error(napi_env env, int err, uint32_t mark);
napi_value nt_sockopt_init(napi_env env, napi_value exports);
int nt_check_token(napi_env env, napi_value arg);

#endif
