/*
 * node-tun: Windows TUN via wintun.dll (https://www.wintun.net), loaded at run time from the
 * DLL search path (ship wintun.dll next to the executable). Untested here (no Windows machine);
 * it mirrors the Linux device: tunp_read/tunp_write move one packet, and a helper thread that
 * waits on the session's read event wakes the loop through a uv_async_t, which stands in for
 * uv_poll (libuv cannot poll a Windows event).
 */
#include "tun_platform.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <windows.h>

typedef void *WT_ADAPTER;
typedef void *WT_SESSION;
typedef WT_ADAPTER(WINAPI *wt_create_adapter_fn)(LPCWSTR name, LPCWSTR tunnel_type, const GUID *guid);
typedef void(WINAPI *wt_close_adapter_fn)(WT_ADAPTER adapter);
typedef WT_SESSION(WINAPI *wt_start_session_fn)(WT_ADAPTER adapter, DWORD capacity);
typedef void(WINAPI *wt_end_session_fn)(WT_SESSION session);
typedef HANDLE(WINAPI *wt_get_read_wait_event_fn)(WT_SESSION session);
typedef BYTE *(WINAPI *wt_receive_packet_fn)(WT_SESSION session, DWORD *size);
typedef void(WINAPI *wt_release_receive_packet_fn)(WT_SESSION session, const BYTE *packet);
typedef BYTE *(WINAPI *wt_allocate_send_packet_fn)(WT_SESSION session, DWORD size);
typedef void(WINAPI *wt_send_packet_fn)(WT_SESSION session, const BYTE *packet);

#define RING_CAPACITY 0x400000 /* 4 MiB, a power of two within Wintun's limits */

struct tunp {
  HMODULE dll;
  wt_create_adapter_fn create_adapter;
  wt_close_adapter_fn close_adapter;
  wt_start_session_fn start_session;
  wt_end_session_fn end_session;
  wt_get_read_wait_event_fn get_read_wait_event;
  wt_receive_packet_fn receive_packet;
  wt_release_receive_packet_fn release_receive_packet;
  wt_allocate_send_packet_fn allocate_send_packet;
  wt_send_packet_fn send_packet;
  WT_ADAPTER adapter;
  WT_SESSION session;
  HANDLE read_event; /* owned by the session */
  HANDLE quit_event, resume_event, thread;
  uv_loop_t *loop;
  uv_async_t *async;
  tunp_ready_cb cb;
  void *arg;
  int ring_empty;              /* the last read found no packet */
  volatile LONG thread_parked; /* the thread waits for resume_event */
  char name[TUNP_NAME_MAX];
};

static int map_error(DWORD e) {
  switch (e) {
    case ERROR_ACCESS_DENIED:
      return EACCES;
    case ERROR_MOD_NOT_FOUND:
    case ERROR_FILE_NOT_FOUND:
    case ERROR_PROC_NOT_FOUND:
      return ENOENT;
    case ERROR_NOT_ENOUGH_MEMORY:
    case ERROR_OUTOFMEMORY:
      return ENOMEM;
    case ERROR_NO_MORE_ITEMS:
    case ERROR_BUFFER_OVERFLOW:
      return EAGAIN;
    case ERROR_HANDLE_EOF:
      return ENXIO; /* the adapter is gone */
    case ERROR_ALREADY_EXISTS:
      return EEXIST;
    case ERROR_INVALID_PARAMETER:
      return EINVAL;
    default:
      return EIO;
  }
}

/* The helper thread: wait for packets, wake the loop, wait until the loop has drained the ring. */
static DWORD WINAPI wait_thread(LPVOID param) {
  tunp_t *t = param;
  for (;;) {
    HANDLE ready[2] = {t->quit_event, t->read_event};
    if (WaitForMultipleObjects(2, ready, FALSE, INFINITE) != WAIT_OBJECT_0 + 1) return 0;
    InterlockedExchange(&t->thread_parked, 1);
    uv_async_send(t->async);
    HANDLE resume[2] = {t->quit_event, t->resume_event};
    if (WaitForMultipleObjects(2, resume, FALSE, INFINITE) != WAIT_OBJECT_0 + 1) return 0;
  }
}

static void on_async(uv_async_t *handle) {
  tunp_t *t = handle->data;
  if (t == NULL) return;
  t->ring_empty = 0;
  if (t->cb != NULL) t->cb(t->arg, 0);
  if (t == handle->data) {
    /* Ring drained: let the thread wait for the next packet. Batch limit hit: come back after
     * the loop's other work, like a level-triggered poll. */
    if (t->ring_empty || t->cb == NULL) {
      if (InterlockedExchange(&t->thread_parked, 0)) SetEvent(t->resume_event);
    } else
      uv_async_send(t->async);
  }
}

static void free_handle(uv_handle_t *h) { free(h); }

static void release(tunp_t *t) {
  if (t->thread != NULL) {
    SetEvent(t->quit_event);
    WaitForSingleObject(t->thread, INFINITE);
    CloseHandle(t->thread);
  }
  if (t->async != NULL) {
    t->async->data = NULL;
    uv_close((uv_handle_t *)t->async, free_handle);
  }
  if (t->session != NULL) t->end_session(t->session);
  if (t->adapter != NULL) t->close_adapter(t->adapter);
  if (t->quit_event != NULL) CloseHandle(t->quit_event);
  if (t->resume_event != NULL) CloseHandle(t->resume_event);
  if (t->dll != NULL) FreeLibrary(t->dll);
  free(t);
}

