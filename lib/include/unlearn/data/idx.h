#pragma once
// IDX files, the format of MNIST and Fashion-MNIST: two zero bytes, a type byte (0x08 =
// unsigned byte), the number of dimensions, each dimension as a big-endian uint32, then the
// data in row-major order. Read through zlib, so gzip-compressed and plain files both work.
//
//   auto images = read_idx("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz");
//   // uint8 [60000, 28, 28]
//   Dataset train = load_fashion_mnist();  // float32 x [60000, 1, 28, 28] in [-0.5, 0.5]
#include <string>

#include <torch/torch.h>

#include "unlearn/data/dataset.h"

namespace unlearn::data {

/// The tensor of an IDX file (only the unsigned-byte type 0x08), as uint8 with the file's
/// shape. A bad magic number, an unsupported type, a truncated file or trailing bytes are
/// errors naming the path.
torch::Tensor read_idx(const std::string& path);

/// Where Debian's dataset-fashion-mnist package puts the files.
inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

/// How load_fashion_mnist turns the images into x: scaling, padding, flattening.
struct FashionMnistOptions {
  /// float32 pixel/255 - 0.5, in [-0.5, 0.5]; false keeps the raw uint8 pixels.
  TORCH_ARG(bool, scale) = true;
  /// Pad 2 background pixels on every side, 28x28 -> 32x32 (LeNet-style inputs).
  TORCH_ARG(bool, pad_to_32) = false;
  /// x as [N, H*W] instead of [N, 1, H, W].
  TORCH_ARG(bool, flatten) = false;
};

/// Fashion-MNIST's training (60000 images, ids 0..59999) or test set (10000, ids 0..9999),
/// labels int64 in 0..9, from {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz in `dir`.
Dataset load_fashion_mnist(const std::string& dir = kFashionMnistDir, bool train = true,
                           const FashionMnistOptions& options = {});

}  // namespace unlearn::data
