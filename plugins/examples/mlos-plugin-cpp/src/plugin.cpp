#include "plugin.h"

#include <dirent.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

namespace mlos {
namespace {

using smi::v1::ErrorCode;

constexpr ErrorCode kOk = smi::v1::ERROR_CODE_UNSPECIFIED;
constexpr ErrorCode kInvalid = smi::v1::ERROR_CODE_INVALID_ARGUMENT;
constexpr ErrorCode kNotFound = smi::v1::ERROR_CODE_NOT_FOUND;
constexpr const char* kExtension = ".lin";

std::string Quoted(const std::string& text) { return "'" + text + "'"; }

std::string ShapeText(const google::protobuf::RepeatedField<int64_t>& shape) {
  std::ostringstream out;
  out << "[";
  for (int i = 0; i < shape.size(); ++i) out << (i ? ", " : "") << shape[i];
  out << "]";
  return out.str();
}

bool EndsWith(const std::string& text, const std::string& tail) {
  return text.size() >= tail.size() && text.compare(text.size() - tail.size(), tail.size(), tail) == 0;
}

// The model file a path names: the path itself, or the only .lin file in a directory.
ErrorCode ModelFile(const std::string& path, std::string& file, std::string& message) {
  struct stat info {};
  if (path.empty()) {
    message = "LoadModel names no path";
    return kInvalid;
  }
  if (::stat(path.c_str(), &info) != 0) {
    int error = errno;
    message = path + ": " + std::strerror(error);
    return error == ENOENT ? kNotFound : kInvalid;
  }
  if (S_ISREG(info.st_mode)) {
    file = path;
    return kOk;
  }
  if (!S_ISDIR(info.st_mode)) {
    message = path + " is neither a file nor a directory";
    return kInvalid;
  }
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) {
    message = path + ": " + std::strerror(errno);
    return kInvalid;
  }
  std::vector<std::string> found;
  while (dirent* entry = ::readdir(dir)) {
    std::string name = entry->d_name;
    if (EndsWith(name, kExtension)) found.push_back(name);
  }
  ::closedir(dir);
  if (found.size() != 1) {
    message = path + " holds " + std::to_string(found.size()) +
              " .lin files; a model directory holds exactly one";
    return kInvalid;
  }
  file = path + "/" + found[0];
  return kOk;
}

ErrorCode ReadText(const std::string& file, std::string& text, std::string& message) {
  struct stat info {};
  if (::stat(file.c_str(), &info) != 0 || !S_ISREG(info.st_mode)) {
    message = file + " is not a regular file";
    return kInvalid;
  }
  if (static_cast<size_t>(info.st_size) > LinearModel::kMaxFileBytes) {
    message = file + " is larger than a linear model may be (" +
              std::to_string(LinearModel::kMaxFileBytes >> 20) + " MiB)";
    return kInvalid;
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    message = file + ": cannot open: " + std::strerror(errno);
    return kInvalid;
  }
  std::ostringstream content;
  content << in.rdbuf();
  text = content.str();
  return kOk;
}

float LoadF32(const unsigned char* p) {
  uint32_t bits = uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
  float value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

void StoreF32(unsigned char* p, float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  for (int i = 0; i < 4; ++i) p[i] = static_cast<unsigned char>(bits >> (8 * i));
}

smi::v1::TensorMetadata* AddTensor(google::protobuf::RepeatedPtrField<smi::v1::TensorMetadata>* to,
                                   const char* name, size_t features) {
  smi::v1::TensorMetadata* tensor = to->Add();
  tensor->set_name(name);
  tensor->set_datatype("FP32");
  tensor->add_shape(-1);
  tensor->add_shape(static_cast<int64_t>(features));
  return tensor;
}

const char* MethodName(uint16_t method) {
  switch (method) {
    case kDescribe: return "Describe";
    case kLoadModel: return "LoadModel";
    case kUnloadModel: return "UnloadModel";
    case kInfer: return "Infer";
    case kHealth: return "Health";
    case kShutdown: return "Shutdown";
    default: return "?";
  }
}

Frame Answer(const Frame& request, uint8_t kind, std::string payload) {
  Frame answer;
  answer.kind = kind;
  answer.method = request.method;
  answer.request_id = request.request_id;
  answer.payload = std::move(payload);
  return answer;
}

Frame ErrorAnswer(const Frame& request, ErrorCode code, const std::string& message) {
  smi::v1::Error error;
  error.set_code(code);
  error.set_message(message);
  return Answer(request, kError, error.SerializeAsString());
}

// The answer to a request whose payload is not a valid message of its type.
Frame Undecodable(const Frame& request) {
  return ErrorAnswer(request, kInvalid,
                     std::string(MethodName(request.method)) + ": request does not decode");
}

// One call: decodes the request message `In` (an INVALID_ARGUMENT answer when the payload is not
// one), lets `serve` fill the response `Out` or refuse with an error code and message, and
// answers with the response or the error.
template <typename In, typename Out, typename Handler>
Frame Serve(const Frame& request, Handler&& serve) {
  In in;
  if (!in.ParseFromString(request.payload)) return Undecodable(request);
  Out out;
  std::string message;
  ErrorCode code = serve(in, out, message);
  if (code != kOk) return ErrorAnswer(request, code, message);
  return Answer(request, kResponse, out.SerializeAsString());
}

}  // namespace

void LinearPlugin::Describe(smi::v1::PluginInfo& info) const {
  info.set_name(kName);
  info.set_version(MLOS_PLUGIN_VERSION);
  smi::v1::SmiVersion* version = info.add_smi_versions();
  version->set_major(1);
  version->set_minor(0);
  smi::v1::PluginCapabilities* caps = info.mutable_capabilities();
  caps->add_formats("mlos-linear");
  caps->add_file_extensions(kExtension);
  caps->add_datatypes("FP32");
  caps->set_max_batch_size(kMaxBatch);
  caps->set_max_concurrency(1);  // one request at a time, in the order they arrive
  caps->set_shared_memory(false);
  caps->set_gpu(false);
}

ErrorCode LinearPlugin::LoadModel(const smi::v1::LoadModelRequest& request,
                                  smi::v1::LoadModelResponse& response, std::string& message) {
  for (const auto& [key, value] : request.config()) {
    (void)value;
    if (key.rfind("axon.", 0) != 0) {
      message = "unknown option " + Quoted(key) + ": the " + std::string(kName) +
                " plugin takes no options (keys starting with 'axon.' are accepted)";
      return kInvalid;
    }
  }
  std::string file, text;
  ErrorCode code = ModelFile(request.path(), file, message);
  if (code == kOk) code = ReadText(file, text, message);
  if (code != kOk) return code;
  // Parse into a fresh model: a failed load changes nothing.
  Loaded loaded;
  std::string problem;
  if (!LinearModel::Parse(text, loaded.model, problem)) {
    message = file + " is not an mlos-linear model: " + problem;
    return kInvalid;
  }
  smi::v1::ModelMetadata& metadata = loaded.metadata;
  metadata.set_name(request.name());
  metadata.set_version(request.version());
  metadata.set_plugin(kName);
  metadata.set_platform("mlos_linear");
  AddTensor(metadata.mutable_inputs(), kInput, loaded.model.inputs());
  AddTensor(metadata.mutable_outputs(), kOutput, loaded.model.outputs());
  metadata.set_max_batch_size(kMaxBatch);
  (*metadata.mutable_properties())["format"] = "mlos-linear 1";
  *response.mutable_metadata() = metadata;
  models_[{request.name(), request.version()}] = std::move(loaded);
  return kOk;
}

ErrorCode LinearPlugin::Infer(const smi::v1::InferRequest& request,
                              smi::v1::InferResponse& response, std::string& message) {
  auto found = models_.find({request.model_name(), request.model_version()});
  if (found == models_.end()) {
    message = "model " + Quoted(request.model_name()) + " version " +
              Quoted(request.model_version()) + " is not loaded";
    return kNotFound;
  }
  const LinearModel& model = found->second.model;
  const smi::v1::Tensor* x = nullptr;
  for (const smi::v1::Tensor& tensor : request.inputs()) {
    if (tensor.name() != kInput) {
      message = "unknown input " + Quoted(tensor.name()) + " (the model takes 'x')";
      return kInvalid;
    }
    if (x != nullptr) {
      message = "input 'x' is given twice";
      return kInvalid;
    }
    x = &tensor;
  }
  if (x == nullptr) {
    message = "input 'x' is missing";
    return kInvalid;
  }
  if (x->has_shared_memory()) {
    message = "input 'x' is in shared memory; this plugin takes tensors inline";
    return kInvalid;
  }
  if (x->datatype() != "FP32") {
    message = "input 'x' is " + x->datatype() + "; the model takes FP32";
    return kInvalid;
  }
  const auto& shape = x->shape();
  if (shape.size() != 2 || shape[0] < 0 || shape[0] > kMaxBatch ||
      shape[1] != static_cast<int64_t>(model.inputs())) {
    message = "input 'x' has shape " + ShapeText(shape) + "; the model takes [-1, " +
              std::to_string(model.inputs()) + "] with at most " + std::to_string(kMaxBatch) +
              " rows";
    return kInvalid;
  }
  size_t batch = static_cast<size_t>(shape[0]);
  size_t count = batch * model.inputs();
  if (x->contents().size() != count * 4) {
    message = "input 'x' holds " + std::to_string(x->contents().size()) + " bytes; shape " +
              ShapeText(shape) + " of FP32 needs " + std::to_string(count * 4);
    return kInvalid;
  }
  for (const smi::v1::RequestedOutput& output : request.outputs()) {
    if (output.name() != kOutput) {
      message = "unknown output " + Quoted(output.name()) + " (the model returns 'y')";
      return kInvalid;
    }
  }
  std::vector<float> in(count);
  const auto* raw = reinterpret_cast<const unsigned char*>(x->contents().data());
  for (size_t i = 0; i < count; ++i) in[i] = LoadF32(raw + 4 * i);
  std::vector<float> out(batch * model.outputs());
  model.Apply(in.data(), batch, out.data());

  response.set_model_name(request.model_name());
  response.set_model_version(request.model_version());
  response.set_id(request.id());
  smi::v1::Tensor* y = response.add_outputs();
  y->set_name(kOutput);
  y->set_datatype("FP32");
  y->add_shape(static_cast<int64_t>(batch));
  y->add_shape(static_cast<int64_t>(model.outputs()));
  std::string contents(out.size() * 4, '\0');
  auto* bytes = reinterpret_cast<unsigned char*>(contents.data());
  for (size_t i = 0; i < out.size(); ++i) StoreF32(bytes + 4 * i, out[i]);
  y->set_contents(std::move(contents));
  return kOk;
}

void LinearPlugin::Health(smi::v1::PluginHealthResponse& response) const {
  response.set_ready(true);
  for (const auto& entry : models_) {
    response.add_models(entry.first.first + "/" + entry.first.second);
  }
}

Frame LinearPlugin::Handle(const Frame& request) {
  namespace v1 = smi::v1;
  switch (request.method) {
    case kDescribe:
      return Serve<v1::DescribeRequest, v1::PluginInfo>(
          request, [this](auto&, auto& info, auto&) { Describe(info); return kOk; });
    case kLoadModel:
      return Serve<v1::LoadModelRequest, v1::LoadModelResponse>(
          request, [this](auto& in, auto& out, auto& error) { return LoadModel(in, out, error); });
    case kUnloadModel:
      return Serve<v1::UnloadModelRequest, v1::UnloadModelResponse>(
          request, [this](auto& in, auto&, auto&) {
            models_.erase({in.name(), in.version()});  // unknown models unload too
            return kOk;
          });
    case kInfer:
      return Serve<v1::InferRequest, v1::InferResponse>(
          request, [this](auto& in, auto& out, auto& error) { return Infer(in, out, error); });
    case kHealth:
      return Serve<v1::PluginHealthRequest, v1::PluginHealthResponse>(
          request, [this](auto&, auto& out, auto&) { Health(out); return kOk; });
    case kShutdown:
      return Serve<v1::ShutdownRequest, v1::ShutdownResponse>(request, [this](auto&, auto&, auto&) {
        shutting_down_ = true;
        return kOk;
      });
    default: {
      char id[8];
      std::snprintf(id, sizeof id, "%04X", request.method);
      return ErrorAnswer(request, smi::v1::ERROR_CODE_UNIMPLEMENTED,
                         std::string("unknown method 0x") + id);
    }
  }
}

}  // namespace mlos
