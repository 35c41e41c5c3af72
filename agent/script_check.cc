// Script checks: the program runs in its own session (UV_PROCESS_DETACHED
// makes it a process group leader) so that a timeout or a Cancel() can
// SIGKILL everything it started, stdout and stderr both on one pipe.
#include <signal.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/check_probe.h"
#include "agent/duration.h"
#include "base/log.h"

namespace svcdns::agent::internal {
namespace {

using catalog::Health;

// Once the process has exited (or been killed), how long to wait for the
// pipe to end before giving up on processes that left its group.
constexpr uint64_t kGraceMs = 2000;

class ScriptRun : public ProbeRun {
 public:
  ScriptRun(ProbeDone done, absl::Duration timeout)
      : ProbeRun(std::move(done)), timeout_(timeout) {}

  void Start(uv_loop_t* loop, const CheckDefinition& def) {
    uv_timer_init(loop, &timer_);
    timer_.data = this;
    ++open_handles_;
    uv_file fds[2];
    if (int r = uv_pipe(fds, 0, 0); r != 0) {
      Fail(def, r);
      return;
    }
    uv_pipe_init(loop, &pipe_, 0);
    pipe_.data = this;
    ++open_handles_;
    pipe_open_ = true;
    uv_pipe_open(&pipe_, fds[0]);

    std::vector<char*> argv;
    for (const std::string& a : def.args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    uv_stdio_container_t stdio[3];
    stdio[0].flags = UV_IGNORE;
    stdio[1].flags = UV_INHERIT_FD;
    stdio[1].data.fd = fds[1];
    stdio[2].flags = UV_INHERIT_FD;
    stdio[2].data.fd = fds[1];
    uv_process_options_t options = {};
    options.exit_cb = OnExit;
    options.file = argv[0];
    options.args = argv.data();
    options.flags = UV_PROCESS_DETACHED;  // setsid(): its own process group
    options.stdio = stdio;
    options.stdio_count = 3;
    int r = uv_spawn(loop, &process_, &options);
    // uv_spawn initializes the handle even when it fails; it must be closed.
    process_.data = this;
    ++open_handles_;
    process_open_ = true;
    ::close(fds[1]);
    if (r != 0) {
      exited_ = true;  // there is no process to wait for
      Fail(def, r);
      return;
    }
    pid_ = process_.pid;
    uv_read_start(reinterpret_cast<uv_stream_t*>(&pipe_), OnAlloc, OnRead);
    uv_timer_start(&timer_, OnTimer, static_cast<uint64_t>(std::max<int64_t>(
                                         1, absl::ToInt64Milliseconds(timeout_))),
                   0);
  }

  void Cancel() override {
    Forget();
    if (finished_) return;
    if (pid_ > 0 && !exited_) {
      KillGroup();  // OnExit finishes, without waiting for the pipe
    } else {
      Finish();
    }
  }

 private:
  void Fail(const CheckDefinition& def, int error) {
    result_.status = Health::kCritical;
    result_.output = absl::StrCat("Failed to run check ", def.args[0], ": ",
                                  uv_strerror(error));
    failed_ = true;
    Finish();
  }

  void KillGroup() {
    if (pid_ > 0 && ::kill(-pid_, SIGKILL) != 0 && errno != ESRCH) {
      SVCDNS_LOG(kWarn, "check_kill_failed", "pid=", pid_, " error=",
                 Quote(uv_strerror(uv_translate_sys_error(errno))));
    }
  }

  static void OnAlloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
    auto* self = static_cast<ScriptRun*>(h->data);
    *buf = uv_buf_init(self->buffer_.data(), self->buffer_.size());
  }

  static void OnRead(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
    auto* self = static_cast<ScriptRun*>(s->data);
    if (nread > 0) {
      size_t room = kMaxOutput - std::min(kMaxOutput, self->output_.size());
      self->output_.append(buf->base, std::min(room, static_cast<size_t>(nread)));
      return;
    }
    if (nread < 0) {  // EOF: every process holding the pipe is gone
      uv_read_stop(s);
      self->eof_ = true;
      self->MaybeFinish();
    }
  }

  static void OnExit(uv_process_t* p, int64_t exit_status, int term_signal) {
    auto* self = static_cast<ScriptRun*>(p->data);
    self->exited_ = true;
    self->exit_status_ = exit_status;
    self->term_signal_ = term_signal;
    if (self->cancelled_) {
      self->Finish();
      return;
    }
    self->MaybeFinish();
  }

  static void OnTimer(uv_timer_t* t) {
    auto* self = static_cast<ScriptRun*>(t->data);
    if (!self->exited_ && !self->timed_out_) {
      self->timed_out_ = true;
      SVCDNS_LOG(kWarn, "check_timed_out", "pid=", self->pid_);
      self->KillGroup();
      uv_timer_start(&self->timer_, OnTimer, kGraceMs, 0);
      return;
    }
    // Exited, but something outside its group still holds the pipe (or the
    // process outlived SIGKILL): give up on it.
    self->KillGroup();
    self->Finish();
  }

  void MaybeFinish() {
    if (exited_ && eof_) Finish();
  }

  void Finish() {
    if (finished_) return;
    finished_ = true;
    if (!failed_) {
      if (timed_out_) {
        result_.status = Health::kCritical;
        result_.output = absl::StrCat("Timed out (", FormatGoDuration(timeout_),
                                      ") running check");
      } else {
        if (term_signal_ != 0 || !exited_) {
          result_.status = Health::kCritical;
        } else if (exit_status_ == 0) {
          result_.status = Health::kPassing;
        } else if (exit_status_ == 1) {
          result_.status = Health::kWarning;
        } else {
          result_.status = Health::kCritical;
        }
        result_.output = std::move(output_);
      }
    }
    uv_timer_stop(&timer_);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), OnClosed<ScriptRun>);
    if (pipe_open_) uv_close(reinterpret_cast<uv_handle_t*>(&pipe_), OnClosed<ScriptRun>);
    if (process_open_) uv_close(reinterpret_cast<uv_handle_t*>(&process_), OnClosed<ScriptRun>);
  }

  absl::Duration timeout_;
  uv_timer_t timer_;
  uv_pipe_t pipe_;
  uv_process_t process_;
  bool pipe_open_ = false;
  bool process_open_ = false;
  int pid_ = 0;
  bool exited_ = false;
  bool eof_ = false;
  bool timed_out_ = false;
  bool failed_ = false;
  bool finished_ = false;
  int64_t exit_status_ = 0;
  int term_signal_ = 0;
  std::string output_;
  std::array<char, 16 * 1024> buffer_;
};

}  // namespace

ProbeRun* StartScriptRun(uv_loop_t* loop, const CheckDefinition& def,
                         ProbeDone done) {
  auto* run = new ScriptRun(std::move(done), def.timeout);
  run->Start(loop, def);
  return run;
}

}  // namespace svcdns::agent::internal
