// The model format this plugin serves: a linear layer, y = x W^T + b, in a small text file
// (extension .lin):
//
//   mlos-linear 1          # magic and format version
//   inputs 3               # features of x
//   outputs 2              # features of y
//   weights                # `outputs` rows of `inputs` numbers
//   1 1 1
//   -1 0 -1
//   bias                   # `outputs` numbers
//   0.5 0.5
//
// Tokens are separated by white space; `#` starts a comment that runs to the end of the line.
// Every number must be finite; nothing may follow the bias.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace mlos {

class LinearModel {
 public:
  // Largest file and largest weight matrix accepted.
  static constexpr size_t kMaxFileBytes = 64u << 20;
  static constexpr size_t kMaxWeights = 4u << 20;
  static constexpr size_t kMaxFeatures = 1u << 16;

  // Parse a model from the text of a .lin file; on failure returns false and sets `error`.
  static bool Parse(const std::string& text, LinearModel& model, std::string& error);

  size_t inputs() const { return inputs_; }
  size_t outputs() const { return outputs_; }

  // y[batch, outputs] = x[batch, inputs] W^T + b, row-major.
  void Apply(const float* x, size_t batch, float* y) const;

 private:
  size_t inputs_ = 0;
  size_t outputs_ = 0;
  std::vector<float> weights_;  // outputs_ rows of inputs_
  std::vector<float> bias_;
};

}  // namespace mlos
