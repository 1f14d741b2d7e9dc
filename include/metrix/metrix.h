/* metrix: deep metric learning with mixup (Metrix, ICLR 2022). Include this for the whole API. */
#ifndef METRIX_H
#define METRIX_H

#include "metrix/core.h"
#include "metrix/comm.h"
#include "metrix/gemm.h"
#include "metrix/io.h"
#include "metrix/loss.h"
#include "metrix/mix.h"
#include "metrix/optim.h"
#include "metrix/plot.h"
#include "metrix/eval.h"
#include "metrix/data.h"
#include "metrix/nn.h"
#include "metrix/train.h"

#endif
