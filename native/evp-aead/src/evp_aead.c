/*
 * evp-aead: ChaCha20-Poly1305 (RFC 8439) through OpenSSL's EVP interface, one N-API call per
 * packet.
 *
 * Why: OpenSSL's ChaCha20 and Poly1305 are hand-written assembly with AVX-512 paths, about 2.5x
 * libsodium's per packet on the machines we measure (docs/performance.md), and Node.js already
 * carries OpenSSL and exports its symbols to addons. We do not link against it: the symbols are
 * looked up at load time in the process (Node's). Where they are missing (Electron ships
 * BoringSSL and exports nothing) the module loads anyway and says why it is unavailable; the
 * caller then uses libsodium. No OpenSSL header is needed:
 * the few prototypes and control codes below are OpenSSL's stable ABI (1.1 and 3.x).
 *
 * Each JS environment (main thread, each worker) gets its own pair of cipher contexts, so two
 * threads never share one.
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef _WIN32
#include <dlfcn.h>
#include <pthread.h>
#endif

#define KEY_BYTES 32
#define NONCE_BYTES 12
#define TAG_BYTES 16
/* Larger inputs than a datagram can carry are refused (they never come from the data path). */
#define MAX_INPUT (1 << 20)

/* OpenSSL's control codes for AEAD tags (evp.h). */
#define CTRL_AEAD_GET_TAG 0x10
#define CTRL_AEAD_SET_TAG 0x11

typedef struct ossl_ctx ossl_ctx;
typedef struct ossl_cipher ossl_cipher;

static struct {
  ossl_ctx *(*ctx_new)(void);
  void (*ctx_free)(ossl_ctx *);
  const ossl_cipher *(*chacha20_poly1305)(void);
  int (*init)(ossl_ctx *, const ossl_cipher *, void *engine, const unsigned char *key,
              const unsigned char *iv, int enc);
  int (*update)(ossl_ctx *, unsigned char *out, int *outl, const unsigned char *in, int inl);
  int (*final)(ossl_ctx *, unsigned char *out, int *outl);
  int (*ctrl)(ossl_ctx *, int type, int arg, void *ptr);
} ossl;
static const char *ossl_source; /* where the symbols came from, or NULL */
static char ossl_reason[256] = "not resolved";

#ifndef _WIN32
static int resolve_from(void *handle) {
#define SYM(field, name)                                                                           \
  do {                                                                                             \
    *(void **)&ossl.field = dlsym(handle, name);                                                   \
    if (!ossl.field) {                                                                             \
      snprintf(ossl_reason, sizeof ossl_reason, "%s not found", name);                           \
      return 0;                                                                                    \
    }                                                                                              \
  } while (0)
  SYM(ctx_new, "EVP_CIPHER_CTX_new");
  SYM(ctx_free, "EVP_CIPHER_CTX_free");
  SYM(chacha20_poly1305, "EVP_chacha20_poly1305");
  SYM(init, "EVP_CipherInit_ex");
  SYM(update, "EVP_CipherUpdate");
  SYM(final, "EVP_CipherFinal_ex");
  SYM(ctrl, "EVP_CIPHER_CTX_ctrl");
#undef SYM
  return ossl.chacha20_poly1305() != NULL;
}

static void resolve(void) {
  /* Only the process's own OpenSSL. Loading the system's libcrypto into a process that carries
   * another TLS library (Electron's BoringSSL) risks its internal calls binding to the other
   * library's symbols; such a process keeps libsodium instead. */
  if (resolve_from(RTLD_DEFAULT)) {
    ossl_source = "process";
    return;
  }
  memset(&ossl, 0, sizeof ossl);
}

static pthread_once_t resolve_once = PTHREAD_ONCE_INIT;
#endif

typedef struct {
  ossl_ctx *enc;
  ossl_ctx *dec;
  unsigned char *scratch; /* for inputs that partly overlap their output */
  size_t scratch_size;
} env_state;

static void free_state(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  env_state *s = data;
  if (s->enc) ossl.ctx_free(s->enc);
  if (s->dec) ossl.ctx_free(s->dec);
  free(s->scratch);
  free(s);
}

