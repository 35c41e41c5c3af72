// libuv handles owned by their close callback: create with `new`, end with
// CloseHandle(), which frees the memory only once libuv is done with it.
#ifndef SVCDNS_SERVER_UV_HANDLE_H_
#define SVCDNS_SERVER_UV_HANDLE_H_

#include <uv.h>

namespace svcdns::server {

template <typename T>
void CloseHandle(T* handle) {
  if (handle == nullptr) return;
  uv_close(reinterpret_cast<uv_handle_t*>(handle),
           [](uv_handle_t* h) { delete reinterpret_cast<T*>(h); });
}

}  // namespace svcdns::server

#endif  // SVCDNS_SERVER_UV_HANDLE_H_
