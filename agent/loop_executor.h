// Runs closures on a libuv loop's thread from any other thread, and waits for
// their results: how HTTP handlers reach state owned by the loop.
#ifndef SVCDNS_AGENT_LOOP_EXECUTOR_H_
#define SVCDNS_AGENT_LOOP_EXECUTOR_H_

#include <uv.h>

#include <deque>
#include <functional>
#include <future>
#include <mutex>

namespace svcdns::agent {

class LoopExecutor {
 public:
  explicit LoopExecutor(uv_loop_t* loop) : async_(new uv_async_t) {
    async_->data = this;
    uv_async_init(loop, async_, [](uv_async_t* a) { static_cast<LoopExecutor*>(a->data)->RunAll(); });
  }
  ~LoopExecutor() { Close(); }

  // Runs `fn` on the loop and returns its result. Must not be called from
  // the loop's own thread.
  template <typename R>
  R Call(std::function<R()> fn) {
    auto task = std::make_shared<std::packaged_task<R()>>(std::move(fn));
    std::future<R> result = task->get_future();
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (async_ == nullptr) return R();  // closed: the caller gets a default
      tasks_.push_back([task] { (*task)(); });
      uv_async_send(async_);
    }
    return result.get();
  }

  // From the loop's thread: no more calls are accepted; pending ones run.
  void Close() {
    std::lock_guard<std::mutex> lock(mu_);
    if (async_ == nullptr) return;
    for (auto& t : tasks_) t();
    tasks_.clear();
    uv_close(reinterpret_cast<uv_handle_t*>(async_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_async_t*>(h); });
    async_ = nullptr;
  }

 private:
  void RunAll() {
    std::deque<std::function<void()>> tasks;
    {
      std::lock_guard<std::mutex> lock(mu_);
      tasks.swap(tasks_);
    }
    for (auto& t : tasks) t();
  }

  std::mutex mu_;
  uv_async_t* async_;
  std::deque<std::function<void()>> tasks_;
};

}  // namespace svcdns::agent

#endif  // SVCDNS_AGENT_LOOP_EXECUTOR_H_