static napi_value throw_error(napi_env env, const char *kind, const char *msg) {
  if (kind[0] == 'R') napi_throw_range_error(env, NULL, msg);
  else if (kind[0] == 'T') napi_throw_type_error(env, NULL, msg);
  else napi_throw_error(env, NULL, msg);
  return NULL;
}

/* A Uint8Array (or Buffer) argument: its bytes and length. */
static int bytes_of(napi_env env, napi_value v, unsigned char **data, size_t *length) {
  napi_typedarray_type type;
  napi_value ab;
  size_t offset;
  if (napi_get_typedarray_info(env, v, &type, length, (void **)data, &ab, &offset) != napi_ok ||
      type != napi_uint8_array) {
    return 0;
  }
  return 1;
}

static int overlaps(const unsigned char *a, size_t alen, const unsigned char *b, size_t blen) {
  return a < b + blen && b < a + alen;
}

/* Returns `in` itself, or a copy of it when it partly overlaps `out` (OpenSSL allows only
 * in == out). NULL when the copy cannot be allocated. */
static const unsigned char *usable_input(env_state *s, const unsigned char *in, size_t inlen,
                                         const unsigned char *out, size_t outlen) {
  static const unsigned char none[1];
  if (inlen == 0) return none; /* an empty Uint8Array may have no data pointer at all */
  if (in == out || !overlaps(in, inlen, out, outlen)) return in;
  if (s->scratch_size < inlen) {
    unsigned char *grown = realloc(s->scratch, inlen);
    if (!grown) return NULL;
    s->scratch = grown;
    s->scratch_size = inlen;
  }
  memcpy(s->scratch, in, inlen);
  return s->scratch;
}

typedef struct {
  unsigned char *key, *nonce, *in, *ad, *out;
  size_t key_len, nonce_len, in_len, ad_len, out_len;
} aead_args;

/* (key, nonce, input, ad, out), validated; 0 after throwing. */
static int parse_args(napi_env env, napi_callback_info info, aead_args *a) {
  size_t argc = 5;
  napi_value argv[5];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 5) {
    throw_error(env, "T", "expected (key, nonce, input, ad, out)");
    return 0;
  }
  if (!bytes_of(env, argv[0], &a->key, &a->key_len) || !bytes_of(env, argv[1], &a->nonce, &a->nonce_len) ||
      !bytes_of(env, argv[2], &a->in, &a->in_len) || !bytes_of(env, argv[3], &a->ad, &a->ad_len) ||
      !bytes_of(env, argv[4], &a->out, &a->out_len)) {
    throw_error(env, "T", "key, nonce, input, ad and out must be Uint8Arrays");
    return 0;
  }
  if (a->key_len != KEY_BYTES) {
    throw_error(env, "R", "AEAD key must be 32 bytes");
    return 0;
  }
  if (a->nonce_len != NONCE_BYTES) {
    throw_error(env, "R", "AEAD nonce must be 12 bytes");
    return 0;
  }
  if (a->in_len > MAX_INPUT || a->ad_len > MAX_INPUT) {
    throw_error(env, "R", "AEAD input longer than 1 MiB");
    return 0;
  }
  return 1;
}

static env_state *state_of(napi_env env) {
  void *data = NULL;
  napi_get_instance_data(env, &data);
  return data;
}

static napi_value number(napi_env env, int64_t n) {
  napi_value v;
  napi_create_int64(env, n, &v);
  return v;
}

/* seal(key, nonce, plaintext, ad, out) -> plaintext.length + 16: ciphertext ‖ tag into out. */
static napi_value js_seal(napi_env env, napi_callback_info info) {
  aead_args a;
  if (!parse_args(env, info, &a)) return NULL;
  if (a.out_len < a.in_len + TAG_BYTES) return throw_error(env, "R", "output buffer too small");
  env_state *s = state_of(env);
  if (!s) return throw_error(env, "E", "evp-aead is not available");
  const unsigned char *in = usable_input(s, a.in, a.in_len, a.out, a.in_len + TAG_BYTES);
  if (!in) return throw_error(env, "E", "out of memory");
  int n = 0, fin = 0;
  if (ossl.init(s->enc, NULL, NULL, a.key, a.nonce, 1) != 1 ||
      (a.ad_len > 0 && ossl.update(s->enc, NULL, &n, a.ad, (int)a.ad_len) != 1) ||
      ossl.update(s->enc, a.out, &n, in, (int)a.in_len) != 1 || ossl.final(s->enc, a.out + n, &fin) != 1 ||
      (size_t)(n + fin) != a.in_len || ossl.ctrl(s->enc, CTRL_AEAD_GET_TAG, TAG_BYTES, a.out + a.in_len) != 1) {
    return throw_error(env, "E", "OpenSSL ChaCha20-Poly1305 seal failed");
  }
  return number(env, (int64_t)(a.in_len + TAG_BYTES));
}

