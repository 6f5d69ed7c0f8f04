#include "framing.h"

#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace mlos {
namespace {

uint32_t LoadU32(const unsigned char* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}

uint16_t LoadU16(const unsigned char* p) { return uint16_t(p[0] | p[1] << 8); }

void StoreU32(unsigned char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
}

void StoreU16(unsigned char* p, uint16_t v) {
  p[0] = static_cast<unsigned char>(v);
  p[1] = static_cast<unsigned char>(v >> 8);
}

}  // namespace

int FrameStream::ReadExactly(char* data, size_t size, bool at_boundary, std::string& error) {
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::read(fd_, data + done, size - done);
    if (n > 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) {
      if (done == 0 && at_boundary) return 1;
      error = "the connection closed in the middle of a frame";
      return -1;
    }
    error = std::string("read failed: ") + std::strerror(errno);
    return -1;
  }
  return 0;
}

ReadStatus FrameStream::Read(Frame& frame, std::string& error) {
  unsigned char header[kHeaderSize];
  int got = ReadExactly(reinterpret_cast<char*>(header), kHeaderSize, true, error);
  if (got == 1) return ReadStatus::kClosed;
  if (got < 0) return ReadStatus::kBroken;
  uint32_t length = LoadU32(header);
  frame.kind = header[4];
  frame.flags = header[5];
  frame.method = LoadU16(header + 6);
  frame.request_id = LoadU32(header + 8);
  frame.timeout_ms = LoadU32(header + 12);
  frame.payload.clear();
  if (frame.kind != kRequest && frame.kind != kResponse && frame.kind != kError) {
    error = "unknown frame kind " + std::to_string(frame.kind);
    return ReadStatus::kBroken;
  }
  if (length > max_payload_) return ReadStatus::kTooLarge;
  frame.payload.resize(length);
  if (length > 0 && ReadExactly(frame.payload.data(), length, false, error) != 0) {
    return ReadStatus::kBroken;
  }
  return ReadStatus::kFrame;
}

bool FrameStream::Write(const Frame& frame) {
  unsigned char header[kHeaderSize];
  StoreU32(header, static_cast<uint32_t>(frame.payload.size()));
  header[4] = frame.kind;
  header[5] = frame.flags;
  StoreU16(header + 6, frame.method);
  StoreU32(header + 8, frame.request_id);
  StoreU32(header + 12, frame.timeout_ms);
  iovec parts[2] = {
      {header, kHeaderSize},
      {const_cast<char*>(frame.payload.data()), frame.payload.size()},
  };
  size_t total = kHeaderSize + frame.payload.size();
  size_t written = 0;
  while (written < total) {
    // Skip what was written already, across the two buffers.
    iovec rest[2];
    int count = 0;
    size_t skip = written;
    for (const iovec& part : parts) {
      if (skip >= part.iov_len) {
        skip -= part.iov_len;
        continue;
      }
      rest[count].iov_base = static_cast<char*>(part.iov_base) + skip;
      rest[count].iov_len = part.iov_len - skip;
      skip = 0;
      ++count;
    }
    ssize_t n = ::writev(fd_, rest, count);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    written += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace mlos
