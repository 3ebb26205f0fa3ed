#include <torch/torch.h>

#include "lib/io/io_test_util.h"
#include "unlearn/io/config_error.h"
#include "unlearn/io/json_tensor.h"

namespace unlearn::io {
namespace {

using nlohmann::json;

TEST(JsonTensor, Shapes) {
  EXPECT_EQ(tensor_to_json(torch::tensor(2.5, torch::kFloat64)), json(2.5));
  EXPECT_EQ(tensor_to_json(torch::tensor({1.0, -2.0})), json({1.0, -2.0}));
  EXPECT_EQ(tensor_to_json(torch::arange(6, torch::kInt64).reshape({2, 3})), json::parse("[[0,1,2],[3,4,5]]"));
  EXPECT_EQ(tensor_to_json(torch::tensor({true, false})), json({true, false}));
  EXPECT_EQ(tensor_to_json(torch::empty({0})), json::array());
  // A non-contiguous view is written as its logical values.
  EXPECT_EQ(tensor_to_json(torch::arange(6, torch::kInt64).reshape({2, 3}).t()), json::parse("[[0,3],[1,4],[2,5]]"));
}

TEST(JsonTensor, Float64RoundTripThroughTextIsExact) {
  auto gen = at::detail::createCPUGenerator(3);
  auto t = torch::randn({4, 5}, gen, torch::kFloat64) * 1e-7;
  t[0][0] = std::numeric_limits<double>::quiet_NaN();
  t[0][1] = -std::numeric_limits<double>::infinity();
  const auto text = tensor_to_json(t).dump();
  const auto back = json_to_tensor(json::parse(text), torch::kFloat64);
  ASSERT_EQ(back.sizes(), t.sizes());
  EXPECT_EQ(0, std::memcmp(back.data_ptr(), t.contiguous().data_ptr(), t.numel() * sizeof(double)));
  EXPECT_EQ(json::parse(text)[0][0], "NaN");
}

TEST(JsonTensor, ReadBack) {
  EXPECT_TRUE(torch::equal(json_to_tensor(json::parse("[[1,2],[3,4]]"), torch::kInt64),
                           torch::tensor({1, 2, 3, 4}, torch::kInt64).reshape({2, 2})));
  EXPECT_EQ(json_to_tensor(json(3.0)).dim(), 0);
  EXPECT_EQ(json_to_tensor(json::parse("[[],[]]")).sizes(), torch::IntArrayRef({2, 0}));
  EXPECT_EQ(json_to_tensor(json::parse("[1.5]"), torch::kFloat32).scalar_type(), torch::kFloat32);
  EXPECT_TRUE(torch::equal(json_to_tensor(json::parse("[true,false]"), torch::kBool), torch::tensor({true, false})));
}

TEST(JsonTensor, BadInputNamesTheElement) {
  auto msg = testing::error_message<ConfigError>([] { json_to_tensor(json::parse("[[1,2],[3]]"), torch::kFloat64, "mean"); });
  EXPECT_NE(msg.find("mean[1] = [3] does not fit the shape: expected a list of 2 elements"), std::string::npos) << msg;
  msg = testing::error_message<ConfigError>([] { json_to_tensor(json::parse("[1, 2.5]"), torch::kInt64, "ids"); });
  EXPECT_NE(msg.find("ids[1] = 2.5 should be an integer"), std::string::npos) << msg;
  msg = testing::error_message<ConfigError>([] { json_to_tensor(json::parse("[[1,\"x\"]]"), torch::kFloat64, "m"); });
  EXPECT_NE(msg.find("m[0][1] = \"x\" should be a number"), std::string::npos) << msg;
}

}  // namespace
}  // namespace unlearn::io
