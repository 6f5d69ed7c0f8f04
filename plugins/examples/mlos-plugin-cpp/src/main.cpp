// mlos-plugin-cpp: serves linear models (.lin files) to MLOS over SMI.
//
// The core starts it as `mlos-plugin-cpp --fd N` with one end of a connected Unix socket pair
// as descriptor N (also named by the environment variable MLOS_SMI_FD), speaks the SMI `Plugin`
// service on it, and expects it to exit once the socket closes or Shutdown is answered.
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>

#include "framing.h"
#include "plugin.h"

namespace {

// Request frames larger than this are refused (the SMI carries large tensors in shared memory;
// this plugin takes them inline only).
constexpr uint32_t kMaxPayload = 256u << 20;

const char* const kUsage =
    "usage: mlos-plugin-cpp --fd N\n"
    "\n"
    "An MLOS plugin serving linear models (.lin files) over the SMI on the connected Unix\n"
    "socket N (default: $MLOS_SMI_FD). The MLOS core starts it; register it with\n"
    "`mlos plugin register linear-cpp --executable /path/to/mlos-plugin-cpp`.\n";

bool ParseFd(const char* text, int& fd) {
  if (text == nullptr || *text == '\0') return false;
  char* end = nullptr;
  errno = 0;
  long value = std::strtol(text, &end, 10);
  if (*end != '\0' || errno != 0 || value < 0 || value > 1 << 20) return false;
  fd = static_cast<int>(value);
  return true;
}

// 0 when the arguments name a descriptor, else the exit status to leave with.
int ParseArgs(int argc, char** argv, int& fd) {
  const char* given = std::getenv("MLOS_SMI_FD");
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      std::exit(0);
    }
    if (arg == "--version") {
      std::cout << "mlos-plugin-cpp " << MLOS_PLUGIN_VERSION << "\n";
      std::exit(0);
    }
    if (arg == "--fd" && i + 1 < argc) {
      given = argv[++i];
    } else if (arg.rfind("--fd=", 0) == 0) {
      given = argv[i] + 5;
    } else {
      std::cerr << "mlos-plugin-cpp: unknown argument '" << arg << "'\n" << kUsage;
      return 2;
    }
  }
  if (!ParseFd(given, fd)) {
    std::cerr << "mlos-plugin-cpp: name the SMI socket with --fd N or MLOS_SMI_FD\n" << kUsage;
    return 2;
  }
  if (::fcntl(fd, F_GETFD) < 0) {
    std::cerr << "mlos-plugin-cpp: descriptor " << fd << " is not open\n";
    return 2;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  GOOGLE_PROTOBUF_VERIFY_VERSION;
  int fd = -1;
  if (int status = ParseArgs(argc, argv, fd)) return status;
  // Die with the core that started us; a closed socket must not kill us with SIGPIPE.
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  ::signal(SIGPIPE, SIG_IGN);
  // Anything this process might start must not inherit the SMI socket.
  ::fcntl(fd, F_SETFD, ::fcntl(fd, F_GETFD) | FD_CLOEXEC);

  mlos::FrameStream stream(fd, kMaxPayload);
  mlos::LinearPlugin plugin;
  mlos::Frame frame;
  std::string error;
  for (;;) {
    switch (stream.Read(frame, error)) {
      case mlos::ReadStatus::kClosed:
        ::close(fd);
        return 0;
      case mlos::ReadStatus::kBroken:
        std::cerr << "mlos-plugin-cpp: " << error << "; closing the connection\n";
        ::close(fd);
        return 1;
      case mlos::ReadStatus::kTooLarge: {
        // Answer with RESOURCE_EXHAUSTED and the closing flag, then close (docs/ipc.md).
        mlos::smi::v1::Error refusal;
        refusal.set_code(mlos::smi::v1::ERROR_CODE_RESOURCE_EXHAUSTED);
        refusal.set_message("request frame larger than this plugin's limit of " +
                            std::to_string(kMaxPayload) + " bytes");
        mlos::Frame answer;
        answer.kind = mlos::kError;
        answer.flags = mlos::kFlagClosing;
        answer.method = frame.method;
        answer.request_id = frame.request_id;
        answer.payload = refusal.SerializeAsString();
        stream.Write(answer);
        ::close(fd);
        return 1;
      }
      case mlos::ReadStatus::kFrame:
        break;
    }
    if (frame.kind != mlos::kRequest) continue;  // the core sends requests only
    if (!stream.Write(plugin.Handle(frame))) {
      ::close(fd);
      return 0;  // the core went away while we answered
    }
    if (plugin.shutting_down()) {
      ::close(fd);
      return 0;
    }
  }
}
