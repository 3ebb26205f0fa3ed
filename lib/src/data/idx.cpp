#include "unlearn/data/idx.h"

#include <zlib.h>

#include <array>
#include <cerrno>
#include <climits>
#include <cstring>
#include <memory>

namespace unlearn::data {
namespace {

struct GzCloser {
  void operator()(gzFile_s* f) const { gzclose(f); }
};
using GzFile = std::unique_ptr<gzFile_s, GzCloser>;

// Reads exactly `size` bytes (gzread takes an unsigned int, so large reads go in chunks);
// returns how many it got before the end of the file.
size_t read_bytes(gzFile file, void* out, size_t size, const std::string& path) {
  auto* p = static_cast<unsigned char*>(out);
  size_t done = 0;
  while (done < size) {
    const auto chunk = static_cast<unsigned>(std::min<size_t>(size - done, 1u << 30));
    const int got = gzread(file, p + done, chunk);
    if (got < 0) {
      int code = 0;
      const char* message = gzerror(file, &code);
      TORCH_CHECK(false, "read_idx: '", path, "': ", message);
    }
    if (got == 0) break;
    done += static_cast<size_t>(got);
  }
  return done;
}

uint32_t big_endian(const unsigned char* b) {
  return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | uint32_t{b[3]};
}

}  // namespace

torch::Tensor read_idx(const std::string& path) {
  GzFile file(gzopen(path.c_str(), "rb"));
  TORCH_CHECK(file, "read_idx: cannot open '", path, "': ", std::strerror(errno));
  gzbuffer(file.get(), 1 << 20);

  std::array<unsigned char, 4> magic{};
  TORCH_CHECK(read_bytes(file.get(), magic.data(), 4, path) == 4, "read_idx: '", path,
              "' is truncated: no 4-byte magic number");
  TORCH_CHECK(magic[0] == 0 && magic[1] == 0 && magic[3] >= 1, "read_idx: '", path,
              "' has a bad magic number (0x", std::hex, big_endian(magic.data()), std::dec,
              "): not an IDX file");
  TORCH_CHECK(magic[2] == 0x08, "read_idx: '", path, "' holds IDX type 0x", std::hex, int{magic[2]}, std::dec,
              "; only unsigned bytes (0x08) are supported");

  const int ndim = magic[3];
  std::vector<unsigned char> header(4 * ndim);
  TORCH_CHECK(read_bytes(file.get(), header.data(), header.size(), path) == header.size(), "read_idx: '", path,
              "' is truncated in its header (", ndim, " dimensions announced)");
  std::vector<int64_t> shape(ndim);
  int64_t count = 1;
  for (int d = 0; d < ndim; ++d) {
    shape[d] = big_endian(header.data() + 4 * d);
    TORCH_CHECK(shape[d] == 0 || count <= INT64_MAX / shape[d], "read_idx: '", path, "': shape too large");
    count *= shape[d];
  }

  auto out = torch::empty(shape, torch::kUInt8);
  const size_t want = static_cast<size_t>(count);
  const size_t got = read_bytes(file.get(), out.data_ptr<uint8_t>(), want, path);
  TORCH_CHECK(got == want, "read_idx: '", path, "' is truncated: shape ", out.sizes(), " needs ", want,
              " bytes of data, found ", got);
  unsigned char extra = 0;
  TORCH_CHECK(read_bytes(file.get(), &extra, 1, path) == 0, "read_idx: '", path,
              "' has trailing bytes after the data of shape ", out.sizes());
  return out;
}

Dataset load_fashion_mnist(const std::string& dir, bool train, const FashionMnistOptions& options) {
  const std::string prefix = dir + "/" + (train ? "train" : "t10k");
  const std::string images_path = prefix + "-images-idx3-ubyte.gz";
  const std::string labels_path = prefix + "-labels-idx1-ubyte.gz";
  auto images = read_idx(images_path);
  auto labels = read_idx(labels_path);
  TORCH_CHECK(images.dim() == 3, "load_fashion_mnist: '", images_path, "' should be [N, H, W], got ",
              images.sizes());
  TORCH_CHECK(labels.dim() == 1 && labels.size(0) == images.size(0), "load_fashion_mnist: '", labels_path,
              "' should hold ", images.size(0), " labels, got shape ", labels.sizes());
  TORCH_CHECK(labels.numel() == 0 || labels.max().item<int64_t>() <= 9, "load_fashion_mnist: '", labels_path,
              "' has labels above 9");

  auto x = images.unsqueeze(1);  // [N, 1, H, W]
  // Pad in the raw pixels so that the border is background (0) before any scaling.
  TORCH_CHECK(!options.pad_to_32() || (images.size(1) == 28 && images.size(2) == 28),
              "load_fashion_mnist: pad_to_32 needs 28x28 images, got ", images.sizes());
  if (options.pad_to_32()) x = torch::constant_pad_nd(x, {2, 2, 2, 2}, 0);
  if (options.scale()) x = x.to(torch::kFloat32).div_(255.0).sub_(0.5);
  if (options.flatten()) x = x.flatten(1);
  return Dataset(x.contiguous(), labels.to(torch::kLong));
}

}  // namespace unlearn::data
