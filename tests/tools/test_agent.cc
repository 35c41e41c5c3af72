// A minimal agent process for tests that need one to kill or freeze:
//   test_agent PORT NODE ADDRESS SERVICE
// registers SERVICE on NODE, prints "registered", then waits on the stream.
#include <cstdio>
#include <cstdlib>

#include "tests/testing/agent_stream.h"

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: test_agent PORT NODE ADDRESS SERVICE\n");
    return 2;
  }
  using namespace svcdns::testing;
  AgentStream stream(static_cast<uint16_t>(std::atoi(argv[1])));
  if (!stream.Register(argv[2], argv[3], {ServiceProto(argv[4], argv[4], 80)})) {
    std::fprintf(stderr, "registration failed\n");
    return 1;
  }
  std::printf("registered\n");
  std::fflush(stdout);
  while (stream.Read().has_value()) {
  }
  return 0;
}
