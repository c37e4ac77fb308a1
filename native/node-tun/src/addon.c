/* node-tun: module entry. Safe to load in several Node environments (worker threads). */
#include "common.h"

#include <stdlib.h>

static void free_instance(napi_env env, void *data, void *hint) {
  nt_instance *inst = data;
  (void)hint;
  if (inst->token != NULL) napi_delete_reference(env, inst->token);
  if (inst->tun_ctor != NULL) napi_delete_reference(env, inst->tun_ctor);
  if (inst->udp_ctor != NULL) napi_delete_reference(env, inst->udp_ctor);
  if (inst->unix_ctor != NULL) napi_delete_reference(env, inst->unix_ctor);
  free(inst);
}

int nt_check_token(napi_env env, napi_value arg) {
  void *data = NULL;
  napi_value token;
  bool same = false;
  if (napi_get_instance_data(env, &data) != napi_ok || data == NULL) return 0;
  nt_instance *inst = data;
  if (napi_get_reference_value(env, inst->token, &token) != napi_ok) return 0;
  return napi_strict_equals(env, arg, token, &same) == napi_ok && same;
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  nt_instance *inst = calloc(1, sizeof *inst);
  napi_value token;
  if (inst == NULL) return NULL;
  if (napi_set_instance_data(env, inst, free_instance, NULL) != napi_ok) {
    free(inst);
    return NULL;
  }
  if (napi_create_object(env, &token) != napi_ok || napi_create_reference(env, token, 1, &inst->token) != napi_ok)
    return NULL;
  if (nt_addr_init(env, exports) == NULL || nt_tun_init(env, exports, inst) == NULL ||
      nt_udp_init(env, exports, inst) == NULL ||
      nt_unix_init(env, exports, inst) == NULL || nt_vnet_init(env, exports) == NULL || nt_sockopt_init(env, exports) == NULL)
    return NULL;
  return exports;
}
