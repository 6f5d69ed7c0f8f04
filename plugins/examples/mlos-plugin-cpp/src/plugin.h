// The SMI `Plugin` service (spec/smi.proto) for linear models: one answer frame per request.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include "framing.h"
#include "linear_model.h"
#include "smi.pb.h"

namespace mlos {

// Method ids: service `Plugin` is 1, its methods are numbered from 1 in smi.proto's order.
enum PluginMethod : uint16_t {
  kDescribe = 0x0101,
  kLoadModel = 0x0102,
  kUnloadModel = 0x0103,
  kInfer = 0x0104,
  kHealth = 0x0105,
  kShutdown = 0x0106,
};

class LinearPlugin {
 public:
  static constexpr const char* kName = "linear-cpp";
  static constexpr const char* kInput = "x";
  static constexpr const char* kOutput = "y";
  static constexpr int32_t kMaxBatch = 1 << 16;

  // The answer to one request frame (a response or an error frame).
  Frame Handle(const Frame& request);

  // Whether Shutdown was asked for: the caller answers, then exits.
  bool shutting_down() const { return shutting_down_; }

 private:
  struct Loaded {
    LinearModel model;
    smi::v1::ModelMetadata metadata;
  };
  using Key = std::pair<std::string, std::string>;

  // Each returns an error code (ERROR_CODE_UNSPECIFIED on success) and fills `message`.
  smi::v1::ErrorCode LoadModel(const smi::v1::LoadModelRequest& request,
                               smi::v1::LoadModelResponse& response, std::string& message);
  smi::v1::ErrorCode Infer(const smi::v1::InferRequest& request,
                           smi::v1::InferResponse& response, std::string& message);
  void Describe(smi::v1::PluginInfo& info) const;
  void Health(smi::v1::PluginHealthResponse& response) const;

  std::map<Key, Loaded> models_;
  bool shutting_down_ = false;
};

}  // namespace mlos
