#include "linear_model.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace mlos {
namespace {

// Splits text into white-space separated tokens, dropping `#` comments.
class Tokens {
 public:
  explicit Tokens(const std::string& text) : text_(text) {}

  // The next token, or false at the end of the text.
  bool Next(std::string& token) {
    for (;;) {
      while (pos_ < text_.size() && IsSpace(text_[pos_])) ++pos_;
      if (pos_ < text_.size() && text_[pos_] == '#') {
        while (pos_ < text_.size() && text_[pos_] != '\n') ++pos_;
        continue;
      }
      break;
    }
    if (pos_ >= text_.size()) return false;
    size_t start = pos_;
    while (pos_ < text_.size() && !IsSpace(text_[pos_]) && text_[pos_] != '#') ++pos_;
    token.assign(text_, start, pos_ - start);
    return true;
  }

 private:
  static bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

  const std::string& text_;
  size_t pos_ = 0;
};

// A short, printable form of a token for error messages.
std::string Shown(const std::string& token) {
  std::string shown;
  for (char c : token.substr(0, 24)) {
    shown += (c >= 0x20 && c < 0x7f) ? c : '?';
  }
  return "'" + shown + (token.size() > 24 ? "...'" : "'");
}

bool Expect(Tokens& tokens, const char* word, std::string& error) {
  std::string token;
  if (!tokens.Next(token)) {
    error = std::string("ends before '") + word + "'";
    return false;
  }
  if (token != word) {
    error = std::string("expected '") + word + "', found " + Shown(token);
    return false;
  }
  return true;
}

bool Count(Tokens& tokens, const char* what, size_t& value, std::string& error) {
  std::string token;
  if (!tokens.Next(token)) {
    error = std::string("ends before the number of ") + what;
    return false;
  }
  char* end = nullptr;
  errno = 0;
  unsigned long long parsed = std::strtoull(token.c_str(), &end, 10);
  if (token.empty() || token[0] == '-' || token[0] == '+' || *end != '\0' || errno != 0 ||
      parsed < 1 || parsed > LinearModel::kMaxFeatures) {
    error = std::string("the number of ") + what + " must be a whole number from 1 to " +
            std::to_string(LinearModel::kMaxFeatures) + ", found " + Shown(token);
    return false;
  }
  value = static_cast<size_t>(parsed);
  return true;
}

bool Numbers(Tokens& tokens, const char* what, size_t count, std::vector<float>& values,
             std::string& error) {
  values.resize(count);
  std::string token;
  for (size_t i = 0; i < count; ++i) {
    if (!tokens.Next(token)) {
      error = std::string(what) + ": expected " + std::to_string(count) + " numbers, found " +
              std::to_string(i);
      return false;
    }
    char* end = nullptr;
    errno = 0;
    float value = std::strtof(token.c_str(), &end);
    if (token.empty() || *end != '\0' || errno == ERANGE || !std::isfinite(value)) {
      error = std::string(what) + ": " + Shown(token) + " is not a finite number";
      return false;
    }
    values[i] = value;
  }
  return true;
}

}  // namespace

bool LinearModel::Parse(const std::string& text, LinearModel& model, std::string& error) {
  if (text.size() > kMaxFileBytes) {
    error = "larger than " + std::to_string(kMaxFileBytes >> 20) + " MiB";
    return false;
  }
  if (text.find('\0') != std::string::npos) {
    error = "not a text file (it holds NUL bytes)";
    return false;
  }
  Tokens tokens(text);
  std::string token;
  if (!tokens.Next(token) || token != "mlos-linear") {
    error = "does not start with 'mlos-linear'";
    return false;
  }
  token.clear();
  if (!tokens.Next(token) || token != "1") {
    error = "format version " + Shown(token) + " is not supported (this plugin reads 1)";
    return false;
  }
  LinearModel parsed;
  if (!Expect(tokens, "inputs", error) || !Count(tokens, "inputs", parsed.inputs_, error) ||
      !Expect(tokens, "outputs", error) || !Count(tokens, "outputs", parsed.outputs_, error)) {
    return false;
  }
  if (parsed.inputs_ * parsed.outputs_ > kMaxWeights) {
    error = "more than " + std::to_string(kMaxWeights) + " weights";
    return false;
  }
  if (!Expect(tokens, "weights", error) ||
      !Numbers(tokens, "weights", parsed.inputs_ * parsed.outputs_, parsed.weights_, error) ||
      !Expect(tokens, "bias", error) ||
      !Numbers(tokens, "bias", parsed.outputs_, parsed.bias_, error)) {
    return false;
  }
  if (tokens.Next(token)) {
    error = "unexpected " + Shown(token) + " after the bias";
    return false;
  }
  model = std::move(parsed);
  return true;
}

void LinearModel::Apply(const float* x, size_t batch, float* y) const {
  for (size_t row = 0; row < batch; ++row) {
    const float* in = x + row * inputs_;
    float* out = y + row * outputs_;
    for (size_t o = 0; o < outputs_; ++o) {
      const float* w = weights_.data() + o * inputs_;
      double sum = 0.0;
      for (size_t i = 0; i < inputs_; ++i) sum += double(in[i]) * double(w[i]);
      out[o] = static_cast<float>(sum + double(bias_[o]));
    }
  }
}

}  // namespace mlos
