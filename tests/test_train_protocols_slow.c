/* test_train_protocols with ResNet-50 at 64 px (random weights): the paper's backbone through the
 * four protocols, list files included. Labelled slow (skipped under the sanitizers). */
#define MXP_BACKBONE "resnet50"
#define MXP_SIZE     64
#include "test_train_protocols.c"
