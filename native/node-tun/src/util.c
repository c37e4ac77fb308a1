/* node-tun: errors, argument validation and handle life cycle helpers. */
#include "common.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define NAME(e) \
  case e:       \
    return #e;

const char *nt_errname(int err) {
  switch (err) {
    NAME(EPERM)
    NAME(ENOENT)
    NAME(ESRCH)
    NAME(EINTR)
    NAME(EIO)
    NAME(ENXIO)
    NAME(E2BIG)
    NAME(EBADF)
    NAME(EAGAIN)
    NAME(ENOMEM)
    NAME(EACCES)
    NAME(EFAULT)
    NAME(EBUSY)
    NAME(EEXIST)
    NAME(ENODEV)
    NAME(ENOTDIR)
    NAME(EINVAL)
    NAME(ENFILE)
    NAME(EMFILE)
    NAME(ENOTTY)
    NAME(ENOSPC)
    NAME(EPIPE)
    NAME(ERANGE)
    NAME(ENAMETOOLONG)
    NAME(ENOSYS)
#ifdef EBADFD
    NAME(EBADFD)
#endif
#ifdef ENOTSOCK
    NAME(ENOTSOCK)
#endif
#ifdef EDESTADDRREQ
    NAME(EDESTADDRREQ)
#endif
#ifdef EMSGSIZE
    NAME(EMSGSIZE)
#endif
#ifdef ENOPROTOOPT
    NAME(ENOPROTOOPT)
#endif
#ifdef EPROTONOSUPPORT
    NAME(EPROTONOSUPPORT)
#endif
#ifdef EOPNOTSUPP
    NAME(EOPNOTSUPP)
#endif
#ifdef EAFNOSUPPORT
    NAME(EAFNOSUPPORT)
#endif
#ifdef EADDRINUSE
    NAME(EADDRINUSE)
#endif
#ifdef EADDRNOTAVAIL
    NAME(EADDRNOTAVAIL)
#endif
#ifdef ENETDOWN
    NAME(ENETDOWN)
#endif
#ifdef ENETUNREACH
    NAME(ENETUNREACH)
#endif
#ifdef ECONNRESET
    NAME(ECONNRESET)
#endif
#ifdef ENOBUFS
    NAME(ENOBUFS)
#endif
#ifdef ENOTCONN
    NAME(ENOTCONN)
#endif
#ifdef ETIMEDOUT
    NAME(ETIMEDOUT)
#endif
#ifdef ECONNREFUSED
    NAME(ECONNREFUSED)
#endif
#ifdef EHOSTDOWN
    NAME(EHOSTDOWN)
#endif
#ifdef EHOSTUNREACH
    NAME(EHOSTUNREACH)
#endif
#ifdef EOVERFLOW
    NAME(EOVERFLOW)
#endif
#ifdef ENOTSUP
#if !defined(EOPNOTSUPP) || ENOTSUP != EOPNOTSUPP
    NAME(ENOTSUP)
#endif
#endif
#if defined(EWOULDBLOCK) && EWOULDBLOCK != EAGAIN
    NAME(EWOULDBLOCK)
#endif
    default:
      return "UNKNOWN";
  }
}

napi_value nt_make_errno_error(napi_env env, int err, const char *syscall, const char *detail) {
  char msg[256];
  const char *name = nt_errname(err);
  if (detail != NULL && detail[0] != '\0')
    snprintf(msg, sizeof msg, "%s: %s, %s %s", name, strerror(err), syscall, detail);
  else
    snprintf(msg, sizeof msg, "%s: %s, %s", name, strerror(err), syscall);
  napi_value code, message, error, sys, no;
  if (napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code) != napi_ok ||
      napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message) != napi_ok ||
      napi_create_error(env, code, message, &error) != napi_ok)
    return NULL;
  if (napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &sys) == napi_ok)
    napi_set_named_property(env, error, "syscall", sys);
  /* Like Node's system errors: errno is the negated error number. */
  if (napi_create_int32(env, -err, &no) == napi_ok) napi_set_named_property(env, error, "errno", no);
  return error;
}

void nt_throw_errno(napi_env env, int err, const char *syscall, const char *detail) {
  napi_value e = nt_make_errno_error(env, err, syscall, detail);
  if (e != NULL) napi_throw(env, e);
}

static void throw_type(napi_env env, const char *what, const char *expected) {
  char msg[160];
  snprintf(msg, sizeof msg, "%s must be %s", what, expected);
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
}

/* A typed array of exactly `type` (a Uint32Array is not a Uint8Array, and vice versa). */
static int arg_typed_array(napi_env env, napi_value v, const char *what, napi_typedarray_type type,
                           const char *type_name, void **data, size_t *length) {
  bool is = false;
  napi_typedarray_type actual;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is ||
      napi_get_typedarray_info(env, v, &actual, length, data, NULL, NULL) != napi_ok || actual != type) {
    throw_type(env, what, type_name);
    return 0;
  }
  return 1;
}

int nt_arg_u8array(napi_env env, napi_value v, const char *what, uint8_t **data, size_t *len) {
  void *ptr = NULL;
  if (!arg_typed_array(env, v, what, napi_uint8_array, "a Uint8Array", &ptr, len)) return 0;
  *data = ptr;
  return 1;
}

int nt_arg_u32array(napi_env env, napi_value v, const char *what, uint32_t **data, size_t *count) {
  void *ptr = NULL;
  if (!arg_typed_array(env, v, what, napi_uint32_array, "a Uint32Array", &ptr, count)) return 0;
  *data = ptr;
  return 1;
}

