// fairhep-ort-runner: run an ONNX model on float32 .npy inputs with the ONNX Runtime C++ API
// and write its first (or named) output as a float32 .npy file.
//
//   fairhep-ort-runner MODEL.onnx OUT.npy NAME=FILE.npy [NAME=FILE.npy ...]
//                      [--output NAME] [--batch B] [--threads T] [--warmup W]
//                      [--expect EXPECTED.npy --tolerance T]
//
// With --expect, the output is compared with EXPECTED.npy (a bundle's validation/
// expected_scores.npy): the JSON line adds max_abs_diff and the exit status is 1 when the
// shapes differ or a value differs by more than T (default 1e-4): a C++ user checks a bundle
// without Python.
//
// Every input is cut along its first (batch) axis into batches of B rows (default 128), so a
// model with a dynamic batch axis sees the batch sizes the Python runtimes see. On success one
// JSON line on stdout says what ran: ONNX Runtime version, rows, batch, seconds to create the
// session and to run all batches. --warmup W runs the first batch W times before the clock
// starts (ONNX Runtime sizes its memory arena and plans the graph's shapes on a session's first
// runs), so that run_s times what a long-lived session costs, as a Python benchmark's warmed
// session does. Errors are one line on stderr and exit status 1.
//
// This is the compiled runtime `fairhep validate` judges beside the Python ones; its only
// dependency is ONNX Runtime (the header is fetched at build time, see CMakeLists.txt).

#include <onnxruntime_cxx_api.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

struct Array {
  std::vector<int64_t> shape;
  std::vector<float> data;
  int64_t rows() const { return shape.empty() ? 0 : shape[0]; }
  int64_t row_size() const {
    int64_t n = 1;
    for (size_t i = 1; i < shape.size(); ++i) n *= shape[i];
    return n;
  }
};

// The value of 'key' in a .npy header dict, up to the next top-level comma or brace.
std::string header_value(const std::string& header, const std::string& key, const std::string& path) {
  const std::string quoted = "'" + key + "'";
  size_t at = header.find(quoted);
  if (at == std::string::npos) throw std::runtime_error(path + ": .npy header has no " + quoted);
  at = header.find(':', at + quoted.size());
  if (at == std::string::npos) throw std::runtime_error(path + ": malformed .npy header");
  size_t end = at + 1;
  int depth = 0;
  for (; end < header.size(); ++end) {
    const char c = header[end];
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (depth == 0 && (c == ',' || c == '}')) break;
    if (depth < 0) break;
  }
  std::string value = header.substr(at + 1, end - at - 1 + (header[end] == ')' ? 1 : 0));
  const size_t first = value.find_first_not_of(" ");
  return first == std::string::npos ? "" : value.substr(first);
}

Array read_npy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot be opened");
  char magic[6];
  in.read(magic, 6);
  if (!in || std::memcmp(magic, "\x93NUMPY", 6) != 0)
    throw std::runtime_error(path + ": not a .npy file");
  unsigned char version[2];
  in.read(reinterpret_cast<char*>(version), 2);
  uint32_t header_len = 0;
  if (version[0] == 1) {
    unsigned char b[2];
    in.read(reinterpret_cast<char*>(b), 2);
    header_len = b[0] | (b[1] << 8);
  } else {
    unsigned char b[4];
    in.read(reinterpret_cast<char*>(b), 4);
    header_len = b[0] | (b[1] << 8) | (b[2] << 16) | (static_cast<uint32_t>(b[3]) << 24);
  }
  std::string header(header_len, '\0');
  in.read(&header[0], header_len);
  if (!in) throw std::runtime_error(path + ": truncated .npy header");
  const std::string descr = header_value(header, "descr", path);
  if (descr.find("<f4") == std::string::npos)
    throw std::runtime_error(path + ": dtype " + descr + ", expected little-endian float32 '<f4'");
  if (header_value(header, "fortran_order", path).rfind("False", 0) != 0)
    throw std::runtime_error(path + ": Fortran-ordered array; write it C-contiguous");
  Array a;
  std::string shape = header_value(header, "shape", path);
  std::stringstream ss(shape.substr(1));
  std::string dim;
  while (std::getline(ss, dim, ',')) {
    const size_t digit = dim.find_first_of("0123456789");
    if (digit != std::string::npos) a.shape.push_back(std::stoll(dim.substr(digit)));
  }
  if (a.shape.size() < 2) throw std::runtime_error(path + ": need at least 2 dimensions, got " + shape);
  a.data.resize(static_cast<size_t>(a.rows() * a.row_size()));
  in.read(reinterpret_cast<char*>(a.data.data()), static_cast<std::streamsize>(a.data.size() * sizeof(float)));
  if (!in) throw std::runtime_error(path + ": truncated data for shape " + shape);
  return a;
}