/* A wintun adapter has no fd to hand over; the Windows helper service relays packets instead. */
int tunp_adopt(uv_loop_t *loop, int fd, tunp_t **out, const char **syscall) {
  (void)loop;
  (void)fd;
  (void)out;
  *syscall = "fromFd";
  return ENOTSUP;
}

/* offload is ignored: wintun moves plain IP packets (no segmentation offloads). */
int tunp_open(uv_loop_t *loop, const char *name, int multi_queue, int offload, tunp_t **out, const char **syscall) {
  tunp_t *t = calloc(1, sizeof *t);
  (void)offload;
  DWORD e;
  if (t == NULL) {
    *syscall = "malloc";
    return ENOMEM;
  }
  if (multi_queue) {
    free(t);
    *syscall = "open";
    return ENOTSUP;
  }
  t->loop = loop;
  *syscall = "LoadLibrary(wintun.dll)";
  t->dll = LoadLibraryExW(L"wintun.dll", NULL, LOAD_LIBRARY_SEARCH_APPLICATION_DIR | LOAD_LIBRARY_SEARCH_SYSTEM32);
  if (t->dll == NULL) goto fail;
  *syscall = "GetProcAddress";
#define LOAD(field, sym)                                              \
  if ((*(FARPROC *)&t->field = GetProcAddress(t->dll, sym)) == NULL) \
    goto fail;
  LOAD(create_adapter, "WintunCreateAdapter")
  LOAD(close_adapter, "WintunCloseAdapter")
  LOAD(start_session, "WintunStartSession")
  LOAD(end_session, "WintunEndSession")
  LOAD(get_read_wait_event, "WintunGetReadWaitEvent")
  LOAD(receive_packet, "WintunReceivePacket")
  LOAD(release_receive_packet, "WintunReleaseReceivePacket")
  LOAD(allocate_send_packet, "WintunAllocateSendPacket")
  LOAD(send_packet, "WintunSendPacket")
#undef LOAD
  strncpy(t->name, name != NULL && name[0] != '\0' ? name : "node-tun", TUNP_NAME_MAX - 1);
  WCHAR wname[TUNP_NAME_MAX];
  if (MultiByteToWideChar(CP_UTF8, 0, t->name, -1, wname, TUNP_NAME_MAX) == 0) goto fail;
  *syscall = "WintunCreateAdapter";
  t->adapter = t->create_adapter(wname, L"node-tun", NULL);
  if (t->adapter == NULL) goto fail;
  *syscall = "WintunStartSession";
  t->session = t->start_session(t->adapter, RING_CAPACITY);
  if (t->session == NULL) goto fail;
  t->read_event = t->get_read_wait_event(t->session);
  *syscall = "CreateEvent";
  t->quit_event = CreateEventW(NULL, TRUE, FALSE, NULL);
  t->resume_event = CreateEventW(NULL, FALSE, FALSE, NULL);
  if (t->quit_event == NULL || t->resume_event == NULL) goto fail;
  *out = t;
  return 0;
fail:
  e = GetLastError();
  release(t);
  return map_error(e);
}

const char *tunp_name(const tunp_t *t) { return t->name; }

int tunp_fd(const tunp_t *t) {
  (void)t;
  return -1;
}

int tunp_features(const tunp_t *t) {
  (void)t;
  return 0;
}

long tunp_read(tunp_t *t, uint8_t *dst, size_t cap) {
  DWORD size = 0;
  BYTE *p = t->receive_packet(t->session, &size);
  if (p == NULL) {
    int err = map_error(GetLastError());
    if (err == EAGAIN) t->ring_empty = 1;
    return -(long)err;
  }
  if (size <= cap) memcpy(dst, p, size);
  t->release_receive_packet(t->session, p);
  return (long)size;
}

int tunp_write(tunp_t *t, const uint8_t *src, size_t len) {
  BYTE *p = t->allocate_send_packet(t->session, (DWORD)len);
  if (p == NULL) return map_error(GetLastError());
  memcpy(p, src, len);
  t->send_packet(t->session, p);
  return 0;
}

int tunp_writev(tunp_t *t, const tunp_iov *iov, int n) {
  size_t len = 0;
  for (int i = 0; i < n; i++) len += iov[i].len;
  BYTE *p = t->allocate_send_packet(t->session, (DWORD)len);
  if (p == NULL) return map_error(GetLastError());
  for (int i = 0, off = 0; i < n; off += (int)iov[i].len, i++) memcpy(p + off, iov[i].base, iov[i].len);
  t->send_packet(t->session, p);
  return 0;
}

int tunp_watch(tunp_t *t, tunp_ready_cb cb, void *arg) {
  if (t->async == NULL) {
    t->async = malloc(sizeof *t->async);
    if (t->async == NULL) return ENOMEM;
    if (uv_async_init(t->loop, t->async, on_async) != 0) {
      free(t->async);
      t->async = NULL;
      return EIO;
    }
    t->async->data = t;
    t->thread = CreateThread(NULL, 0, wait_thread, t, 0, NULL);
    if (t->thread == NULL) return map_error(GetLastError());
  }
  t->cb = cb;
  t->arg = arg;
  uv_ref((uv_handle_t *)t->async);
  uv_async_send(t->async); /* packets may already be queued */
  return 0;
}

void tunp_unwatch(tunp_t *t) {
  t->cb = NULL;
  if (t->async != NULL) uv_unref((uv_handle_t *)t->async);
}

void tunp_close(tunp_t *t) {
  t->cb = NULL;
  release(t);
}