int nt_arg_uint(napi_env env, napi_value v, const char *what, uint32_t min, uint32_t max, uint32_t *out) {
  napi_valuetype t;
  double d;
  char msg[192];
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number || napi_get_value_double(env, v, &d) != napi_ok) {
    throw_type(env, what, "a number");
    return 0;
  }
  if (!(d >= (double)min && d <= (double)max) || floor(d) != d) {
    if (isnan(d))
      snprintf(msg, sizeof msg, "%s must be an integer from %u to %u, got NaN", what, min, max);
    else if (isinf(d))
      snprintf(msg, sizeof msg, "%s must be an integer from %u to %u, got %sInfinity", what, min, max,
               d < 0 ? "-" : "");
    else
      snprintf(msg, sizeof msg, "%s must be an integer from %u to %u, got %.17g", what, min, max, d);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
    return 0;
  }
  *out = (uint32_t)d;
  return 1;
}

int nt_arg_function(napi_env env, napi_value v, const char *what) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_function) {
    throw_type(env, what, "a function");
    return 0;
  }
  return 1;
}

int nt_check_slots(napi_env env, size_t buf_len, uint32_t slot_size, uint32_t headroom, uint32_t count,
                   const char *count_name) {
  char msg[256];
  if (headroom >= slot_size) {
    snprintf(msg, sizeof msg, "headroom (%u) must be smaller than slotSize (%u)", headroom, slot_size);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
    return 0;
  }
  if ((uint64_t)slot_size * count > (uint64_t)buf_len) {
    snprintf(msg, sizeof msg, "buffer holds %zu bytes, but slotSize * %s needs %llu", buf_len, count_name,
             (unsigned long long)slot_size * count);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
    return 0;
  }
  return 1;
}

napi_value nt_undefined(napi_env env) {
  napi_value u = NULL;
  napi_get_undefined(env, &u);
  return u;
}

napi_value nt_u64(napi_env env, uint64_t v) {
  napi_value n = NULL;
  napi_create_double(env, (double)v, &n);
  return n;
}

int nt_set_named_u64(napi_env env, napi_value obj, const char *name, uint64_t v) {
  napi_value n = nt_u64(env, v);
  return n != NULL && napi_set_named_property(env, obj, name, n) == napi_ok;
}

int nt_get_option(napi_env env, napi_value options, const char *name, napi_value *out, int *present) {
  napi_valuetype t;
  *present = 0;
  if (options == NULL || napi_typeof(env, options, &t) != napi_ok) return 1;
  if (t == napi_undefined || t == napi_null) return 1;
  if (t != napi_object) {
    throw_type(env, "options", "an object");
    return 0;
  }
  if (napi_get_named_property(env, options, name, out) != napi_ok) return 0;
  if (napi_typeof(env, *out, &t) != napi_ok) return 0;
  *present = t != napi_undefined && t != napi_null;
  return 1;
}

int nt_unwrap_this(napi_env env, napi_callback_info info, size_t want, size_t *argc, napi_value *argv,
                   napi_value *self, void **data) {
  size_t n = want;
  napi_value undef = nt_undefined(env);
  for (size_t i = 0; i < want; i++) argv[i] = undef;
  if (napi_get_cb_info(env, info, &n, argv, self, NULL) != napi_ok) return 0;
  if (argc != NULL) *argc = n;
  if (napi_unwrap(env, *self, data) != napi_ok || *data == NULL) {
    /* Called on a foreign object (e.g. TunDevice.prototype.write.call({})). */
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) {
      napi_value ignored;
      napi_get_and_clear_last_exception(env, &ignored);
    }
    napi_throw_type_error(env, "ERR_INVALID_THIS", "method called on an incompatible receiver");
    return 0;
  }
  return 1;
}

/* ---- handle life cycle ---------------------------------------------------------------------- */

int nt_handle_activate(nt_handle *h, napi_value self, const char *resource_name) {
  napi_env env = h->env;
  if (h->self == NULL && napi_create_reference(env, self, 1, &h->self) != napi_ok) return 0;
  if (h->ctx == NULL) {
    napi_value name;
    if (napi_create_string_utf8(env, resource_name, NAPI_AUTO_LENGTH, &name) != napi_ok ||
        napi_async_init(env, self, name, &h->ctx) != napi_ok) {
      h->ctx = NULL;
      return 0;
    }
  }
  return 1;
}

/* Releases the strong self reference and the async context once the handle is idle and no
 * callback of it is on the stack (destroying a context inside its own callback is unsafe). */
void nt_handle_maybe_release(nt_handle *h, int still_active) {
  if (still_active || h->in_callback > 0 || h->tearing_down) return;
  if (h->ctx != NULL) {
    napi_async_destroy(h->env, h->ctx);
    h->ctx = NULL;
  }
  if (h->self != NULL) {
    napi_delete_reference(h->env, h->self);
    h->self = NULL;
  }
}

static void handle_hook(void *arg) {
  nt_handle *h = arg;
  h->hook_added = 0;
  h->tearing_down = 1;
  if (h->teardown != NULL) h->teardown(h);
}

void nt_handle_add_hook(nt_handle *h) {
  if (!h->hook_added && napi_add_env_cleanup_hook(h->env, handle_hook, h) == napi_ok) h->hook_added = 1;
}

void nt_handle_remove_hook(nt_handle *h) {
  if (h->hook_added) {
    napi_remove_env_cleanup_hook(h->env, handle_hook, h);
    h->hook_added = 0;
  }
}

void nt_call(nt_handle *h, napi_value self, napi_value fn, size_t argc, napi_value *argv) {
  napi_env env = h->env;
  napi_value result;
  h->in_callback++;
  napi_status s = napi_make_callback(env, h->ctx, self, fn, argc, argv, &result);
  h->in_callback--;
  if (s != napi_ok) {
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) {
      napi_value exc;
      if (napi_get_and_clear_last_exception(env, &exc) == napi_ok) napi_fatal_exception(env, exc);
    }
  }
}
