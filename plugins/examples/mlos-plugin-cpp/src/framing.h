// The IPC framing of MLOS (docs/ipc.md): every frame is a 16-byte little-endian header
//
//   u32 payload_length | u8 kind | u8 flags | u16 method | u32 request_id | u32 timeout_ms
//
// followed by payload_length bytes of protobuf message.
#pragma once

#include <cstdint>
#include <string>

namespace mlos {

enum FrameKind : uint8_t { kRequest = 1, kResponse = 2, kError = 3 };

// Frame flag: the sender closes the connection after this frame.
constexpr uint8_t kFlagClosing = 0x01;
constexpr size_t kHeaderSize = 16;

struct Frame {
  uint8_t kind = kRequest;
  uint8_t flags = 0;
  uint16_t method = 0;
  uint32_t request_id = 0;
  uint32_t timeout_ms = 0;
  std::string payload;
};

enum class ReadStatus {
  kFrame,     // a whole frame was read
  kClosed,    // the peer closed the connection between frames
  kTooLarge,  // the header announced more than the limit; `frame` holds the header only
  kBroken,    // a read error, a truncated frame or an unknown kind: the framing cannot go on
};

// One end of an SMI connection: a connected Unix stream socket.
class FrameStream {
 public:
  FrameStream(int fd, uint32_t max_payload) : fd_(fd), max_payload_(max_payload) {}

  // Read the next frame into `frame`; `error` says why when the status is kBroken.
  ReadStatus Read(Frame& frame, std::string& error);

  // Write a whole frame; false when the connection is gone.
  bool Write(const Frame& frame);

  uint32_t max_payload() const { return max_payload_; }

 private:
  // Read exactly `size` bytes; 0 = done, 1 = clean end of stream before any byte, -1 = error.
  int ReadExactly(char* data, size_t size, bool at_boundary, std::string& error);

  int fd_;
  uint32_t max_payload_;
};

}  // namespace mlos
