/* nn vs PyTorch 1.13 / torchvision 0.14: smallcnn (4 x 1 x 28 x 28) and resnet18
 * (2 x 3 x 64 x 64), training-mode BN. See test_nn_torch.h. */
#include "test_nn_torch.h"

int main(void) {
    mx_threads_set(2);
    nn_torch_check("smallcnn", 0, 1e-5, 1e-4);
    nn_torch_check("smallcnn", 1, 1e-5, 1e-4);
    nn_torch_check("resnet18", 0, 1e-4, 2e-3);
    nn_torch_check("resnet18", 1, 1e-4, 1e-3);
    return mx_test_finish("test_nn_torch");
}