void write_npy(const std::string& path, const Array& a) {
  std::string shape = "(";
  for (size_t i = 0; i < a.shape.size(); ++i) shape += std::to_string(a.shape[i]) + ", ";
  shape += ")";
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }";
  const size_t unpadded = 10 + header.size() + 1;
  header += std::string((64 - unpadded % 64) % 64, ' ') + "\n";
  std::ofstream out(path, std::ios::binary);
  if (!out) throw std::runtime_error(path + ": cannot be written");
  out.write("\x93NUMPY\x01\x00", 8);
  const uint16_t len = static_cast<uint16_t>(header.size());
  const unsigned char b[2] = {static_cast<unsigned char>(len & 0xff), static_cast<unsigned char>(len >> 8)};
  out.write(reinterpret_cast<const char*>(b), 2);
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  out.write(reinterpret_cast<const char*>(a.data.data()), static_cast<std::streamsize>(a.data.size() * sizeof(float)));
  if (!out) throw std::runtime_error(path + ": write failed");
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

int run(int argc, char** argv) {
  if (argc < 4) {
    std::cerr << "usage: " << argv[0]
              << " MODEL.onnx OUT.npy NAME=FILE.npy [NAME=FILE.npy ...] [--output NAME] [--batch B] [--threads T] [--warmup W]\n";
    return 2;
  }
  const std::string model_path = argv[1], out_path = argv[2];
  std::vector<std::string> names;
  std::vector<Array> inputs;
  std::string output_name;
  int64_t batch = 128;
  int threads = 0;
  int warmup = 0;
  std::string expect_path;
  double tolerance = 1e-4;
  for (int i = 3; i < argc; ++i) {
    const std::string arg = argv[i];
    if ((arg == "--output" || arg == "--batch" || arg == "--threads" || arg == "--expect" ||
         arg == "--tolerance" || arg == "--warmup") && i + 1 < argc) {
      const std::string value = argv[++i];
      if (arg == "--output") output_name = value;
      else if (arg == "--batch") batch = std::stoll(value);
      else if (arg == "--expect") expect_path = value;
      else if (arg == "--tolerance") tolerance = std::stod(value);
      else if (arg == "--warmup") warmup = std::stoi(value);
      else threads = std::stoi(value);
      continue;
    }
    const size_t eq = arg.find('=');
    if (eq == std::string::npos || eq == 0) throw std::runtime_error("argument " + arg + ": expected NAME=FILE.npy");
    names.push_back(arg.substr(0, eq));
    inputs.push_back(read_npy(arg.substr(eq + 1)));
  }
  if (batch < 1) throw std::runtime_error("--batch must be positive");
  if (warmup < 0) throw std::runtime_error("--warmup must be 0 or more");
  const int64_t rows = inputs[0].rows();
  for (size_t i = 1; i < inputs.size(); ++i)
    if (inputs[i].rows() != rows)
      throw std::runtime_error("input " + names[i] + " has " + std::to_string(inputs[i].rows()) +
                               " rows, " + names[0] + " has " + std::to_string(rows));

  const auto t_session = std::chrono::steady_clock::now();
  Ort::Env env(ORT_LOGGING_LEVEL_ERROR, "fairhep-ort-runner");
  Ort::SessionOptions options;
  options.SetGraphOptimizationLevel(GraphOptimizationLevel::ORT_ENABLE_ALL);
  if (threads > 0) options.SetIntraOpNumThreads(threads);
  Ort::Session session(env, model_path.c_str(), options);
  Ort::AllocatorWithDefaultOptions allocator;
  if (output_name.empty()) output_name = session.GetOutputNameAllocated(0, allocator).get();
  const double session_s = seconds_since(t_session);

  Ort::MemoryInfo memory = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
  std::vector<const char*> input_names;
  for (const auto& n : names) input_names.push_back(n.c_str());
  const char* output_names[] = {output_name.c_str()};
  // The inputs' rows [start, start + n) as tensors over the arrays' own memory (no copy).
  auto batch_of = [&](int64_t start, int64_t n) {
    std::vector<Ort::Value> tensors;
    for (auto& a : inputs) {
      std::vector<int64_t> shape = a.shape;
      shape[0] = n;
      tensors.push_back(Ort::Value::CreateTensor<float>(
          memory, a.data.data() + start * a.row_size(), static_cast<size_t>(n * a.row_size()),
          shape.data(), shape.size()));
    }
    return tensors;
  };
  for (int i = 0; i < warmup && rows > 0; ++i) {
    auto tensors = batch_of(0, std::min(batch, rows));
    session.Run(Ort::RunOptions{nullptr}, input_names.data(), tensors.data(), tensors.size(),
                output_names, 1);
  }
  Array result;
  const auto t_run = std::chrono::steady_clock::now();
  for (int64_t start = 0; start < rows; start += batch) {
    const int64_t n = std::min(batch, rows - start);
    auto tensors = batch_of(start, n);
    auto outputs = session.Run(Ort::RunOptions{nullptr}, input_names.data(), tensors.data(),
                               tensors.size(), output_names, 1);
    auto info = outputs[0].GetTensorTypeAndShapeInfo();
    if (info.GetElementType() != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT)
      throw std::runtime_error("output " + output_name + " is not float32");
    const std::vector<int64_t> shape = info.GetShape();
    if (result.shape.empty()) {
      result.shape = shape;
      result.shape[0] = 0;
    }
    const float* values = outputs[0].GetTensorData<float>();
    result.data.insert(result.data.end(), values, values + info.GetElementCount());
    result.shape[0] += shape[0];
  }
  const double run_s = seconds_since(t_run);
  write_npy(out_path, result);
  std::string compared;
  bool within = true;
  if (!expect_path.empty()) {
    const Array expected = read_npy(expect_path);
    if (expected.shape != result.shape)
      throw std::runtime_error(expect_path + ": shape differs from the output's");
    double worst = 0;
    for (size_t i = 0; i < result.data.size(); ++i)
      worst = std::max(worst, static_cast<double>(std::fabs(result.data[i] - expected.data[i])));
    within = worst <= tolerance;
    std::ostringstream c;
    c << ", \"max_abs_diff\": " << worst << ", \"tolerance\": " << tolerance
      << ", \"within_tolerance\": " << (within ? "true" : "false");
    compared = c.str();
  }
  std::cout << "{\"onnxruntime\": \"" << OrtGetApiBase()->GetVersionString() << "\", \"api\": "
            << ORT_API_VERSION << ", \"rows\": " << rows << ", \"batch\": " << batch << ", \"warmup\": " << warmup
            << ", \"session_s\": " << session_s << ", \"run_s\": " << run_s << compared << "}"
            << std::endl;
  if (!within) std::cerr << "fairhep-ort-runner: output differs from " << expect_path
                         << " by more than " << tolerance << std::endl;
  return within ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const Ort::Exception& e) {
    std::cerr << "fairhep-ort-runner: onnxruntime: " << e.what() << std::endl;
  } catch (const std::exception& e) {
    std::cerr << "fairhep-ort-runner: " << e.what() << std::endl;
  }
  return 1;
}
