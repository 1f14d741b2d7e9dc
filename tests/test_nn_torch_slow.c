/* nn vs PyTorch: resnet50 with frozen BN (the Metrix default, 2 x 3 x 64 x 64, every gradient)
 * and with training-mode BN at 8 x 3 x 128 x 128 (128 values per channel in layer4):
 * embeddings, loss, running statistics and the head's gradients. Training-mode trunk gradients
 * are not a float oracle for ResNet-50: torch's own float gradients differ from our float64
 * reference by 1-4% of max|grad| in every layer (4 x 96 x 96), and ours change by as much with
 * the thread count (summation order), so the difference is rounding amplified by batch-stat BN
 * backward (and ReLU-mask / max flips), not a bug. Train-mode BN trunk gradients are checked
 * tightly on resnet18 / smallcnn (test_nn_torch) and per layer (test_nn_layers). See
 * docs/performance.md and test_nn_torch.h. */
#include "test_nn_torch.h"

int main(void) {
    mx_threads_set(2);
    nn_torch_check("resnet50", 1, 1e-4, 1e-3);
    nn_torch_check_at("resnet50", 0, 8, 128, 1, 1e-4, 1e-3);
    return mx_test_finish("test_nn_torch_slow");
}