/* open(key, nonce, ciphertext, ad, out) -> plaintext length, or -1 on a bad tag (out zeroed). */
static napi_value js_open(napi_env env, napi_callback_info info) {
  aead_args a;
  if (!parse_args(env, info, &a)) return NULL;
  if (a.in_len < TAG_BYTES) return number(env, -1);
  size_t length = a.in_len - TAG_BYTES;
  if (a.out_len < length) return throw_error(env, "R", "output buffer too small");
  env_state *s = state_of(env);
  if (!s) return throw_error(env, "E", "evp-aead is not available");
  unsigned char tag[TAG_BYTES];
  memcpy(tag, a.in + length, TAG_BYTES);
  const unsigned char *in = usable_input(s, a.in, length, a.out, length);
  if (!in) return throw_error(env, "E", "out of memory");
  int n = 0, fin = 0;
  if (ossl.init(s->dec, NULL, NULL, a.key, a.nonce, 0) != 1 ||
      (a.ad_len > 0 && ossl.update(s->dec, NULL, &n, a.ad, (int)a.ad_len) != 1) ||
      ossl.update(s->dec, a.out, &n, in, (int)length) != 1 ||
      ossl.ctrl(s->dec, CTRL_AEAD_SET_TAG, TAG_BYTES, tag) != 1) {
    return throw_error(env, "E", "OpenSSL ChaCha20-Poly1305 open failed");
  }
  if (ossl.final(s->dec, a.out + n, &fin) != 1) {
    /* Bad tag: what was decrypted must not be used, so it is not left there either. */
    if (length > 0) memset(a.out, 0, length);
    return number(env, -1);
  }
  return number(env, (int64_t)length);
}

static env_state *new_state(void) {
#ifdef _WIN32
  snprintf(ossl_reason, sizeof ossl_reason, "not built for Windows");
  return NULL;
#else
  pthread_once(&resolve_once, resolve);
  if (!ossl_source) return NULL;
  env_state *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->enc = ossl.ctx_new();
  s->dec = ossl.ctx_new();
  if (!s->enc || !s->dec || ossl.init(s->enc, ossl.chacha20_poly1305(), NULL, NULL, NULL, 1) != 1 ||
      ossl.init(s->dec, ossl.chacha20_poly1305(), NULL, NULL, NULL, 0) != 1) {
    snprintf(ossl_reason, sizeof ossl_reason, "OpenSSL refused a ChaCha20-Poly1305 context");
    free_state(NULL, s, NULL);
    return NULL;
  }
  return s;
#endif
}

static napi_value init(napi_env env, napi_value exports) {
  env_state *s = new_state();
  if (s) napi_set_instance_data(env, s, free_state, NULL);
  napi_value available, reason, source, seal, open;
  napi_get_boolean(env, s != NULL, &available);
  napi_create_string_utf8(env, s ? "" : ossl_reason, NAPI_AUTO_LENGTH, &reason);
  napi_create_string_utf8(env, s ? ossl_source : "", NAPI_AUTO_LENGTH, &source);
  napi_create_function(env, "seal", NAPI_AUTO_LENGTH, js_seal, NULL, &seal);
  napi_create_function(env, "open", NAPI_AUTO_LENGTH, js_open, NULL, &open);
  napi_set_named_property(env, exports, "available", available);
  napi_set_named_property(env, exports, "reason", reason);
  napi_set_named_property(env, exports, "source", source);
  napi_set_named_property(env, exports, "seal", seal);
  napi_set_named_property(env, exports, "open", open);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
